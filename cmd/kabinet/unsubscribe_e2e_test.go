package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"kabinet/internal/config"
	"kabinet/internal/preferences"
)

// mailSink is a real SMTP server on 127.0.0.1 that keeps what it receives.
type mailSink struct {
	mu   sync.Mutex
	msgs [][]byte
	addr string
}

func (m *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{m}, nil }

type sinkSession struct{ m *mailSink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (s sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, b)
	s.m.mu.Unlock()
	return err
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	m := &mailSink{}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

// wait returns the nth message (1-based) once it has arrived.
func (m *mailSink) wait(t *testing.T, n int) *mail.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		if len(m.msgs) >= n {
			raw := m.msgs[n-1]
			m.mu.Unlock()
			msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			return msg
		}
		m.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %dth e-mail arrived", n)
	return nil
}

// textOf returns the text/plain part of a message, decoded.
func textOf(t *testing.T, msg *mail.Message) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal("no text/plain part")
		}
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
			b, _ := io.ReadAll(part) // multipart decodes quoted-printable; base64 below
			if part.Header.Get("Content-Transfer-Encoding") == "base64" {
				b, _ = io.ReadAll(base64Reader(b))
			}
			return string(b)
		}
	}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// TestUnsubscribeLinkFromCapturedEmail: kabinet sends a real e-mail over
// SMTP to a server on 127.0.0.1; the one-click POST to the link in its
// List-Unsubscribe header, made as a mail provider would (cross-site, no
// session), turns that mailing off.
func TestUnsubscribeLinkFromCapturedEmail(t *testing.T) {
	sink := startMailSink(t)
	host, port, _ := net.SplitHostPort(sink.addr)
	demo, err := os.ReadFile("../../examples/000_regional_services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "operator.yaml")
	body := strings.Replace(string(demo), "  informing_purpose: informing\n", fmt.Sprintf(
		"  informing_purpose: informing\n  email:\n    sender: smtp\n    smtp: {host: %s, port: %s, tls: none, from: portal@uslugi.example.ru}\n", host, port), 1)
	os.WriteFile(file, []byte(body), 0o600)
	dir := filepath.Join(tmp, "data")
	if _, errOut, err := runCmd(t, dir, "keys", "init", "--config", file); err != nil {
		t.Fatalf("keys init: %v %s", err, errOut)
	}
	s := startServe(t, "--config", file, "--data-dir", dir)
	api := s.url + "/api/v1"

	// Sign up by e-mail; the code arrives through SMTP.
	var flow struct {
		FlowID string `json:"flow_id"`
	}
	jsonCall(t, "POST", api+"/signup/start", "", map[string]string{"method": "email", "identifier": "reader@example.ru", "channel": "email"}, &flow)
	code := sixDigits.FindString(textOf(t, sink.wait(t, 1)))
	jsonCall(t, "POST", api+"/signup/confirm", "", map[string]string{"flow_id": flow.FlowID, "code": code}, nil)
	var signed struct{ Token string }
	if st := jsonCall(t, "POST", api+"/signup/finish", "", map[string]any{"flow_id": flow.FlowID, "password": "Reader-Pass-2026",
		"accept_agreement": true, "accept_policy": true, "consents": []string{"informing"}}, &signed); st != 200 {
		t.Fatalf("sign-up: %d", st)
	}

	// The operator sends an informational mailing (in another process on
	// the same database; the serving process delivers it).
	env := testEnv(map[string]string{"KABINET_DATA_DIR": dir, "KABINET_BASE_URL": s.url})
	cfg, err := config.Load(file, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, discardLogger(), env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	var subject string
	a.db.Reader().QueryRow("SELECT subject_id FROM accounts").Scan(&subject)
	notice := preferences.Notice{Subject: subject, Topic: preferences.Informational, Template: preferences.TemplateInformation,
		Params: map[string]string{"title": "Приём документов", "text": "Изменились часы работы"}, RequestID: "t"}
	if sent, err := a.prefs.Notify(context.Background(), notice); err != nil || len(sent) == 0 {
		t.Fatalf("notify: %v %v", sent, err)
	}
	msg := sink.wait(t, 2)
	link := strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>")
	if msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.HasPrefix(link, s.url+"/unsubscribe/") {
		t.Fatalf("headers: List-Unsubscribe %q, List-Unsubscribe-Post %q", link, msg.Header.Get("List-Unsubscribe-Post"))
	}

	// The mail provider's one-click POST: cross-site, no cookies.
	req, _ := http.NewRequest("POST", link, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://mail.example.net")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %d", resp.StatusCode)
	}
	m, err := a.prefs.Settings(context.Background(), subject)
	if err != nil || m.On(preferences.Email, preferences.Informational) {
		t.Errorf("informational e-mail still on after unsubscribing (%v)", err)
	}
	// A forged link is refused.
	bad, _ := http.Post(link[:len(link)-3]+"xyz", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("forged link: %d, want 400", bad.StatusCode)
	}
	bad.Body.Close()
}

func base64Reader(b []byte) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Join(bytes.Fields(b), nil)))
}
