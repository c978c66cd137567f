package register

import (
	"slices"

	"kabinet/internal/i18n"
)

// Built-in purpose and category that kabinet itself needs, added to every
// operator's register after validation so that the published policy shows
// them too: the proof of consent (152-FZ art. 9 p.3 puts on the operator
// the duty to prove that the subject consented, so the time, address and
// browser of each expression of consent are kept — sealed, like any
// personal data).
const (
	PurposeConsentProof     = "consent_proof"
	CategoryConsentEvidence = "technical.consent_evidence"
)

// reservedIDs may not be used by an operator.
var reservedIDs = []string{PurposeConsentProof, CategoryConsentEvidence}

// AddBuiltins appends the built-in category and purpose. It is idempotent.
func (r *Register) AddBuiltins(jurisdiction string) {
	if r.Category(CategoryConsentEvidence) == nil {
		r.Categories = append(r.Categories, Category{
			ID: CategoryConsentEvidence, Kind: KindOrdinary,
			Title: i18n.Text{"ru": "Сведения о выражении согласия: время, IP-адрес, сведения о браузере", "en": "Evidence of consent: time, IP address, browser"},
		})
	}
	if r.Purpose(PurposeConsentProof) != nil {
		return
	}
	law := i18n.Text{"ru": "ч. 3 ст. 9 Федерального закона от 27.07.2006 № 152-ФЗ «О персональных данных»",
		"en": "Federal Law 152-FZ “On Personal Data”, art. 9 p.3"}
	switch jurisdiction {
	case "kz":
		law = i18n.Text{"ru": "ст. 8 Закона Республики Казахстан от 21.05.2013 № 94-V «О персональных данных и их защите»",
			"en": "Law of Kazakhstan 94-V “On personal data and their protection”, art. 8"}
	case "kg":
		law = i18n.Text{"ru": "ст. 9 Закона Кыргызской Республики от 14.04.2008 № 58 «Об информации персонального характера»",
			"en": "Law of Kyrgyzstan No. 58 “On personal information”, art. 9"}
	}
	var subjects []string
	for i := range r.Subjects {
		subjects = append(subjects, r.Subjects[i].ID)
		// A kind with a declared data set gets the evidence of its consents.
		if len(r.Subjects[i].Categories) > 0 && !r.Subjects[i].Allows(CategoryConsentEvidence) {
			r.Subjects[i].Categories = append(r.Subjects[i].Categories, CategoryConsentEvidence)
		}
	}
	r.Purposes = append(r.Purposes, Purpose{
		ID: PurposeConsentProof,
		Title: i18n.Text{"ru": "Подтверждение получения согласия на обработку персональных данных",
			"en": "Proof that consent to processing was given"},
		Description: i18n.Text{"ru": "Хранение сведений о том, когда, с какого адреса и каким способом субъект выразил или отозвал согласие.",
			"en": "Keeping when, from which address and how the subject gave or withdrew consent."},
		Basis:      BasisLaw,
		Law:        law,
		Categories: []string{CategoryConsentEvidence},
		Subjects:   subjects,
		Operations: []string{"collection", "recording", "storage", "use", "destruction"},
		Processing: "automated",
		Retention: Retention{Rule: "law", Term: Duration{N: 3, Unit: 'y'}, After: "destroy", Law: law,
			Description: i18n.Text{"ru": "В течение срока действия согласия и трёх лет после его прекращения (срок исковой давности)",
				"en": "While the consent lasts and three years after it ends (the limitation period)"}},
	})
}

// reserved reports whether an operator used an id kabinet keeps for itself.
func reserved(id string) bool { return slices.Contains(reservedIDs, id) }
