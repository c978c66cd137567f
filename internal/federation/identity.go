package federation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"kabinet/internal/config"
)

// Identity is what a provider said about the person who signed in,
// mapped into the operator's register. Values are personal data: pass
// them to the gate and nowhere else — never to a log (String and
// LogValue show only the provider and the categories).
type Identity struct {
	// Provider is the id of the provider in the configuration.
	Provider string
	// Subject is the provider's stable identifier of the person ("sub"):
	// with Provider it names a linked account.
	Subject string
	// Verified is true when the provider vouches that the person's
	// identity was established (the provider's "verified" rule held):
	// the verified trust level (seed 000 §3.6).
	Verified bool
	// Values maps register categories to the values of the claims mapped
	// into them. Several claims in one category are joined by spaces in
	// the configured order; a structured claim (an object or a list) is
	// its compact JSON. Categories without a value are absent.
	Values map[string]string
	// Confirmed lists, sorted, the categories in Values whose value the
	// provider says it checked (email_verified for contact.email …): only
	// those may be offered for linking to an existing account.
	Confirmed []string
	// Organisations are the elements of the claim mapped to the
	// configured organisations category, each as text (JSON for objects).
	Organisations []string
}

// String names the identity without personal data.
func (id Identity) String() string {
	return fmt.Sprintf("federation.Identity{provider=%s verified=%t categories=%s}",
		id.Provider, id.Verified, strings.Join(slices.Sorted(maps.Keys(id.Values)), ","))
}

// LogValue keeps personal data out of structured logs.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("provider", id.Provider),
		slog.Bool("verified", id.Verified),
		slog.Any("categories", slices.Sorted(maps.Keys(id.Values))),
	)
}

// claims is a decoded set of claims; numbers stay json.Number so that an
// INN sent as a number keeps its digits.
type claims map[string]any

func decodeClaims(raw []byte) (claims, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c claims
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	return c, nil
}

// lookup finds a claim by its full name, else by a dotted path into
// nested objects (address.formatted). Claim names that are URIs contain
// dots too, which is why the full name is tried first.
func (c claims) lookup(name string) (any, bool) {
	if v, ok := c[name]; ok {
		return v, v != nil
	}
	var cur any = map[string]any(c)
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// claimText renders a claim value as text: strings trimmed, numbers and
// booleans as written, objects and lists as compact JSON.
func claimText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// truthy reports whether a claim says yes: true, or the text "true" (some
// providers send booleans as strings).
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(strings.TrimSpace(v), "true")
	}
	return false
}

// mapIdentity applies the provider's configuration to the claims.
func mapIdentity(p *config.Provider, subject string, c claims) Identity {
	id := Identity{Provider: p.ID, Subject: subject, Values: map[string]string{}}
	for _, r := range p.Claims {
		v, ok := c.lookup(r.Claim)
		if !ok {
			continue
		}
		if text := claimText(v); text != "" {
			if prev := id.Values[r.Category]; prev != "" {
				text = prev + " " + text
			}
			id.Values[r.Category] = text
		}
		if p.Organisations != "" && r.Category == p.Organisations {
			if list, isList := v.([]any); isList {
				for _, e := range list {
					if t := claimText(e); t != "" {
						id.Organisations = append(id.Organisations, t)
					}
				}
			} else if t := claimText(v); t != "" {
				id.Organisations = append(id.Organisations, t)
			}
		}
	}
	if rule := p.Verified; rule.Claim != "" {
		v, ok := c.lookup(rule.Claim)
		switch {
		case !ok:
		case rule.Equals != "":
			id.Verified = claimText(v) == rule.Equals
		default:
			t := claimText(v)
			id.Verified = t != "" && t != "false"
		}
	}
	for cat, claim := range p.Confirmed {
		if v, ok := c.lookup(claim); ok && truthy(v) && id.Values[cat] != "" {
			id.Confirmed = append(id.Confirmed, cat)
		}
	}
	slices.Sort(id.Confirmed)
	return id
}
