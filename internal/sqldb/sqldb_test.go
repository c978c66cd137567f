package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

func TestMigrateIsIdempotentAndRecorded(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		again, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if len(again) != 0 {
			t.Errorf("second Migrate applied %v, want nothing", again)
		}
		migs, err := sqldb.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(migs) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(migs))
		}
	})
}

// Several processes starting at once on one database must apply each
// migration exactly once.
func TestConcurrentMigrate(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		t.Run(engine.name, func(t *testing.T) {
			url := engine.url(t)
			ctx := context.Background()
			var wg sync.WaitGroup
			applied := make([][]string, 4)
			errs := make([]error, 4)
			for i := range 4 {
				wg.Go(func() {
					db, err := sqldb.Open(ctx, url)
					if err != nil {
						errs[i] = err
						return
					}
					defer db.Close()
					applied[i], errs[i] = db.Migrate(ctx)
				})
			}
			wg.Wait()
			total := 0
			for i := range 4 {
				if errs[i] != nil {
					t.Fatalf("process %d: %v", i, errs[i])
				}
				total += len(applied[i])
			}
			migs, _ := sqldb.Migrations()
			if total != len(migs) {
				t.Errorf("migrations applied %d times in all, want %d", total, len(migs))
			}
		})
	}
}

func TestErrorKindsAreTheSameOnBothEngines(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE kinds_parent (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE CHECK (name <> ''));
				CREATE TABLE kinds_child (id BIGINT PRIMARY KEY, parent BIGINT NOT NULL REFERENCES kinds_parent (id))`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		exec := func(q string, args ...any) error {
			return db.InTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, q, args...)
				return err
			})
		}
		if err := exec("INSERT INTO kinds_parent (id, name) VALUES ($1, $2)", 1, "a"); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			err  error
			want fault.Kind
		}{
			{"duplicate key", exec("INSERT INTO kinds_parent (id, name) VALUES ($1, $2)", 1, "b"), fault.Conflict},
			{"duplicate unique", exec("INSERT INTO kinds_parent (id, name) VALUES ($1, $2)", 2, "a"), fault.Conflict},
			{"missing parent", exec("INSERT INTO kinds_child (id, parent) VALUES ($1, $2)", 1, 99), fault.Conflict},
			{"check", exec("INSERT INTO kinds_parent (id, name) VALUES ($1, $2)", 3, ""), fault.Invalid},
			{"not null", exec("INSERT INTO kinds_parent (id, name) VALUES ($1, NULL)", 4), fault.Invalid},
			{"no rows", sqldb.Map(db.Reader().QueryRowContext(ctx, "SELECT name FROM kinds_parent WHERE id = $1", 42).Scan(new(string))), fault.NotFound},
		}
		for _, c := range cases {
			if got := fault.KindOf(c.err); got != c.want {
				t.Errorf("%s: kind %v (err %v), want %v", c.name, got, c.err, c.want)
			}
		}
		if !errors.Is(cases[0].err, fault.ErrConflict) {
			t.Errorf("errors.Is(duplicate, ErrConflict) = false")
		}
		// A failed transaction leaves nothing behind.
		var n int
		if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM kinds_parent").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("kinds_parent has %d rows after failed inserts, want 1", n)
		}
	})
}

func TestSQLiteReadersCannotWrite(t *testing.T) {
	db := sqldbtest.SQLite(t)
	_, err := db.Reader().Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'x', 0)")
	if err == nil {
		t.Fatal("insert through the reader pool succeeded; readers must be query-only")
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	_, err := sqldb.Open(context.Background(), "mysql://user:secret@host/db")
	if err == nil {
		t.Fatal("Open accepted a mysql URL")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("error %q leaks the password", got)
	}
}
