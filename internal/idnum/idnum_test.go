package idnum

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/i18n"
)

// today is a fixed date for KGPIN, so the tests do not age.
var today = time.Date(2026, time.November, 22, 12, 0, 0, 0, time.UTC)

type testCase struct {
	in   string
	want string // canonical form on success
	key  string // message key on failure; "" means valid
}

// checkCases runs fn over the cases: valid ones return their canonical
// form, invalid ones a fault.Invalid with the expected key, no result, and
// no trace of the input in the error text (it is personal data).
func checkCases(t *testing.T, name string, fn func(string) (string, error), cases []testCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := fn(tc.in)
		if tc.key == "" {
			if err != nil {
				t.Errorf("%s(%q): unexpected error %v", name, tc.in, err)
			} else if got != tc.want {
				t.Errorf("%s(%q) = %q, want %q", name, tc.in, got, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s(%q) = %q, want error %s", name, tc.in, got, tc.key)
			continue
		}
		if !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("%s(%q): error %v is not fault.Invalid", name, tc.in, err)
		}
		key, _ := fault.Message(err)
		if key != tc.key {
			t.Errorf("%s(%q): key %q, want %q", name, tc.in, key, tc.key)
		}
		if d := strings.TrimSpace(tc.in); len(d) > 2 && strings.Contains(err.Error(), d) {
			t.Errorf("%s(%q): error %q contains the input", name, tc.in, err)
		}
		if got != "" {
			t.Errorf("%s(%q): returned %q with an error", name, tc.in, got)
		}
	}
}

// table is the cases of one validator.
type table struct {
	name  string
	fn    func(string) (string, error)
	cases []testCase
}

// tables lists every validator's cases; valid numbers are either published
// ones (named) or computed with the algorithm.
func tables() []table {
	return []table{
		{"INN", INN, []testCase{
			{"7707083893", "7707083893", ""},     // ПАО Сбербанк (published)
			{"7736050003", "7736050003", ""},     // ПАО «Газпром» (published)
			{"500100732259", "500100732259", ""}, // individual, the common published example
			{"1234567894", "1234567894", ""},     // computed
			{"123456789047", "123456789047", ""}, // computed
			{"  7707083893\t", "7707083893", ""}, // surrounding space trimmed
			{"", "", "idnum.inn.empty"},
			{"   ", "", "idnum.inn.empty"},
			{"770708389", "", "idnum.inn.format"},
			{"77070838930", "", "idnum.inn.format"},
			{"7707 083893", "", "idnum.inn.format"},
			{"770708389X", "", "idnum.inn.format"},
			{"７７０７０８３８９３", "", "idnum.inn.format"}, // full-width digits
			{"7707083894", "", "idnum.inn.checksum"},
			{"7707083839", "", "idnum.inn.checksum"},   // transposed digits
			{"500100732250", "", "idnum.inn.checksum"}, // 12th digit wrong
			{"500100732209", "", "idnum.inn.checksum"}, // 11th digit wrong
			{"0000000000", "", "idnum.inn.checksum"},   // all zeros pass the sum, not the rule
			{"000000000000", "", "idnum.inn.checksum"},
		}},
		{"INNLegal", INNLegal, []testCase{
			{"7702070139", "7702070139", ""}, // Банк ВТБ (ПАО) (published)
			{"", "", "idnum.inn_legal.empty"},
			{"500100732259", "", "idnum.inn_legal.format"},
			{"7702070130", "", "idnum.inn_legal.checksum"},
		}},
		{"INNPerson", INNPerson, []testCase{
			{"500100732259", "500100732259", ""},
			{"", "", "idnum.inn_person.empty"},
			{"7707083893", "", "idnum.inn_person.format"},
			{"500100732258", "", "idnum.inn_person.checksum"},
		}},
		{"OGRN", OGRN, []testCase{
			{"1027700132195", "1027700132195", ""}, // ПАО Сбербанк (published)
			{"1027700070518", "1027700070518", ""}, // ПАО «Газпром» (published)
			{"1027739609391", "1027739609391", ""}, // Банк ВТБ (ПАО) (published)
			{"5197700000009", "5197700000009", ""}, // computed, first digit 5
			{"1177460000013", "1177460000013", ""}, // computed, remainder 10 → 0
			{" 1027700132195 ", "1027700132195", ""},
			{"", "", "idnum.ogrn.empty"},
			{"102770013219", "", "idnum.ogrn.format"},
			{"304500116000157", "", "idnum.ogrn.format"}, // an OGRNIP
			{"1027700-132195", "", "idnum.ogrn.format"},
			{"2027700132195", "", "idnum.ogrn.type"}, // a later register entry (ГРН)
			{"3027700132195", "", "idnum.ogrn.type"},
			{"0000000000000", "", "idnum.ogrn.type"},
			{"1027700132196", "", "idnum.ogrn.checksum"},
			{"1027700123195", "", "idnum.ogrn.checksum"},
		}},
		{"OGRNIP", OGRNIP, []testCase{
			{"304500116000157", "304500116000157", ""}, // the common published example
			{"319774600000008", "319774600000008", ""}, // computed
			{"321500100001232", "321500100001232", ""}, // computed
			{"", "", "idnum.ogrnip.empty"},
			{"1027700132195", "", "idnum.ogrnip.format"},
			{"30450011600015", "", "idnum.ogrnip.format"},
			{"404500116000157", "", "idnum.ogrnip.type"},
			{"104500116000157", "", "idnum.ogrnip.type"},
			{"304500116000158", "", "idnum.ogrnip.checksum"},
		}},
		{"SNILS", SNILS, []testCase{
			{"112-233-445 95", "11223344595", ""}, // the published example
			{"11223344595", "11223344595", ""},
			{"112 233 445 95", "11223344595", ""},
			{"112-233-445-95", "11223344595", ""},
			{"112-233-44595", "11223344595", ""},
			{"112\u00a0233\u00a0445\u00a095", "11223344595", ""},
			{"  112-233-445 95  ", "11223344595", ""},
			{"001-001-999 65", "00100199965", ""}, // first checked number, sum < 100
			{"001-508-815 00", "00150881500", ""}, // sum 100 → 00
			{"001-437-544 00", "00143754400", ""}, // sum 101 → 00
			{"001-168-298 06", "00116829806", ""}, // sum 107 → 107 mod 101
			{"006-996-682 00", "00699668200", ""}, // sum 201 → mod 101 = 100 → 00
			{"001-001-998 42", "00100199842", ""}, // up to 001-001-998: not checked
			{"000-000-001 99", "00000000199", ""},
			{"", "", "idnum.snils.empty"},
			{"112-233-445 9", "", "idnum.snils.format"},
			{"112-233-445 955", "", "idnum.snils.format"},
			{"1122-33-445 95", "", "idnum.snils.format"},    // separator out of place
			{"112--233-445 95", "", "idnum.snils.format"},   // doubled separator
			{"112-233-445 95-", "", "idnum.snils.format"},   // trailing separator
			{"-112-233-445 95", "", "idnum.snils.format"},   // leading separator
			{"112.233.445 95", "", "idnum.snils.format"},    // dots are not accepted
			{"112-233-445 9five", "", "idnum.snils.format"}, // letters
			{"112-233-445 96", "", "idnum.snils.checksum"},
			{"121-233-445 95", "", "idnum.snils.checksum"},
			{"001-001-999 66", "", "idnum.snils.checksum"},
			{"001-508-815 01", "", "idnum.snils.checksum"},
			{"000-000-000 00", "", "idnum.snils.checksum"},
		}},

		{"KZIIN", KZIIN, []testCase{
			{"791028302728", "791028302728", ""}, // published example (1979-10-28, male)
			{"061211600012", "061211600012", ""}, // published example (2006-12-11, female)
			{"900101300811", "900101300811", ""}, // computed: first pass gives 10, second pass 1
			{"000229500008", "000229500008", ""}, // 29 Feb 2000
			{"240229600003", "240229600003", ""}, // 29 Feb 2024
			{"850101200009", "850101200009", ""}, // 1885, century digit 2
			{"991231400109", "991231400109", ""},
			{"", "", "idnum.kz_iin.empty"},
			{"79102830272", "", "idnum.kz_iin.format"},
			{"7910 2830 2728", "", "idnum.kz_iin.format"},
			{"791028702728", "", "idnum.kz_iin.century"},
			{"791028002728", "", "idnum.kz_iin.century"},
			{"791328302728", "", "idnum.kz_iin.date"}, // month 13
			{"791000302728", "", "idnum.kz_iin.date"}, // day 0
			{"790230302728", "", "idnum.kz_iin.date"}, // 30 Feb
			{"000229300008", "", "idnum.kz_iin.date"}, // 29 Feb 1900: not a leap year
			{"230229600003", "", "idnum.kz_iin.date"}, // 29 Feb 2023
			{"791028302729", "", "idnum.kz_iin.checksum"},
			{"791028302278", "", "idnum.kz_iin.checksum"},
			{"900101300800", "", "idnum.kz_iin.checksum"}, // both passes give 10: never issued
			{"900101300801", "", "idnum.kz_iin.checksum"},
		}},
		{"KZBIN", KZBIN, []testCase{
			{"940140000385", "940140000385", ""}, // АО «Народный Банк Казахстана» (published)
			{"990140004654", "990140004654", ""}, // published example
			{"040140000006", "040140000006", ""}, // computed: second pass
			{"231240000006", "231240000006", ""}, // computed
			{"100541000003", "100541000003", ""}, // computed: non-resident branch
			{"", "", "idnum.kz_bin.empty"},
			{"99014000465", "", "idnum.kz_bin.format"},
			{"990 140 004 654", "", "idnum.kz_bin.format"},
			{"949940000385", "", "idnum.kz_bin.date"},
			{"940040000385", "", "idnum.kz_bin.date"},
			{"940190000385", "", "idnum.kz_bin.type"},
			{"940130000385", "", "idnum.kz_bin.type"},
			{"940149000385", "", "idnum.kz_bin.type"},
			{"940140000386", "", "idnum.kz_bin.checksum"},
			{"940140000835", "", "idnum.kz_bin.checksum"},
		}},
		{"KGPIN", func(s string) (string, error) { return KGPIN(s, today) }, []testCase{
			// No check digit exists, so these are built from the structure:
			// sex digit, DDMMYYYY, five-digit serial.
			{"21503199000123", "21503199000123", ""},
			{"12902200000001", "12902200000001", ""}, // 29 Feb 2000
			{"10101190000001", "10101190000001", ""}, // 1 Jan 1900
			{"22211202600042", "22211202600042", ""}, // today
			{" 21503199000123 ", "21503199000123", ""},
			{"", "", "idnum.kg_pin.empty"},
			{"2150319900012", "", "idnum.kg_pin.format"},
			{"215031990001234", "", "idnum.kg_pin.format"},
			{"2-1503199000123", "", "idnum.kg_pin.format"},
			{"31503199000123", "", "idnum.kg_pin.first_digit"},
			{"01503199000123", "", "idnum.kg_pin.first_digit"},
			{"23202199000123", "", "idnum.kg_pin.date"}, // 32 Feb
			{"22902190000123", "", "idnum.kg_pin.date"}, // 29 Feb 1900
			{"21513199000123", "", "idnum.kg_pin.date"}, // month 13
			{"20003199000123", "", "idnum.kg_pin.date"}, // day 0
			{"23112189900123", "", "idnum.kg_pin.date"}, // 1899
			{"22311202600042", "", "idnum.kg_pin.date"}, // tomorrow
			{"20101202700042", "", "idnum.kg_pin.date"}, // next year
		}},
	}
}

func TestValidators(t *testing.T) {
	for _, tb := range tables() {
		t.Run(tb.name, func(t *testing.T) { checkCases(t, tb.name, tb.fn, tb.cases) })
	}
}

func TestNormalizeAndFormatSNILS(t *testing.T) {
	if got, ok := NormalizeSNILS("112-233-445 96"); !ok || got != "11223344596" {
		t.Errorf("NormalizeSNILS does not check the check number: got %q, %v", got, ok)
	}
	if _, ok := NormalizeSNILS("11-2233-445 95"); ok {
		t.Error("NormalizeSNILS accepted a misplaced separator")
	}
	for in, want := range map[string]string{
		"11223344595": "112-233-445 95",
		"1122334459":  "1122334459",
		"1122334459x": "1122334459x",
	} {
		if got := FormatSNILS(in); got != want {
			t.Errorf("FormatSNILS(%q) = %q, want %q", in, got, want)
		}
	}
	n, err := SNILS(FormatSNILS("11223344595"))
	if err != nil || n != "11223344595" {
		t.Errorf("SNILS(FormatSNILS(x)) = %q, %v", n, err)
	}
}

func TestKGPINToday(t *testing.T) {
	// Born on 22 Nov 2026: valid when the caller's today is that date,
	// even if UTC is still on the 21st.
	bishkek := time.FixedZone("KGT", 6*3600)
	early := time.Date(2026, time.November, 22, 1, 0, 0, 0, bishkek)
	if _, err := KGPIN("12211202600001", early); err != nil {
		t.Errorf("born today (local): %v", err)
	}
	if _, err := KGPIN("12211202600001", early.UTC()); err == nil {
		t.Error("born tomorrow (UTC 21 Nov) accepted")
	}
}

// TestKeysTranslated: every key the validators produce has a message in
// every catalogue, and every number kind has cases for at least empty,
// format and (where it has one) checksum.
func TestKeysTranslated(t *testing.T) {
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tb := range tables() {
		for _, tc := range tb.cases {
			if tc.key == "" || seen[tc.key] {
				continue
			}
			seen[tc.key] = true
			for _, lang := range b.Languages() {
				if !b.Localizer(lang).Has(tc.key) {
					t.Errorf("%s: no message for %q", lang, tc.key)
				}
			}
		}
	}
	for _, what := range []string{"inn", "inn_legal", "inn_person", "ogrn", "ogrnip", "snils", "kz_iin", "kz_bin", "kg_pin"} {
		for _, p := range []string{"empty", "format", "checksum"} {
			if what == "kg_pin" && p == "checksum" {
				continue // the Kyrgyz PIN has no check digit
			}
			if !seen["idnum."+what+"."+p] {
				t.Errorf("no test case produces idnum.%s.%s", what, p)
			}
		}
	}
}

// FuzzValidators: no input panics, and anything accepted is returned in a
// canonical form that is accepted again unchanged.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{"7707083893", "500100732259", "1027700132195", "304500116000157",
		"112-233-445 95", "791028302728", "940140000385", "21503199000123", "", " - ", "\u00a0"} {
		f.Add(s)
	}
	fns := map[string]func(string) (string, error){
		"INN": INN, "INNLegal": INNLegal, "INNPerson": INNPerson, "OGRN": OGRN, "OGRNIP": OGRNIP,
		"SNILS": SNILS, "KZIIN": KZIIN, "KZBIN": KZBIN,
		"KGPIN": func(s string) (string, error) { return KGPIN(s, today) },
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, fn := range fns {
			got, err := fn(s)
			if err != nil {
				if fault.KindOf(err) != fault.Invalid {
					t.Errorf("%s(%q): kind %v, want invalid", name, s, fault.KindOf(err))
				}
				continue
			}
			for i := 0; i < len(got); i++ {
				if got[i] < '0' || got[i] > '9' {
					t.Fatalf("%s(%q) = %q: not digits only", name, s, got)
				}
			}
			if again, err := fn(got); err != nil || again != got {
				t.Errorf("%s(%q) = %q, but again gives %q, %v", name, s, got, again, err)
			}
		}
	})
}

func BenchmarkSNILS(b *testing.B) {
	for b.Loop() {
		_, _ = SNILS("112-233-445 95")
	}
}

func BenchmarkKZIIN(b *testing.B) {
	for b.Loop() {
		_, _ = KZIIN("791028302728")
	}
}
