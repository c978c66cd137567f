package preferences_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"kabinet/internal/clocktest"
	"kabinet/internal/gate/gatetest"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/jobs"
	"kabinet/internal/notify"
	"kabinet/internal/preferences"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

const (
	phone   = "+79161234567"
	email   = "ivan.petrov@example.ru"
	baseURL = "https://portal.example.ru"
)

var (
	ctx    = context.Background()
	system = audit.Actor{Kind: audit.ActorSystem, ID: "test"}
)

// clock is the settable test clock.
type clock = clocktest.Clock

// testRegister declares what the fixture processes: contacts for the
// portal (contract) and for marketing (consent until withdrawn).
func testRegister() *register.Register {
	text := func(s string) i18n.Text { return i18n.Text{"": s} }
	return &register.Register{
		Categories: []register.Category{
			{ID: "contact.phone", Kind: register.KindOrdinary, Title: text("phone"), Lookup: true},
			{ID: "contact.email", Kind: register.KindOrdinary, Title: text("email"), Lookup: true},
		},
		Subjects: []register.SubjectCategory{{ID: "user", Title: text("user")}},
		Purposes: []register.Purpose{
			{ID: "portal", Title: text("portal"), Basis: register.BasisContract,
				Categories: []string{"contact.phone", "contact.email"}, Subjects: []string{"user"},
				Operations: []string{"collection", "storage", "use"}, Processing: "automated",
				Retention: register.Retention{Rule: "contract", After: "destroy"}},
			{ID: "marketing", Title: text("marketing"), Basis: register.BasisConsent,
				Categories: []string{"contact.phone", "contact.email"}, Subjects: []string{"user"},
				Operations: []string{"use"}, Processing: "automated",
				Retention: register.Retention{Rule: "until_withdrawn", After: "destroy"},
				Consent:   &register.Consent{Document: "consent-marketing", Methods: []string{"checkbox"}}},
		},
		Documents: []register.Document{{ID: "consent-marketing", Kind: register.DocConsent, Version: "1"}},
	}
}

// vaultSealer seals consent evidence in the vault, as the gate does for
// the ledger in serve.
type vaultSealer struct{ v *vault.Vault }

func (s vaultSealer) SealEvidence(ctx context.Context, subject string, plaintext []byte) ([]byte, error) {
	return s.v.Seal(ctx, subject, register.CategoryConsentEvidence, plaintext)
}

func (s vaultSealer) OpenEvidence(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	return s.v.Open(ctx, subject, register.CategoryConsentEvidence, sealed)
}

// fixture is the real stack: vault with a key store, audit log, consent
// ledger, gate, jobs, a notify outbox whose e-mail goes through a real
// SMTP server on 127.0.0.1 and whose SMS a recorder captures, and
// Notifications on top.
type fixture struct {
	db     *sqldb.DB
	clock  *clock
	vault  *vault.Vault
	audit  *audit.Log
	ledger *consent.Ledger
	gate   *gate.Gate
	bundle *i18n.Bundle
	mail   *mailServer
	sms    *recorder
	outbox *notify.Outbox
	n      *preferences.Notifications
}

// newFixture builds the stack on db; cfg's BaseURL, UnsubscribeKey and
// Clock are filled in when empty.
func newFixture(t testing.TB, db *sqldb.DB, cfg preferences.Config) *fixture {
	t.Helper()
	f := &fixture{db: db, clock: clocktest.New(time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)), sms: &recorder{}}
	st := gatetest.New(t, db)
	f.vault, f.audit = st.Vault, st.Audit
	var err error
	reg := testRegister()
	if f.ledger, err = consent.New(ctx, db, reg, f.audit, vaultSealer{f.vault},
		consent.Options{Clock: f.clock.Now, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ledger.Close() })
	if f.gate, err = gate.New(db, reg, f.vault, f.audit, gate.Options{Clock: f.clock.Now,
		Consent: func(s, p string, at time.Time) (bool, string) {
			d := f.ledger.Allowed(s, p, at)
			return d.Allowed, d.Reason
		}}); err != nil {
		t.Fatal(err)
	}
	if f.bundle, err = i18n.Load(); err != nil {
		t.Fatal(err)
	}

	f.mail = startMailServer(t)
	queue := jobs.NewQueue(db, nil)
	if f.outbox, err = notify.New(db, queue, f.gate, f.bundle, mailConfig(t, f.mail),
		notify.Options{Clock: f.clock.Now, Senders: map[notify.Channel]notify.Sender{notify.SMS: f.sms}}); err != nil {
		t.Fatal(err)
	}
	runJobs(t, queue, f.outbox)

	if cfg.BaseURL == "" {
		cfg.BaseURL = baseURL + "/"
	}
	if cfg.UnsubscribeKey == nil {
		cfg.UnsubscribeKey = f.vault.Index("unsubscribe", "token-key") // what serve derives
	}
	if cfg.Clock == nil {
		cfg.Clock = f.clock.Now
	}
	f.n, err = preferences.New(db, f.outbox, f.audit, f.bundle,
		func(s, p string, at time.Time) bool { return f.ledger.Allowed(s, p, at).Allowed }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// each runs fn on both engines with a fresh database and the marketing
// purpose configured.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, newFixture(t, db, preferences.Config{MarketingPurpose: "marketing"}))
	})
}

// mailConfig is the demo's messages section with e-mail through srv.
func mailConfig(t testing.TB, srv *mailServer) config.Messages {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Messages
	host, port, _ := net.SplitHostPort(srv.addr)
	m.Email.Sender = config.SenderSMTP
	m.Email.SMTP = config.SMTP{Host: host, TLS: "opportunistic", From: "Портал <noreply@portal.example.ru>", Timeout: 10 * time.Second}
	m.Email.SMTP.Port, _ = strconv.Atoi(port)
	return m
}

// runJobs runs the outbox's deliveries until the test ends.
func runJobs(t testing.TB, q *jobs.Queue, o *notify.Outbox) {
	r := jobs.NewRunner(q, jobs.Config{Concurrency: 2, PollInterval: 10 * time.Millisecond, Lease: 5 * time.Second,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }, Logger: slog.New(slog.DiscardHandler)})
	o.Register(r)
	c, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// subject creates a user with a phone number and an e-mail address.
func (f *fixture) subject(t testing.TB) string {
	t.Helper()
	s, err := f.gate.NewSubject(ctx, system, "user", "req-new")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gate.Write(ctx, gate.Request{Actor: system, Subject: s, Purpose: "portal", RequestID: "req-new"},
		gate.Values{"contact.phone": []byte(phone), "contact.email": []byte(email)}); err != nil {
		t.Fatal(err)
	}
	return s
}

// consent records subject's consent to marketing, by checkbox.
func (f *fixture) consent(t *testing.T, subject string) {
	t.Helper()
	_, err := f.ledger.Give(ctx, consent.Event{Subject: subject, Purpose: "marketing",
		Doc:    consent.Doc{ID: "consent-marketing", Version: "1", Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		Method: "checkbox", Evidence: consent.Evidence{IP: "203.0.113.7", UserAgent: "test"},
		Actor: audit.Actor{Kind: audit.ActorAccount, ID: "acc-1"}, RequestID: "req-consent"})
	if err != nil {
		t.Fatal(err)
	}
}

// set records a choice by the subject's account, failing the test on error.
func (f *fixture) set(t testing.TB, subject string, ch preferences.Channel, topic preferences.Topic, on bool) {
	t.Helper()
	if err := f.n.Set(ctx, audit.Actor{Kind: audit.ActorAccount, ID: "acc-1"}, subject, ch, topic, on, "req-set"); err != nil {
		t.Fatalf("Set(%s, %s, %v): %v", ch, topic, on, err)
	}
}

// notice is a notice of topic with the template made for it.
func notice(subject string, topic preferences.Topic) preferences.Notice {
	tmpl := map[preferences.Topic]string{preferences.Service: preferences.TemplateNotice,
		preferences.Informational: preferences.TemplateInformation, preferences.Marketing: preferences.TemplateMarketing}[topic]
	return preferences.Notice{Subject: subject, Topic: topic, Template: tmpl, Lang: "ru", RequestID: "req-n",
		Params: map[string]string{"title": "Весенняя распродажа", "text": "Скидки на курсы до 31 марта."}}
}

// notify sends nt and fails the test on error.
func (f *fixture) notify(t testing.TB, nt preferences.Notice) []preferences.Channel {
	t.Helper()
	sent, err := f.n.Notify(ctx, nt)
	if err != nil {
		t.Fatalf("Notify(%s): %v", nt.Topic, err)
	}
	return sent
}

// queued counts the outbox messages of subject on channel.
func (f *fixture) queued(t *testing.T, subject string, ch notify.Channel) int {
	t.Helper()
	var n int
	if err := f.db.Reader().QueryRow("SELECT COUNT(*) FROM outbox WHERE subject_id = $1 AND channel = $2", subject, string(ch)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// settingsEntries returns the attrs of subject's "notify.settings" audit
// entries with their actor kinds, oldest first.
func (f *fixture) settingsEntries(t *testing.T, subject string) []string {
	t.Helper()
	rows, err := f.db.Reader().Query("SELECT actor_kind, attrs FROM audit_log WHERE subject = $1 AND action = 'notify.settings' ORDER BY seq", subject)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, attrs string
		if err := rows.Scan(&kind, &attrs); err != nil {
			t.Fatal(err)
		}
		out = append(out, kind+" "+attrs)
	}
	return out
}

// wantFault fails unless err is a fault of kind with key.
func wantFault(t *testing.T, err error, kind fault.Kind, key string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %s", kind, key)
	}
	if got, _ := fault.Message(err); fault.KindOf(err) != kind || got != key {
		t.Fatalf("got %s %q (%v), want %s %q", fault.KindOf(err), got, err, kind, key)
	}
}

// recorder is an SMS Sender that records what it is given.
type recorder struct {
	mu  sync.Mutex
	got []notify.Outgoing
}

func (r *recorder) Deliver(_ context.Context, m notify.Outgoing) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	return "sms-" + strconv.Itoa(len(r.got)), nil
}

func (r *recorder) messages() []notify.Outgoing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Outgoing(nil), r.got...)
}

// mailServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// records what it accepts.
type mailServer struct {
	addr string
	mu   sync.Mutex
	msgs [][]byte
}

func (m *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{srv: m}, nil }

func (m *mailServer) received() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.msgs...)
}

type mailSession struct{ srv *mailServer }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, b)
	s.srv.mu.Unlock()
	return nil
}

func startMailServer(t testing.TB) *mailServer {
	t.Helper()
	m := &mailServer{}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

// waitMail waits until the server has received n messages and returns the
// nth, parsed.
func (f *fixture) waitMail(t *testing.T, n int) received {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := f.mail.received(); len(got) >= n {
			return parseMail(t, got[n-1])
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SMTP server received %d messages, want %d", len(f.mail.received()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSMS waits until the recorder has n messages and returns the nth.
func (f *fixture) waitSMS(t *testing.T, n int) notify.Outgoing {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := f.sms.messages(); len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d SMS sent, want %d", len(f.sms.messages()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// received is a message as a mail client reads it.
type received struct {
	header  mail.Header
	subject string
	text    string // the text/plain part
	html    string
}

func parseMail(t *testing.T, data []byte) received {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r := received{header: msg.Header}
	if r.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
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
		if body, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(body))); err != nil {
			t.Fatal(err)
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			r.text = string(body)
		case "text/html":
			r.html = string(body)
		}
	}
	return r
}
