// Package i18n holds the message catalogues of the web shell and renders
// message keys in a person's language. Russian is the default; every other
// language must carry exactly the same keys (see Bundle.Check, enforced by
// a test), so a missing translation fails the build, not a page.
//
// Catalogues are the embedded files locales/<lang>.json. Each is one flat
// JSON object, sorted by key, mapping a key either to a string or, for a
// message that depends on a count, to an object of CLDR plural forms:
//
//	"footer.operator": "Оператор: {name}",
//	"home.services_count": {"one": "{n} услуга", "few": "{n} услуги", "many": "{n} услуг", "other": "{n} услуги"}
//
// Placeholders are named: {name} is filled from args given as pairs
// ("name", value, "id", value, …), so translators may reorder them. A
// plural message gets its count as {n}. A placeholder with no matching
// argument is left as written, so the mistake is visible rather than silent.
// There is no escaping: a brace not followed by a name and '}' is literal.
// Output is plain text; html/template escapes it where it is used.
package i18n

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Default is the language used when nothing better is known.
const Default = "ru"

//go:embed locales/*.json
var locales embed.FS

// Bundle is the set of parsed catalogues. It is immutable after Load and
// safe for concurrent use.
type Bundle struct {
	langs []string // Default first, then the others sorted
	locs  map[string]*Localizer
}

// Localizer renders messages in one language. It is immutable and safe for
// concurrent use.
type Localizer struct {
	lang   string
	msgs   map[string]message
	plural pluralRule
}

// message is one catalogue entry: either text or plural forms.
type message struct {
	text  string
	forms map[string]string // CLDR category → text; nil for a simple message
}

// Load parses the embedded catalogues. It fails when a file is not a flat
// JSON object of strings and plural-form objects, repeats a key, uses a
// malformed key or an unknown plural category, when a language has no
// plural rule, or when the default language is missing. Completeness across
// languages is checked by Bundle.Check, not here.
func Load() (*Bundle, error) {
	return loadFS(locales)
}

// loadFS parses locales/*.json from fsys; tests feed it broken catalogues.
func loadFS(fsys fs.FS) (*Bundle, error) {
	files, err := fs.Glob(fsys, "locales/*.json")
	if err != nil {
		return nil, fmt.Errorf("i18n: list catalogues: %w", err)
	}
	b := &Bundle{locs: map[string]*Localizer{}}
	for _, name := range files {
		lang := strings.TrimSuffix(path.Base(name), ".json")
		if !validLang(lang) {
			return nil, fmt.Errorf("i18n: catalogue %s: file name must be a lower-case language code", name)
		}
		rule, ok := pluralRuleFor(lang)
		if !ok {
			return nil, fmt.Errorf("i18n: catalogue %s: no plural rule for language %q", name, lang)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("i18n: read %s: %w", name, err)
		}
		msgs, _, err := parseCatalogue(data)
		if err != nil {
			return nil, fmt.Errorf("i18n: catalogue %s: %w", name, err)
		}
		b.locs[lang] = &Localizer{lang: lang, msgs: msgs, plural: rule}
		b.langs = append(b.langs, lang)
	}
	if _, ok := b.locs[Default]; !ok {
		return nil, fmt.Errorf("i18n: no catalogue for the default language %q", Default)
	}
	slices.SortFunc(b.langs, func(x, y string) int {
		switch {
		case x == y:
			return 0
		case x == Default:
			return -1
		case y == Default:
			return 1
		}
		return strings.Compare(x, y)
	})
	return b, nil
}

// parseCatalogue decodes one catalogue file and also returns its keys in
// file order (the sortedness test uses them). encoding/json's map decoding
// would silently keep the last of two equal keys, so the file is read
// token by token.
func parseCatalogue(data []byte) (map[string]message, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("must be a JSON object")
	}
	msgs := map[string]message{}
	var order []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("bad JSON: %w", err)
		}
		key := tok.(string) // object keys are always strings
		if !validKey(key) {
			return nil, nil, fmt.Errorf("key %q: keys are lower-case words joined by '.'", key)
		}
		if _, dup := msgs[key]; dup {
			return nil, nil, fmt.Errorf("key %q appears twice", key)
		}
		m, err := parseMessage(dec)
		if err != nil {
			return nil, nil, fmt.Errorf("key %q: %w", key, err)
		}
		msgs[key] = m
		order = append(order, key)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("unexpected data after the JSON object")
	}
	return msgs, order, nil
}

func parseMessage(dec *json.Decoder) (message, error) {
	tok, err := dec.Token()
	if err != nil {
		return message{}, fmt.Errorf("bad JSON: %w", err)
	}
	switch v := tok.(type) {
	case string:
		return message{text: v}, nil
	case json.Delim:
		if v != '{' {
			break
		}
		forms := map[string]string{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return message{}, fmt.Errorf("bad JSON: %w", err)
			}
			cat := tok.(string)
			if !isPluralCategory(cat) {
				return message{}, fmt.Errorf("unknown plural category %q", cat)
			}
			if _, dup := forms[cat]; dup {
				return message{}, fmt.Errorf("plural category %q appears twice", cat)
			}
			tok, err = dec.Token()
			if err != nil {
				return message{}, fmt.Errorf("bad JSON: %w", err)
			}
			text, ok := tok.(string)
			if !ok {
				return message{}, fmt.Errorf("plural form %q must be a string", cat)
			}
			forms[cat] = text
		}
		if _, err := dec.Token(); err != nil {
			return message{}, fmt.Errorf("bad JSON: %w", err)
		}
		return message{forms: forms}, nil
	}
	return message{}, errors.New("value must be a string or an object of plural forms")
}

func validLang(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// validKey accepts dot-separated segments of [a-z0-9_]: the shape of the
// keys fault and the capability packages produce.
func validKey(s string) bool {
	for seg := range strings.SplitSeq(s, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Languages returns the supported language codes, Default first.
func (b *Bundle) Languages() []string { return slices.Clone(b.langs) }

// Localizer returns the localizer for lang, or for Default when lang is not
// supported (pass the result of Negotiate).
func (b *Bundle) Localizer(lang string) *Localizer {
	if l, ok := b.locs[lang]; ok {
		return l
	}
	return b.locs[Default]
}

// Lang returns the language code of the localizer.
func (l *Localizer) Lang() string { return l.lang }

// Has reports whether the catalogue has key, so callers' tests can assert
// that every key they use exists.
func (l *Localizer) Has(key string) bool {
	_, ok := l.msgs[key]
	return ok
}

// T renders the message key with named args given as pairs ("name", value).
// It never panics: a missing key renders as "[key]". A plural message
// renders by the integer arg "n" if one is given (so a fault.Error's args
// can carry a count), else as "[key]" — use N for plural messages.
func (l *Localizer) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return "[" + key + "]"
	}
	if m.forms == nil {
		return format(m.text, args)
	}
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "n" {
			if n, ok := asInt(args[i+1]); ok {
				return l.plural.render(m, key, n, args)
			}
		}
	}
	return "[" + key + "]"
}

// N renders the plural message key for the count n, choosing the form by
// the language's CLDR integer rule; {n} is the count and args are named
// pairs as for T. A simple (non-plural) message renders as by T with n
// available as {n}. A missing key renders as "[key]".
func (l *Localizer) N(key string, n int, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return "[" + key + "]"
	}
	args = append([]any{"n", n}, args...)
	if m.forms == nil {
		return format(m.text, args)
	}
	return l.plural.render(m, key, n, args)
}

func (r pluralRule) render(m message, key string, n int, args []any) string {
	text, ok := m.forms[r(n)]
	if !ok {
		// An incomplete plural message is caught by Check; at run time show
		// the key rather than a wrong form.
		return "[" + key + "]"
	}
	return format(text, args)
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case uint:
		return int(n), true
	case uint32:
		return int(n), true
	case uint64:
		return int(n), true
	}
	return 0, false
}

// format replaces each {name} in text by the value paired with name in args.
func format(text string, args []any) string {
	if !strings.Contains(text, "{") {
		return text
	}
	var sb strings.Builder
	sb.Grow(len(text) + 16)
	for {
		start, end, name := nextPlaceholder(text)
		if start < 0 {
			sb.WriteString(text)
			return sb.String()
		}
		sb.WriteString(text[:start])
		if v, ok := lookup(args, name); ok {
			writeValue(&sb, v)
		} else {
			sb.WriteString(text[start:end])
		}
		text = text[end:]
	}
}

// nextPlaceholder finds the first {name} in text, name being [a-z0-9_]+,
// and returns its bounds; start is -1 when there is none.
func nextPlaceholder(text string) (start, end int, name string) {
	off := 0
	for {
		i := strings.IndexByte(text[off:], '{')
		if i < 0 {
			return -1, -1, ""
		}
		i += off
		j := i + 1
		for j < len(text) && (text[j] >= 'a' && text[j] <= 'z' || text[j] >= '0' && text[j] <= '9' || text[j] == '_') {
			j++
		}
		if j > i+1 && j < len(text) && text[j] == '}' {
			return i, j + 1, text[i+1 : j]
		}
		off = i + 1
	}
}

func lookup(args []any, name string) (any, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == name {
			return args[i+1], true
		}
	}
	return nil, false
}

func writeValue(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		sb.WriteString(x)
	case int:
		sb.WriteString(strconv.Itoa(x))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case fmt.Stringer:
		sb.WriteString(x.String())
	default:
		fmt.Fprint(sb, x)
	}
}

// placeholders returns the set of placeholder names used in text.
func placeholders(text string, into map[string]bool) {
	for {
		start, end, name := nextPlaceholder(text)
		if start < 0 {
			return
		}
		into[name] = true
		text = text[end:]
	}
}
