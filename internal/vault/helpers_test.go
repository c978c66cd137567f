package vault

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// engines lets a test open several *sqldb.DB — several kabinet processes —
// on one key store.
var engines = []struct {
	name string
	url  func(testing.TB) string
}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func randomKey() []byte {
	b := make([]byte, KeySize)
	rand.Read(b)
	return b
}

// newKeyring returns an in-memory keyring with random master keys ids and
// a random index key.
func newKeyring(t testing.TB, ids ...string) *Keyring {
	t.Helper()
	if len(ids) == 0 {
		ids = []string{"k1"}
	}
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString("master " + id + " " + b64(randomKey()) + "\n")
	}
	sb.WriteString("index " + b64(randomKey()) + "\n")
	kr, err := LoadKeyring(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// keyringText renders the versions ids of kr, and its index key, in the
// key-file format.
func keyringText(kr *Keyring, ids ...string) string {
	var sb strings.Builder
	for _, id := range ids {
		m, ok := kr.master(id)
		if !ok {
			panic("no version " + id)
		}
		sb.WriteString(masterLine(m))
	}
	sb.WriteString("index " + b64(kr.index[:]) + "\n")
	return sb.String()
}

func openVault(t testing.TB, db *sqldb.DB, kr *Keyring, opts Options) *Vault {
	t.Helper()
	v, err := Open(context.Background(), db, kr, opts)
	if err != nil {
		t.Fatalf("vault.Open: %v", err)
	}
	return v
}

// fakeClock is a settable clock for cache expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
