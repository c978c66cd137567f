// Package sqldb opens kabinet's database — embedded SQLite or PostgreSQL —
// behind one *DB, applies the embedded migrations, and maps driver errors
// onto the closed set of fault kinds the same way on both engines.
//
// Every difference between the two engines lives in dialect.go; the rest of
// kabinet writes one SQL text ($1 placeholders, RETURNING, ON CONFLICT) that
// both run unchanged.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"kabinet/internal/fault"
)

// Engine names a storage engine.
type Engine int

const (
	SQLite Engine = iota + 1
	Postgres
)

func (e Engine) String() string {
	switch e {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// DB is kabinet's handle on its database. On SQLite it holds two pools on
// one file — a single writer connection (SQLite allows one writer at a time,
// and queueing in Go is cheaper than spinning on SQLITE_BUSY) and a pool of
// read-only readers; on PostgreSQL both are the same pool.
type DB struct {
	engine Engine
	write  *sql.DB
	read   *sql.DB
}

// Open connects to the database named by rawURL: "sqlite:PATH" (the parent
// directory is created) or "postgres://…" / "postgresql://…". It does not
// migrate; call Migrate.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//"))
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openPostgres(ctx, rawURL)
	}
	return nil, fmt.Errorf("database URL %q: want sqlite:PATH or postgres://…", redactURL(rawURL))
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("database URL: sqlite: needs a file path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	// busy_timeout first so that the following pragmas wait rather than fail;
	// synchronous(FULL) because commits here are promises (audit entries,
	// consents) that must survive a power cut, not just a process crash.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?"
	write, err := sql.Open("sqlite", dsn+common+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	// The writer must create the file and switch it to WAL before readers
	// open it read-only. Switching the journal mode takes a lock that
	// SQLite's busy handler does not wait for, so several processes
	// opening a new file at once can get SQLITE_BUSY: retry briefly.
	if err := pingRetrying(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn+common+"&_pragma=query_only(1)&_txlock=deferred")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	n := max(4, runtime.NumCPU())
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	return &DB{engine: SQLite, write: write, read: read}, nil
}

// pingRetrying pings db, retrying for up to 10 s while the database is
// busy (locked by another process's set-up).
func pingRetrying(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || fault.KindOf(Map(err)) != fault.Unavailable || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL %s: %w", redactURL(rawURL), err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(max(8, 4*runtime.NumCPU()))
	db.SetMaxIdleConns(max(8, 4*runtime.NumCPU()))
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactURL(rawURL), err)
	}
	return &DB{engine: Postgres, write: db, read: db}, nil
}

// Engine reports which engine this DB runs on.
func (db *DB) Engine() Engine { return db.engine }

// Reader is the pool for queries outside a write transaction. On SQLite its
// connections refuse writes.
func (db *DB) Reader() *sql.DB { return db.read }

// Writer is the pool for writes; on SQLite it has one connection, so a
// caller holding a transaction on it blocks every other writer.
func (db *DB) Writer() *sql.DB { return db.write }

// Ping checks the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return Map(err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// InTx runs fn in one write transaction and commits it when fn returns nil.
// The error returned — from fn, or from commit — is mapped by Map, so store
// methods can return it as it is.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return Map(fmt.Errorf("begin transaction: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := fn(tx); err != nil {
		return Map(err)
	}
	if err := tx.Commit(); err != nil {
		return Map(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Micros is how kabinet stores instants: microseconds since the Unix epoch
// in a BIGINT, identical and sortable on both engines.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros is the inverse of Micros, in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// redactURL drops the password from a connection URL for messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
