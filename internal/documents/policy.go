package documents

import (
	"slices"
	"strings"

	"kabinet/internal/register"
)

// Rights of the subject per jurisdiction, in the order the policy lists
// them; each is the catalogue key doc.rights.<jurisdiction>.<right>, which
// states the right, the article and the statutory term of the answer.
var rights = map[string][]string{
	"ru": {"access", "rectify", "withdraw", "stop", "marketing", "automated", "complain"},
	"kz": {"know", "access", "rectify", "block", "destroy", "withdraw", "automated", "complain"},
	"kg": {"access", "rectify", "withdraw", "complain"},
}

// policy generates the personal-data policy from the register.
func (r *renderer) policy() *model {
	m := r.header()
	m.TOC = r.t("doc.contents")
	m.Sections = []section{
		{Title: r.t("doc.policy.general"), Blocks: r.policyGeneral()},
		{Title: r.t("doc.policy.purposes"), Blocks: []block{paraText(r.t("doc.purposes.intro"))}, Subs: r.policyPurposes()},
		{Title: r.t("doc.policy.data"), Subs: r.policyData()},
		{Title: r.t("doc.policy.operations"), Blocks: r.policyOperations()},
		{Title: r.t("doc.policy.retention"), Blocks: r.policyRetention()},
		{Title: r.t("doc.policy.transfers"), Blocks: r.policyTransfers()},
		{Title: r.t("doc.policy.storage"), Blocks: r.policyStorage()},
		{Title: r.t("doc.policy.rights"), Blocks: r.policyRights()},
		{Title: r.t("doc.policy.withdrawal"), Blocks: r.policyWithdrawal()},
	}
	m.Sections = append(m.Sections, r.ownSections()...)
	number(m.Sections)
	return m
}

// 1. Operator, law, scope, publication and changes.
func (r *renderer) policyGeneral() []block {
	bs := []block{
		paraText(r.tj("doc.policy.intro")),
		paraText(r.t("doc.policy.register")),
		paraText(r.t("doc.policy.operator")),
		{DL: r.operatorFields(true)},
		para(r.spans("doc.policy.published", "current", link("/policy", "/policy"))...),
	}
	return append(bs, r.changes()...)
}

// 2. Purposes with their legal bases.
func (r *renderer) policyPurposes() []section {
	var subs []section
	for i := range r.reg.Purposes {
		p := &r.reg.Purposes[i]
		s := section{Title: r.pick(p.Title)}
		if d := r.pick(p.Description); d != "" {
			s.Blocks = append(s.Blocks, paraText(d))
		}
		fs := []field{{Term: r.t("doc.purposes.basis"), Value: [][]span{txt(r.basis(p))}}}
		if l := r.pick(p.Law); l != "" {
			fs = append(fs, field{Term: r.t("doc.purposes.law"), Value: [][]span{txt(l)}})
		}
		if p.ConsentBased() && p.Consent != nil {
			path := historyPath(p.Consent.Document)
			fs = append(fs, field{Term: r.t("doc.purposes.consent_text"), Value: [][]span{{link(path, r.consentTitle(p))}}})
		}
		s.Blocks = append(s.Blocks, block{DL: fs})
		subs = append(subs, s)
	}
	return subs
}

// consentTitle is the title of the purpose's consent text.
func (r *renderer) consentTitle(p *register.Purpose) string {
	if d := r.reg.Document(p.Consent.Document); d != nil {
		if t := r.pick(d.Title); t != "" {
			return t
		}
	}
	return p.Consent.Document
}

// 3. Per purpose: subjects and the data, each category by its title.
func (r *renderer) policyData() []section {
	var subs []section
	for i := range r.reg.Purposes {
		p := &r.reg.Purposes[i]
		var items [][]span
		for _, t := range r.categoryTitles(p.Categories) {
			items = append(items, txt(t))
		}
		subs = append(subs, section{Title: r.pick(p.Title), Blocks: []block{
			{DL: []field{{Term: r.t("doc.data.subjects"), Value: [][]span{txt(strings.Join(r.subjectTitles(p.Subjects), "; "))}}}},
			paraText(r.t("doc.data.list")),
			{UL: items},
		}})
	}
	return subs
}

// 4. Per purpose: the actions and whether they are automated.
func (r *renderer) policyOperations() []block {
	var fs []field
	for i := range r.reg.Purposes {
		p := &r.reg.Purposes[i]
		fs = append(fs, field{Term: r.pick(p.Title), Value: [][]span{
			txt(r.t("doc.operations.actions", "actions", r.operations(p.Operations))),
			txt(r.t("doc.operations.method", "method", r.t("doc.processing."+p.Processing))),
		}})
	}
	return []block{paraText(r.t("doc.operations.intro")), {DL: fs}}
}

// 5. Per purpose: how long, and what happens after; then destruction.
func (r *renderer) policyRetention() []block {
	var fs []field
	for i := range r.reg.Purposes {
		p := &r.reg.Purposes[i]
		v := [][]span{txt(r.t("doc.retention.line", "rule", r.retention(p)))}
		if d := r.pick(p.Retention.Description); d != "" {
			v = append(v, txt(d))
		}
		v = append(v, txt(r.t("doc.after."+p.Retention.After)))
		fs = append(fs, field{Term: r.pick(p.Title), Value: v})
	}
	return []block{{DL: fs}, paraText(r.tj("doc.destruction"))}
}

// 6. Recipients per purpose, then cross-border transfers.
func (r *renderer) policyTransfers() []block {
	var (
		bs         []block
		processors bool
		countries  []string
		byCountry  = map[string][]string{}
	)
	head := []string{r.t("doc.recipients.name"), r.t("doc.recipients.address"), r.t("doc.recipients.country"),
		r.t("doc.recipients.role"), r.t("doc.recipients.purpose"), r.t("doc.recipients.data"), r.t("doc.recipients.condition")}
	for i := range r.reg.Purposes {
		p := &r.reg.Purposes[i]
		if len(p.Recipients) == 0 {
			continue
		}
		t := &table{Caption: r.t("doc.recipients.caption", "purpose", r.pick(p.Title)), Head: head}
		for _, rc := range p.Recipients {
			name := r.pick(rc.Name)
			country := r.country(rc.Country)
			if rc.CrossBorder {
				country = r.t("doc.recipients.cross_border", "country", country)
				if !slices.Contains(countries, rc.Country) {
					countries = append(countries, rc.Country)
				}
				if !slices.Contains(byCountry[rc.Country], name) {
					byCountry[rc.Country] = append(byCountry[rc.Country], name)
				}
			}
			processors = processors || rc.Role == "processor"
			cond := r.pick(rc.Condition)
			if cond == "" {
				cond = "—"
			}
			addr := r.pick(rc.Address)
			if addr == "" {
				addr = "—"
			}
			t.Rows = append(t.Rows, [][]span{
				txt(name), txt(addr), txt(country), txt(r.t("doc.role." + rc.Role)),
				txt(r.pick(rc.Purpose)), txt(strings.Join(r.categoryTitles(rc.Categories), "; ")), txt(cond),
			})
		}
		bs = append(bs, block{Table: t})
	}
	if len(bs) == 0 {
		bs = []block{paraText(r.t("doc.recipients.none"))}
	} else {
		bs = append([]block{paraText(r.t("doc.recipients.intro"))}, bs...)
	}
	if processors {
		bs = append(bs, paraText(r.t("doc.recipients.processors")))
	}
	// Copies of the databases abroad are a cross-border transfer as well.
	for _, c := range r.foreignReplicas() {
		if !slices.Contains(countries, c) {
			countries = append(countries, c)
		}
		byCountry[c] = append(byCountry[c], r.t("doc.cross_border.replicas"))
	}
	if len(countries) == 0 {
		return append(bs, paraText(r.t("doc.cross_border.none")))
	}
	var items [][]span
	for _, c := range countries {
		level := "doc.cross_border.inadequate"
		if r.reg.Adequate(c) {
			level = "doc.cross_border.adequate"
		}
		items = append(items, txt(r.t("doc.cross_border.item", "country", r.country(c), "recipients", strings.Join(byCountry[c], "; "), "level", r.t(level))))
	}
	bs = append(bs, paraText(r.t("doc.cross_border.intro")), block{UL: items})
	if r.hasj("doc.cross_border.notice") {
		bs = append(bs, paraText(r.tj("doc.cross_border.notice")))
	}
	return bs
}

// 7. Where the databases are.
func (r *renderer) policyStorage() []block {
	st := r.reg.Storage
	bs := []block{paraText(r.t("doc.storage.primary", "country", r.country(st.Primary)))}
	if len(st.Replicas) > 0 {
		var names []string
		for _, c := range st.Replicas {
			names = append(names, r.country(c))
		}
		bs = append(bs, paraText(r.t("doc.storage.replicas", "countries", strings.Join(names, ", "))))
	}
	if d := r.pick(st.Description); d != "" {
		bs = append(bs, paraText(d))
	}
	if st.Primary == register.HomeCountry(r.jur) && r.hasj("doc.storage.localisation") {
		bs = append(bs, paraText(r.tj("doc.storage.localisation")))
	}
	return bs
}

// 8. The subject's rights under the operator's law, and how to use them.
func (r *renderer) policyRights() []block {
	var items [][]span
	for _, right := range rights[r.jur] {
		items = append(items, txt(r.t("doc.rights."+r.jur+"."+right)))
	}
	bs := []block{
		paraText(r.t("doc.rights.intro")),
		{UL: items},
		para(r.spans("doc.rights.how", "contacts", r.contactSpans())...),
	}
	return append(bs, paraText(r.tj("doc.rights.request")))
}

// 9. Withdrawal of consent, per consent-based purpose.
func (r *renderer) policyWithdrawal() []block {
	var fs []field
	for i := range r.reg.Purposes {
		p := &r.reg.Purposes[i]
		if !p.ConsentBased() {
			continue
		}
		v := [][]span{
			txt(r.t("doc.withdrawal.term", "term", r.consentTerm(p.Consent))),
		}
		if m := r.consentMethods(p.Consent); m != "" {
			v = append(v, txt(r.t("doc.withdrawal.given", "methods", m)))
		}
		v = append(v, txt(r.t("doc.withdrawal.effect", "purpose", r.pick(p.Title))))
		if p.Consent != nil {
			path := historyPath(p.Consent.Document)
			v = append(v, r.spans("doc.withdrawal.text", "text", link(path, r.consentTitle(p))))
		}
		fs = append(fs, field{Term: r.pick(p.Title), Value: v})
	}
	if len(fs) == 0 {
		return []block{paraText(r.t("doc.withdrawal.none"))}
	}
	how := r.spans("doc.withdrawal.how", "contacts", r.contactSpans())
	return []block{para(how...), {DL: fs}, paraText(r.tj("doc.withdrawal.consequence"))}
}
