package identity

import (
	"os"
	"runtime"
	"testing"

	"kabinet/internal/config"
	"kabinet/internal/sqldb/sqldbtest"
)

// benchEngines runs fn on SQLite, and on PostgreSQL when the test server
// is configured.
func benchEngines(b *testing.B, mutate func(*config.Config), fn func(b *testing.B, f *fixture)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, newFixture(b, sqldbtest.SQLiteURL(b), sqldbtest.SQLiteURL(b), mutate)) })
	if os.Getenv(sqldbtest.PostgresEnv) != "" {
		b.Run("postgres", func(b *testing.B) { fn(b, newFixture(b, sqldbtest.PostgresURL(b), sqldbtest.PostgresURL(b), mutate)) })
	}
}

// BenchmarkAuthenticate is the session check every signed-in request
// makes, in process, from parallel goroutines on 100 live sessions.
func BenchmarkAuthenticate(b *testing.B) {
	benchEngines(b, nil, func(b *testing.B, f *fixture) {
		f.signup(b, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		var tokens []string
		for range 100 {
			_, tok, err := f.s.SignInPassword(ctx, clientA, phone, goodPass)
			if err != nil {
				b.Fatal(err)
			}
			tokens = append(tokens, tok)
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := f.s.Authenticate(ctx, tokens[i%len(tokens)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// defaultArgon2 restores the configured (default) hashing cost that the
// other tests lower.
func defaultArgon2(c *config.Config) {
	c.Identity.Password.Argon2 = config.Argon2{MemoryKiB: 19456, Time: 2, Threads: 1}
}

// BenchmarkSignInPassword is a whole password sign-in at the default
// argon2id parameters — limits, lookup through the gate, hash check,
// session sealed and stored, all audited — from parallel goroutines.
func BenchmarkSignInPassword(b *testing.B) {
	benchEngines(b, defaultArgon2, func(b *testing.B, f *fixture) {
		f.signup(b, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := f.s.SignInPassword(ctx, clientA, phone, goodPass); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkArgon2id is the raw hash at the default parameters, as many at
// a time as the hasher allows (the core count): the ceiling of
// BenchmarkSignInPassword.
func BenchmarkArgon2id(b *testing.B) {
	h := newHasher(config.Argon2{MemoryKiB: 19456, Time: 2, Threads: 1}, runtime.NumCPU())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.hash(goodPass); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
