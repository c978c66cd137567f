package documents

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"

	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
)

// Rendered is one document rendered in one language.
type Rendered struct {
	Title string        // the document's title in that language
	HTML  template.HTML // an <article>, every value from the operator file escaped
	Text  string        // the same document as plain text
}

// Render renders doc, a document of cfg's register, in lang (a language
// of b; an unsupported one renders in i18n.Default). Generated words come
// from b's catalogues, the operator's texts from cfg in lang, falling back
// to the operator's default language. The output depends only on its
// arguments — no clock, no map order — so the same register always gives
// the same bytes and the same hash.
//
// The policy is generated from the register (structure of the seeds:
// operator, purposes and bases, data and subjects, operations, terms,
// recipients and cross-border transfers, storage, rights, withdrawal),
// followed by the operator's own sections. The agreement is the operator's
// sections plus how new versions take effect. A consent text carries the
// fields the law of the operator's jurisdiction requires (152-FZ art. 9
// p.4; KZ 94-V art. 8 p.4), with marked places for the subject's details,
// which are filled in when a consent is given. A document of an unknown
// kind is fault.Invalid.
func Render(cfg *config.Config, b *i18n.Bundle, doc *register.Document, lang string) (Rendered, error) {
	if cfg == nil || b == nil || doc == nil {
		return Rendered{}, errors.New("documents: Render needs a config, a bundle and a document")
	}
	l := b.Localizer(lang)
	r := &renderer{cfg: cfg, reg: &cfg.Register, doc: doc, l: l, lang: l.Lang(), def: cfg.DefaultLanguage(), jur: cfg.Operator.Jurisdiction}
	var m *model
	switch doc.Kind {
	case register.DocPolicy:
		m = r.policy()
	case register.DocAgreement:
		m = r.agreement()
	case register.DocConsent:
		m = r.consent()
	default:
		return Rendered{}, fault.Wrap(fault.Invalid, fmt.Errorf("documents: document %q has unknown kind %q", doc.ID, doc.Kind), "")
	}
	h, err := m.html()
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Title: m.Title, HTML: h, Text: m.text()}, nil
}

// renderer holds what every part of one rendering needs.
type renderer struct {
	cfg  *config.Config
	reg  *register.Register
	doc  *register.Document
	l    *i18n.Localizer
	lang string // the language rendered
	def  string // the operator's default language: the fallback for its texts
	jur  string // ru, kz or kg
}

func (r *renderer) t(key string, args ...any) string { return r.l.T(key, args...) }

// tj translates the jurisdiction's variant of key ("doc.rights.intro.kz").
func (r *renderer) tj(key string, args ...any) string { return r.l.T(key+"."+r.jur, args...) }

// hasj reports whether the jurisdiction has a variant of key: some
// statements (a localisation rule, a regulator's notice) exist in one law
// only.
func (r *renderer) hasj(key string) bool { return r.l.Has(key + "." + r.jur) }

// pick chooses an operator text in the rendered language, then the default
// language, then the plain text, then the first language by code — never
// by map order, so the output is deterministic.
func (r *renderer) pick(t i18n.Text) string {
	for _, k := range []string{r.lang, r.def, ""} {
		if s := strings.TrimSpace(t[k]); s != "" {
			return s
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if s := strings.TrimSpace(t[k]); s != "" {
			return s
		}
	}
	return ""
}

// spans translates key; an argument given as a span (a link) or a []span
// is placed in the text where its placeholder is.
func (r *renderer) spans(key string, args ...any) []span {
	var inserts [][]span
	plain := slices.Clone(args)
	for i := 1; i < len(plain); i += 2 {
		var ins []span
		switch v := plain[i].(type) {
		case span:
			ins = []span{v}
		case []span:
			ins = v
		default:
			continue
		}
		plain[i] = "\x00" + strconv.Itoa(len(inserts)) + "\x00"
		inserts = append(inserts, ins)
	}
	text := r.t(key, plain...)
	var out []span
	for {
		i := strings.IndexByte(text, 0)
		if i < 0 {
			break
		}
		j := strings.IndexByte(text[i+1:], 0)
		if j < 0 {
			break
		}
		n, _ := strconv.Atoi(text[i+1 : i+1+j])
		if i > 0 {
			out = append(out, span{Text: text[:i]})
		}
		out = append(out, inserts[n]...)
		text = text[i+1+j+1:]
	}
	if text != "" {
		out = append(out, span{Text: text})
	}
	return out
}

func link(href, text string) span { return span{Text: text, Href: href} }

// historyPath is where every version of a document is listed (package web
// serves it).
func historyPath(docID string) string { return "/documents/" + docID }

// header starts a model with the title and version label.
func (r *renderer) header() *model {
	return &model{
		Lang:  r.lang,
		Title: r.pick(r.doc.Title),
		Label: r.t("doc.label", "label", r.doc.Version),
	}
}

// number gives sections their numbers and anchors, in order.
func number(secs []section) {
	for i := range secs {
		n := strconv.Itoa(i + 1)
		secs[i].Num, secs[i].Anchor = n, "doc-s"+n
		for j := range secs[i].Subs {
			m := strconv.Itoa(j + 1)
			secs[i].Subs[j].Num, secs[i].Subs[j].Anchor = n+"."+m, "doc-s"+n+"-"+m
		}
	}
}

// ownSections are the operator's sections of the document; a blank line
// or a line break in a text starts a new paragraph.
func (r *renderer) ownSections() []section {
	var out []section
	for _, s := range r.doc.Sections {
		sec := section{Title: r.pick(s.Title)}
		for line := range strings.SplitSeq(r.pick(s.Text), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				sec.Blocks = append(sec.Blocks, paraText(line))
			}
		}
		out = append(out, sec)
	}
	return out
}

// operatorFields are the operator's identity and, with contacts, where
// subjects write to it.
func (r *renderer) operatorFields(contacts bool) []field {
	o := r.cfg.Operator
	var fs []field
	add := func(key string, v ...[]span) { fs = append(fs, field{Term: r.t(key), Value: v}) }
	add("doc.field.operator", txt(r.pick(o.Name)))
	if s := r.pick(o.ShortName); s != "" && contacts {
		add("doc.field.short_name", txt(s))
	}
	add("doc.field.address", txt(r.pick(o.LegalAddress)))
	reg := o.Registration
	for _, id := range []struct{ key, v string }{
		{"doc.field.inn", reg.INN}, {"doc.field.kpp", reg.KPP}, {"doc.field.ogrn", reg.OGRN},
		{"doc.field.ogrnip", reg.OGRNIP}, {"doc.field.bin", reg.BIN}, {"doc.field.iin", reg.IIN},
	} {
		if id.v != "" {
			add(id.key, txt(id.v))
		}
	}
	if !contacts {
		return fs
	}
	c := o.Contacts
	if c.Email != "" {
		add("doc.field.email", []span{link("mailto:"+c.Email, c.Email)})
	}
	if c.Phone != "" {
		add("doc.field.phone", txt(c.Phone))
	}
	if s := r.pick(c.PostalAddress); s != "" {
		add("doc.field.postal_address", txt(s))
	}
	if s := r.pick(c.DPO); s != "" {
		add("doc.field.dpo", txt(s))
	}
	return fs
}

// contactSpans says where to write: the e-mail as a link and the postal
// address (the legal address when no postal one is given).
func (r *renderer) contactSpans() []span {
	c := r.cfg.Operator.Contacts
	postal := r.pick(c.PostalAddress)
	if postal == "" {
		postal = r.pick(r.cfg.Operator.LegalAddress)
	}
	return r.spans("doc.contacts", "email", link("mailto:"+c.Email, c.Email), "address", postal)
}

// categories expands a purpose's category ids (a parent id names all its
// children) into the register's categories, without repeats.
func (r *renderer) categories(ids []string) []*register.Category {
	var out []*register.Category
	seen := map[string]bool{}
	for _, id := range ids {
		for i := range r.reg.Categories {
			c := &r.reg.Categories[i]
			if (c.ID == id || strings.HasPrefix(c.ID, id+".")) && !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// categoryTitle is the category's title, marked when the law treats it
// specially (152-FZ art. 10, 11).
func (r *renderer) categoryTitle(c *register.Category) string {
	t := r.pick(c.Title)
	switch c.Kind {
	case register.KindSpecial, register.KindBiometric:
		return r.t("doc.kind_marked", "title", t, "kind", r.t("doc.kind."+c.Kind))
	}
	return t
}

func (r *renderer) categoryTitles(ids []string) []string {
	var out []string
	for _, c := range r.categories(ids) {
		out = append(out, r.categoryTitle(c))
	}
	return out
}

func (r *renderer) subjectTitles(ids []string) []string {
	var out []string
	for _, id := range ids {
		for _, s := range r.reg.Subjects {
			if s.ID == id {
				out = append(out, r.pick(s.Title))
			}
		}
	}
	return out
}

// operations names the actions in the order of 152-FZ art. 3 p.3, with
// provision and access in brackets after transfer, as the law writes them.
func (r *renderer) operations(ops []string) string {
	has := func(op string) bool { return slices.Contains(ops, op) }
	var words []string
	for _, op := range register.Operations {
		if !has(op) {
			continue
		}
		switch op {
		case "provision", "access":
			if has("transfer") {
				continue // inside the brackets after transfer
			}
		case "transfer":
			var inner []string
			for _, in := range []string{"provision", "access"} {
				if has(in) {
					inner = append(inner, r.t("doc.op."+in))
				}
			}
			if len(inner) > 0 {
				words = append(words, r.t("doc.op.transfer")+" ("+strings.Join(inner, ", ")+")")
				continue
			}
		}
		words = append(words, r.t("doc.op."+op))
	}
	return strings.Join(words, ", ")
}

// basis names the legal basis in words with the article of the law that
// provides it, where the catalogue knows it for the jurisdiction.
func (r *renderer) basis(p *register.Purpose) string {
	words := r.t("doc.basis." + p.Basis)
	if key := "doc.basis_cite." + p.Basis; r.hasj(key) {
		words += " (" + r.tj(key) + ")"
	}
	return words
}

// retention says in words how long data kept for p live.
func (r *renderer) retention(p *register.Purpose) string {
	rt := p.Retention
	term := rt.Term.Text(r.lang)
	var s string
	switch rt.Rule {
	case "until_withdrawn":
		s = r.t("doc.retention.until_withdrawn")
		if p.Consent != nil && !p.Consent.Term.IsZero() {
			s = r.t("doc.retention.until_withdrawn_term", "term", p.Consent.Term.Text(r.lang))
		}
	case "term":
		s = r.t("doc.retention.term", "term", term)
	case "contract":
		s = r.t("doc.retention.contract")
		if term != "" {
			s = r.t("doc.retention.contract_term", "term", term)
		}
	case "until_achieved":
		s = r.t("doc.retention.until_achieved")
	case "law":
		s = r.t("doc.retention.law", "term", term)
	default:
		s = rt.Rule
	}
	if l := r.pick(rt.Law); l != "" {
		s += " (" + l + ")"
	}
	return s
}

// country is a country's name, or its code when the catalogue has none.
func (r *renderer) country(code string) string {
	key := "doc.country." + strings.ToLower(code)
	if r.l.Has(key) {
		return r.t(key)
	}
	return code
}

// consentPurpose is the purpose whose consent text doc is, or nil.
func (r *renderer) consentPurpose() *register.Purpose {
	for i := range r.reg.Purposes {
		if c := r.reg.Purposes[i].Consent; c != nil && c.Document == r.doc.ID {
			return &r.reg.Purposes[i]
		}
	}
	return nil
}

// consentTerm says how long a consent is valid.
func (r *renderer) consentTerm(c *register.Consent) string {
	if c == nil || c.Term.IsZero() {
		return r.t("doc.consent_term.until_withdrawn")
	}
	return r.t("doc.consent_term.term", "term", c.Term.Text(r.lang))
}

func (r *renderer) consentMethods(c *register.Consent) string {
	if c == nil {
		return ""
	}
	var words []string
	for _, m := range c.Methods {
		words = append(words, r.t("doc.consent_method."+m))
	}
	return strings.Join(words, "; ")
}

// changes says how a new version of the agreement or policy binds users,
// as the operator configured it, and where every version stays readable.
func (r *renderer) changes() []block {
	acc := r.doc.Acceptance
	if acc != "explicit" {
		acc = "continued_use"
	}
	return []block{
		paraText(r.t("doc.changes." + r.doc.Kind + "." + acc)),
		para(r.spans("doc.changes.history", "history", link(historyPath(r.doc.ID), historyPath(r.doc.ID)))...),
	}
}

// agreement is the operator's sections, then how the agreement changes,
// then who the operator is.
func (r *renderer) agreement() *model {
	m := r.header()
	m.Sections = r.ownSections()
	m.Sections = append(m.Sections,
		section{Title: r.t("doc.agreement.changes"), Blocks: r.changes()},
		section{Title: r.t("doc.agreement.operator"), Blocks: []block{
			{DL: r.operatorFields(true)},
			para(r.spans("doc.agreement.policy", "policy", link("/policy", "/policy"))...),
		}},
	)
	if len(m.Sections) > 3 {
		m.TOC = r.t("doc.contents")
	}
	number(m.Sections)
	return m
}
