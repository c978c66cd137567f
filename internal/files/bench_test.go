package files_test

import (
	"bytes"
	"context"
	"testing"

	"kabinet/internal/files"
	"kabinet/internal/sqldb/sqldbtest"
)

// Upload (seal, fsync'd blob, two transactions) and download of a 1 MiB
// PDF on SQLite, without and with a real clamd scan.
func BenchmarkUpload1MiB(b *testing.B) {
	for _, scan := range []bool{false, true} {
		name := "no-scan"
		var cfg files.Config
		if scan {
			name = "clamd"
			cfg.Clamd = startClamd(b, "20M").Unix
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, sqldbtest.SQLite(b), nil, cfg)
			ctx := context.Background()
			s := f.newSubject(b)
			pdf := tinyPDF("bench", nil, 1<<20)
			b.SetBytes(int64(len(pdf)))
			for b.Loop() {
				if _, err := f.svc.Upload(ctx, owner, s, "bench.pdf", bytes.NewReader(pdf), "req"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDownload1MiB(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b), nil, files.Config{})
	ctx := context.Background()
	s := f.newSubject(b)
	pdf := tinyPDF("bench", nil, 1<<20)
	up, err := f.svc.Upload(ctx, owner, s, "bench.pdf", bytes.NewReader(pdf), "req")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(pdf)))
	for b.Loop() {
		if _, _, _, err := f.svc.Download(ctx, owner, s, up.ID, "req"); err != nil {
			b.Fatal(err)
		}
	}
}
