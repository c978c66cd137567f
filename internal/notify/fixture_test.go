package notify_test

import (
	"context"
	"errors"
	"kabinet/internal/clocktest"
	"kabinet/internal/gate/gatetest"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/jobs"
	"kabinet/internal/notify"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

const (
	phone = "+79161234567"
	email = "ivan.petrov@example.ru"
	code  = "739146"
)

var system = audit.Actor{Kind: audit.ActorSystem, ID: "test"}

// clock is the settable test clock.
type clock = clocktest.Clock

// fixture is a real gate (vault with a key store, audit log, register)
// over a fresh database, and a jobs queue on it.
type fixture struct {
	db     *sqldb.DB
	path   string // the SQLite file; "" on PostgreSQL
	gate   *gate.Gate
	queue  *jobs.Queue
	bundle *i18n.Bundle
	clock  *clock
}

func testRegister() *register.Register {
	text := func(s string) i18n.Text { return i18n.Text{"": s} }
	return &register.Register{
		Categories: []register.Category{
			{ID: "contact.phone", Kind: register.KindOrdinary, Title: text("phone"), Lookup: true},
			{ID: "contact.email", Kind: register.KindOrdinary, Title: text("email"), Lookup: true},
		},
		Subjects: []register.SubjectCategory{{ID: "user", Title: text("user")}},
		Purposes: []register.Purpose{{ID: "portal", Title: text("portal"), Basis: register.BasisContract,
			Categories: []string{"contact.phone", "contact.email"}, Subjects: []string{"user"},
			Operations: []string{"collection", "storage", "use"}, Processing: "automated",
			Retention: register.Retention{Rule: "contract", After: "destroy"}}},
	}
}

func newFixture(t testing.TB, dbURL, keysURL string) *fixture {
	t.Helper()
	db := sqldbtest.Open(t, dbURL)
	st := gatetest.NewWithKeys(t, db, keysURL)
	g, err := gate.New(db, testRegister(), st.Vault, st.Audit, gate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, gate: g, queue: jobs.NewQueue(db, nil), bundle: b, clock: clocktest.New(time.Now())}
	if strings.HasPrefix(dbURL, "sqlite:") {
		f.path = strings.TrimPrefix(dbURL, "sqlite:")
	}
	return f
}

// each runs fn on both engines with a fresh database and key store.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, newFixture(t, sqldbtest.SQLiteURL(t), sqldbtest.SQLiteURL(t)))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, newFixture(t, sqldbtest.PostgresURL(t), sqldbtest.PostgresURL(t)))
	})
}

// subject creates a user with a phone number and an e-mail address.
func (f *fixture) subject(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	s, err := f.gate.NewSubject(ctx, system, "user", "req-new")
	if err != nil {
		t.Fatal(err)
	}
	err = f.gate.Write(ctx, gate.Request{Actor: system, Subject: s, Purpose: "portal", RequestID: "req-new"},
		gate.Values{"contact.phone": []byte(phone), "contact.email": []byte(email)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// messages returns the demo's messages section: defaults applied, every
// channel on the console.
func messages(t testing.TB) config.Messages {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Messages
}

// outbox builds an Outbox on the fixture with its clock.
func (f *fixture) outbox(t testing.TB, cfg config.Messages, opts notify.Options) *notify.Outbox {
	t.Helper()
	opts.Clock = f.clock.Now
	if opts.ConsoleWriter == nil {
		opts.ConsoleWriter = &strings.Builder{}
	}
	o, err := notify.New(f.db, f.queue, f.gate, f.bundle, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// run starts a Runner with o's handlers and stops it when the test ends.
func (f *fixture) run(t *testing.T, o *notify.Outbox) {
	t.Helper()
	r := jobs.NewRunner(f.queue, jobs.Config{Concurrency: 2, PollInterval: 10 * time.Millisecond, Lease: 5 * time.Second,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }, Logger: slog.New(slog.DiscardHandler)})
	o.Register(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// send sends a code message expiring in five minutes.
func send(t *testing.T, o *notify.Outbox, f *fixture, subject string, ch notify.Channel, code string) int64 {
	t.Helper()
	id, err := o.Send(context.Background(), notify.Message{Subject: subject, Channel: ch, Template: notify.TemplateSignupCode,
		Params: map[string]string{"code": code}, Lang: "ru", ExpiresAt: f.clock.Now().Add(5 * time.Minute), RequestID: "req-1"})
	if err != nil {
		t.Fatalf("Send %s: %v", ch, err)
	}
	return id
}

// wait polls message id until it is final, failing after 15s.
func wait(t *testing.T, o *notify.Outbox, id int64) notify.Delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, err := o.Status(context.Background(), id)
		if err != nil {
			t.Fatalf("Status(%d): %v", id, err)
		}
		if d.State == notify.Sent || d.State == notify.Failed || d.State == notify.Cancelled {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %d never became final; last seen %+v", id, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is a Sender that records what it is given and fails as told.
type recorder struct {
	mu   sync.Mutex
	got  []notify.Outgoing
	fail func(n int, m notify.Outgoing) error
}

func (r *recorder) Deliver(_ context.Context, m notify.Outgoing) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	if r.fail != nil {
		if err := r.fail(len(r.got), m); err != nil {
			return "", err
		}
	}
	return "rec-1", nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

var errBoom = errors.New("boom")
