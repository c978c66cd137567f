package documents

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"kabinet/internal/config"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.html from the current output")

// untranslated matches how the localizer shows a key it has no text for.
var untranslated = regexp.MustCompile(`\[[a-z_]+(\.[a-z0-9_]+)+\]`)

func demo(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func bundle(t testing.TB) *i18n.Bundle {
	t.Helper()
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func render(t testing.TB, cfg *config.Config, docID, lang string) Rendered {
	t.Helper()
	d := cfg.Register.Document(docID)
	if d == nil {
		t.Fatalf("no document %q", docID)
	}
	r, err := Render(cfg, bundle(t), d, lang)
	if err != nil {
		t.Fatalf("render %s/%s: %v", docID, lang, err)
	}
	return r
}

func TestPolicyGoldenRussian(t *testing.T) {
	r := render(t, demo(t), "policy", "ru")
	path := filepath.Join("testdata", "policy_ru.golden.html")
	if *update {
		if err := os.WriteFile(path, []byte(r.HTML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(r.HTML) != string(want) {
		got, w := strings.Split(string(r.HTML), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(got) || i < len(w); i++ {
			var g, ww string
			if i < len(got) {
				g = got[i]
			}
			if i < len(w) {
				ww = w[i]
			}
			if g != ww {
				t.Fatalf("policy differs from %s at line %d:\n got: %s\nwant: %s\n(run go test -update if the change is intended)", path, i+1, g, ww)
			}
		}
	}
}

// TestPolicyShowsTheRegister checks that a reader finds in the policy
// everything the register says about the processing.
func TestPolicyShowsTheRegister(t *testing.T) {
	cfg := demo(t)
	r := render(t, cfg, "policy", "ru")
	used := map[string]bool{}
	for _, p := range cfg.Register.Purposes {
		must(t, r.Text, p.Title["ru"], "purpose title")
		for _, c := range p.Categories {
			used[c] = true
		}
		for _, rc := range p.Recipients {
			must(t, r.Text, rc.Name["ru"], "recipient name")
		}
	}
	for _, c := range cfg.Register.Categories {
		if used[c.ID] || used[c.ID[:max(0, strings.IndexByte(c.ID, '.'))]] {
			must(t, r.Text, c.Title["ru"], "category title")
		}
	}
	for _, s := range cfg.Register.Subjects {
		must(t, r.Text, s.Title["ru"], "subject category")
	}
	for _, want := range []string{
		"Российская Федерация", // storage country
		"8. Права субъекта персональных данных и порядок их реализации",
		"9. Отзыв согласия на обработку персональных данных",
		"10 рабочих дней", "7 рабочих дней", "ст. 17 Закона", // rights with statutory terms
		"сбор, запись, систематизация, накопление, хранение, уточнение (обновление, изменение), извлечение, использование",
		"п. 1 ч. 1 ст. 6 Закона", // consent basis cited
		"9901001239", "1199900012344", cfg.Operator.Contacts.Email,
		"/documents/consent-informing",
	} {
		must(t, r.Text, want, "policy text")
	}
	for _, want := range []string{`<section id="doc-s8"`, `<section id="doc-s9"`, `<th scope="col">Получатель</th>`, `<nav class="doc-toc"`} {
		must(t, string(r.HTML), want, "policy HTML")
	}
}

func must(t *testing.T, text, want, what string) {
	t.Helper()
	if want == "" {
		t.Errorf("empty %s in the register", what)
		return
	}
	if !strings.Contains(text, want) {
		t.Errorf("%s %q missing", what, want)
	}
}

func TestEveryDocumentRendersInEveryLanguage(t *testing.T) {
	cfg := demo(t)
	for _, d := range cfg.Register.Documents {
		for _, lang := range cfg.Languages {
			r := render(t, cfg, d.ID, lang)
			if m := untranslated.FindString(string(r.HTML)); m != "" {
				t.Errorf("%s/%s shows an untranslated key %s", d.ID, lang, m)
			}
			if !strings.Contains(string(r.HTML), `<article class="document" lang="`+lang+`">`) {
				t.Errorf("%s/%s: article not marked with its language", d.ID, lang)
			}
		}
	}
	en := render(t, cfg, "policy", "en")
	for _, want := range []string{"Purposes of processing and legal bases", "Art. 6(1)(1) of the Law", "Running the portal"} {
		must(t, en.Text, want, "English policy")
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	cfg := demo(t)
	// Texts in languages the portal does not render fall back by code,
	// never by map order.
	cfg.Register.Purposes[0].Description = i18n.Text{"kk": "kk text", "de": "de text", "fr": "fr text"}
	first := render(t, cfg, "policy", "ru")
	if !strings.Contains(first.Text, "de text") {
		t.Error("fallback did not take the first language by code")
	}
	for range 20 {
		if r := render(t, cfg, "policy", "ru"); r.HTML != first.HTML || r.Text != first.Text {
			t.Fatal("two renderings of the same register differ")
		}
	}
}

func TestConsentTemplateRussia(t *testing.T) {
	cfg := demo(t)
	r := render(t, cfg, "consent-informing", "ru")
	p := cfg.Register.Purpose("informing")
	for _, want := range []string{
		cfg.Operator.Name["ru"], cfg.Operator.LegalAddress["ru"], "ИНН 9901001239", // operator's name and address
		p.Title["ru"],                               // purpose
		"Номер телефона", "Адрес электронной почты", // list of data
		"сбор, хранение, использование",                       // actions
		"автоматизированная обработка",                        // methods
		"до его отзыва",                                       // term
		"Способ отзыва согласия", cfg.Operator.Contacts.Email, // withdrawal
		"[фамилия, имя, отчество (при наличии)]", "[адрес]", // subject's slots
		"[номер основного документа, удостоверяющего личность, дата его выдачи и выдавший орган]",
		"Представитель субъекта", "[подпись или отметка о согласии]",
		"ст. 9 Федерального закона от 27.07.2006 № 152-ФЗ",
	} {
		must(t, r.Text, want, "consent text")
	}
	for _, rc := range p.Recipients {
		if rc.Role == "processor" {
			must(t, r.Text, rc.Name["ru"], "processor")
		}
	}
	must(t, string(r.HTML), `<span class="doc-slot">[адрес]</span>`, "consent HTML")
}

func TestConsentTemplateKazakhstan(t *testing.T) {
	cfg := demo(t)
	cfg.Operator.Jurisdiction = "kz"
	cfg.Operator.Registration = config.Registration{BIN: "000740001307"}
	p := cfg.Register.Purpose("informing")
	p.Recipients = append(p.Recipients, register.Recipient{
		Name: i18n.Text{"ru": "Облачный провайдер"}, Country: "DE", Role: "processor", CrossBorder: true,
		Categories: []string{"contact.email"},
	})
	r := render(t, cfg, "consent-informing", "ru")
	for _, want := range []string{
		"БИН 000740001307",
		"Передача третьим лицам: предусматривается",
		"Трансграничная передача: предусматривается: Федеративная Республика Германия",
		"Распространение в общедоступных источниках: не предусматривается",
		"Срок действия согласия: до его отзыва",
		"Перечень персональных данных: Номер телефона",
		"[фамилия, имя, отчество (при наличии)]",
		"ст. 8 Закона Республики Казахстан",
	} {
		must(t, r.Text, want, "KZ consent text")
	}
	if strings.Contains(r.Text, "Представитель субъекта") {
		t.Error("KZ consent carries the Russian representative field")
	}
	pol := render(t, cfg, "policy", "ru")
	for _, want := range []string{"ст. 24 Закона", "(трансграничная передача)", "Федеративная Республика Германия: Облачный провайдер"} {
		must(t, pol.Text, want, "KZ policy")
	}
}

// TestExamplesRender renders the policy of every example operator in
// every language it declares.
func TestExamplesRender(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if len(files) == 0 {
		t.Skip("no examples/*.yaml yet")
	}
	b := bundle(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := config.Load(f, func(string) string { return "" }, nil)
			if err != nil {
				t.Skipf("example does not load (not this package's concern): %v", err)
			}
			for _, d := range cfg.Register.Documents {
				for _, lang := range cfg.Languages {
					r, err := Render(cfg, b, &d, lang)
					if err != nil {
						t.Fatalf("%s/%s: %v", d.ID, lang, err)
					}
					if m := untranslated.FindString(string(r.HTML)); m != "" {
						t.Errorf("%s/%s shows an untranslated key %s", d.ID, lang, m)
					}
				}
			}
		})
	}
}

func BenchmarkRenderPolicy(b *testing.B) {
	cfg := demo(b)
	bd := bundle(b)
	d := cfg.Register.Document("policy")
	for b.Loop() {
		if _, err := Render(cfg, bd, d, "ru"); err != nil {
			b.Fatal(err)
		}
	}
}
