package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"kabinet/internal/clocktest"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/documents"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/jobs"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

// clock is the settable test clock.
type clock = clocktest.Clock

// recorder is a Messenger that keeps what was sent, codes included. It
// stands in for the outbox (package notify), a separate component with
// its own tests; here only what identity hands over matters.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
	fail error
}

func (r *recorder) Send(_ context.Context, m Message) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.msgs = append(r.msgs, m)
	return int64(len(r.msgs)), nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) last(t testing.TB) Message {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) == 0 {
		t.Fatal("no message was sent")
	}
	return r.msgs[len(r.msgs)-1]
}

// evidenceSealer seals consent evidence through the gate, as serve does.
type evidenceSealer struct{ g *gate.Gate }

var ledgerActor = audit.Actor{Kind: audit.ActorSystem, ID: "consent-ledger"}

func (s evidenceSealer) SealEvidence(ctx context.Context, subject string, plaintext []byte) ([]byte, error) {
	return s.g.Seal(ctx, gate.Request{Actor: ledgerActor, Subject: subject, Purpose: register.PurposeConsentProof}, register.CategoryConsentEvidence, plaintext)
}

func (s evidenceSealer) OpenEvidence(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	return s.g.Open(ctx, gate.Request{Actor: ledgerActor, Subject: subject, Purpose: register.PurposeConsentProof}, register.CategoryConsentEvidence, sealed)
}

// fixture is the real stack identity runs on: the demo operator's
// register, a vault with its key store, the audit log, the gate, the
// consent ledger, the documents store and the jobs queue.
type fixture struct {
	db     *sqldb.DB
	dbURL  string
	cfg    *config.Config
	clock  *clock
	msgs   *recorder
	vault  *vault.Vault
	audit  *audit.Log
	gate   *gate.Gate
	ledger *consent.Ledger
	docs   *documents.Store
	queue  *jobs.Queue
	s      *Service
}

var (
	start   = time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	clientA = Client{IP: netip.MustParseAddr("203.0.113.7"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", Lang: "ru", RequestID: "req-a"}
	clientB = Client{IP: netip.MustParseAddr("198.51.100.20"), UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", Lang: "en", RequestID: "req-b"}
)

// demoConfig loads the built-in demo operator, with hashing made cheap
// (the rules under test do not depend on its cost) and no response floor.
func demoConfig(t testing.TB) *config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", func(k string) string {
		if k == "KABINET_DATA_DIR" {
			return dir
		}
		return ""
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity.Password.Argon2 = config.Argon2{MemoryKiB: 64, Time: 1, Threads: 1}
	cfg.Identity.Codes.MinResponse = time.Millisecond
	return cfg
}

func newFixture(t testing.TB, dbURL, keysURL string, mutate func(*config.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dbURL: dbURL, cfg: demoConfig(t), clock: clocktest.New(start), msgs: &recorder{}}
	if mutate != nil {
		mutate(f.cfg)
	}
	f.db = sqldbtest.Open(t, dbURL)
	keys, err := sqldb.Open(ctx, keysURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	kr, err := vault.CreateKeyringFile(filepath.Join(t.TempDir(), "master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	if f.vault, err = vault.Open(ctx, keys, kr, vault.Options{}); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if f.audit, err = audit.Open(ctx, f.db, audit.Options{Signer: priv, KeyID: "test", Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.audit.Close() })
	f.gate, err = gate.New(f.db, &f.cfg.Register, f.vault, f.audit, gate.Options{Clock: f.clock.Now,
		Consent: func(subject, purpose string, at time.Time) (bool, string) {
			d := f.ledger.Allowed(subject, purpose, at)
			return d.Allowed, d.Reason
		}})
	if err != nil {
		t.Fatal(err)
	}
	if f.ledger, err = consent.New(ctx, f.db, &f.cfg.Register, f.audit, evidenceSealer{f.gate},
		consent.Options{Clock: f.clock.Now, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ledger.Close() })
	bundle, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	f.docs = documents.NewStore(f.db, f.cfg, bundle, f.audit, f.clock.Now)
	if _, err := f.docs.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	f.queue = jobs.NewQueue(f.db, f.clock.Now)
	f.s, err = New(Deps{DB: f.db, Gate: f.gate, Register: &f.cfg.Register, Config: f.cfg.Identity, Jurisdiction: f.cfg.Operator.Jurisdiction,
		Messenger: f.msgs, Documents: f.docs, Consents: f.ledger, Audit: f.audit, Jobs: f.queue, Index: f.vault.Index,
		Clock: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// each runs fn on both engines, each with a fresh database and key store.
func each(t *testing.T, mutate func(*config.Config), fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, newFixture(t, sqldbtest.SQLiteURL(t), sqldbtest.SQLiteURL(t), mutate))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, newFixture(t, sqldbtest.PostgresURL(t), sqldbtest.PostgresURL(t), mutate))
	})
}

const (
	phone       = "+79161234567"
	phoneTyped  = "8 (916) 123-45-67"
	email       = "ivan.petrov@example.ru"
	goodPass    = "correct horse battery staple"
	anotherPass = "Tr0ub4dor&3 but longer"
)

var ctx = context.Background()

// code returns the code of the last message sent.
func (f *fixture) code(t testing.TB) string {
	t.Helper()
	c := f.msgs.last(t).Params["code"]
	if c == "" {
		t.Fatalf("the last message (%s) carries no code", f.msgs.last(t).Template)
	}
	return c
}

// signup registers phone with a password through the whole flow and
// returns the session and token.
func (f *fixture) signup(t testing.TB, c Client, method, ident, channel, password string, consents ...string) (Session, string) {
	t.Helper()
	id, err := f.s.StartSignup(ctx, c, SignupStart{Method: method, Identifier: ident, Channel: channel})
	if err != nil {
		t.Fatalf("start sign-up: %v", err)
	}
	if err := f.s.ConfirmCode(ctx, c, id, f.code(t)); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	sess, tok, err := f.s.FinishSignup(ctx, c, id, SignupFinish{Password: password, AcceptAgreement: true, AcceptPolicy: true, Consents: consents})
	if err != nil {
		t.Fatalf("finish sign-up: %v", err)
	}
	return sess, tok
}

// wantFault fails unless err is a fault of kind with key, and returns its
// args by name.
func wantFault(t testing.TB, err error, kind fault.Kind, key string) map[string]any {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %s", kind, key)
	}
	gotKey, args := fault.Message(err)
	if fault.KindOf(err) != kind || gotKey != key {
		t.Fatalf("got %s %q (%v), want %s %q", fault.KindOf(err), gotKey, err, kind, key)
	}
	m := map[string]any{}
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok {
			m[k] = args[i+1]
		}
	}
	return m
}

// count runs a COUNT(*) query.
func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Reader().QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func isRefusal(err error, r *gate.Refusal) bool { return errors.Is(err, r) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}
