package notify_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/notify"
)

// Extra e-mail headers (List-Unsubscribe, RFC 8058) travel sealed with
// the parameters and reach the sender; malformed or reserved ones, and
// headers on other channels, are refused.
func TestMessageHeaders(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rec := &recorder{}
		o := f.outbox(t, messages(t), notify.Options{Demo: true, Senders: map[notify.Channel]notify.Sender{notify.Email: rec}})
		s := f.subject(t)
		f.run(t, o)
		link := "<https://portal.example.ru/unsubscribe/abc>"
		headers := map[string]string{"List-Unsubscribe": link, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
		id, err := o.Send(context.Background(), notify.Message{Subject: s, Channel: notify.Email, Template: notify.TemplateSignupExists,
			Headers: headers, RequestID: "req-h"})
		if err != nil {
			t.Fatal(err)
		}
		if d := wait(t, o, id); d.State != notify.Sent {
			t.Fatalf("delivery = %+v", d)
		}
		rec.mu.Lock()
		got := rec.got[0]
		rec.mu.Unlock()
		if !maps.Equal(got.Headers, headers) || strings.Contains(got.Text, "unsubscribe") {
			t.Errorf("outgoing headers %v, text %q", got.Headers, got.Text)
		}

		for name, m := range map[string]notify.Message{
			"on SMS":          {Channel: notify.SMS, Headers: map[string]string{"List-Unsubscribe": link}},
			"reserved":        {Channel: notify.Email, Headers: map[string]string{"subject": "x"}},
			"line break":      {Channel: notify.Email, Headers: map[string]string{"List-Unsubscribe": link + "\r\nBcc: x@example.org"}},
			"bad name":        {Channel: notify.Email, Headers: map[string]string{"List Unsubscribe": link}},
			"reserved prefix": {Channel: notify.Email, Params: map[string]string{"header:Bcc": "x@example.org"}},
		} {
			m.Subject, m.Template, m.ExpiresAt = s, notify.TemplateSignupExists, f.clock.Now().Add(time.Minute)
			_, err := o.Send(context.Background(), m)
			if k, _ := fault.Message(err); fault.KindOf(err) != fault.Invalid || k != "notify.bad_headers" {
				t.Errorf("%s: Send = %v, want invalid notify.bad_headers", name, err)
			}
		}
	})
}
