package consent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"sync"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

// Purposes of the test register.
const (
	informing = "informing" // consent for 3 years (seed 002 §3.4), checkbox or representative
	marketing = "marketing" // consent until withdrawn, checkbox or submit button
	contract  = "contract"  // not consent-based
)

func testRegister() *register.Register {
	threeYears, _ := register.ParseDuration("3y")
	return &register.Register{
		Purposes: []register.Purpose{
			{ID: contract, Basis: register.BasisContract},
			{ID: informing, Basis: register.BasisConsent, Consent: &register.Consent{
				Document: "consent-informing", Term: threeYears, Methods: []string{"checkbox", "representative"}}},
			{ID: marketing, Basis: register.BasisConsent, Consent: &register.Consent{
				Document: "consent-marketing", Methods: []string{"checkbox", "submit_button"}}},
		},
		Documents: []register.Document{
			{ID: "consent-informing", Kind: register.DocConsent, Version: "2025-09-01"},
			{ID: "consent-marketing", Kind: register.DocConsent, Version: "1"},
		},
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// vaultSealer is the test's Sealer: the real vault, as the gate will use
// it.
type vaultSealer struct{ v *vault.Vault }

const evidenceCategory = "technical.consent_evidence"

func (s vaultSealer) SealEvidence(ctx context.Context, subject string, plaintext []byte) ([]byte, error) {
	return s.v.Seal(ctx, subject, evidenceCategory, plaintext)
}

func (s vaultSealer) OpenEvidence(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	return s.v.Open(ctx, subject, evidenceCategory, sealed)
}

// newVault opens a real vault on a key store of its own, without a key
// cache (every seal reads the key store).
func newVault(t testing.TB) *vault.Vault { return newVaultWith(t, vault.Options{}) }

func newVaultWith(t testing.TB, opts vault.Options) *vault.Vault {
	t.Helper()
	key := func() string {
		b := make([]byte, vault.KeySize)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	kr, err := vault.LoadKeyring("master k1 " + key() + "\nindex " + key() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(context.Background(), sqldbtest.SQLite(t), kr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testSigner() (ed25519.PrivateKey, map[string]ed25519.PublicKey) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	return priv, map[string]ed25519.PublicKey{"test": priv.Public().(ed25519.PublicKey)}
}

func openAudit(t testing.TB, db *sqldb.DB, clk func() time.Time) *audit.Log {
	t.Helper()
	signer, _ := testSigner()
	l, err := audit.Open(context.Background(), db, audit.Options{Signer: signer, KeyID: "test", Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fixture is one kabinet process's ledger and what it stands on.
type fixture struct {
	db    *sqldb.DB
	clock *clock
	vault *vault.Vault
	audit *audit.Log
	l     *Ledger
}

func newFixture(t testing.TB, db *sqldb.DB, opts Options) *fixture {
	t.Helper()
	f := &fixture{db: db, clock: newClock(), vault: newVault(t)}
	f.audit = openAudit(t, db, f.clock.Now)
	f.l = openLedger(t, f, opts)
	return f
}

func openLedger(t testing.TB, f *fixture, opts Options) *Ledger {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = f.clock.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := New(context.Background(), f.db, testRegister(), f.audit, vaultSealer{f.vault}, opts)
	if err != nil {
		t.Fatalf("consent.New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// subject creates a subject in the vault and returns its id.
func (f *fixture) subject(t testing.TB, id string) string {
	t.Helper()
	if err := f.vault.CreateSubject(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

const (
	testIP = "203.0.113.77"
	testUA = "Mozilla/5.0 (X11; Linux x86_64) KabinetTestBrowser/9.9"
)

// give is a valid Give of purpose by subject via checkbox.
func give(subject, purpose string) Event {
	doc := "consent-" + purpose
	return Event{
		Subject: subject, Purpose: purpose,
		Doc:      Doc{ID: doc, Version: "2025-09-01", Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		Method:   "checkbox",
		Evidence: Evidence{IP: testIP, UserAgent: testUA},
		Actor:    audit.Actor{Kind: audit.ActorAccount, ID: "acc-" + subject}, RequestID: "req-1",
	}
}

// end is a valid Withdraw (or Invalidate, with Method cleared) of purpose.
func end(subject, purpose string) Event {
	return Event{Subject: subject, Purpose: purpose, Method: "checkbox",
		Evidence: Evidence{IP: testIP, UserAgent: testUA},
		Actor:    audit.Actor{Kind: audit.ActorAccount, ID: "acc-" + subject}, RequestID: "req-2"}
}

// waitFor polls cond for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 2 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
