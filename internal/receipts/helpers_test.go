package receipts_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/documents"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/receipts"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

// Operators of the examples (examples/*.yaml); "" is the built-in demo.
const (
	demoOperator     = ""
	kgOperator       = "../../examples/001_kg_eservices_sso.yaml"
	schoolOperator   = "../../examples/002_language_school.yaml"
	edtechOperator   = "../../examples/003_edtech_group.yaml"
	kzLegalOperator  = "../../examples/004_kz_legal_help.yaml"
	evidenceIP       = "203.0.113.9"
	evidenceAgent    = "Mozilla/5.0 (X11; Linux x86_64) ReceiptTest/1.0"
	testRequestID    = "req-receipts"
	representativeID = "acc-parent-7"
)

// stack is one kabinet's consent machinery as serve wires it: the
// operator's config, the gate over a real vault (its own key store), the
// audit log, the consent ledger sealing evidence through the gate, and
// the published documents.
type stack struct {
	cfg    *config.Config
	db     *sqldb.DB
	gate   *gate.Gate
	ledger *consent.Ledger
	docs   *documents.Store
	bundle *i18n.Bundle
	signer *receipts.Signer
}

func newStack(t *testing.T, db *sqldb.DB, operator string) *stack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "KABINET_DATA_DIR" {
			return dir
		}
		return ""
	}
	cfg, err := config.Load(operator, getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	kr, _, err := vault.LoadOrCreateKeyringFile(filepath.Join(dir, "master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, sqldbtest.SQLite(t), kr, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, db, audit.Options{Signer: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), KeyID: "test",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	s := &stack{cfg: cfg, db: db}
	if s.gate, err = gate.New(db, &cfg.Register, v, log, gate.Options{Consent: func(subject, purpose string, at time.Time) (bool, string) {
		d := s.ledger.Allowed(subject, purpose, at)
		return d.Allowed, d.Reason
	}}); err != nil {
		t.Fatal(err)
	}
	if s.ledger, err = consent.New(ctx, db, &cfg.Register, log, sealer{s.gate}, consent.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ledger.Close() })
	if s.bundle, err = i18n.Load(); err != nil {
		t.Fatal(err)
	}
	s.docs = documents.NewStore(db, cfg, s.bundle, log, nil)
	if _, err := s.docs.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if s.signer, _, err = receipts.LoadOrCreateKeyFile(filepath.Join(dir, receipts.KeyFileName)); err != nil {
		t.Fatal(err)
	}
	return s
}

// sealer seals consent evidence through the gate, as serve does.
type sealer struct{ g *gate.Gate }

var ledgerActor = audit.Actor{Kind: audit.ActorSystem, ID: "consent-ledger"}

func (s sealer) SealEvidence(ctx context.Context, subject string, plaintext []byte) ([]byte, error) {
	return s.g.Seal(ctx, gate.Request{Actor: ledgerActor, Subject: subject, Purpose: register.PurposeConsentProof}, register.CategoryConsentEvidence, plaintext)
}

func (s sealer) OpenEvidence(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	return s.g.Open(ctx, gate.Request{Actor: ledgerActor, Subject: subject, Purpose: register.PurposeConsentProof}, register.CategoryConsentEvidence, sealed)
}

// subject creates a data subject of kind through the gate.
func (s *stack) subject(t *testing.T, kind string) string {
	t.Helper()
	id, err := s.gate.NewSubject(context.Background(), audit.Actor{Kind: audit.ActorSystem, ID: "test"}, kind, testRequestID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// text is the current consent text of purpose in Russian.
func (s *stack) text(t *testing.T, purpose string) documents.Version {
	t.Helper()
	p := s.cfg.Register.Purpose(purpose)
	v, err := s.docs.Current(context.Background(), p.Consent.Document, "ru")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// give records that subject consented to purpose by method, with
// evidence, through the real ledger.
func (s *stack) give(t *testing.T, subject, purpose, method string) consent.Record {
	t.Helper()
	v := s.text(t, purpose)
	e := consent.Event{Subject: subject, Purpose: purpose, Doc: consent.Doc{ID: v.DocID, Version: v.Label, Hash: v.Hash},
		Method: method, Evidence: consent.Evidence{IP: evidenceIP, UserAgent: evidenceAgent},
		Actor: audit.Actor{Kind: audit.ActorSubject, ID: subject}, RequestID: testRequestID}
	if method == "representative" {
		e.RepresentativeID = representativeID
	}
	rec, err := s.ledger.Give(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (s *stack) withdraw(t *testing.T, subject, purpose string) consent.Record {
	t.Helper()
	rec, err := s.ledger.Withdraw(context.Background(), consent.Event{Subject: subject, Purpose: purpose, Method: "checkbox",
		Actor: audit.Actor{Kind: audit.ActorSubject, ID: subject}, RequestID: testRequestID})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// input is the receipt input for subject and purpose from the ledger's
// history.
func (s *stack) input(t *testing.T, subject, purpose string) receipts.Input {
	t.Helper()
	hist, err := s.ledger.History(context.Background(), subject, purpose)
	if err != nil {
		t.Fatal(err)
	}
	return receipts.Input{Config: s.cfg, Purpose: s.cfg.Register.Purpose(purpose), Records: hist, Subject: subject, Bundle: s.bundle}
}

// issue builds and signs the receipt of subject's consent to purpose.
func (s *stack) issue(t *testing.T, subject, purpose string) (receipts.Input, receipts.Receipt, string) {
	t.Helper()
	in := s.input(t, subject, purpose)
	r, err := receipts.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.signer.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	return in, r, jws
}
