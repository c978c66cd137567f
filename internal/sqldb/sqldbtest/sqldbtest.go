// Package sqldbtest gives each test a fresh, migrated database on every
// available engine: SQLite always, PostgreSQL when KABINET_TEST_POSTGRES
// holds a connection URL (.ci/run starts a throwaway server and sets it).
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"kabinet/internal/sqldb"
)

// PostgresEnv names the variable holding the PostgreSQL test server's URL.
const PostgresEnv = "KABINET_TEST_POSTGRES"

// Each runs fn as a subtest named for each engine, each with a fresh
// migrated database. The PostgreSQL subtest is skipped, saying why, when
// KABINET_TEST_POSTGRES is unset.
func Each(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a fresh migrated SQLite database in the test's temp dir,
// closed when the test ends. Its URL is URL(t, db) for tests that start a
// second process-like DB on the same file.
func SQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	return open(t, SQLiteURL(t))
}

// SQLiteURL returns a URL for a new SQLite file in the test's temp dir.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "kabinet.db")
}

// Postgres returns a fresh migrated PostgreSQL database — a new schema on the
// server named by KABINET_TEST_POSTGRES, dropped when the test ends — or
// skips the test when the variable is unset. An unreachable server fails the
// test: CI that set the variable must not pass by skipping.
func Postgres(t testing.TB) *sqldb.DB {
	t.Helper()
	return open(t, PostgresURL(t))
}

// PostgresURL creates a fresh schema and returns a URL whose connections use
// it, so several *sqldb.DB (several "kabinet processes") can share it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL test skipped: %s is not set (.ci/run starts a throwaway server and sets it)", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("PostgreSQL at %s: create schema: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		if _, err := a.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("drop test schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens (and migrates) the database at rawURL for the test, closing it
// when the test ends.
func Open(t testing.TB, rawURL string) *sqldb.DB { return open(t, rawURL) }

func open(t testing.TB, rawURL string) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return db
}

var _ = stdlib.GetDefaultDriver // the "pgx" driver name used above is registered by stdlib
