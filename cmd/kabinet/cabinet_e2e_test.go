package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"kabinet/internal/browsertest"
	"kabinet/internal/files/filestest"
)

// TestCabinetInChromium walks the rest of the cabinet with a real clamd:
// opts in to SMS, downloads a consent receipt that `kabinet receipt
// verify` accepts (and a tampered copy it rejects), uploads a clean file
// and is refused the EICAR test file.
func TestCabinetInChromium(t *testing.T) {
	b := browsertest.New(t)
	scanner := filestest.StartClamd(t, "20M")
	demo, err := os.ReadFile("../../examples/000_regional_services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "operator.yaml")
	body := strings.Replace(string(demo), "  category: documents.files\n", "  category: documents.files\n  clamd: "+scanner.TCP+"\n", 1)
	body = strings.Replace(body, "  informing_purpose: informing\n", "  informing_purpose: informing\n  allow_console: true\n  sms: {sender: console}\n", 1)
	if body == string(demo) {
		t.Fatal("the demo operator has no uploads section to add clamd to")
	}
	os.WriteFile(file, []byte(body), 0o600)
	dir := filepath.Join(tmp, "data")
	if _, errOut, err := runCmd(t, dir, "keys", "init", "--config", file); err != nil {
		t.Fatalf("keys init: %v %s", err, errOut)
	}
	s := startServe(t, "--config", file, "--data-dir", dir)
	p := &page{t: t, b: b, base: s.url}
	// A real operator has no demo message page: read codes from the log.
	p.signUpReadingLog(s, "+7 916 444-33-22", "Cabinet-Walk-Pass-5")

	// Notifications: SMS is off until the person opts in.
	p.open("/cabinet/notifications")
	if on, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.querySelector('input[name="sms.service"]').checked`)); on {
		t.Error("SMS is on before the person opted in")
	}
	p.do(chromedp.Click(chromedp.CSS(`input[name="sms.service"]`)))
	p.submit(".notice")
	if on, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.querySelector('input[name="sms.service"]').checked`)); !on {
		t.Error("SMS opt-in was not saved")
	}

	// The consent receipt, downloaded with the person's session.
	p.open("/cabinet/consents")
	jws, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`fetch('/cabinet/consents/informing/receipt.json').then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil || strings.Count(jws, ".") != 2 {
		t.Fatalf("receipt download: %v %.80q", err, jws)
	}
	receipt := filepath.Join(tmp, "receipt.jws")
	os.WriteFile(receipt, []byte(jws), 0o600)
	out, errOut, err := runCmd(t, dir, "receipt", "verify", "--config", file, receipt)
	if err != nil || !strings.Contains(out, "valid: consent receipt") {
		t.Errorf("receipt verify: %v\n%s%s", err, out, errOut)
	}
	parts := strings.Split(jws, ".")
	tampered := parts[0] + "." + strings.Replace(parts[1], parts[1][10:14], "AAAA", 1) + "." + parts[2]
	os.WriteFile(receipt, []byte(tampered), 0o600)
	if _, _, err := runCmd(t, dir, "receipt", "verify", "--config", file, receipt); !errors.Is(err, errInvalid) {
		t.Errorf("a tampered receipt: %v, want invalid", err)
	}
	pdf, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`fetch('/cabinet/consents/informing/receipt.pdf').then(r => r.text()).then(t => t.slice(0, 5))`, chromedp.EvalAwaitPromise))
	if pdf != "%PDF-" {
		t.Errorf("receipt PDF starts %q", pdf)
	}

	// Documents: a clean PDF is accepted; the EICAR file is refused.
	clean := filepath.Join(tmp, "заявление.pdf")
	os.WriteFile(clean, filestest.TinyPDF("hello", nil, 0), 0o600)
	p.open("/cabinet/documents")
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{clean}))
	p.submit(".notice")
	if body := p.body(); !strings.Contains(body, "заявление.pdf") {
		t.Errorf("the clean file is not listed:\n%s", body)
	}
	virus := filepath.Join(tmp, "eicar.pdf")
	os.WriteFile(virus, filestest.EICAR(t), 0o600)
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{virus}))
	p.submit(".error-summary")
	if body := p.body(); !strings.Contains(body, "обнаружен вирус") || strings.Contains(body, "eicar.pdf") {
		t.Errorf("the EICAR file was not refused, or is listed:\n%s", body)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
