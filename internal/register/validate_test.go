package register_test

import (
	"fmt"
	"kabinet/internal/i18n/i18ntest"
	"slices"
	"strings"
	"testing"

	"kabinet/internal/i18n"
	"kabinet/internal/register"
)

func text(s string) i18n.Text { return i18n.Text{"ru": s} }

// valid returns a small register that passes Validate("ru"); every case
// below breaks it in one place. Indexes: purposes account 0, news 1,
// health 2, tax 3; categories contact.email 0, contact.phone 1,
// health.pulse 2, media.face 3; documents policy 0, consent-news 1,
// consent-health 2.
func valid() *register.Register {
	return &register.Register{
		Storage: register.Storage{Primary: "RU"},
		Categories: []register.Category{
			{ID: "contact.email", Kind: register.KindOrdinary, Title: text("E-mail")},
			{ID: "contact.phone", Kind: register.KindOrdinary, Title: text("Телефон")},
			{ID: "health.pulse", Kind: register.KindSpecial, Title: text("Пульс")},
			{ID: "media.face", Kind: register.KindBiometric, Title: text("Лицо")},
		},
		Subjects: []register.SubjectCategory{
			{ID: "user", Title: text("Пользователи")},
			{ID: "child", Title: text("Дети")},
		},
		Purposes: []register.Purpose{
			{
				ID: "account", Title: text("Учётная запись"), Basis: register.BasisContract,
				Categories: []string{"contact.email"}, Subjects: []string{"user"},
				Operations: []string{"collection", "storage"}, Processing: "automated",
				Retention: register.Retention{Rule: "contract", After: "destroy"},
			},
			{
				ID: "news", Title: text("Новости"), Basis: register.BasisConsent,
				Categories: []string{"contact"}, Subjects: []string{"user"},
				Operations: []string{"collection", "storage", "transfer"}, Processing: "automated",
				Retention: register.Retention{Rule: "until_withdrawn", After: "destroy"},
				Consent:   &register.Consent{Document: "consent-news", Methods: []string{"checkbox"}},
				Recipients: []register.Recipient{{
					Name: text("Рассыльщик"), Country: "RU", Role: "processor", Categories: []string{"contact.email"},
				}},
			},
			{
				ID: "health", Title: text("Здоровье"), Basis: register.BasisConsent,
				Categories: []string{"health.pulse", "media.face"}, Subjects: []string{"user"},
				Operations: []string{"collection", "storage"}, Processing: "automated",
				Retention: register.Retention{Rule: "until_withdrawn", After: "destroy"},
				Consent:   &register.Consent{Document: "consent-health", Methods: []string{"signature"}, Written: true},
			},
			{
				ID: "tax", Title: text("Налоги"), Basis: register.BasisLaw, Law: text("НК РФ"),
				Categories: []string{"contact.email"}, Subjects: []string{"user"},
				Operations: []string{"storage"}, Processing: "mixed",
				Retention: register.Retention{Rule: "law", Term: register.Duration{N: 5, Unit: 'y'}, Law: text("402-ФЗ"), After: "destroy"},
			},
		},
		Documents: []register.Document{
			{ID: "policy", Kind: register.DocPolicy, Title: text("Политика"), Version: "1", Acceptance: "continued_use"},
			{ID: "consent-news", Kind: register.DocConsent, Title: text("Согласие на новости"), Version: "1"},
			{ID: "consent-health", Kind: register.DocConsent, Title: text("Согласие на здоровье"), Version: "1"},
		},
	}
}

// problem is the part of a register.Problem a case asserts.
type problem struct{ path, key string }

func TestValidRegisterPasses(t *testing.T) {
	for _, jur := range []string{"ru", "kz", "kg"} {
		r := valid()
		home := register.HomeCountry(jur)
		r.Storage.Primary = home
		r.Purposes[1].Recipients[0].Country = home
		if ps := r.Validate(jur); len(ps) > 0 {
			t.Errorf("%s: valid register has problems: %v", jur, ps)
		}
	}
}

func TestValidateBreaksOneRuleAtATime(t *testing.T) {
	cases := []struct {
		name string
		jur  string // "" means ru
		edit func(r *register.Register)
		want []problem // nil: the edit is allowed
		args []any     // if set, the first problem's args
	}{
		{name: "undefined category",
			edit: func(r *register.Register) { r.Purposes[0].Categories = []string{"contact.fax"} },
			want: []problem{{"purposes[0].categories[0]", "register.unknown_category"}}, args: []any{"id", "contact.fax"}},
		{name: "a parent of declared categories is a category",
			edit: func(r *register.Register) { r.Purposes[0].Categories = []string{"contact"} }},
		{name: "undefined subject",
			edit: func(r *register.Register) { r.Purposes[0].Subjects = []string{"ghost"} },
			want: []problem{{"purposes[0].subjects[0]", "register.unknown_subject"}}, args: []any{"id", "ghost"}},
		{name: "consent-based purpose without consent",
			edit: func(r *register.Register) { r.Purposes[1].Consent = nil },
			want: []problem{{"purposes[1].consent", "register.consent_text_required"}}},
		{name: "consent without a document",
			edit: func(r *register.Register) { r.Purposes[1].Consent.Document = "" },
			want: []problem{{"purposes[1].consent.document", "register.consent_text_required"}}},
		{name: "consent document undeclared",
			edit: func(r *register.Register) { r.Purposes[1].Consent.Document = "consent-ghost" },
			want: []problem{{"purposes[1].consent.document", "register.unknown_document"}}},
		{name: "consent document of the wrong kind",
			edit: func(r *register.Register) { r.Purposes[1].Consent.Document = "policy" },
			want: []problem{{"purposes[1].consent.document", "register.not_consent_document"}}, args: []any{"id", "policy"}},
		{name: "two purposes share one consent text",
			edit: func(r *register.Register) { r.Purposes[2].Consent.Document = "consent-news" },
			want: []problem{
				{"purposes[1].consent.document", "register.consent_shared"},
				{"purposes[2].consent.document", "register.consent_shared"},
			}, args: []any{"id", "health"}},
		{name: "consent given without consent basis",
			edit: func(r *register.Register) {
				r.Purposes[0].Consent = &register.Consent{Document: "consent-news", Methods: []string{"checkbox"}}
			},
			want: []problem{{"purposes[0].consent", "register.consent_without_basis"}}},
		{name: "basis law without citation",
			edit: func(r *register.Register) { r.Purposes[3].Law = nil },
			want: []problem{{"purposes[3].law", "register.law_required"}}},
		{name: "retention by law without citation",
			edit: func(r *register.Register) { r.Purposes[3].Retention.Law = nil },
			want: []problem{{"purposes[3].retention.law", "register.law_required"}}},
		{name: "special data without consent",
			edit: func(r *register.Register) {
				p := &r.Purposes[2]
				p.Basis, p.Consent, p.Retention.Rule = register.BasisLegitimateInterest, nil, "until_achieved"
			},
			want: []problem{{"purposes[2].basis", "register.sensitive_needs_consent"}}},
		{name: "special data by law",
			edit: func(r *register.Register) {
				p := &r.Purposes[2]
				p.Basis, p.Law, p.Consent, p.Retention.Rule = register.BasisLaw, text("закон"), nil, "until_achieved"
			}},
		{name: "biometric data without consent",
			edit: func(r *register.Register) {
				p := &r.Purposes[2]
				p.Categories, p.Basis, p.Consent, p.Retention.Rule = []string{"media.face"}, register.BasisContract, nil, "contract"
			},
			want: []problem{{"purposes[2].basis", "register.sensitive_needs_consent"}}},
		{name: "special data with a consent that is not written",
			edit: func(r *register.Register) { r.Purposes[2].Consent.Written = false },
			want: []problem{{"purposes[2].consent.written", "register.sensitive_written"}}},
		{name: "written consent by tick",
			edit: func(r *register.Register) { r.Purposes[2].Consent.Methods = []string{"signature", "checkbox"} },
			want: []problem{{"purposes[2].consent.methods[1]", "register.written_method"}}},
		{name: "written consent by continued use",
			edit: func(r *register.Register) { r.Purposes[2].Consent.Methods = []string{"continued_use"} },
			want: []problem{{"purposes[2].consent.methods[0]", "register.written_method"}}},
		{name: "distribution by continued use",
			edit: func(r *register.Register) {
				r.Purposes[1].Consent.Distribution, r.Purposes[1].Consent.Methods = true, []string{"continued_use"}
			},
			want: []problem{{"purposes[1].consent.methods[0]", "register.distribution_continued_use"}}},
		{name: "unknown consent method",
			edit: func(r *register.Register) { r.Purposes[1].Consent.Methods = []string{"telepathy"} },
			want: []problem{{"purposes[1].consent.methods[0]", "register.one_of"}}},
		{name: "cross-border to a non-adequate country without written consent",
			edit: func(r *register.Register) {
				r.Purposes[1].Recipients[0].Country, r.Purposes[1].Recipients[0].CrossBorder = "US", true
			},
			want: []problem{{"purposes[1].recipients[0].country", "register.cross_border_consent"}}, args: []any{"country", "US"}},
		{name: "cross-border to a non-adequate country with written consent",
			edit: func(r *register.Register) {
				r.Purposes[2].Recipients = []register.Recipient{{Name: text("Лаборатория"), Country: "US", CrossBorder: true,
					Role: "processor", Categories: []string{"health.pulse"}}}
			}},
		{name: "cross-border to a non-adequate country to perform a contract (ru)",
			edit: func(r *register.Register) {
				r.Purposes[0].Recipients = []register.Recipient{{Name: text("Партнёр"), Country: "US", CrossBorder: true,
					Role: "third_party", Categories: []string{"contact.email"}}}
			}},
		{name: "cross-border to a non-adequate country to perform a contract (kz)", jur: "kz",
			edit: func(r *register.Register) {
				r.Storage.Primary, r.Purposes[1].Recipients[0].Country = "KZ", "KZ"
				r.Purposes[0].Recipients = []register.Recipient{{Name: text("Партнёр"), Country: "US", CrossBorder: true,
					Role: "third_party", Categories: []string{"contact.email"}}}
			},
			want: []problem{{"purposes[0].recipients[0].country", "register.cross_border_consent"}}},
		{name: "cross-border to an adequate country",
			edit: func(r *register.Register) {
				r.Purposes[1].Recipients[0].Country, r.Purposes[1].Recipients[0].CrossBorder = "DE", true
			}},
		{name: "operator extends the adequate countries",
			edit: func(r *register.Register) {
				r.AdequateCountries = []string{"US"}
				r.Purposes[1].Recipients[0].Country, r.Purposes[1].Recipients[0].CrossBorder = "US", true
			}},
		{name: "cross_border set for a home recipient",
			edit: func(r *register.Register) { r.Purposes[1].Recipients[0].CrossBorder = true },
			want: []problem{{"purposes[1].recipients[0].cross_border", "register.cross_border_flag"}}, args: []any{"country", "RU", "home", "RU"}},
		{name: "cross_border missing for a foreign recipient",
			edit: func(r *register.Register) { r.Purposes[1].Recipients[0].Country = "DE" },
			want: []problem{{"purposes[1].recipients[0].cross_border", "register.cross_border_flag"}}},
		{name: "recipient gets categories outside the purpose",
			edit: func(r *register.Register) {
				r.Purposes[1].Recipients[0].Categories = []string{"contact.email", "health.pulse"}
			},
			want: []problem{{"purposes[1].recipients[0].categories", "register.recipient_category"}}, args: []any{"id", "health.pulse"}},
		{name: "recipient role unknown",
			edit: func(r *register.Register) { r.Purposes[1].Recipients[0].Role = "friend" },
			want: []problem{{"purposes[1].recipients[0].role", "register.one_of"}}},
		{name: "localisation: ru with primary storage abroad",
			edit: func(r *register.Register) { r.Storage.Primary = "DE" },
			want: []problem{{"storage.primary", "register.localisation"}}, args: []any{"country", "RU"}},
		{name: "localisation: kz with primary storage in Russia", jur: "kz",
			edit: func(r *register.Register) {},
			want: []problem{
				{"purposes[1].recipients[0].country", "register.cross_border_consent"},
				{"purposes[1].recipients[0].cross_border", "register.cross_border_flag"},
				{"storage.primary", "register.localisation"},
			}},
		{name: "kg has no localisation rule", jur: "kg",
			edit: func(r *register.Register) { r.Storage.Primary, r.Purposes[1].Recipients[0].Country = "DE", "KG" }},
		{name: "ru replica abroad",
			edit: func(r *register.Register) { r.Storage.Replicas = []string{"RU", "DE"} },
			want: []problem{{"storage.replicas[1]", "register.localisation_replica"}}, args: []any{"country", "DE", "home", "RU"}},
		{name: "kz replica in an adequate country", jur: "kz",
			edit: func(r *register.Register) {
				r.Storage.Primary, r.Storage.Replicas, r.Purposes[1].Recipients[0].Country = "KZ", []string{"DE"}, "KZ"
			}},
		{name: "kz replica in a non-adequate country", jur: "kz",
			edit: func(r *register.Register) {
				r.Storage.Primary, r.Storage.Replicas, r.Purposes[1].Recipients[0].Country = "KZ", []string{"US"}, "KZ"
			},
			want: []problem{{"storage.replicas[0]", "register.replica_not_adequate"}}, args: []any{"country", "US"}},
		{name: "country code malformed",
			edit: func(r *register.Register) { r.Storage.Replicas = []string{"Germany"} },
			want: []problem{{"storage.replicas[0]", "register.country_invalid"}}},
		{name: "retention term missing",
			edit: func(r *register.Register) { r.Purposes[3].Retention.Term = register.Duration{} },
			want: []problem{{"purposes[3].retention.term", "register.term_required"}}},
		{name: "until_withdrawn on a non-consent basis",
			edit: func(r *register.Register) { r.Purposes[0].Retention.Rule = "until_withdrawn" },
			want: []problem{{"purposes[0].retention.rule", "register.withdrawn_without_consent"}}},
		{name: "child subject without a representative",
			edit: func(r *register.Register) { r.Purposes[1].Subjects = []string{"user", "child"} },
			want: []problem{{"purposes[1].consent.methods", "register.child_needs_representative"}}},
		{name: "child subject with a representative",
			edit: func(r *register.Register) {
				r.Purposes[1].Subjects = []string{"user", "child"}
				r.Purposes[1].Consent.Methods = []string{"checkbox", "representative"}
			}},
		{name: "duplicate purpose id",
			edit: func(r *register.Register) { r.Purposes[3].ID = "account" },
			want: []problem{{"purposes[3].id", "register.duplicate"}}, args: []any{"id", "account"}},
		{name: "duplicate category id",
			edit: func(r *register.Register) {
				r.Categories = append(r.Categories, register.Category{ID: "contact.email", Kind: register.KindOrdinary, Title: text("E-mail")})
			},
			want: []problem{{"categories[4].id", "register.duplicate"}}},
		{name: "duplicate subject id",
			edit: func(r *register.Register) {
				r.Subjects = append(r.Subjects, register.SubjectCategory{ID: "user", Title: text("Ещё")})
			},
			want: []problem{{"subjects[2].id", "register.duplicate"}}},
		{name: "duplicate document id",
			edit: func(r *register.Register) {
				r.Documents = append(r.Documents, register.Document{ID: "consent-news", Kind: register.DocConsent, Title: text("Копия"), Version: "1"})
			},
			want: []problem{{"documents[3].id", "register.duplicate"}}},
		{name: "no policy document",
			edit: func(r *register.Register) { r.Documents = r.Documents[1:] },
			want: []problem{{"documents", "register.one_policy"}}},
		{name: "two policies",
			edit: func(r *register.Register) {
				r.Documents = append(r.Documents, register.Document{ID: "policy2", Kind: register.DocPolicy, Title: text("Ещё"), Version: "1", Acceptance: "explicit"})
			},
			want: []problem{{"documents", "register.one_policy"}}},
		{name: "unknown identifier format",
			edit: func(r *register.Register) { r.Categories[0].Format = "passport" },
			want: []problem{{"categories[0].format", "register.one_of"}}},
		{name: "known identifier format",
			edit: func(r *register.Register) { r.Categories[1].Format = "kz_iin" }},
		{name: "subject data set names an undefined category",
			edit: func(r *register.Register) { r.Subjects[1].Categories = []string{"contact.fax"} },
			want: []problem{{"subjects[1].categories[0]", "register.unknown_category"}}},
		{name: "purpose takes data outside its subjects' data sets",
			edit: func(r *register.Register) { r.Subjects[0].Categories = []string{"contact", "media"} },
			want: []problem{{"purposes[2].categories[0]", "register.subject_category"}}, args: []any{"id", "health.pulse"}},
		{name: "one of the purpose's subjects allows the category",
			edit: func(r *register.Register) {
				r.Subjects[0].Categories = []string{"contact", "media"}
				r.Subjects[1].Categories = []string{"health"}
				r.Purposes[2].Subjects = []string{"user", "child"}
				r.Purposes[2].Consent.Methods = []string{"signature", "representative"}
			}},
		{name: "unknown operation",
			edit: func(r *register.Register) { r.Purposes[0].Operations = []string{"collection", "selling"} },
			want: []problem{{"purposes[0].operations[1]", "register.unknown_operation"}}, args: []any{"id", "selling"}},
		{name: "no purposes",
			edit: func(r *register.Register) { r.Purposes = nil; r.Documents = r.Documents[:1] },
			want: []problem{{"purposes", "register.required"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := valid()
			c.edit(r)
			jur := c.jur
			if jur == "" {
				jur = "ru"
			}
			ps := r.Validate(jur)
			var got []problem
			for _, p := range ps {
				got = append(got, problem{p.Path, p.Key})
			}
			slices.SortFunc(got, func(a, b problem) int { return strings.Compare(a.path+a.key, b.path+b.key) })
			if !slices.Equal(got, c.want) {
				t.Fatalf("problems %v, want %v", ps, c.want)
			}
			if c.args == nil {
				return
			}
			// The args belong to the first wanted problem.
			i := slices.IndexFunc(ps, func(p register.Problem) bool { return p.Path == c.want[0].path && p.Key == c.want[0].key })
			if fmt.Sprint(ps[i].Args) != fmt.Sprint(c.args) {
				t.Errorf("%s args %v, want %v", ps[i].Path, ps[i].Args, c.args)
			}
		})
	}
}

func TestSubjectAllows(t *testing.T) {
	s := register.SubjectCategory{ID: "guardian", Categories: []string{"identity", "contact.email"}}
	for cat, want := range map[string]bool{
		"identity.name": true, "identity": true, "contact.email": true, "contact.phone": false, "contact": false, "identityx": false,
	} {
		if got := s.Allows(cat); got != want {
			t.Errorf("Allows(%q) = %v, want %v", cat, got, want)
		}
	}
	if !(&register.SubjectCategory{ID: "user"}).Allows("anything") {
		t.Error("a subject kind without a data set must allow every category")
	}
}

// Every message key this package can emit has a text in every language.
func TestEveryProblemKeyIsTranslated(t *testing.T) { i18ntest.KeysTranslated(t, "register", 20) }
