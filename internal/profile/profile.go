// Package profile checks and normalises the values a person types into
// the cabinet's "Личные данные", by the format the register declares for
// each category (identifiers with check digits, dates, sex, identity
// documents, free text). Errors are fault.Invalid with "profile.*" or
// "idnum.*" message keys, so the page can show each next to its field.
package profile

import (
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"

	"kabinet/internal/fault"
	"kabinet/internal/idnum"
	"kabinet/internal/register"
)

// MaxText is the longest free-text value (a name, an address).
const MaxText = 300

// MaxImage is the largest picture (a profile photo) kept as a value.
const MaxImage = 2 << 20

// Image checks a picture for a category of format "image": JPEG or PNG by
// its content (not its name), at most MaxImage bytes. It returns the
// detected media type.
func Image(data []byte) (string, error) {
	switch {
	case len(data) == 0:
		return "", fault.New(fault.Invalid, "profile.empty")
	case len(data) > MaxImage:
		return "", fault.New(fault.Invalid, "profile.image_too_large", "max", MaxImage>>20)
	}
	switch t := http.DetectContentType(data); t {
	case "image/jpeg", "image/png":
		return t, nil
	}
	return "", fault.New(fault.Invalid, "profile.image_type")
}

// Normalize returns the value of category c to store, in its normal form,
// or a fault.Invalid error saying what is wrong. today bounds dates.
func Normalize(c *register.Category, raw string, today time.Time) (string, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", fault.New(fault.Invalid, "profile.empty")
	}
	switch c.Format {
	case "inn":
		return idnum.INN(v)
	case "inn_person":
		return idnum.INNPerson(v)
	case "snils":
		d, err := idnum.SNILS(v)
		if err != nil {
			return "", err
		}
		return idnum.FormatSNILS(d), nil
	case "kz_iin":
		return idnum.KZIIN(v)
	case "kz_bin":
		return idnum.KZBIN(v)
	case "kg_pin":
		return idnum.KGPIN(v, today)
	case "date":
		return date(v, today)
	case "sex":
		switch strings.ToLower(v) {
		case "male", "female":
			return strings.ToLower(v), nil
		}
		return "", fault.New(fault.Invalid, "profile.sex_invalid")
	case "document":
		return document(v)
	}
	return text(v)
}

var dateForms = []string{"02.01.2006", "2006-01-02", "2.1.2006"}

// date accepts дд.мм.гггг (as people write it) or ISO 8601 and stores
// ISO 8601; a date in the future or before 1900 is not a plausible date of
// a living person's events.
func date(v string, today time.Time) (string, error) {
	for _, f := range dateForms {
		t, err := time.Parse(f, v)
		if err != nil {
			continue
		}
		y, m, d := today.Date()
		if t.After(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
			return "", fault.New(fault.Invalid, "profile.date_future")
		}
		if t.Year() < 1900 {
			return "", fault.New(fault.Invalid, "profile.date_too_old")
		}
		return t.Format("2006-01-02"), nil
	}
	return "", fault.New(fault.Invalid, "profile.date_invalid")
}

var (
	passportRF = regexp.MustCompile(`^(\d{2})\s?(\d{2})\s?(?:№\s?)?(\d{6})$`)
	docChars   = regexp.MustCompile(`^[\p{L}\d][\p{L}\d .№/-]{3,39}$`)
)

// document accepts a Russian passport's series and number (normalised to
// "4500 123456") or another document's number (4 to 40 letters, digits,
// spaces, dashes, slashes, №).
func document(v string) (string, error) {
	if m := passportRF.FindStringSubmatch(v); m != nil {
		return m[1] + m[2] + " " + m[3], nil
	}
	if docChars.MatchString(v) {
		return strings.Join(strings.Fields(v), " "), nil
	}
	return "", fault.New(fault.Invalid, "profile.document_invalid")
}

func text(v string) (string, error) {
	if len([]rune(v)) > MaxText {
		return "", fault.New(fault.Invalid, "profile.too_long", "max", MaxText)
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return "", fault.New(fault.Invalid, "profile.text_invalid")
	}
	return strings.Join(strings.Fields(v), " "), nil
}

// Display renders a stored value for people: dates as дд.мм.гггг, sex in
// words (through t, the page's translator).
func Display(c *register.Category, stored string, t func(string, ...any) string) string {
	switch c.Format {
	case "date":
		if d, err := time.Parse("2006-01-02", stored); err == nil {
			return d.Format("02.01.2006")
		}
	case "sex":
		if stored == "male" || stored == "female" {
			return t("profile.sex_" + stored)
		}
	}
	return stored
}

// Editable reports whether the cabinet offers the category for editing:
// technical records and the sign-in identifiers (changed through a
// confirmation code) are not typed in.
func Editable(c *register.Category, signInCategories ...string) bool {
	if strings.HasPrefix(c.ID, "technical.") {
		return false
	}
	for _, s := range signInCategories {
		if c.ID == s {
			return false
		}
	}
	return true
}
