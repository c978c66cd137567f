package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kabinet/internal/browsertest"
)

// page wraps the browser for the account tests.
type page struct {
	t    *testing.T
	b    *browsertest.Browser
	base string
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.b.Ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.b.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (p *page) body() string { return p.text("main") }

func (p *page) open(path string) {
	p.do(chromedp.Navigate(p.base + path))
}

// submit clicks the main form's submit button and waits for the next page.
func (p *page) submit(waitFor string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(`main form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

func (p *page) fill(sel, value string) {
	p.do(chromedp.SetValue(chromedp.CSS(sel), value))
}

var (
	digits      = regexp.MustCompile(`\d{5,6}`)
	consoleCode = regexp.MustCompile(`\[demo: not sent\] sms to [^:]+: \D*(\d{6})`)
)

// demoCode reads the newest code from the demo's message page: the one a
// newcomer would read there instead of on their phone. It waits for the
// message (delivery runs as a background job) and then returns to back.
func (p *page) demoCode(before int, back string) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.open("/demo/messages")
		rows, _ := chromedp.Run(p.b.Ctx, chromedp.Evaluate[int]("document.querySelectorAll('main tbody tr').length"))
		if rows > before {
			cell := p.text("main tbody tr:first-child td:last-child")
			code := digits.FindString(cell)
			if code == "" {
				p.t.Fatalf("no code in the message %q", cell)
			}
			p.open(back)
			return code
		}
		time.Sleep(150 * time.Millisecond)
	}
	p.t.Fatal("no message arrived on the demo page")
	return ""
}

func (p *page) messages() int {
	p.open("/demo/messages")
	n, _ := chromedp.Run(p.b.Ctx, chromedp.Evaluate[int]("document.querySelectorAll('main tbody tr').length"))
	return n
}

// apiSignIn signs in through the JSON API and returns the bearer token.
func apiSignIn(t *testing.T, base, identifier, password string) (string, int) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"identifier": identifier, "password": password})
	resp, err := http.Post(base+"/api/v1/signin", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&out)
	return out.Token, resp.StatusCode
}

func apiGet(t *testing.T, base, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signUp registers phone by the channel (sms or call) in the browser and
// lands in the cabinet, reading the code on the demo's message page.
func (p *page) signUp(phone, channel, password string) {
	p.t.Helper()
	before := p.messages()
	p.signUpWith(phone, channel, password, func() string { return p.demoCode(before, "/signup/code?channel="+channel) })
}

// signUpReadingLog is signUp for a real operator whose messages go to the
// console sender (the process log) rather than a demo page.
func (p *page) signUpReadingLog(s *started, phone, password string) {
	p.t.Helper()
	offset := s.stderr.Len()
	p.signUpWith(phone, "sms", password, func() string {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if m := consoleCode.FindStringSubmatch(s.stderr.String()[offset:]); m != nil {
				return m[1]
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.t.Fatal("no code in the log")
		return ""
	})
}

func (p *page) signUpWith(phone, channel, password string, code func() string) {
	p.t.Helper()
	p.open("/signup")
	p.fill("#f-identifier", phone)
	if channel == "call" {
		p.do(chromedp.Click(chromedp.CSS(`input[name=channel][value=call]`)))
	}
	p.submit("#f-code")
	c := code()
	if channel == "call" && len(c) != 5 {
		p.t.Fatalf("a flash-call code has 5 digits, got %q", c)
	}
	p.fill("#f-code", c)
	p.submit("#f-password")
	p.fill("#f-password", password)
	p.do(chromedp.Click(chromedp.CSS(`input[name=accept_agreement]`)), chromedp.Click(chromedp.CSS(`input[name=accept_policy]`)),
		chromedp.Click(chromedp.CSS(`input[name=consent][value=informing]`)))
	p.submit(".sessions")
}

// TestAccountLifeInChromium signs up by phone with an SMS code, signs out,
// signs in with the national form of the number, sees and revokes another
// session, and deletes the account with a flash-call code.
func TestAccountLifeInChromium(t *testing.T) {
	b := browsertest.New(t)
	s := startServe(t)
	p := &page{t: t, b: b, base: s.url}
	const phone, password = "+7 916 555-01-23", "Kabinet-Test-2026!"

	p.signUp(phone, "sms", password)
	if body := p.body(); !strings.Contains(body, "Регистрация завершена") || !strings.Contains(body, "стандартная") {
		t.Fatalf("cabinet after sign-up:\n%s", body)
	}
	// Functions that need a verified identity say what is needed.
	if body := p.body(); !strings.Contains(body, "Нужна учётная запись уровня подтверждённая") || !strings.Contains(body, "ЕСИА") {
		t.Errorf("the cabinet does not say what a verified-only function needs:\n%s", body)
	}
	p.submitForm(`form[action="/signout"]`, ".panel--confirmation")
	if h := p.text("main h1"); h != "Вы вышли" {
		t.Errorf("after sign-out: %q", h)
	}
	p.open("/cabinet")
	p.do(chromedp.WaitVisible(chromedp.CSS("#f-password")))

	// Sign in with the national form of the number.
	p.fill("#f-identifier", "8 (916) 555-01-23")
	p.fill("#f-password", password)
	p.submit(".sessions")

	// A second session (a phone app) appears in the list and is revoked.
	token, code := apiSignIn(t, s.url, "+79165550123", password)
	if code != 200 || token == "" {
		t.Fatalf("API sign-in: %d", code)
	}
	p.open("/cabinet")
	if n, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int]("document.querySelectorAll('.sessions tbody tr').length")); n != 2 {
		t.Fatalf("sessions listed: %d, want 2", n)
	}
	if got := apiGet(t, s.url, "/api/v1/account", token); got != 200 {
		t.Fatalf("API session before revocation: %d", got)
	}
	p.submitForm(`.sessions form`, ".notice")
	if n, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int]("document.querySelectorAll('.sessions tbody tr').length")); n != 1 {
		t.Errorf("sessions after revoking: %d, want 1", n)
	}
	if got := apiGet(t, s.url, "/api/v1/account", token); got != http.StatusUnauthorized {
		t.Errorf("revoked API session still works: %d", got)
	}

	// Personal data: an invalid INN is refused with the other fields kept;
	// then valid data are saved.
	p.open("/cabinet/data")
	p.fill(`[name="v.identity.name"]`, "Петров Иван Сергеевич")
	p.fill(`[name="v.tax.inn"]`, "500100732250")
	p.fill(`[name="v.identity.birth_date"]`, "29.02.1980")
	p.submit(".error-summary")
	if body := p.body(); !strings.Contains(body, "В ИНН физического лица есть ошибка") {
		t.Errorf("no INN error:\n%s", body)
	}
	if v, _ := chromedp.Run(b.Ctx, chromedp.Value(chromedp.CSS(`[name="v.identity.name"]`))); v != "Петров Иван Сергеевич" {
		t.Errorf("the name typed was lost: %q", v)
	}
	p.fill(`[name="v.tax.inn"]`, "500100732259")
	p.submit(".notice")
	if v, _ := chromedp.Run(b.Ctx, chromedp.Value(chromedp.CSS(`[name="v.identity.birth_date"]`))); v != "29.02.1980" {
		t.Errorf("stored birth date shows as %q", v)
	}

	// Change the sign-in phone: the code goes to the new number.
	before := p.messages()
	p.open("/cabinet/contact/phone")
	p.fill("#f-value", "+7 916 555-09-99")
	p.submit("#f-code")
	p.fill("#f-code", p.demoCode(before, "/cabinet/contact/confirm?channel=sms"))
	p.submit(".notice")
	if body := p.body(); !strings.Contains(body, "+79165550999") {
		t.Errorf("the new phone is not shown:\n%s", body)
	}

	// Consents: withdraw the one given at sign-up, then give it again.
	p.open("/cabinet/consents")
	p.submitForm(`form[action="/cabinet/consents/informing/withdraw"]`, `form[action="/cabinet/consents/informing/give"]`)
	if body := p.body(); !strings.Contains(body, "Согласие отозвано") || !strings.Contains(body, "отозвано") {
		t.Errorf("after withdrawal:\n%s", body)
	}
	p.do(chromedp.Click(chromedp.CSS(`form[action="/cabinet/consents/informing/give"] input[name=agree]`)))
	p.submitForm(`form[action="/cabinet/consents/informing/give"]`, `form[action="/cabinet/consents/informing/withdraw"]`)
	if body := p.body(); !strings.Contains(body, "Согласие дано.") || !strings.Contains(body, "Отозвать согласие") {
		t.Errorf("after giving again:\n%s", body)
	}

	// The history shows sign-ins with device and address, the data
	// written (by category) and the consents — never the values.
	p.open("/cabinet/history")
	history := p.body()
	for _, want := range []string{"Вход на портал", "127.0.0.1", "Согласие отозвано", "Согласие дано", "Номер телефона", "Регистрация", "Изменение персональных данных", "ИНН"} {
		if !strings.Contains(history, want) {
			t.Errorf("history lacks %q:\n%s", want, history)
		}
	}
	for _, value := range []string{"555-01-23", "5550123", "5550999", password, "500100732259", "Петров", "1980"} {
		if strings.Contains(history, value) {
			t.Errorf("history shows a value %q", value)
		}
	}
	p.open("/cabinet/history?kind=consents")
	if body := p.body(); strings.Contains(body, "Вход на портал") || !strings.Contains(body, "Согласие дано") {
		t.Errorf("the consents filter shows:\n%s", body)
	}

	// Delete the account with the last 5 digits of an incoming call.
	before = p.messages()
	p.open("/cabinet/delete")
	p.submit("#f-code")
	delCode := p.demoCode(before, "/cabinet/delete/confirm?channel=call")
	if len(delCode) != 5 {
		t.Fatalf("deletion code %q, want the 5 digits of a flash call", delCode)
	}
	p.fill("#f-code", delCode)
	p.submit(".panel--confirmation")
	if h := p.text("main h1"); h != "Учётная запись удалена" {
		t.Errorf("after deletion: %q", h)
	}
	if _, code := apiSignIn(t, s.url, "+79165550999", password); code != http.StatusUnauthorized {
		t.Errorf("sign-in after deletion: %d, want 401", code)
	}
	p.b.Screenshot(t, t.TempDir(), "deleted")
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestFlashCallSignUpInChromium registers with a flash-call code.
func TestFlashCallSignUpInChromium(t *testing.T) {
	b := browsertest.New(t)
	s := startServe(t)
	p := &page{t: t, b: b, base: s.url}
	p.signUp("+7 (903) 777-00-11", "call", "Another-Strong-Pass-9")
	if body := p.body(); !strings.Contains(body, "Регистрация завершена") {
		t.Fatalf("cabinet after flash-call sign-up:\n%s", body)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// submitForm clicks the submit button of the form matched by sel.
func (p *page) submitForm(sel, waitFor string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel+` button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}
