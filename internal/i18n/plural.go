package i18n

// isPluralCategory reports whether s is a CLDR plural category name.
func isPluralCategory(s string) bool {
	switch s {
	case "zero", "one", "two", "few", "many", "other":
		return true
	}
	return false
}

// pluralRule maps an integer count to its CLDR plural category.
type pluralRule func(n int) string

// pluralRuleFor returns the CLDR integer plural rule for lang. A catalogue
// for a language without a rule here is refused by Load, so adding a
// language means adding its rule (and its forms in requiredForms).
func pluralRuleFor(lang string) (pluralRule, bool) {
	switch lang {
	case "ru":
		return russianPlural, true
	case "en", "kk", "ky":
		// CLDR: one for n = 1, other otherwise (Kazakh and Kyrgyz alike).
		return func(n int) string {
			if n == 1 {
				return "one"
			}
			return "other"
		}, true
	}
	return nil, false
}

// requiredForms lists the plural forms every plural message of lang must
// have: all categories CLDR defines for the language, including those only
// fractions reach (Russian "other": 1,5 заявки), so a later change to
// fractional counts needs no catalogue change.
func requiredForms(lang string) []string {
	if lang == "ru" {
		return []string{"one", "few", "many", "other"}
	}
	return []string{"one", "other"}
}

// russianPlural is the CLDR rule for Russian integers:
// one: n%10=1 and n%100≠11; few: n%10 in 2..4 and n%100 not in 12..14;
// many: every other integer.
func russianPlural(n int) string {
	if n < 0 {
		n = -n
	}
	d, dd := n%10, n%100
	switch {
	case d == 1 && dd != 11:
		return "one"
	case d >= 2 && d <= 4 && (dd < 12 || dd > 14):
		return "few"
	}
	return "many"
}
