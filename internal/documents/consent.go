package documents

import (
	"slices"
	"strings"

	"kabinet/internal/register"
)

// consent renders a consent text as a template: the fields the law of the
// jurisdiction requires, filled from the register, with marked slots for
// the subject's own details, which are filled in per subject when the
// consent is given. Russia: 152-FZ art. 9 p.4 (and art. 10.1 for consent
// to distribution); Kazakhstan: 94-V art. 8 p.4; Kyrgyzstan follows the
// Russian field set, which covers its consent procedure.
func (r *renderer) consent() *model {
	m := r.header()
	p := r.consentPurpose()
	m.Lead = []block{paraText(r.tj("doc.consent.statement"))}
	if p == nil {
		// A consent text no purpose refers to yet: the register is being
		// drafted. Show the operator and the operator's own text only.
		m.Lead = append(m.Lead, block{DL: r.operatorFields(false)})
	} else if r.jur == "kz" {
		m.Lead = append(m.Lead, block{DL: r.consentFieldsKZ(p)})
	} else {
		m.Lead = append(m.Lead, block{DL: r.consentFields(p)})
	}
	m.Lead = append(m.Lead, paraText(r.t("doc.consent.slots")))
	m.Sections = r.ownSections()
	number(m.Sections)
	return m
}

func slot(s string) span { return span{Text: s, Slot: true} }

// recipientsOf splits a purpose's recipients into processors (acting on
// the operator's behalf) and the others, as "name, address" lines.
func (r *renderer) recipientLines(p *register.Purpose, processors bool) [][]span {
	var out [][]span
	for _, rc := range p.Recipients {
		if (rc.Role == "processor") != processors {
			continue
		}
		line := r.pick(rc.Name)
		if a := r.pick(rc.Address); a != "" {
			line += ", " + a
		}
		if rc.CrossBorder {
			line += " — " + r.country(rc.Country)
		}
		if pu := r.pick(rc.Purpose); pu != "" && !processors {
			line += ": " + pu
		}
		out = append(out, txt(line))
	}
	return out
}

// crossBorder lists the countries a purpose's data go to, "" for none:
// those of its cross-border recipients and those where copies of the
// operator's databases are kept, which is a cross-border transfer too.
func (r *renderer) crossBorder(p *register.Purpose) string {
	var names []string
	add := func(code string) {
		if n := r.country(code); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, rc := range p.Recipients {
		if rc.CrossBorder {
			add(rc.Country)
		}
	}
	for _, c := range r.foreignReplicas() {
		add(c)
	}
	return strings.Join(names, ", ")
}

// foreignReplicas are the countries outside the operator's own where
// copies of its databases are kept.
func (r *renderer) foreignReplicas() []string {
	var out []string
	for _, c := range r.reg.Storage.Replicas {
		if c != register.HomeCountry(r.jur) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func (r *renderer) dataLines(p *register.Purpose) [][]span {
	var out [][]span
	for _, t := range r.categoryTitles(p.Categories) {
		out = append(out, txt(t))
	}
	return out
}

func (r *renderer) operatorLine() string {
	o := r.cfg.Operator
	parts := []string{r.pick(o.Name), r.pick(o.LegalAddress)}
	reg := o.Registration
	for _, id := range []struct{ key, v string }{
		{"doc.field.inn", reg.INN}, {"doc.field.ogrn", reg.OGRN}, {"doc.field.ogrnip", reg.OGRNIP},
		{"doc.field.bin", reg.BIN}, {"doc.field.iin", reg.IIN},
	} {
		if id.v != "" {
			parts = append(parts, r.t(id.key)+" "+id.v)
		}
	}
	return strings.Join(parts, ", ")
}

// consentFields are the contents of a consent under 152-FZ art. 9 p.4.
func (r *renderer) consentFields(p *register.Purpose) []field {
	f := func(key string, v ...[]span) field { return field{Term: r.t(key), Value: v} }
	fs := []field{
		f("doc.consent.subject", []span{slot(r.t("doc.slot.name"))}, []span{slot(r.t("doc.slot.address"))}, []span{slot(r.t("doc.slot.document"))}),
		f("doc.consent.representative", []span{slot(r.t("doc.slot.representative"))}, []span{slot(r.t("doc.slot.authority"))}),
		f("doc.consent.operator", txt(r.operatorLine())),
		f("doc.consent.purpose", r.purposeLine(p)),
		f("doc.consent.data", r.dataLines(p)...),
	}
	if lines := r.recipientLines(p, true); len(lines) > 0 {
		fs = append(fs, f("doc.consent.processors", lines...))
	} else {
		fs = append(fs, f("doc.consent.processors", txt(r.t("doc.consent.no_processors"))))
	}
	if lines := r.recipientLines(p, false); len(lines) > 0 {
		fs = append(fs, f("doc.consent.third_parties", lines...))
	}
	if cb := r.crossBorder(p); cb != "" {
		fs = append(fs, f("doc.consent.cross_border", txt(r.t("doc.consent.cross_border_to", "countries", cb))))
	}
	fs = append(fs,
		f("doc.consent.actions", txt(r.operations(p.Operations))),
		f("doc.consent.methods", txt(r.t("doc.processing."+p.Processing))),
	)
	if p.Consent != nil && p.Consent.Distribution {
		fs = append(fs,
			f("doc.consent.distribution", []span{slot(r.t("doc.slot.distribution"))}),
			f("doc.consent.resources", txt(r.pick(r.cfg.Portal.Title))),
		)
	}
	fs = append(fs,
		f("doc.consent.term", txt(r.consentTerm(p.Consent))),
		f("doc.consent.withdrawal", r.withdrawalSpans()),
		f("doc.consent.expressed", txt(r.consentMethods(p.Consent))),
		f("doc.consent.signature", []span{slot(r.t("doc.slot.signature"))}, []span{slot(r.t("doc.slot.date"))}),
	)
	return fs
}

// consentFieldsKZ are the contents of a consent under KZ 94-V art. 8 p.4:
// operator name and BIN, the subject, term, third parties, cross-border
// transfer, publication, list of data; plus purpose, actions and how to
// withdraw, which the subject needs to know what he agrees to.
func (r *renderer) consentFieldsKZ(p *register.Purpose) []field {
	f := func(key string, v ...[]span) field { return field{Term: r.t(key), Value: v} }
	yesNo := func(yes bool, what string) []span {
		if yes {
			return txt(r.t("doc.consent.provided", "what", what))
		}
		return txt(r.t("doc.consent.not_provided"))
	}
	var names []string
	for _, rc := range p.Recipients {
		names = append(names, r.pick(rc.Name))
	}
	cb := r.crossBorder(p)
	public := p.Consent != nil && p.Consent.Distribution
	return []field{
		f("doc.consent.operator", txt(r.operatorLine())),
		f("doc.consent.subject", []span{slot(r.t("doc.slot.name"))}),
		f("doc.consent.purpose", r.purposeLine(p)),
		f("doc.consent.data", r.dataLines(p)...),
		f("doc.consent.term", txt(r.consentTerm(p.Consent))),
		f("doc.consent.to_third_parties", yesNo(len(names) > 0, strings.Join(names, "; "))),
		f("doc.consent.cross_border", yesNo(cb != "", cb)),
		f("doc.consent.publication", yesNo(public, r.pick(r.cfg.Portal.Title))),
		f("doc.consent.actions", txt(r.operations(p.Operations))),
		f("doc.consent.withdrawal", r.withdrawalSpans()),
		f("doc.consent.expressed", txt(r.consentMethods(p.Consent))),
		f("doc.consent.signature", []span{slot(r.t("doc.slot.signature"))}, []span{slot(r.t("doc.slot.date"))}),
	}
}

func (r *renderer) purposeLine(p *register.Purpose) []span {
	s := r.pick(p.Title)
	if d := r.pick(p.Description); d != "" {
		s += ": " + d
	}
	return txt(s)
}

func (r *renderer) withdrawalSpans() []span {
	return r.spans("doc.consent.withdrawal_how", "contacts", r.contactSpans())
}
