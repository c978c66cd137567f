package consent

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

// fillIndex puts n subjects with a consent to informing and a refusal of
// marketing straight into the index, as loading them would.
func fillIndex(l *Ledger, n int, expires int64) []string {
	subjects := make([]string, n)
	pi, pm := l.purposes[informing].idx, l.purposes[marketing].idx
	for i := range subjects {
		subjects[i] = fmt.Sprintf("01J%023d", i) // ULID-sized ids
		l.index.put(subjects[i], slot{lastEvent: int64(2*i + 1), expires: expires, purpose: pi, status: statusCode(Given)})
		l.index.put(subjects[i], slot{lastEvent: int64(2*i + 2), purpose: pm, status: statusCode(Refused)})
	}
	return subjects
}

// BenchmarkAllowed measures a decision: a lookup in the in-memory index,
// no database query, with 100 000 subjects × 2 purposes loaded.
func BenchmarkAllowed(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b), Options{})
	now := f.clock.Now()
	subjects := fillIndex(f.l, 100_000, sqldb.Micros(threeYears(now)))
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if !f.l.Allowed(subjects[i%len(subjects)], informing, now).Allowed {
				b.Fatal("refused")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if !f.l.Allowed(subjects[i%len(subjects)], informing, now).Allowed {
					b.Error("refused")
					return
				}
				i += 7
			}
		})
	})
}

// BenchmarkIndexMemory reports the heap the index takes per consent.
func BenchmarkIndexMemory(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b), Options{})
	const n = 100_000
	for b.Loop() {
		f.l.index = newIndex()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fillIndex(f.l, n, 1)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(2*n), "bytes/consent")
	}
}

// BenchmarkGive measures a durable Give: evidence sealed by the vault
// (key cache on, as kabinet runs it), then one transaction with the event,
// the state, the audit entry (and pg_notify), committed with
// synchronous=FULL on SQLite.
func BenchmarkGive(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			ctx := context.Background()
			db := sqldbtest.Open(b, eng.url(b))
			f := &fixture{db: db, clock: newClock(), vault: newVaultWith(b, vault.Options{CacheTTL: vault.DefaultCacheTTL})}
			f.audit = openAudit(b, db, f.clock.Now)
			f.l = openLedger(b, f, Options{})
			subjects := make([]string, 100)
			for i := range subjects {
				subjects[i] = f.subject(b, fmt.Sprintf("subj-%d", i))
			}
			i := 0
			start := time.Now()
			for b.Loop() {
				if _, err := f.l.Give(ctx, give(subjects[i%len(subjects)], informing)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "gives/s")
		})
	}
}

// BenchmarkExpireDue measures the expiry job per consent ended (batches
// of 200, each event with its audit entry).
func BenchmarkExpireDue(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			ctx := context.Background()
			db := sqldbtest.Open(b, eng.url(b))
			f := &fixture{db: db, clock: newClock(), vault: newVaultWith(b, vault.Options{CacheTTL: vault.DefaultCacheTTL})}
			f.audit = openAudit(b, db, f.clock.Now)
			f.l = openLedger(b, f, Options{})
			const n = 400
			for i := range n {
				e := give(fmt.Sprintf("subj-%d", i), informing)
				e.Evidence = Evidence{}
				if _, err := f.l.Give(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
			// Each round expires the n consents, then gives them again (not timed).
			var ended int
			var took time.Duration
			for b.Loop() {
				f.clock.Set(threeYears(f.clock.Now()).Add(time.Hour))
				start := time.Now()
				got, err := f.l.ExpireDue(ctx, f.clock.Now())
				took += time.Since(start)
				if err != nil || got != n {
					b.Fatalf("ExpireDue = %d, %v", got, err)
				}
				ended += got
				b.StopTimer()
				for i := range n {
					e := give(fmt.Sprintf("subj-%d", i), informing)
					e.Evidence = Evidence{}
					if _, err := f.l.Give(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(took.Microseconds())/float64(ended), "µs/expiry")
		})
	}
}
