package audit

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// engines are the databases benchmarks run on; PostgreSQL is skipped when
// KABINET_TEST_POSTGRES is unset.
func engines() []struct {
	name string
	open func(testing.TB) *sqldb.DB
} {
	return []struct {
		name string
		open func(testing.TB) *sqldb.DB
	}{{"sqlite", sqldbtest.SQLite}, {"postgres", sqldbtest.Postgres}}
}

// BenchmarkAppendDurable measures appends that return only after their
// commit: from one goroutine (each append is its own commit) and from many
// (group commit). entries/s is the figure; entries/commit shows batching.
func BenchmarkAppendDurable(b *testing.B) {
	for _, eng := range engines() {
		b.Run(eng.name, func(b *testing.B) {
			b.Run("serial", func(b *testing.B) {
				db := eng.open(b)
				l := openLog(b, db, Options{CheckpointInterval: -1})
				ctx := context.Background()
				b.ResetTimer()
				for i := range b.N {
					if _, err := l.Append(ctx, sample(i)); err != nil {
						b.Fatal(err)
					}
				}
				report(b, l)
			})
			for _, par := range []int{8, 32} {
				b.Run(fmt.Sprintf("goroutines=%d", par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
					db := eng.open(b)
					l := openLog(b, db, Options{CheckpointInterval: -1})
					ctx := context.Background()
					var n atomic.Int64
					b.SetParallelism(par)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := l.Append(ctx, sample(int(n.Add(1)))); err != nil {
								b.Error(err)
								return
							}
						}
					})
					report(b, l)
				})
			}
		})
	}
}

func report(b *testing.B, l *Log) {
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	if c := l.batches.Load(); c > 0 {
		b.ReportMetric(float64(b.N)/float64(c), "entries/commit")
	}
}

// BenchmarkVerify measures Verify on a chain of 20,000 entries with a
// checkpoint every 1,000.
func BenchmarkVerify(b *testing.B) {
	const chain = 20_000
	for _, eng := range engines() {
		b.Run(eng.name, func(b *testing.B) {
			db := eng.open(b)
			l := openLog(b, db, Options{CheckpointEvery: 1000, CheckpointInterval: -1})
			ctx := context.Background()
			batch := make([]Entry, 500)
			for written := 0; written < chain; written += len(batch) {
				for i := range batch {
					batch[i], _ = normalize(sample(written + i))
				}
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					h, err := l.lockHead(ctx, tx)
					if err != nil {
						return err
					}
					_, _, err = l.appendLocked(ctx, tx, h, batch)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			_, keys := testKey("k1")
			for b.Loop() {
				rep, err := Verify(ctx, db, keys, nil)
				if err != nil || !rep.OK || rep.Entries != chain || rep.Checkpoints != chain/1000 {
					b.Fatalf("%v %s", err, rep)
				}
			}
			b.ReportMetric(float64(chain*b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
