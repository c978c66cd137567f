package i18n

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Check reports every way the catalogues disagree, joined into one error
// (nil when they agree):
//   - a key present in any catalogue is missing from another;
//   - a message is plural in one language and simple in another;
//   - a plural message lacks a form its language needs or has one it does
//     not use (ru: one, few, many, other; en: one, other);
//   - a text is empty;
//   - a translation uses other placeholders than the Default language's.
//
// The completeness test runs it on the embedded catalogues, so a missing
// translation fails the build.
func (b *Bundle) Check() error {
	keys := map[string]bool{}
	for _, l := range b.locs {
		for k := range l.msgs {
			keys[k] = true
		}
	}
	def := b.locs[Default]
	var problems []string
	for _, key := range slices.Sorted(maps.Keys(keys)) {
		ref, refOK := def.msgs[key]
		for _, lang := range b.langs {
			m, ok := b.locs[lang].msgs[key]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %q is missing", lang, key))
				continue
			}
			if m.forms == nil {
				if m.text == "" {
					problems = append(problems, fmt.Sprintf("%s: %q is empty", lang, key))
				}
			} else {
				need := requiredForms(lang)
				for _, f := range need {
					if m.forms[f] == "" {
						problems = append(problems, fmt.Sprintf("%s: %q lacks plural form %q", lang, key, f))
					}
				}
				for _, f := range slices.Sorted(maps.Keys(m.forms)) {
					if !slices.Contains(need, f) {
						problems = append(problems, fmt.Sprintf("%s: %q has plural form %q, which %s does not use", lang, key, f, lang))
					}
				}
			}
			if lang == Default || !refOK {
				continue
			}
			if (m.forms == nil) != (ref.forms == nil) {
				problems = append(problems, fmt.Sprintf("%s: %q is plural in one language and simple in the other", lang, key))
				continue
			}
			if got, want := m.placeholders(), ref.placeholders(); got != want {
				problems = append(problems, fmt.Sprintf("%s: %q uses placeholders {%s}, %s uses {%s}", lang, key, got, Default, want))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("i18n: catalogues disagree:\n" + strings.Join(problems, "\n"))
}

// placeholders lists the placeholder names of all the message's forms,
// sorted and comma-separated, for comparison across languages.
func (m message) placeholders() string {
	set := map[string]bool{}
	placeholders(m.text, set)
	for _, f := range m.forms {
		placeholders(f, set)
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), ",")
}
