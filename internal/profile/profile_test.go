package profile

import (
	"testing"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/i18n/i18ntest"
	"kabinet/internal/register"
)

func TestNormalize(t *testing.T) {
	today := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		format, in, want, key string
	}{
		{"inn_person", "500100732259", "500100732259", ""},
		{"inn_person", "500100732250", "", "idnum.inn_person.checksum"},
		{"snils", "11223344595", "112-233-445 95", ""},
		{"snils", "112-233-445 96", "", "idnum.snils.checksum"},
		{"date", "29.02.1980", "1980-02-29", ""},
		{"date", "1980-02-29", "1980-02-29", ""},
		{"date", "30.02.1980", "", "profile.date_invalid"},
		{"date", "01.01.2030", "", "profile.date_future"},
		{"date", "01.01.1850", "", "profile.date_too_old"},
		{"sex", "Female", "female", ""},
		{"sex", "other", "", "profile.sex_invalid"},
		{"document", "45 00 123456", "4500 123456", ""},
		{"document", "4500№123456", "4500 123456", ""},
		{"document", "AB 1234567", "AB 1234567", ""},
		{"document", "<script>", "", "profile.document_invalid"},
		{"", "  Петров   Иван  ", "Петров Иван", ""},
		{"", "a\x00b", "", "profile.text_invalid"},
		{"", "", "", "profile.empty"},
	}
	for _, c := range cases {
		got, err := Normalize(&register.Category{ID: "x", Format: c.format}, c.in, today)
		key, _ := fault.Message(err)
		switch {
		case c.key == "" && (err != nil || got != c.want):
			t.Errorf("%s %q: %q %v, want %q", c.format, c.in, got, err, c.want)
		case c.key != "" && (fault.KindOf(err) != fault.Invalid || key != c.key):
			t.Errorf("%s %q: err %v (key %q), want %s", c.format, c.in, err, key, c.key)
		}
	}
}

func TestEveryKeyIsTranslated(t *testing.T) { i18ntest.KeysTranslated(t, "profile", 6) }

func TestImage(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	if typ, err := Image(png); err != nil || typ != "image/png" {
		t.Errorf("png: %q %v", typ, err)
	}
	for name, c := range map[string]struct {
		data []byte
		key  string
	}{
		"text":      {[]byte("hello, not a picture"), "profile.image_type"},
		"empty":     {nil, "profile.empty"},
		"too large": {append(png, make([]byte, MaxImage)...), "profile.image_too_large"},
	} {
		_, err := Image(c.data)
		if key, _ := fault.Message(err); key != c.key {
			t.Errorf("%s: %v, want %s", name, err, c.key)
		}
	}
}
