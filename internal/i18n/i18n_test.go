package i18n

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"kabinet/internal/fault"
)

func mustLoad(t *testing.T) *Bundle {
	t.Helper()
	b, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return b
}

func loadMap(t *testing.T, files map[string]string) (*Bundle, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for lang, body := range files {
		fsys["locales/"+lang+".json"] = &fstest.MapFile{Data: []byte(body)}
	}
	return loadFS(fsys)
}

// TestCataloguesComplete is the completeness test: every key in every
// catalogue, every plural message with exactly its language's forms, the
// same placeholders everywhere.
func TestCataloguesComplete(t *testing.T) {
	if err := mustLoad(t).Check(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckCatchesBrokenCatalogues proves the checker above can fail.
func TestCheckCatchesBrokenCatalogues(t *testing.T) {
	tests := []struct {
		name  string
		ru    string
		en    string
		wants []string // substrings of the error
	}{
		{
			name:  "key missing in en",
			ru:    `{"a.one": "А", "a.two": "Б"}`,
			en:    `{"a.one": "A"}`,
			wants: []string{`en: "a.two" is missing`},
		},
		{
			name:  "key missing in ru",
			ru:    `{"a.one": "А"}`,
			en:    `{"a.one": "A", "a.extra": "X"}`,
			wants: []string{`ru: "a.extra" is missing`},
		},
		{
			name:  "russian plural lacks few",
			ru:    `{"p": {"one": "{n} заявка", "many": "{n} заявок", "other": "{n} заявки"}}`,
			en:    `{"p": {"one": "{n} request", "other": "{n} requests"}}`,
			wants: []string{`ru: "p" lacks plural form "few"`},
		},
		{
			name:  "english plural has a form English does not use",
			ru:    `{"p": {"one": "{n} заявка", "few": "{n} заявки", "many": "{n} заявок", "other": "{n} заявки"}}`,
			en:    `{"p": {"one": "{n} request", "few": "{n} requests", "other": "{n} requests"}}`,
			wants: []string{`en: "p" has plural form "few"`},
		},
		{
			name:  "plural in one language, simple in the other",
			ru:    `{"p": {"one": "{n} заявка", "few": "{n} заявки", "many": "{n} заявок", "other": "{n} заявки"}}`,
			en:    `{"p": "{n} requests"}`,
			wants: []string{`en: "p" is plural in one language and simple in the other`},
		},
		{
			name:  "placeholder renamed in translation",
			ru:    `{"f": "Оператор: {name}"}`,
			en:    `{"f": "Operator: {operator}"}`,
			wants: []string{`en: "f" uses placeholders {operator}, ru uses {name}`},
		},
		{
			name:  "empty text",
			ru:    `{"e": ""}`,
			en:    `{"e": "E"}`,
			wants: []string{`ru: "e" is empty`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := loadMap(t, map[string]string{"ru": tt.ru, "en": tt.en})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			err = b.Check()
			if err == nil {
				t.Fatal("Check passed a broken catalogue")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadRejectsMalformed(t *testing.T) {
	const okEN = `{"a": "A"}`
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"not JSON", map[string]string{"ru": `{"a": "А"`, "en": okEN}},
		{"array", map[string]string{"ru": `["a"]`, "en": okEN}},
		{"number value", map[string]string{"ru": `{"a": 1}`, "en": okEN}},
		{"nested non-plural object", map[string]string{"ru": `{"a": {"title": "А"}}`, "en": okEN}},
		{"plural form not a string", map[string]string{"ru": `{"a": {"one": 1}}`, "en": okEN}},
		{"duplicate key", map[string]string{"ru": `{"a": "А", "a": "Б"}`, "en": okEN}},
		{"duplicate plural form", map[string]string{"ru": `{"a": {"one": "А", "one": "Б"}}`, "en": okEN}},
		{"bad key", map[string]string{"ru": `{"A Key": "А"}`, "en": okEN}},
		{"empty key segment", map[string]string{"ru": `{"a..b": "А"}`, "en": okEN}},
		{"trailing data", map[string]string{"ru": `{"a": "А"} {}`, "en": okEN}},
		{"no default language", map[string]string{"en": okEN}},
		{"language without a plural rule", map[string]string{"ru": `{"a": "А"}`, "xx": okEN}},
		{"bad file name", map[string]string{"ru": `{"a": "А"}`, "en-GB": okEN}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadMap(t, tt.files); err == nil {
				t.Fatal("load accepted a malformed catalogue")
			}
		})
	}
}

// TestCataloguesSorted keeps the files sorted by key, so merges stay easy
// and duplicates are visible.
func TestCataloguesSorted(t *testing.T) {
	for _, lang := range mustLoad(t).Languages() {
		data, err := locales.ReadFile("locales/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		_, order, err := parseCatalogue(data)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(order); i++ {
			if order[i-1] >= order[i] {
				t.Errorf("%s.json: %q comes after %q; keep keys sorted", lang, order[i], order[i-1])
			}
		}
	}
}

func TestLanguages(t *testing.T) {
	b := mustLoad(t)
	got := b.Languages()
	if !slices.Equal(got, []string{"ru", "en"}) {
		t.Fatalf("Languages() = %v, want [ru en]", got)
	}
	got[0] = "xx" // a copy: callers cannot change the bundle
	if b.Languages()[0] != "ru" {
		t.Fatal("Languages() exposes the bundle's slice")
	}
	for _, lang := range got[1:] {
		if l := b.Localizer(lang); l.Lang() != lang {
			t.Errorf("Localizer(%q).Lang() = %q", lang, l.Lang())
		}
	}
	if l := b.Localizer("de"); l.Lang() != "ru" {
		t.Errorf("unsupported language gives %q, want ru", l.Lang())
	}
}

// TestFaultKindsHaveMessages: fault.Message falls back to "error."+kind,
// so each kind needs a key.
func TestFaultKindsHaveMessages(t *testing.T) {
	b := mustLoad(t)
	kinds := []fault.Kind{fault.Internal, fault.NotFound, fault.Conflict, fault.Invalid,
		fault.Unauthorized, fault.Forbidden, fault.RateLimited, fault.Unavailable}
	for _, k := range kinds {
		key, _ := fault.Message(fault.New(k, ""))
		for _, lang := range b.Languages() {
			if !b.Localizer(lang).Has(key) {
				t.Errorf("%s: no message for fault kind %s (key %q)", lang, k, key)
			}
		}
	}
}

func TestRussianPlurals(t *testing.T) {
	b, err := loadMap(t, map[string]string{
		"ru": `{"requests": {"one": "{n} заявка", "few": "{n} заявки", "many": "{n} заявок", "other": "{n} заявки"}}`,
		"en": `{"requests": {"one": "{n} request", "other": "{n} requests"}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	ru, en := b.Localizer("ru"), b.Localizer("en")
	tests := []struct {
		n      int
		ru, en string
	}{
		{0, "0 заявок", "0 requests"},
		{1, "1 заявка", "1 request"},
		{2, "2 заявки", "2 requests"},
		{4, "4 заявки", "4 requests"},
		{5, "5 заявок", "5 requests"},
		{11, "11 заявок", "11 requests"},
		{12, "12 заявок", "12 requests"},
		{14, "14 заявок", "14 requests"},
		{21, "21 заявка", "21 requests"},
		{22, "22 заявки", "22 requests"},
		{25, "25 заявок", "25 requests"},
		{101, "101 заявка", "101 requests"},
		{111, "111 заявок", "111 requests"},
		{112, "112 заявок", "112 requests"},
		{1001, "1001 заявка", "1001 requests"},
		{-1, "-1 заявка", "-1 requests"},
	}
	for _, tt := range tests {
		if got := ru.N("requests", tt.n); got != tt.ru {
			t.Errorf("ru N(%d) = %q, want %q", tt.n, got, tt.ru)
		}
		if got := en.N("requests", tt.n); got != tt.en {
			t.Errorf("en N(%d) = %q, want %q", tt.n, got, tt.en)
		}
	}
	// A count passed as the "n" arg of T (as a fault.Error's args would).
	if got := ru.T("requests", "n", 3); got != "3 заявки" {
		t.Errorf(`T with "n" arg = %q, want "3 заявки"`, got)
	}
}

func TestRender(t *testing.T) {
	b := mustLoad(t)
	ru, en := b.Localizer("ru"), b.Localizer("en")
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"simple", ru.T("nav.sign_in"), "Войти"},
		{"named arg", ru.T("footer.operator", "name", "АО «Ромашка»"), "Оператор: АО «Ромашка»"},
		{"named arg en", en.T("error.request_id", "id", "7f3a"), "Reference code: 7f3a"},
		{"arg order does not matter", ru.T("error.request_id", "x", 1, "id", 42), "Код обращения: 42"},
		{"missing arg left visible", ru.T("footer.operator"), "Оператор: {name}"},
		{"odd trailing arg ignored", ru.T("footer.operator", "name"), "Оператор: {name}"},
		{"missing key", ru.T("no.such.key"), "[no.such.key]"},
		{"missing key plural", ru.N("no.such.key", 3), "[no.such.key]"},
		{"plural via T without n", ru.T("home.services_count"), "[home.services_count]"},
		{"plural one", ru.N("home.services_count", 21), "21 услуга"},
		{"plural few", ru.N("home.services_count", 3), "3 услуги"},
		{"plural many", ru.N("home.services_count", 11), "11 услуг"},
		{"plural en", en.N("home.services_count", 1), "1 service"},
		{"N on simple message", ru.N("nav.sign_in", 2), "Войти"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestFormatBraces(t *testing.T) {
	tests := []struct{ text, want string }{
		{"no braces", "no braces"},
		{"{a}", "1"},
		{"{a}{b}", "12"},
		{"{ a }", "{ a }"},
		{"{}", "{}"},
		{"{A}", "{A}"},
		{"{a", "{a"},
		{"x{{a}}y", "x{1}y"},
		{"{unknown} {a}", "{unknown} 1"},
		{"тест {a} тест", "тест 1 тест"},
	}
	for _, tt := range tests {
		if got := format(tt.text, []any{"a", 1, "b", "2"}); got != tt.want {
			t.Errorf("format(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	b := mustLoad(t)
	tests := []struct {
		name, cookie, header, want string
	}{
		{"nothing", "", "", "ru"},
		{"cookie wins", "en", "ru-RU,ru;q=0.9", "en"},
		{"cookie case and spaces", " EN ", "", "en"},
		{"unsupported cookie ignored", "de", "en-US", "en"},
		{"cookie with region is not a code", "en-GB", "", "ru"},
		{"q-values", "", "en-GB,en;q=0.9,ru;q=0.8", "en"},
		{"q-values prefer ru", "", "en;q=0.5,ru;q=0.8", "ru"},
		{"base language match", "", "ru-RU", "ru"},
		{"region in upper case", "", "EN-us", "en"},
		{"underscore", "", "en_GB", "en"},
		{"first supported wins", "", "de-DE,de;q=0.9,en;q=0.8,ru;q=0.7", "en"},
		{"tie goes to first listed", "", "en,ru", "en"},
		{"unsupported only", "", "de,fr;q=0.9", "ru"},
		{"q=0 excludes", "", "en;q=0,ru;q=0", "ru"},
		{"q=0 excludes en, wildcard", "", "en;q=0,*", "ru"},
		{"q=0 excludes ru, wildcard", "", "ru;q=0,*;q=0.5", "en"},
		{"wildcard only", "", "*", "ru"},
		{"wildcard below named", "", "*;q=0.1,en;q=0.2", "en"},
		{"spaces", "", "  en-GB ; q=0.9 , ru ; q=0.95 ", "ru"},
		{"bad q skipped", "", "en;q=abc,ru;q=0.1", "ru"},
		{"q above 1 skipped", "", "en;q=2,ru;q=0.1", "ru"},
		{"negative q skipped", "", "en;q=-1", "ru"},
		{"NaN q skipped", "", "en;q=NaN", "ru"},
		{"other params ignored", "", "en;level=1;q=0.9,ru;q=0.5", "en"},
		{"garbage", "", ";;;,,,=;q=;", "ru"},
		{"binary garbage", "", "\x00\xff,\xfe;q=\x01", "ru"},
		{"empty ranges", "", ",,,en,,,", "en"},
	}
	for _, tt := range tests {
		if got := b.Negotiate(tt.cookie, tt.header); got != tt.want {
			t.Errorf("%s: Negotiate(%q, %q) = %q, want %q", tt.name, tt.cookie, tt.header, got, tt.want)
		}
	}
}

func TestNegotiateHugeHeader(t *testing.T) {
	b := mustLoad(t)
	// Ranges past the limit are not read: en comes too late to count.
	h := strings.Repeat("de;q=0.9,", 1000) + "en"
	if got := b.Negotiate("", h); got != "ru" {
		t.Errorf("huge header: got %q, want ru", got)
	}
	if got := b.Negotiate("", strings.Repeat("x", 1<<20)); got != "ru" {
		t.Errorf("huge garbage: got %q, want ru", got)
	}
}

func BenchmarkT(b *testing.B) {
	bundle, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	l := bundle.Localizer("ru")
	b.ReportAllocs()
	for b.Loop() {
		_ = l.T("footer.operator", "name", "АО «Ромашка»")
	}
}

func BenchmarkNegotiate(b *testing.B) {
	bundle, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = bundle.Negotiate("", "en-GB,en;q=0.9,ru;q=0.8")
	}
}
