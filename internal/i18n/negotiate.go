package i18n

import (
	"math"
	"strconv"
	"strings"
)

// Limits that keep Negotiate cheap on hostile headers; real browsers send
// a handful of ranges in well under a hundred bytes.
const (
	maxAcceptLanguage = 4096
	maxRanges         = 32
)

// Negotiate picks the language for a request. The cookie wins when it is
// exactly a supported code (the language switcher sets it). Otherwise the
// Accept-Language header is read (RFC 9110 §12.5.4): each range matches by
// its base language (en-GB → en, ru-RU → ru), the highest q-value wins,
// ties go to the range listed first, "*" stands for every supported
// language not named elsewhere, and q=0 excludes a language. Malformed
// ranges are skipped; with no usable range the answer is Default. Only the
// first 32 ranges of the first 4 KiB are read.
func (b *Bundle) Negotiate(cookieValue, acceptLanguage string) string {
	if c := strings.ToLower(strings.TrimSpace(cookieValue)); c != "" {
		if _, ok := b.locs[c]; ok {
			return c
		}
	}
	if len(acceptLanguage) > maxAcceptLanguage {
		acceptLanguage = acceptLanguage[:maxAcceptLanguage]
	}

	// Per supported language (index into b.langs): the best q of a range
	// naming it, and where that range came; -1 means not named.
	q := make([]float64, len(b.langs))
	pos := make([]int, len(b.langs))
	for i := range pos {
		pos[i] = -1
	}
	wildQ, wildPos := 0.0, -1

	rest := acceptLanguage
	for i := 0; rest != "" && i < maxRanges; i++ {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.TrimSpace(tag)
		weight, ok := parseWeight(params)
		if !ok || tag == "" {
			continue
		}
		if tag == "*" {
			if wildPos < 0 || weight > wildQ {
				wildQ, wildPos = weight, i
			}
			continue
		}
		base, _, _ := strings.Cut(tag, "-")
		base, _, _ = strings.Cut(base, "_") // some clients send en_GB
		base = strings.ToLower(base)
		for li, lang := range b.langs {
			if lang == base && (pos[li] < 0 || weight > q[li]) {
				q[li], pos[li] = weight, i
			}
		}
	}

	best, bestQ, bestPos := "", 0.0, 0
	for li, lang := range b.langs {
		lq, lp := q[li], pos[li]
		if lp < 0 {
			if wildPos < 0 {
				continue
			}
			lq, lp = wildQ, wildPos
		}
		// b.langs has Default first, so a full tie keeps the earlier language.
		if lq > 0 && (best == "" || lq > bestQ || lq == bestQ && lp < bestPos) {
			best, bestQ, bestPos = lang, lq, lp
		}
	}
	if best == "" {
		return Default
	}
	return best
}

// parseWeight reads the q parameter of a language range (default 1). It
// reports false for a malformed or out-of-range q so the range is skipped.
func parseWeight(params string) (float64, bool) {
	weight := 1.0
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return 0, false
		}
		weight = f
	}
	return weight, true
}
