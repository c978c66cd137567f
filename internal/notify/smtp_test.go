package notify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"kabinet/internal/config"
	"kabinet/internal/notify"
)

// mailServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// requires AUTH PLAIN and records what it accepts.
type mailServer struct {
	addr   string
	caFile string // the PEM of its self-signed certificate, when it offers STARTTLS

	mu   sync.Mutex
	msgs []received
}

type received struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

func (m *mailServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &mailSession{srv: m, conn: c}, nil
}

func (m *mailServer) received() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.msgs...)
}

type mailSession struct {
	srv  *mailServer
	conn *smtp.Conn
	cur  received
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "portal" || pass != "s3cret" {
			return errors.New("invalid credentials")
		}
		s.cur.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.cur.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	_, s.cur.tls = s.conn.TLSConnectionState()
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.cur = received{user: s.cur.user} }
func (s *mailSession) Logout() error { return nil }

// startMailServer starts the server; withTLS makes it offer STARTTLS with
// a certificate for 127.0.0.1 signed by itself.
func startMailServer(t *testing.T, withTLS bool) *mailServer {
	t.Helper()
	m := &mailServer{}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = !withTLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if withTLS {
		cert, caFile := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		m.caFile = caFile
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

func smtpConfig(t *testing.T, m *mailServer, mode string) config.Messages {
	cfg := messages(t)
	host, port, _ := net.SplitHostPort(m.addr)
	cfg.Email.Sender = config.SenderSMTP
	cfg.Email.SMTP = config.SMTP{Host: host, TLS: mode, CAFile: m.caFile, Username: "portal", PasswordEnv: "KABINET_SMTP_PASSWORD",
		From: "Портал госуслуг <noreply@portal.example.ru>", Timeout: 10 * time.Second, Headers: map[string]string{"X-Mailer": "kabinet"}}
	cfg.Email.SMTP.Port, _ = strconv.Atoi(port)
	return cfg
}

func smtpEnv(name string) string {
	if name == "KABINET_SMTP_PASSWORD" {
		return "s3cret"
	}
	return ""
}

func TestSMTPEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		withTLS    bool
	}{
		{"plain relay on localhost", "opportunistic", false},
		{"starttls required", "starttls", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				srv := startMailServer(t, tc.withTLS)
				o := f.outbox(t, smtpConfig(t, srv, tc.mode), notify.Options{Getenv: smtpEnv})
				s := f.subject(t)
				f.run(t, o)
				d := wait(t, o, send(t, o, f, s, notify.Email, code))
				if d.State != notify.Sent || d.Attempts != 1 {
					t.Fatalf("delivery = %+v", d)
				}
				got := srv.received()
				if len(got) != 1 {
					t.Fatalf("server received %d messages", len(got))
				}
				r := got[0]
				if r.from != "noreply@portal.example.ru" || len(r.to) != 1 || r.to[0] != email || r.user != "portal" || r.tls != tc.withTLS {
					t.Errorf("envelope from %q to %v, user %q, tls %v", r.from, r.to, r.user, r.tls)
				}
				checkMail(t, r.data, d.ProviderID)
			})
		})
	}
}

// checkMail parses a received message as a mail client would.
func checkMail(t *testing.T, data []byte, msgID string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Код подтверждения регистрации" {
		t.Errorf("subject %q (%v), raw %q", subject, err, h.Get("Subject"))
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Портал госуслуг" || from[0].Address != "noreply@portal.example.ru" {
		t.Errorf("from %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != email {
		t.Errorf("to %v (%v)", to, err)
	}
	if h.Get("Message-Id") == "" || h.Get("Message-Id") != msgID {
		t.Errorf("Message-ID %q, provider id %q", h.Get("Message-Id"), msgID)
	}
	if date, err := h.Date(); err != nil || time.Since(date) > time.Minute {
		t.Errorf("Date %q (%v)", h.Get("Date"), err)
	}
	if h.Get("X-Mailer") != "kabinet" || h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("custom headers: X-Mailer %q, Auto-Submitted %q", h.Get("X-Mailer"), h.Get("Auto-Submitted"))
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v)", h.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			if body, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(body))); err != nil {
				t.Fatal(err)
			}
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(body)
	}
	if txt := parts["text/plain"]; !strings.Contains(txt, "Код подтверждения: "+code) || !strings.Contains(txt, "действует 5 минут") {
		t.Errorf("plain part %q", txt)
	}
	if html := parts["text/html"]; !strings.Contains(html, "Код подтверждения: "+code) || !strings.Contains(html, `<html lang="ru">`) {
		t.Errorf("html part %q", html)
	}
}

// A relay that does not offer STARTTLS fails a configuration requiring it,
// permanently: the codes must not cross the network in the clear.
func TestSMTPRequiredStartTLSMissing(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		srv := startMailServer(t, false)
		o := f.outbox(t, smtpConfig(t, srv, "starttls"), notify.Options{Getenv: smtpEnv})
		id := send(t, o, f, f.subject(t), notify.Email, code)
		f.run(t, o)
		d := wait(t, o, id)
		if d.State != notify.Failed || d.Attempts != 1 || !strings.Contains(d.LastError, "STARTTLS") {
			t.Errorf("delivery = %+v, want failed at once for lack of STARTTLS", d)
		}
		if len(srv.received()) != 0 {
			t.Error("the message went out in the clear")
		}
	})
}

func TestSMTPPasswordMustBeSet(t *testing.T) {
	f := newFixture(t, "sqlite:"+t.TempDir()+"/k.db", "sqlite:"+t.TempDir()+"/keys.db")
	srv := &mailServer{addr: "127.0.0.1:25"}
	if _, err := notify.New(f.db, f.queue, f.gate, f.bundle, smtpConfig(t, srv, "starttls"), notify.Options{Getenv: func(string) string { return "" }}); err == nil {
		t.Error("New accepted an SMTP user without a password in the environment")
	}
}
