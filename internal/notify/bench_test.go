package notify_test

import (
	"context"
	"testing"
	"time"

	"kabinet/internal/notify"
	"kabinet/internal/sqldb/sqldbtest"
)

// BenchmarkSend measures Send: sealing the parameters through the gate
// (with its audit entry) and one transaction inserting the message and its
// job. Delivery is not included.
func BenchmarkSend(b *testing.B) {
	for _, engine := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		b.Run(engine.name, func(b *testing.B) {
			f := newFixture(b, engine.url(b), engine.url(b))
			o := f.outbox(b, messages(b), notify.Options{Demo: true})
			s := f.subject(b)
			msg := notify.Message{Subject: s, Channel: notify.SMS, Template: notify.TemplateSignupCode,
				Params: map[string]string{"code": code}, ExpiresAt: time.Now().Add(time.Hour), RequestID: "bench"}
			b.ResetTimer()
			for b.Loop() {
				if _, err := o.Send(context.Background(), msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
