package vault

import (
	"context"
	"fmt"
	"testing"

	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// BenchmarkSealOpen measures one Seal plus one Open of a phone number
// through the Vault (key fetch included), over 1000 subjects, with the key
// cache on and off, on each engine.
func BenchmarkSealOpen(b *testing.B) {
	for _, e := range []struct {
		name string
		open func(testing.TB) *sqldb.DB
	}{{"sqlite", sqldbtest.SQLite}, {"postgres", sqldbtest.Postgres}} {
		b.Run(e.name, func(b *testing.B) {
			db := e.open(b)
			kr := newKeyring(b)
			ctx := context.Background()
			setup := openVault(b, db, kr, Options{})
			const subjects = 1000
			ids := make([]string, subjects)
			for i := range ids {
				ids[i] = fmt.Sprintf("subject-%04d", i)
				if err := setup.CreateSubject(ctx, ids[i]); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range []struct {
				name string
				opts Options
			}{{"cache=off", Options{}}, {"cache=on", Options{CacheTTL: DefaultCacheTTL}}} {
				b.Run(c.name, func(b *testing.B) {
					v := openVault(b, db, kr, c.opts)
					plain := []byte("+79001234567")
					i := 0
					for b.Loop() {
						s := ids[i%subjects]
						i++
						sealed, err := v.Seal(ctx, s, "phone", plain)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := v.Open(ctx, s, "phone", sealed); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkSubjectKeySealOpen is the crypto alone: a held SubjectKey
// sealing and opening one value, as the gate does for each category once
// the key is fetched.
func BenchmarkSubjectKeySealOpen(b *testing.B) {
	db := sqldbtest.SQLite(b)
	v := openVault(b, db, newKeyring(b), Options{})
	ctx := context.Background()
	if err := v.CreateSubject(ctx, "s"); err != nil {
		b.Fatal(err)
	}
	k, err := v.SubjectKey(ctx, "s")
	if err != nil {
		b.Fatal(err)
	}
	plain := []byte("+79001234567")
	for b.Loop() {
		sealed, _ := k.Seal("phone", plain)
		if _, err := k.Open("phone", sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndex(b *testing.B) {
	kr := newKeyring(b)
	for b.Loop() {
		kr.Index("phone", "+79001234567")
	}
}
