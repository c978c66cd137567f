package receipts_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"kabinet/internal/receipts"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// pdfText extracts the text of a PDF with pdftotext (Debian poppler-utils)
// with white space collapsed, or returns ok false when the tool is
// missing.
func pdfText(t *testing.T, pdf []byte) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		return "", false
	}
	in := filepath.Join(t.TempDir(), "receipt.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", in, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return strings.Join(strings.Fields(string(out)), " "), true
}

func wantText(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if w = strings.Join(strings.Fields(w), " "); !strings.Contains(text, w) {
			t.Errorf("the PDF does not say %q", w)
		}
	}
}

// TestPDFRussian renders the receipt of a real consent of the demo
// operator (152-FZ art. 9 p.4) and reads it back.
func TestPDFRussian(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := newStack(t, db, demoOperator)
		subj := s.subject(t, "user")
		s.give(t, subj, "informing", "checkbox")
		in, r, jws := s.issue(t, subj, "informing")
		pdf, err := receipts.PDF(r, jws, in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("not a PDF: %q", pdf[:min(len(pdf), 16)])
		}
		again, _ := receipts.PDF(r, jws, in)
		if !bytes.Equal(pdf, again) {
			t.Error("the same receipt rendered twice gave different PDFs")
		}
		if _, err := receipts.PDF(r, strings.Replace(jws, ".", ".e30.", 1)[:len(jws)], in); err == nil {
			t.Error("a PDF with a JWS of another receipt")
		}
		text, ok := pdfText(t, pdf)
		if !ok {
			t.Skip("pdftotext (Debian poppler-utils) is not installed: the PDF's text is not checked")
		}
		op := s.cfg.Operator
		p := s.cfg.Register.Purpose("informing")
		wantText(t, text, op.Name["ru"], op.LegalAddress["ru"], "ИНН "+op.Registration.INN, "ОГРН "+op.Registration.OGRN,
			p.Title["ru"], r.ConsentReceiptID, receipts.Fingerprint(jws), subj,
			"Перечень персональных данных", "Перечень действий с персональными данными",
			"сбор, хранение, использование, передача, уничтожение", "автоматизированная обработка",
			"Лица, осуществляющие обработку по поручению оператора", "Лица, привлекаемые оператором по договорам для рассылки сообщений",
			"Срок действия согласия", "до его отзыва", "Способ отзыва согласия", op.Contacts.Email,
			"Субъект персональных данных: ____", "Подпись", "отметка в поле согласия на портале",
			r.ISO.Notice.Hash, "ч. 4 ст. 9", "действует", "согласие дано")
		for _, c := range []string{"contact.phone", "contact.email", "identity.name"} {
			wantText(t, text, s.cfg.Register.Category(c).Title["ru"])
		}
		if strings.Contains(text, evidenceIP) {
			t.Error("the PDF shows the evidence (IP address)")
		}

		// In English on request, and after withdrawal it says so.
		s.withdraw(t, subj, "informing")
		in = s.input(t, subj, "informing")
		in.Lang = "en"
		r, _ = receipts.Build(in)
		jws, _ = s.signer.Sign(r)
		pdf, err = receipts.PDF(r, jws, in)
		if err != nil {
			t.Fatal(err)
		}
		text, _ = pdfText(t, pdf)
		wantText(t, text, op.Name["en"], p.Title["en"], "Receipt for consent to the processing of personal data",
			"Data subject: ____", "withdrawn on", "consent withdrawn", r.ConsentReceiptID)
	})
}

// TestPDFKazakhstan: a Kazakh operator's receipt has the fields of Law
// 94-V art. 8 — BIN, third parties, cross-border transfer (its replicas
// abroad), publication.
func TestPDFKazakhstan(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := newStack(t, db, kzLegalOperator)
		subj := s.subject(t, "user")
		s.give(t, subj, "advertising", "checkbox")
		in, r, jws := s.issue(t, subj, "advertising")
		if r.Jurisdiction != "KZ" || !strings.HasPrefix(r.ISO.Controllers[0].ID, "KZ-BIN:") || len(r.ISO.StorageLocations) != 2 {
			t.Errorf("jurisdiction %s, controller %s, storage %v", r.Jurisdiction, r.ISO.Controllers[0].ID, r.ISO.StorageLocations)
		}
		pdf, err := receipts.PDF(r, jws, in)
		if err != nil {
			t.Fatal(err)
		}
		text, ok := pdfText(t, pdf)
		if !ok {
			t.Skip("pdftotext (Debian poppler-utils) is not installed: the PDF's text is not checked")
		}
		p := s.cfg.Register.Purpose("advertising")
		wantText(t, text, s.cfg.Operator.Name["ru"], "БИН "+s.cfg.Operator.Registration.BIN, p.Title["ru"],
			"Передача третьим лицам", "Трансграничная передача", "Федеративная Республика Германия",
			"Распространение в общедоступных источниках", "не предусматривается", "ст. 8 Закона Республики Казахстан",
			"Срок действия согласия", r.ConsentReceiptID, receipts.Fingerprint(jws))
		for _, c := range p.Categories {
			for i := range s.cfg.Register.Categories {
				if cat := s.cfg.Register.Categories[i]; cat.ID == c || strings.HasPrefix(cat.ID, c+".") {
					wantText(t, text, cat.Title["ru"])
				}
			}
		}
	})
}

// TestPDFOtherConsents: a Kyrgyz operator; a representative's consent
// with a term; a written consent to health data.
func TestPDFOtherConsents(t *testing.T) {
	for _, c := range []struct {
		operator, kind, purpose, method string
		want                            []string
	}{
		{kgOperator, "user", "identification", "checkbox", []string{"ст. 9 Закона Кыргызской Республики", "ИНН"}},
		{schoolOperator, "user", "registration", "representative", []string{"Представитель субъекта", representativeID,
			"Согласие действует до", "3 года"}},
		{edtechOperator, "visitor", "competence_profile", "signature", []string{"специальная категория персональных данных",
			"подписанного электронной подписью"}},
	} {
		t.Run(c.purpose, func(t *testing.T) {
			s := newStack(t, sqldbtest.SQLite(t), c.operator)
			subj := s.subject(t, c.kind)
			s.give(t, subj, c.purpose, c.method)
			in, r, jws := s.issue(t, subj, c.purpose)
			pdf, err := receipts.PDF(r, jws, in)
			if err != nil {
				t.Fatal(err)
			}
			text, ok := pdfText(t, pdf)
			if !ok {
				t.Skip("pdftotext (Debian poppler-utils) is not installed: the PDF's text is not checked")
			}
			wantText(t, text, append(c.want, s.cfg.Register.Purpose(c.purpose).Title["ru"], r.ConsentReceiptID)...)
			if c.method == "signature" && strings.Contains(text, "собственноручная подпись на квитанции") {
				t.Error("a consent signed elsewhere is told it needs no signature")
			}
		})
	}
}

// Benchmarks of the steps of one download (go test -bench . -benchtime 200x).
func BenchmarkReceipt(b *testing.B) {
	in, r := sampleInput(b)
	s, _, err := receipts.LoadOrCreateKeyFile(filepath.Join(b.TempDir(), receipts.KeyFileName))
	if err != nil {
		b.Fatal(err)
	}
	jws, _ := s.Sign(r)
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := receipts.Build(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			s.Sign(r)
		}
	})
	b.Run("verify", func(b *testing.B) {
		keys := s.JWKS()
		for b.Loop() {
			if _, err := receipts.Verify(jws, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pdf", func(b *testing.B) {
		for b.Loop() {
			if _, err := receipts.PDF(r, jws, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
