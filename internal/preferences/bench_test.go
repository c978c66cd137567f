package preferences_test

import (
	"testing"

	"kabinet/internal/preferences"
	"kabinet/internal/sqldb/sqldbtest"
)

func BenchmarkTokens(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b), preferences.Config{MarketingPurpose: "marketing"})
	s := "sabcdefghijklmnopqrstuvwxy"
	b.Run("issue", func(b *testing.B) {
		for b.Loop() {
			f.n.UnsubscribeToken(s, preferences.Marketing, preferences.Email)
		}
	})
	tok := f.n.UnsubscribeToken(s, preferences.Marketing, preferences.Email)
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.n.CheckToken(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNotifyCabinet is a service notice to the inbox only: the
// settings query and one insert (SQLite).
func BenchmarkNotifyCabinet(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b), preferences.Config{MarketingPurpose: "marketing"})
	s := f.subject(b)
	f.set(b, s, preferences.Email, preferences.Service, false)
	nt := notice(s, preferences.Service)
	for b.Loop() {
		f.notify(b, nt)
	}
}

func BenchmarkSettings(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b), preferences.Config{MarketingPurpose: "marketing"})
	s := f.subject(b)
	f.set(b, s, preferences.SMS, preferences.Service, true)
	for b.Loop() {
		if _, err := f.n.Settings(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
