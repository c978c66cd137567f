package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"kabinet/internal/notify"
)

func TestConsoleMasksAndKeepsTheLastMessages(t *testing.T) {
	var term strings.Builder
	c := notify.NewConsole(&term, 2, func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) })
	for _, m := range []notify.Outgoing{
		{Channel: notify.SMS, To: "+79161234567", Text: "one"},
		{Channel: notify.SMS, To: "+996555123456", Text: "two"},
		{Channel: notify.Email, To: "ivan.petrov@example.ru", Subject: "Subj", Text: "three\nlines"},
	} {
		if _, err := c.Deliver(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	got := c.Recent()
	if len(got) != 2 || got[0].Text != "three\nlines" || got[1].Text != "two" {
		t.Fatalf("Recent() = %+v, want the last two, newest first", got)
	}
	if got[0].To != "i***@example.ru" || got[1].To != "+996 *******56" {
		t.Errorf("masked %q, %q", got[0].To, got[1].To)
	}
	out := term.String()
	for _, want := range []string{"sms to +7 916 ***-**-67: one", "sms to +996 *******56: two", "email to i***@example.ru: Subj\n    three\n    lines"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal lacks %q:\n%s", want, out)
		}
	}
	for _, whole := range []string{"79161234567", "996555123456", "ivan.petrov"} {
		if strings.Contains(out, whole) {
			t.Errorf("terminal shows %q", whole)
		}
	}
}
