package register

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Problem is one thing wrong with the register. Path is relative to the
// register ("purposes[2].categories[0]"); Key and Args are a message.
type Problem struct {
	Path string
	Key  string
	Args []any
}

// adequateCountries ensure adequate protection of subjects' rights for
// cross-border transfer without the subject's consent: the parties to
// Council of Europe Convention 108 and the states listed by Roskomnadzor
// Order 128 of 05.08.2022 (secondary sources; an operator's lawyer extends
// the list with adequate_countries in the operator file).
var adequateCountries = []string{
	// Convention 108 parties
	"AD", "AL", "AM", "AR", "AT", "AZ", "BA", "BE", "BG", "CH", "CV", "CY", "CZ", "DE", "DK", "EE", "ES", "FI",
	"FR", "GB", "GE", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MA", "MC", "MD", "ME", "MK",
	"MT", "MU", "MX", "NL", "NO", "PL", "PT", "RO", "RS", "SE", "SI", "SK", "SM", "SN", "TN", "TR", "UA", "UY",
	// Order 128 of 05.08.2022
	"AO", "BJ", "CR", "GA", "IL", "JP", "KG", "KR", "KZ", "ML", "MN", "MY", "NE", "NG", "NZ", "PE", "QA", "SG",
}

// Adequate reports whether data may go to country without consent on the
// ground of the country's protection level.
func (r *Register) Adequate(country string) bool {
	return slices.Contains(adequateCountries, country) || slices.Contains(r.AdequateCountries, country)
}

// writtenMethods are the consent methods that give a written consent.
var writtenMethods = []string{"signature", "paper", "representative"}

var (
	categoryID = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	plainID    = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	country    = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Validate checks the register for broken references and for
// contradictions with the law of jurisdiction (ru, kz, kg), and returns
// every problem found.
func (r *Register) Validate(jurisdiction string) []Problem {
	v := &validator{r: r, jurisdiction: jurisdiction, home: HomeCountry(jurisdiction)}
	v.storage(jurisdiction)
	v.categories()
	v.subjects()
	v.documents()
	seen := map[string]bool{}
	for i := range r.Purposes {
		p := fmt.Sprintf("purposes[%d]", i)
		if reserved(r.Purposes[i].ID) {
			v.add(p+".id", "register.reserved", "id", r.Purposes[i].ID)
		}
		if seen[r.Purposes[i].ID] {
			v.add(p+".id", "register.duplicate", "id", r.Purposes[i].ID)
		}
		seen[r.Purposes[i].ID] = true
		v.purpose(p, &r.Purposes[i])
	}
	if len(r.Purposes) == 0 {
		v.add("purposes", "register.required")
	}
	return v.ps
}

type validator struct {
	r            *Register
	jurisdiction string
	home         string
	ps           []Problem
}

func (v *validator) add(path, key string, args ...any) {
	v.ps = append(v.ps, Problem{Path: path, Key: key, Args: args})
}

func (v *validator) storage(jurisdiction string) {
	s := v.r.Storage
	switch {
	case s.Primary == "":
		v.add("storage.primary", "register.required")
	case !country.MatchString(s.Primary):
		v.add("storage.primary", "register.country_invalid")
	case (jurisdiction == "ru" || jurisdiction == "kz") && s.Primary != v.home:
		// 152-FZ art. 18 p.5; KZ 94-V art. 12 p.2.
		v.add("storage.primary", "register.localisation", "country", v.home)
	}
	for i, c := range s.Replicas {
		p := fmt.Sprintf("storage.replicas[%d]", i)
		switch {
		case !country.MatchString(c):
			v.add(p, "register.country_invalid")
		case c == v.home:
		case jurisdiction == "ru":
			// 152-FZ art. 18 p.5 as amended by 23-FZ of 28.02.2025 (from
			// 01.07.2025): no recording, storage or extraction of Russian
			// citizens' data in databases abroad, copies included.
			v.add(p, "register.localisation_replica", "country", c, "home", v.home)
		case !v.r.Adequate(c):
			// A copy abroad is a transfer of every subject's data; no
			// per-subject consent can cover it (152-FZ art. 12; KZ 94-V
			// art. 16; KG 58 art. 25).
			v.add(p, "register.replica_not_adequate", "country", c)
		}
	}
}

func (v *validator) categories() {
	seen := map[string]bool{}
	for i, c := range v.r.Categories {
		p := fmt.Sprintf("categories[%d]", i)
		switch {
		case !categoryID.MatchString(c.ID):
			v.add(p+".id", "register.id_invalid")
		case seen[c.ID]:
			v.add(p+".id", "register.duplicate", "id", c.ID)
		case reserved(c.ID):
			v.add(p+".id", "register.reserved", "id", c.ID)
		}
		seen[c.ID] = true
		if !slices.Contains([]string{KindOrdinary, KindSpecial, KindBiometric}, c.Kind) {
			v.add(p+".kind", "register.one_of", "values", "ordinary, special, biometric")
		}
		if c.Title.Empty() {
			v.add(p+".title", "register.required")
		}
		if c.Format != "" && !slices.Contains(Formats, c.Format) {
			v.add(p+".format", "register.one_of", "values", strings.Join(Formats, ", "))
		}
	}
	if len(v.r.Categories) == 0 {
		v.add("categories", "register.required")
	}
}

// uniqueID checks an id's form and that it was not seen before.
func (v *validator) uniqueID(path, id string, form *regexp.Regexp, seen map[string]bool) {
	switch {
	case !form.MatchString(id):
		v.add(path, "register.id_invalid")
	case seen[id]:
		v.add(path, "register.duplicate", "id", id)
	}
	seen[id] = true
}

func (v *validator) subjects() {
	seen := map[string]bool{}
	for i, s := range v.r.Subjects {
		p := fmt.Sprintf("subjects[%d]", i)
		v.uniqueID(p+".id", s.ID, plainID, seen)
		if s.Title.Empty() {
			v.add(p+".title", "register.required")
		}
		for j, id := range s.Categories {
			if v.r.Category(id) == nil && !v.categoryPrefix(id) {
				v.add(fmt.Sprintf("%s.categories[%d]", p, j), "register.unknown_category", "id", id)
			}
		}
	}
	if len(v.r.Subjects) == 0 {
		v.add("subjects", "register.required")
	}
}

func (v *validator) documents() {
	seen := map[string]bool{}
	kinds := map[string]int{}
	for i, d := range v.r.Documents {
		p := fmt.Sprintf("documents[%d]", i)
		v.uniqueID(p+".id", d.ID, plainID, seen)
		kinds[d.Kind]++
		if !slices.Contains([]string{DocAgreement, DocPolicy, DocConsent}, d.Kind) {
			v.add(p+".kind", "register.one_of", "values", "agreement, policy, consent")
		}
		if d.Title.Empty() {
			v.add(p+".title", "register.required")
		}
		if d.Version == "" {
			v.add(p+".version", "register.required")
		}
		if d.Kind != DocConsent && !slices.Contains([]string{"continued_use", "explicit"}, d.Acceptance) {
			v.add(p+".acceptance", "register.one_of", "values", "continued_use, explicit")
		}
	}
	if kinds[DocPolicy] != 1 {
		v.add("documents", "register.one_policy")
	}
	if kinds[DocAgreement] > 1 {
		v.add("documents", "register.one_agreement")
	}
}

func (v *validator) purpose(p string, pu *Purpose) {
	r := v.r
	if !plainID.MatchString(pu.ID) {
		v.add(p+".id", "register.id_invalid")
	}
	if pu.Title.Empty() {
		v.add(p+".title", "register.required")
	}
	if !slices.Contains(bases, pu.Basis) {
		v.add(p+".basis", "register.one_of", "values", "consent, contract, law, vital_interests, public_task, legitimate_interest")
	}
	if pu.Basis == BasisLaw && pu.Law.Empty() {
		v.add(p+".law", "register.law_required")
	}
	if pu.Role != "" && pu.Role != RoleRectification {
		v.add(p+".role", "register.one_of", "values", RoleRectification)
	}
	if len(pu.Categories) == 0 {
		v.add(p+".categories", "register.required")
	}
	sensitive := false
	for i, id := range pu.Categories {
		c := r.Category(id)
		if c == nil && !v.categoryPrefix(id) {
			v.add(fmt.Sprintf("%s.categories[%d]", p, i), "register.unknown_category", "id", id)
			continue
		}
		if c != nil && (c.Kind == KindSpecial || c.Kind == KindBiometric) {
			sensitive = true
		}
		if !v.subjectsAllow(pu, id) {
			v.add(fmt.Sprintf("%s.categories[%d]", p, i), "register.subject_category", "id", id)
		}
	}
	// 152-FZ art. 10 p.1, art. 11 p.1: special and biometric data need the
	// subject's written consent unless a law provides otherwise.
	if sensitive && pu.Basis != BasisConsent && pu.Basis != BasisLaw {
		v.add(p+".basis", "register.sensitive_needs_consent")
	}
	if sensitive && pu.Basis == BasisConsent && pu.Consent != nil && !pu.Consent.Written {
		v.add(p+".consent.written", "register.sensitive_written")
	}
	if len(pu.Subjects) == 0 {
		v.add(p+".subjects", "register.required")
	}
	for i, id := range pu.Subjects {
		if !slices.ContainsFunc(r.Subjects, func(s SubjectCategory) bool { return s.ID == id }) {
			v.add(fmt.Sprintf("%s.subjects[%d]", p, i), "register.unknown_subject", "id", id)
		}
	}
	if len(pu.Operations) == 0 {
		v.add(p+".operations", "register.required")
	}
	for i, op := range pu.Operations {
		if !slices.Contains(Operations, op) {
			v.add(fmt.Sprintf("%s.operations[%d]", p, i), "register.unknown_operation", "id", op)
		}
	}
	if !slices.Contains([]string{"automated", "mixed", "manual"}, pu.Processing) {
		v.add(p+".processing", "register.one_of", "values", "automated, mixed, manual")
	}
	v.retention(p+".retention", pu)
	v.consent(p, pu)
	for i := range pu.Recipients {
		v.recipient(fmt.Sprintf("%s.recipients[%d]", p, i), pu, &pu.Recipients[i])
	}
}

// subjectsAllow reports whether at least one of the purpose's subject
// kinds may have data of category (see SubjectCategory.Allows). Unknown
// subject kinds are reported elsewhere and are skipped here, so one
// mistake gives one problem.
func (v *validator) subjectsAllow(pu *Purpose, category string) bool {
	known := false
	for _, id := range pu.Subjects {
		if s := v.r.Subject(id); s != nil {
			known = true
			if s.Allows(category) {
				return true
			}
		}
	}
	return !known
}

// categoryPrefix accepts a purpose naming a parent of declared categories
// ("identity" when "identity.name" exists).
func (v *validator) categoryPrefix(id string) bool {
	for _, c := range v.r.Categories {
		if len(c.ID) > len(id) && c.ID[:len(id)] == id && c.ID[len(id)] == '.' {
			return true
		}
	}
	return false
}

func (v *validator) retention(p string, pu *Purpose) {
	rt := pu.Retention
	rules := []string{"until_withdrawn", "term", "contract", "until_achieved", "law"}
	if !slices.Contains(rules, rt.Rule) {
		v.add(p+".rule", "register.one_of", "values", "until_withdrawn, term, contract, until_achieved, law")
	}
	if (rt.Rule == "term" || rt.Rule == "law") && rt.Term.IsZero() {
		v.add(p+".term", "register.term_required")
	}
	if rt.Rule == "law" && rt.Law.Empty() {
		v.add(p+".law", "register.law_required")
	}
	if rt.Rule == "until_withdrawn" && pu.Basis != BasisConsent {
		v.add(p+".rule", "register.withdrawn_without_consent")
	}
	if rt.After != "destroy" && rt.After != "depersonalise" {
		v.add(p+".after", "register.one_of", "values", "destroy, depersonalise")
	}
}

func (v *validator) consent(p string, pu *Purpose) {
	c := pu.Consent
	if pu.Basis != BasisConsent {
		if c != nil {
			v.add(p+".consent", "register.consent_without_basis")
		}
		return
	}
	if c == nil {
		v.add(p+".consent", "register.consent_text_required")
		return
	}
	d := v.r.Document(c.Document)
	switch {
	case c.Document == "":
		v.add(p+".consent.document", "register.consent_text_required")
	case d == nil:
		v.add(p+".consent.document", "register.unknown_document", "id", c.Document)
	case d.Kind != DocConsent:
		v.add(p+".consent.document", "register.not_consent_document", "id", c.Document)
	}
	// Since 01.09.2025 each consent is a separate document: two purposes
	// may not share one consent text.
	for _, other := range v.r.Purposes {
		if other.ID != pu.ID && other.ConsentBased() && other.Consent != nil && other.Consent.Document == c.Document && c.Document != "" {
			v.add(p+".consent.document", "register.consent_shared", "id", other.ID)
			break
		}
	}
	if len(c.Methods) == 0 {
		v.add(p+".consent.methods", "register.required")
	}
	for i, m := range c.Methods {
		if !slices.Contains(ConsentMethods, m) {
			v.add(fmt.Sprintf("%s.consent.methods[%d]", p, i), "register.one_of", "values", "checkbox, submit_button, continued_use, representative, paper, signature")
		}
		// 152-FZ art. 9 p.4: written means paper or an electronic document
		// signed with an electronic signature; art. 10.1 p.8: silence or
		// inaction is no consent to distribution.
		if c.Written && !slices.Contains(writtenMethods, m) {
			v.add(fmt.Sprintf("%s.consent.methods[%d]", p, i), "register.written_method", "values", strings.Join(writtenMethods, ", "))
		}
		if c.Distribution && m == "continued_use" {
			v.add(fmt.Sprintf("%s.consent.methods[%d]", p, i), "register.distribution_continued_use")
		}
	}
	if slices.Contains(pu.Subjects, "child") && !slices.Contains(c.Methods, "representative") {
		v.add(p+".consent.methods", "register.child_needs_representative")
	}
}

func (v *validator) recipient(p string, pu *Purpose, rc *Recipient) {
	if rc.Name.Empty() {
		v.add(p+".name", "register.required")
	}
	if !country.MatchString(rc.Country) {
		v.add(p+".country", "register.country_invalid")
		return
	}
	if !slices.Contains([]string{"processor", "third_party", "authority"}, rc.Role) {
		v.add(p+".role", "register.one_of", "values", "processor, third_party, authority")
	}
	if rc.CrossBorder != (rc.Country != v.home) {
		v.add(p+".cross_border", "register.cross_border_flag", "country", rc.Country, "home", v.home)
	}
	if len(rc.Categories) == 0 {
		v.add(p+".categories", "register.required")
	}
	if missing := pu.Covers(rc.Categories...); len(missing) > 0 {
		v.add(p+".categories", "register.recipient_category", "id", missing[0])
	}
	// 152-FZ art. 12 p.10 (and KZ 94-V art. 16, KG 58 art. 25): to a
	// country without adequate protection only with the subject's written
	// consent or, in Russia, to perform a contract the subject is party to
	// (art. 12 p.10 item 4; seed 003 §2.17).
	written := pu.Basis == BasisConsent && pu.Consent != nil && pu.Consent.Written
	contract := v.jurisdiction == "ru" && pu.Basis == BasisContract
	if rc.Country != v.home && !v.r.Adequate(rc.Country) && !written && !contract {
		v.add(p+".country", "register.cross_border_consent", "country", rc.Country)
	}
}
