// Package gatetest builds, for tests, the real machinery under the gate:
// a key store on the same engine as the test's database, a master key
// file, the vault and the audit log — no fakes.
package gatetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"testing"

	"kabinet/internal/audit"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

// Stack is what a gate is built on.
type Stack struct {
	Keys     *sqldb.DB // the key store, apart from the data
	Keyring  *vault.Keyring
	Vault    *vault.Vault
	Audit    *audit.Log
	AuditKey ed25519.PublicKey // verifies the audit log's checkpoints (key id "test")
}

// New builds a Stack for db, with a fresh key store on the same engine,
// closed when the test ends.
func New(t testing.TB, db *sqldb.DB) *Stack {
	t.Helper()
	keysURL := sqldbtest.SQLiteURL(t)
	if db.Engine() == sqldb.Postgres {
		keysURL = sqldbtest.PostgresURL(t)
	}
	return newStack(t, db, keysURL)
}

func newStack(t testing.TB, db *sqldb.DB, keysURL string) *Stack {
	t.Helper()
	ctx := context.Background()
	keys, err := sqldb.Open(ctx, keysURL) // the vault makes its own table
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	kr, err := vault.CreateKeyringFile(filepath.Join(t.TempDir(), "master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, keys, kr, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	log, err := audit.Open(ctx, db, audit.Options{Signer: priv, KeyID: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return &Stack{Keys: keys, Keyring: kr, Vault: v, Audit: log, AuditKey: pub}
}

// NewWithKeys is New with the key store at keysURL.
func NewWithKeys(t testing.TB, db *sqldb.DB, keysURL string) *Stack {
	t.Helper()
	return newStack(t, db, keysURL)
}
