package consent

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/sqldb/sqldbtest"
)

// engines lets a test open several *sqldb.DB — several kabinet processes —
// on one database.
var engines = []struct {
	name string
	url  func(testing.TB) string
}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}}

// process starts one "kabinet process" on the database at url: its own
// pools, audit log and ledger, sharing the test's clock and vault.
func process(t *testing.T, url string, shared *fixture, opts Options) *fixture {
	t.Helper()
	f := &fixture{db: sqldbtest.Open(t, url), clock: shared.clock, vault: shared.vault}
	f.audit = openAudit(t, f.db, f.clock.Now)
	f.l = openLedger(t, f, opts)
	return f
}

// syncOpts are the options of processes in the cross-process tests. On
// PostgreSQL the periodic catch-up is effectively off, so the test proves
// the notifications; on SQLite (one process in production; a CLI command
// beside serve) the periodic catch-up is what carries changes over.
func syncOpts(engine string) Options {
	if engine == "postgres" {
		return Options{SyncInterval: time.Hour, MaxStale: 2 * time.Hour}
	}
	return Options{SyncInterval: 20 * time.Millisecond, MaxStale: time.Minute}
}

func TestChangesReachOtherProcesses(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			url := eng.url(t)
			shared := &fixture{clock: newClock(), vault: newVault(t)}
			a := process(t, url, shared, syncOpts(eng.name))
			b := process(t, url, shared, syncOpts(eng.name))
			s := a.subject(t, "subj-1")
			now := a.clock.Now()

			mustWrite(t, "give in A")(a.l.Give(ctx, give(s, informing)))
			start := time.Now()
			waitFor(t, "B sees A's consent", func() bool { return b.l.Allowed(s, informing, now).Allowed })
			t.Logf("B saw A's consent after %s", time.Since(start))

			mustWrite(t, "withdraw in B")(b.l.Withdraw(ctx, end(s, informing)))
			start = time.Now()
			waitFor(t, "A sees B's withdrawal", func() bool { return !a.l.Allowed(s, informing, now).Allowed })
			t.Logf("A saw B's withdrawal after %s", time.Since(start))
			wantDecision(t, a.l.Allowed(s, informing, now), false, Withdrawn, ReasonWithdrawn)

			// Expiry run by one process reaches the other.
			mustWrite(t, "give in A")(a.l.Give(ctx, give(s, informing)))
			waitFor(t, "B sees the new consent", func() bool { return b.l.Allowed(s, informing, now).Allowed })
			later := threeYears(now).Add(time.Hour)
			if n, err := a.l.ExpireDue(ctx, later); err != nil || n != 1 {
				t.Fatalf("ExpireDue = %d, %v", n, err)
			}
			waitFor(t, "B sees the expiry", func() bool { return b.l.Allowed(s, informing, now).Status == Expired })

			// A restarted process loads the state.
			c := process(t, url, shared, syncOpts(eng.name))
			wantDecision(t, c.l.Allowed(s, informing, now), false, Expired, ReasonExpired)
		})
	}
}

// TestListenerReconnectCatchesUp cuts the listener's connection; a change
// committed while it is down is seen once it reconnects, with no periodic
// catch-up to help.
func TestListenerReconnectCatchesUp(t *testing.T) {
	ctx := context.Background()
	url := sqldbtest.PostgresURL(t)
	shared := &fixture{clock: newClock(), vault: newVault(t)}
	a := process(t, url, shared, syncOpts("postgres"))
	var logs syncBuffer
	opts := syncOpts("postgres")
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b := process(t, url, shared, opts)
	s := a.subject(t, "subj-1")
	now := a.clock.Now()

	kill := func() int {
		var n int
		err := a.db.Writer().QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+channel+`' AND pid <> pg_backend_pid()`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Both listeners (and any other test's) go; the change is committed
	// while they are down or reconnecting.
	if n := kill(); n < 2 {
		t.Fatalf("terminated %d listeners, want at least 2", n)
	}
	mustWrite(t, "give in A")(a.l.Give(ctx, give(s, informing)))
	waitFor(t, "B sees A's consent after reconnecting", func() bool { return b.l.Allowed(s, informing, now).Allowed })
	// And it listens again.
	waitFor(t, "B listens again", func() bool {
		var n int
		b.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN `+channel+`'`).Scan(&n)
		return n >= 2
	})
	mustWrite(t, "withdraw in A")(a.l.Withdraw(ctx, end(s, informing)))
	waitFor(t, "B sees A's withdrawal", func() bool { return !b.l.Allowed(s, informing, now).Allowed })
	if !strings.Contains(logs.String(), "change listener disconnected") {
		t.Errorf("B's listener never reconnected; log:\n%s", logs.String())
	}
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestStaleIndexFailsClosed: a process that cannot confirm its index
// against the database refuses rather than answer from an old view.
func TestStaleIndexFailsClosed(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			url := eng.url(t)
			shared := &fixture{clock: newClock(), vault: newVault(t)}
			opts := Options{SyncInterval: 20 * time.Millisecond, MaxStale: 150 * time.Millisecond}
			a := process(t, url, shared, opts)
			s := a.subject(t, "subj-1")
			now := a.clock.Now()
			mustWrite(t, "give")(a.l.Give(ctx, give(s, informing)))
			// Stays fresh while the database answers.
			time.Sleep(300 * time.Millisecond)
			wantDecision(t, a.l.Allowed(s, informing, now), true, Given, "")

			a.db.Close() // the database is gone for this process
			start := time.Now()
			waitFor(t, "the decision fails closed", func() bool { return a.l.Allowed(s, informing, now).Reason == ReasonStale })
			if d := time.Since(start); d > 400*time.Millisecond {
				t.Errorf("refused only after %s", d)
			}
		})
	}
}
