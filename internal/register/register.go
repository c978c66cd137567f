// Package register is the operator's processing register: the categories of
// personal data it processes, the categories of subjects, the purposes (each
// with its legal basis, data, operations, retention, recipients and storage)
// and the legal documents. It is loaded from the operator file once (see
// package config), validated for broken references and contradictions with
// the law of the operator's jurisdiction, and handed down as data: the gate
// enforces it and the published policy is rendered from it, so the two
// cannot drift apart.
package register

import (
	"slices"
	"strings"

	"kabinet/internal/i18n"
)

// Register is the processing register of one operator.
type Register struct {
	Storage    Storage           `yaml:"storage"`
	Categories []Category        `yaml:"categories"`
	Subjects   []SubjectCategory `yaml:"subjects"`
	Purposes   []Purpose         `yaml:"purposes"`
	Documents  []Document        `yaml:"documents"`
	// AdequateCountries extends the built-in list of countries that ensure
	// adequate protection of subjects' rights (for ru: Convention 108 parties
	// and Roskomnadzor Order 128 of 05.08.2022), for cross-border checks.
	AdequateCountries []string `yaml:"adequate_countries"`
}

// Storage is where the operator's databases with personal data are.
// Localisation laws (152-FZ art. 18 p.5; KZ 94-V art. 12 p.2) require the
// primary database to be in the country. Replicas abroad are cross-border
// transfers of everyone's data: since 01.07.2025 Russian law forbids them
// outright (art. 18 p.5 as amended by 23-FZ), elsewhere they must be in a
// country with adequate protection (152-FZ art. 12; KZ 94-V art. 16).
type Storage struct {
	Primary     string    `yaml:"primary"`  // ISO 3166-1 alpha-2 country of the primary databases
	Replicas    []string  `yaml:"replicas"` // other countries holding copies (cross-border storage)
	Description i18n.Text `yaml:"description"`
}

// Kinds of data categories (152-FZ art. 10, 11).
const (
	KindOrdinary  = "ordinary"
	KindSpecial   = "special"   // race, nationality, political views, religion, health, intimate life, criminal record
	KindBiometric = "biometric" // physiological features used to establish identity
)

// Category is a kind of personal data, e.g. "contact.phone".
type Category struct {
	ID     string    `yaml:"id"`
	Kind   string    `yaml:"kind"`
	Title  i18n.Text `yaml:"title"`
	Lookup bool      `yaml:"lookup"` // keep a blind index so subjects can be found by this value
	// Format names the identifier a value of this category must be, so
	// forms check it (package idnum) before it is stored: one of Formats,
	// or "" for free text. Seed 004 §2.3.2: the IIN is 12 digits with a
	// check digit.
	Format string `yaml:"format"`
}

// Formats are the formats a category may declare: identifier formats that
// name a validator in package idnum, and "date" (a calendar date, e.g. of
// birth: not in the future, not before 1900), "sex" (male or female, as in
// identity documents) and "document" (an identity document's series and
// number) and "image" (a JPEG or PNG picture, e.g. a profile photo).
var Formats = []string{"inn", "inn_person", "snils", "kz_iin", "kz_bin", "kg_pin", "date", "sex", "document", "image"}

// SubjectCategory is a kind of data subject (seed 003 §2.2).
type SubjectCategory struct {
	ID          string    `yaml:"id"` // user, child, guardian, employee, visitor, legal_person, or the operator's own
	Title       i18n.Text `yaml:"title"`
	Description i18n.Text `yaml:"description"`
	// Categories is the data set processed about subjects of this kind
	// (seed 003 §2.2.1–2.2.4 give each kind its own list; seed 004 §2.3.2
	// takes the IIN of natural persons only). Ids are hierarchical as in
	// Purpose.Categories. Empty means no restriction beyond the purposes.
	Categories []string `yaml:"categories"`
}

// Allows reports whether data of category may be processed about subjects
// of this kind: the kind declares no data set, or its set names the
// category or a parent of it.
func (s *SubjectCategory) Allows(category string) bool {
	return len(s.Categories) == 0 || slices.ContainsFunc(s.Categories, func(d string) bool {
		return d == category || strings.HasPrefix(category, d+".")
	})
}

// Legal bases for processing (152-FZ art. 6 p.1; KZ 94-V art. 9).
const (
	BasisConsent            = "consent"
	BasisContract           = "contract"
	BasisLaw                = "law"
	BasisVitalInterests     = "vital_interests"
	BasisPublicTask         = "public_task"
	BasisLegitimateInterest = "legitimate_interest"
)

var bases = []string{BasisConsent, BasisContract, BasisLaw, BasisVitalInterests, BasisPublicTask, BasisLegitimateInterest}

// Operations are the actions with personal data named in 152-FZ art. 3 p.3.
var Operations = []string{"collection", "recording", "systematisation", "accumulation", "storage", "rectification",
	"extraction", "use", "transfer", "provision", "access", "depersonalisation", "blocking", "deletion", "destruction"}

// Purpose is one purpose of processing.
type Purpose struct {
	ID          string    `yaml:"id"`
	Title       i18n.Text `yaml:"title"`
	Description i18n.Text `yaml:"description"`
	Basis       string    `yaml:"basis"`
	Law         i18n.Text `yaml:"law"` // the act cited, required when basis is law
	// Role marks purposes the gate treats specially: "rectification" may
	// touch blocked data (152-FZ art. 21 p.1–2).
	Role       string      `yaml:"role"`
	Categories []string    `yaml:"categories"`
	Subjects   []string    `yaml:"subjects"`
	Operations []string    `yaml:"operations"`
	Processing string      `yaml:"processing"` // automated, mixed, manual
	Retention  Retention   `yaml:"retention"`
	Consent    *Consent    `yaml:"consent"` // required when basis is consent
	Recipients []Recipient `yaml:"recipients"`
}

// RoleRectification is the role of the purpose that corrects data.
const RoleRectification = "rectification"

// Retention says how long data kept for a purpose live, and what happens
// after (seed 003 §2.6–2.7, §2.21).
type Retention struct {
	Rule        string    `yaml:"rule"`  // until_withdrawn, term, contract, until_achieved, law
	Term        Duration  `yaml:"term"`  // required for term and law; after the contract ends for contract
	After       string    `yaml:"after"` // destroy or depersonalise
	Law         i18n.Text `yaml:"law"`
	Description i18n.Text `yaml:"description"`
}

// Consent is how consent to a consent-based purpose is collected.
type Consent struct {
	Document string   `yaml:"document"` // id of the consent text (a document of kind consent)
	Term     Duration `yaml:"term"`     // validity; zero = until withdrawn (seed 002 §3.4: 3 years)
	Methods  []string `yaml:"methods"`  // checkbox, submit_button, continued_use, representative, paper
	// Written marks a consent the law requires in writing (special and
	// biometric data, cross-border transfer to inadequate countries): on
	// paper or as an electronic document with an electronic signature
	// (152-FZ art. 9 p.4), so only the methods signature, paper and
	// representative (who signs for the subject); not a tick or a click.
	Written bool `yaml:"written"`
	// Distribution marks consent to making data public (152-FZ art. 10.1):
	// separate from all other consents, the subject chooses the data, and
	// silence or inaction is not consent (p.8), so not continued use.
	Distribution bool `yaml:"distribution"`
}

// ConsentMethods are the ways a consent can be expressed.
var ConsentMethods = []string{"checkbox", "submit_button", "continued_use", "representative", "paper", "signature"}

// Recipient is a third party that receives data for a purpose (seed 000
// policy §4.5; seed 003 §2.10).
type Recipient struct {
	Name        i18n.Text `yaml:"name"`
	Address     i18n.Text `yaml:"address"`
	Country     string    `yaml:"country"`
	Role        string    `yaml:"role"` // processor (acts on the operator's behalf), third_party, authority
	Purpose     i18n.Text `yaml:"purpose"`
	Categories  []string  `yaml:"categories"`
	CrossBorder bool      `yaml:"cross_border"`
	Condition   i18n.Text `yaml:"condition"` // when it happens, e.g. "on a motivated request" (seed 004 §3.4)
}

// Document kinds.
const (
	DocAgreement = "agreement"
	DocPolicy    = "policy"
	DocConsent   = "consent"
)

// Document is a legal document published by the operator. The policy's
// body is generated from the register; Sections add the operator's own text.
type Document struct {
	ID    string    `yaml:"id"`
	Kind  string    `yaml:"kind"`
	Title i18n.Text `yaml:"title"`
	// Version labels the current text; a text that changes while the label
	// does not is still published as a new version (by its hash).
	Version string `yaml:"version"`
	// Acceptance is how a new version binds users: continued_use (seed 000
	// §1.3.4–1.3.5) or explicit re-acceptance at next sign-in (seed 001 §1.8).
	Acceptance string    `yaml:"acceptance"`
	Sections   []Section `yaml:"sections"`
}

// Section is a titled part of a document's text.
type Section struct {
	Title i18n.Text `yaml:"title"`
	Text  i18n.Text `yaml:"text"`
}

// Category returns the category with id, or nil.
func (r *Register) Category(id string) *Category {
	for i := range r.Categories {
		if r.Categories[i].ID == id {
			return &r.Categories[i]
		}
	}
	return nil
}

// Subject returns the subject category with id, or nil.
func (r *Register) Subject(id string) *SubjectCategory {
	for i := range r.Subjects {
		if r.Subjects[i].ID == id {
			return &r.Subjects[i]
		}
	}
	return nil
}

// Purpose returns the purpose with id, or nil.
func (r *Register) Purpose(id string) *Purpose {
	for i := range r.Purposes {
		if r.Purposes[i].ID == id {
			return &r.Purposes[i]
		}
	}
	return nil
}

// Document returns the document with id, or nil.
func (r *Register) Document(id string) *Document {
	for i := range r.Documents {
		if r.Documents[i].ID == id {
			return &r.Documents[i]
		}
	}
	return nil
}

// DocumentOfKind returns the first document of a kind, or nil.
func (r *Register) DocumentOfKind(kind string) *Document {
	for i := range r.Documents {
		if r.Documents[i].Kind == kind {
			return &r.Documents[i]
		}
	}
	return nil
}

// Covers reports whether the purpose declares every one of categories. A
// purpose that declares "identity" covers "identity.name" (ids are
// hierarchical).
func (p *Purpose) Covers(categories ...string) (missing []string) {
	for _, c := range categories {
		if !slices.ContainsFunc(p.Categories, func(d string) bool { return d == c || strings.HasPrefix(c, d+".") }) {
			missing = append(missing, c)
		}
	}
	return missing
}

// ConsentBased reports whether the purpose needs the subject's consent.
func (p *Purpose) ConsentBased() bool { return p.Basis == BasisConsent }

// HomeCountry is the country whose law governs a jurisdiction.
func HomeCountry(jurisdiction string) string {
	switch jurisdiction {
	case "ru":
		return "RU"
	case "kz":
		return "KZ"
	case "kg":
		return "KG"
	}
	return ""
}
