package gate_test

import (
	"context"
	"testing"

	"kabinet/internal/gate"
	"kabinet/internal/sqldb/sqldbtest"
)

// BenchmarkGateRead measures a full decrypting read: purpose and subject
// checks, the query, decryption of three categories, and the durable
// audit entry (group-committed across parallel readers).
func BenchmarkGateRead(b *testing.B) {
	for _, engine := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		b.Run(engine.name, func(b *testing.B) {
			f := newFixture(b, sqldbtest.Open(b, engine.url(b)), engine.url(b), nil)
			subjects := make([]string, 64)
			for i := range subjects {
				subjects[i] = f.newUser(b)
				f.populate(b, subjects[i])
			}
			// Sixteen requests in flight per core, as a busy portal has.
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					_, err := f.gate.Read(context.Background(), req(subjects[i%len(subjects)], "account", "contact.phone", "contact.email", "identity.name"))
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGateWrite measures a write of three categories with its audit
// entry in the same transaction.
func BenchmarkGateWrite(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b), sqldbtest.SQLiteURL(b), nil)
	s := f.newUser(b)
	values := gate.Values{"contact.phone": []byte(phone), "contact.email": []byte(email), "identity.name": []byte(name)}
	b.ResetTimer()
	for b.Loop() {
		if err := f.gate.Write(context.Background(), req(s, "account"), values); err != nil {
			b.Fatal(err)
		}
	}
}
