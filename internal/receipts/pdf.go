package receipts

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"kabinet/internal/consent"
	"kabinet/internal/register"
)

// The DejaVu fonts (see fonts/LICENSE): the PDF core fonts have no
// Cyrillic.
var (
	//go:embed fonts/DejaVuSans.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	fontBold []byte
)

// Page geometry in millimetres (A4).
const (
	pageW, pageH       = 210.0, 297.0
	marginL, marginR   = 20.0, 15.0
	marginT, marginB   = 15.0, 20.0
	labelW, gap        = 55.0, 4.0
	valueW             = pageW - marginL - marginR - labelW - gap
	lineH              = 4.4
	bodySize, smallSz  = 9.0, 7.5
	family             = "DejaVu"
	bottom             = pageH - marginB
	fullW              = pageW - marginL - marginR
	signatureBlockRows = 6
)

// PDF renders the receipt r, signed as jws (Signer.Sign of r), as an A4
// document in the receipt's language: the contents of a consent under the
// operator's law — for ru and kg operators those of 152-FZ art. 9 p.4
// (operator's name, address and registration numbers; purpose; the data;
// processors and third parties; the actions and how the data are
// processed; the term and how to withdraw; the subject's signature
// place with the electronic mark of the consent), for kz operators those
// of Law 94-V art. 8 (operator's name and BIN, the data, term, transfer
// to third parties, cross-border transfer, publication) — then how and
// when the consent was expressed (method, time, the text's version and
// hash), its state and events, and at the bottom the receipt id and the
// JWS fingerprint. in must be the Input r was built from (its language is
// taken from r). The output depends only on its arguments: the document's
// dates are the receipt's issue time. Errors: a jws of another receipt or
// an input of another subject or purpose (internal faults); those of
// Build.
func PDF(r Receipt, jws string, in Input) ([]byte, error) {
	in.Lang = r.Language
	b, err := in.resolve()
	if err != nil {
		return nil, err
	}
	if r.PIIPrincipalID != in.Subject || len(r.ISO.Purposes) != 1 || r.ISO.Purposes[0].ID != in.Purpose.ID {
		return nil, errors.New("receipts: PDF: the input is not the one the receipt was built from")
	}
	kid, err := signedBy(jws, r.ConsentReceiptID)
	if err != nil {
		return nil, err
	}
	d := &paper{b: b, r: r, jws: jws, kid: kid, loc: b.cfg.Location()}
	return d.render()
}

// signedBy checks that jws carries the receipt with id and returns its
// key id. The signature is not checked: the caller has just made it.
func signedBy(jws, id string) (string, error) {
	parts := strings.Split(strings.TrimSpace(jws), ".")
	if len(parts) != 3 {
		return "", errors.New("receipts: PDF: the JWS is not compact")
	}
	var h header
	var p struct {
		ID string `json:"consentReceiptID"`
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("receipts: PDF: the JWS: %w", err)
	}
	if err := errors.Join(json.Unmarshal(hb, &h), json.Unmarshal(pb, &p)); err != nil {
		return "", fmt.Errorf("receipts: PDF: the JWS: %w", err)
	}
	if p.ID != id {
		return "", fmt.Errorf("receipts: PDF: the JWS carries receipt %q, not %q", p.ID, id)
	}
	return h.Kid, nil
}

// paper is one PDF being written.
type paper struct {
	b   *builder
	r   Receipt
	jws string
	kid string
	loc *time.Location
	f   *fpdf.Fpdf
}

func (d *paper) t(key string, args ...any) string { return d.b.t(key, args...) }

func (d *paper) render() ([]byte, error) {
	b := d.b
	issued := time.Unix(d.r.IssuedAt, 0).UTC()
	f := fpdf.NewCustom(&fpdf.InitType{OrientationStr: "P", UnitStr: "mm", Size: fpdf.SizeType{Wd: pageW, Ht: pageH}})
	d.f = f
	f.AddUTF8FontFromBytes(family, "", fontRegular)
	f.AddUTF8FontFromBytes(family, "B", fontBold)
	f.SetMargins(marginL, marginT, marginR)
	f.SetAutoPageBreak(false, marginB) // rows break pages themselves, line by line
	f.SetCatalogSort(true)
	f.SetCreationDate(issued)
	f.SetModificationDate(issued)
	f.SetProducer("kabinet", false)
	f.SetCreator("kabinet", false)
	f.SetTitle(d.t("receipts.pdf.title"), true)
	f.SetAuthor(b.pick(b.cfg.Operator.Name), true)
	f.SetLang(b.lang)
	f.SetFooterFunc(func() {
		f.SetY(pageH - marginB + 6)
		f.SetFont(family, "", smallSz)
		f.SetTextColor(90, 90, 90)
		f.CellFormat(fullW, lineH, d.t("receipts.pdf.footer", "id", d.r.ConsentReceiptID, "page", f.PageNo()), "", 0, "C", false, 0, "")
		f.SetTextColor(0, 0, 0)
	})
	f.AddPage()

	f.SetFont(family, "B", 13)
	d.paragraph(6, d.t("receipts.pdf.title"))
	f.SetFont(family, "", bodySize)
	d.paragraph(lineH, d.t("receipts.pdf.number", "id", d.r.ConsentReceiptID, "date", d.when(issued)))
	f.Ln(2)
	d.paragraph(lineH, d.intro(issued))
	f.Ln(2)
	d.rule()

	if b.cfg.Operator.Jurisdiction == "kz" {
		d.fieldsKZ()
	} else {
		d.fieldsRU()
	}
	d.expression()
	d.signature()
	d.stamp(issued)

	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("receipts: PDF: %w", err)
	}
	var out bytes.Buffer
	if err := f.Output(&out); err != nil {
		return nil, fmt.Errorf("receipts: PDF: %w", err)
	}
	return out.Bytes(), nil
}

// intro says what the paper is and under which law, by jurisdiction.
func (d *paper) intro(issued time.Time) string {
	date := d.date(issued)
	switch d.b.cfg.Operator.Jurisdiction {
	case "kz":
		return d.t("receipts.pdf.intro_kz", "date", date)
	case "kg":
		return d.t("receipts.pdf.intro_kg", "date", date)
	}
	return d.t("receipts.pdf.intro_ru", "date", date)
}

// fieldsRU are the contents of a consent under 152-FZ art. 9 p.4 (also
// for Kyrgyz operators, whose consent procedure the Russian field set
// covers), in the order of the law.
func (d *paper) fieldsRU() {
	p := d.b.p
	d.row(d.t("doc.consent.subject"), d.subjectLines()...)
	if rep := d.b.consent.RepresentativeID; rep != "" || d.b.consent.ExpressedBy == consent.ByRepresentative {
		d.row(d.t("receipts.pdf.representative"), "______________________________________________",
			d.t("receipts.pdf.representative_note"), d.t("receipts.pdf.representative_id", "id", rep))
	}
	d.row(d.t("doc.consent.operator"), d.operatorLines()...)
	d.row(d.t("doc.consent.purpose"), d.purposeLine())
	d.row(d.t("doc.consent.data"), d.dataLines()...)
	if lines := d.recipientLines(true); len(lines) > 0 {
		d.row(d.t("doc.consent.processors"), lines...)
	} else {
		d.row(d.t("doc.consent.processors"), d.t("doc.consent.no_processors"))
	}
	if lines := d.recipientLines(false); len(lines) > 0 {
		d.row(d.t("doc.consent.third_parties"), lines...)
	}
	if cb := d.crossBorder(); cb != "" {
		d.row(d.t("doc.consent.cross_border"), d.t("doc.consent.cross_border_to", "countries", cb))
	}
	d.row(d.t("doc.consent.actions"), d.operations(p.Operations))
	d.row(d.t("doc.consent.methods"), d.t("doc.processing."+p.Processing))
	d.row(d.t("doc.consent.term"), d.termLines()...)
	d.row(d.t("doc.consent.withdrawal"), d.withdrawalLines()...)
}

// fieldsKZ are the contents of a consent under KZ 94-V art. 8: the
// operator's name and BIN, the subject, the list of data, the term,
// transfer to third parties, cross-border transfer and publication, with
// the purpose, actions and withdrawal that tell the subject what they
// agreed to.
func (d *paper) fieldsKZ() {
	p := d.b.p
	yesNo := func(yes bool, what string) string {
		if yes {
			return d.t("doc.consent.provided", "what", what)
		}
		return d.t("doc.consent.not_provided")
	}
	var names []string
	for _, rc := range p.Recipients {
		names = append(names, d.b.pick(rc.Name))
	}
	cb := d.crossBorder()
	public := p.Consent != nil && p.Consent.Distribution
	d.row(d.t("doc.consent.operator"), d.operatorLines()...)
	d.row(d.t("doc.consent.subject"), d.subjectLines()...)
	d.row(d.t("doc.consent.purpose"), d.purposeLine())
	d.row(d.t("doc.consent.data"), d.dataLines()...)
	d.row(d.t("doc.consent.term"), d.termLines()...)
	d.row(d.t("doc.consent.to_third_parties"), yesNo(len(names) > 0, strings.Join(names, "; ")))
	d.row(d.t("doc.consent.cross_border"), yesNo(cb != "", cb))
	d.row(d.t("doc.consent.publication"), yesNo(public, d.b.pick(d.b.cfg.Portal.Title)))
	d.row(d.t("doc.consent.actions"), d.operations(p.Operations))
	d.row(d.t("doc.consent.withdrawal"), d.withdrawalLines()...)
}

func (d *paper) subjectLines() []string {
	return []string{d.t("receipts.pdf.subject_id", "id", d.r.PIIPrincipalID), d.t("receipts.pdf.subject_note")}
}

func (d *paper) operatorLines() []string {
	o := d.b.cfg.Operator
	lines := []string{d.b.pick(o.Name), d.b.pick(o.LegalAddress)}
	reg := o.Registration
	var ids []string
	for _, id := range []struct{ key, v string }{
		{"doc.field.inn", reg.INN}, {"doc.field.ogrn", reg.OGRN}, {"doc.field.ogrnip", reg.OGRNIP},
		{"doc.field.bin", reg.BIN}, {"doc.field.iin", reg.IIN},
	} {
		if id.v != "" {
			ids = append(ids, d.t(id.key)+" "+id.v)
		}
	}
	if len(ids) > 0 {
		lines = append(lines, strings.Join(ids, ", "))
	}
	return lines
}

func (d *paper) purposeLine() string {
	s := d.b.pick(d.b.p.Title)
	if desc := d.b.pick(d.b.p.Description); desc != "" {
		s += ": " + desc
	}
	return s
}

// dataLines are the category titles, special and biometric ones marked
// as the consent text marks them.
func (d *paper) dataLines() []string {
	var out []string
	for _, c := range d.b.categories() {
		t := d.b.pick(c.Title)
		if c.Kind == register.KindSpecial || c.Kind == register.KindBiometric {
			t = d.t("doc.kind_marked", "title", t, "kind", d.t("doc.kind."+c.Kind))
		}
		out = append(out, "• "+t)
	}
	return out
}

// recipientLines are the purpose's processors (or its other recipients)
// as "name, address — country: purpose".
func (d *paper) recipientLines(processors bool) []string {
	var out []string
	for _, rc := range d.b.p.Recipients {
		if (rc.Role == "processor") != processors {
			continue
		}
		line := d.b.pick(rc.Name)
		if a := d.b.pick(rc.Address); a != "" {
			line += ", " + a
		}
		if rc.CrossBorder {
			line += " — " + d.country(rc.Country)
		}
		if pu := d.b.pick(rc.Purpose); pu != "" && !processors {
			line += ": " + pu
		}
		out = append(out, line)
	}
	return out
}

// crossBorder names the countries the purpose's data go to: those of
// cross-border recipients and of replicas outside the operator's country.
func (d *paper) crossBorder() string {
	var names []string
	add := func(code string) {
		if n := d.country(code); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, rc := range d.b.p.Recipients {
		if rc.CrossBorder {
			add(rc.Country)
		}
	}
	home := register.HomeCountry(d.b.cfg.Operator.Jurisdiction)
	for _, c := range d.b.reg.Storage.Replicas {
		if c != home {
			add(c)
		}
	}
	return strings.Join(names, ", ")
}

func (d *paper) country(code string) string {
	if key := "doc.country." + strings.ToLower(code); d.b.l.Has(key) {
		return d.t(key)
	}
	return code
}

// operations names the actions in the order of 152-FZ art. 3 p.3, with
// provision and access in brackets after transfer, as the consent text
// does.
func (d *paper) operations(ops []string) string {
	has := func(op string) bool { return slices.Contains(ops, op) }
	var words []string
	for _, op := range register.Operations {
		if !has(op) || (op == "provision" || op == "access") && has("transfer") {
			continue
		}
		w := d.t("doc.op." + op)
		if op == "transfer" {
			var inner []string
			for _, in := range []string{"provision", "access"} {
				if has(in) {
					inner = append(inner, d.t("doc.op."+in))
				}
			}
			if len(inner) > 0 {
				w += " (" + strings.Join(inner, ", ") + ")"
			}
		}
		words = append(words, w)
	}
	return strings.Join(words, ", ")
}

func (d *paper) termLines() []string {
	lines := []string{d.b.term()}
	if exp := d.b.consent.ExpiresAt; !exp.IsZero() {
		lines = append(lines, d.t("receipts.pdf.valid_until", "date", d.when(exp)))
	}
	return lines
}

func (d *paper) withdrawalLines() []string {
	return []string{d.b.withdrawalHow(), d.t("receipts.pdf.cabinet", "url", d.r.ISO.WithdrawalMethod.URL)}
}

// expression says how and when the consent was expressed, to which text,
// its state at issue and its events.
func (d *paper) expression() {
	c := d.b.consent
	at := d.when(c.At)
	var how string
	switch c.Method {
	case "paper":
		how = d.t("receipts.pdf.given_paper", "time", at)
	case "signature":
		how = d.t("receipts.pdf.given_signature", "time", at)
	default:
		how = d.t("receipts.pdf.given_electronic", "portal", d.b.pick(d.b.cfg.Portal.Title), "time", at,
			"method", d.t("doc.consent_method."+c.Method))
	}
	lines := []string{how}
	if c.ExpressedBy == consent.ByRepresentative && c.Method != "representative" { // that method's words say so already
		lines = append(lines, d.t("receipts.pdf.by_representative"))
	}
	n := d.r.ISO.Notice
	title := n.Title
	if title == "" {
		title = n.ID
	}
	lines = append(lines, d.t("receipts.pdf.text", "title", title, "version", n.Version, "url", n.URL))
	d.row(d.t("receipts.pdf.expression"), lines...)

	issued := time.Unix(d.r.IssuedAt, 0)
	d.row(d.t("receipts.pdf.status", "date", d.date(issued)), d.statusText())

	var events []string
	for _, e := range d.b.events {
		line := d.t("receipts.pdf.event", "time", d.when(e.At), "event", d.eventWord(e.Event))
		if e.Method != "" {
			line += " (" + d.t("doc.consent_method."+e.Method) + ")"
		}
		events = append(events, line)
	}
	d.row(d.t("receipts.pdf.events"), events...)
}

func (d *paper) statusText() string {
	last := d.b.events[len(d.b.events)-1]
	switch st := d.b.status(); st {
	case consent.Given, consent.Renewed:
		return d.t("receipts.pdf.status_active")
	case consent.Expired:
		at := last.At
		if last.Event.Active() {
			at = last.ExpiresAt
		}
		return d.t("receipts.pdf.status_expired", "date", d.when(at))
	case consent.Withdrawn:
		return d.t("receipts.pdf.status_withdrawn", "date", d.when(last.At))
	case consent.Refused:
		return d.t("receipts.pdf.status_refused", "date", d.when(last.At))
	default:
		return d.t("receipts.pdf.status_invalidated", "date", d.when(last.At))
	}
}

func (d *paper) eventWord(s consent.Status) string {
	switch s {
	case consent.Given:
		return d.t("receipts.pdf.event_given")
	case consent.Renewed:
		return d.t("receipts.pdf.event_renewed")
	case consent.Refused:
		return d.t("receipts.pdf.event_refused")
	case consent.Withdrawn:
		return d.t("receipts.pdf.event_withdrawn")
	case consent.Expired:
		return d.t("receipts.pdf.event_expired")
	}
	return d.t("receipts.pdf.event_invalidated")
}

// signature is the place for the subject's own signature — the ledger
// knows no names — and the electronic mark of the consent.
func (d *paper) signature() {
	f := d.f
	if f.GetY()+signatureBlockRows*lineH*1.6 > bottom {
		f.AddPage()
	}
	f.Ln(3)
	f.SetFont(family, "B", bodySize)
	d.paragraph(lineH, d.t("doc.consent.signature"))
	f.SetFont(family, "", bodySize)
	f.Ln(3)
	d.paragraph(lineH*1.4, d.t("receipts.pdf.subject_line"))
	d.paragraph(lineH*1.4, d.t("receipts.pdf.signature_line"))
	c := d.b.consent
	mark := d.t("receipts.pdf.mark", "event", strconv.FormatInt(c.ID, 10), "time", d.when(c.At))
	if c.Method != "paper" && c.Method != "signature" {
		mark += " " + d.t("receipts.pdf.mark_electronic")
	}
	f.Ln(1)
	d.paragraph(lineH, mark)
	f.Ln(2)
}

// stamp ties the paper to the signed file and to the consent text: long
// identifiers, printed small across the page so that none is broken.
func (d *paper) stamp(issued time.Time) {
	f := d.f
	lines := []string{
		d.t("receipts.pdf.receipt_id", "id", d.r.ConsentReceiptID, "date", d.when(issued)),
		d.t("receipts.pdf.text_hash", "hash", d.r.ISO.Notice.Hash),
		d.t("receipts.pdf.fingerprint", "sha", Fingerprint(d.jws)),
		d.t("receipts.pdf.key", "kid", d.kid, "url", d.b.base+"/.well-known/jwks.json"),
		d.t("receipts.pdf.verify"),
	}
	f.SetFont(family, "", smallSz)
	var split [][]string
	h := 2.0
	for _, l := range lines {
		s := f.SplitText(l, fullW)
		split = append(split, s)
		h += float64(len(s)) * lineH * 0.85
	}
	if f.GetY()+h > bottom {
		f.AddPage()
	}
	d.rule()
	for _, s := range split {
		for _, l := range s {
			f.CellFormat(fullW, lineH*0.85, l, "", 2, "L", false, 0, "")
		}
	}
}

// row writes a label and its values side by side, breaking pages between
// lines; a row that fits on one page is not split.
func (d *paper) row(label string, values ...string) {
	f := d.f
	f.SetFont(family, "B", bodySize)
	ll := f.SplitText(label, labelW)
	f.SetFont(family, "", bodySize)
	var vl []string
	for _, v := range values {
		vl = append(vl, f.SplitText(v, valueW)...)
	}
	n := max(len(ll), len(vl))
	if h := float64(n) * lineH; f.GetY()+h > bottom && h < bottom-marginT {
		f.AddPage()
	}
	for i := range n {
		if f.GetY()+lineH > bottom {
			f.AddPage()
		}
		y := f.GetY()
		if i < len(ll) {
			f.SetFont(family, "B", bodySize)
			f.SetXY(marginL, y)
			f.CellFormat(labelW, lineH, ll[i], "", 0, "L", false, 0, "")
		}
		if i < len(vl) {
			f.SetFont(family, "", bodySize)
			f.SetXY(marginL+labelW+gap, y)
			f.CellFormat(valueW, lineH, vl[i], "", 0, "L", false, 0, "")
		}
		f.SetXY(marginL, y+lineH)
	}
	f.Ln(1.2)
	d.rule()
}

// paragraph writes text across the page in the current font, with line
// height h.
func (d *paper) paragraph(h float64, text string) {
	f := d.f
	for _, l := range f.SplitText(text, fullW) {
		if f.GetY()+h > bottom {
			f.AddPage()
		}
		f.CellFormat(fullW, h, l, "", 2, "L", false, 0, "")
	}
}

// rule draws a thin line across the page.
func (d *paper) rule() {
	f := d.f
	y := f.GetY()
	f.SetDrawColor(180, 180, 180)
	f.SetLineWidth(0.2)
	f.Line(marginL, y, pageW-marginR, y)
	f.SetDrawColor(0, 0, 0)
	f.Ln(1.6)
}

// when is an instant in the operator's time zone with its offset: a
// receipt may be read far from where it was issued.
func (d *paper) when(t time.Time) string {
	t = t.In(d.loc)
	layout := "02.01.2006 15:04"
	if d.b.lang == "en" {
		layout = "2006-01-02 15:04"
	}
	return t.Format(layout) + " (UTC" + t.Format("-07:00") + ")"
}

func (d *paper) date(t time.Time) string {
	t = t.In(d.loc)
	if d.b.lang == "en" {
		return t.Format("2006-01-02")
	}
	return t.Format("02.01.2006")
}
