package notify

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Console is the demo's sender: it writes each message — one-time code
// included — to a writer (the terminal) and keeps the last few for a
// demo-only page, so a newcomer can sign up without an SMS gateway.
//
// It must never serve real people: whoever reads the terminal or the page
// could sign in as anyone. config.Messages allows it only in the built-in
// demo or with allow_console. Recipients are masked both in the terminal
// and on the page; the texts are not (the code is the point).
type Console struct {
	w    io.Writer
	keep int
	now  func() time.Time

	mu     sync.Mutex
	recent []ConsoleMessage // oldest first, at most keep
	count  int64
}

// ConsoleMessage is a message as the demo page shows it.
type ConsoleMessage struct {
	Channel Channel
	To      string // masked: +7 916 ***-**-67, i***@example.ru
	Subject string // e-mail only
	Text    string
	Code    string // flash calls: the digits the caller number ends with
	At      time.Time
}

// NewConsole returns a Console writing to w and keeping the last keep
// messages; now is its clock (nil: time.Now).
func NewConsole(w io.Writer, keep int, now func() time.Time) *Console {
	if now == nil {
		now = time.Now
	}
	return &Console{w: w, keep: max(keep, 1), now: now}
}

// Deliver prints m and keeps it. It fails only when the writer does.
func (c *Console) Deliver(_ context.Context, m Outgoing) (string, error) {
	cm := ConsoleMessage{Channel: m.Channel, Subject: m.Subject, Text: m.Text, Code: m.Code, At: c.now()}
	if m.Channel == Email {
		cm.To = maskEmail(m.To)
	} else {
		cm.To = maskPhone(m.To)
	}
	var line strings.Builder
	fmt.Fprintf(&line, "[demo: not sent] %s to %s", m.Channel, cm.To)
	switch m.Channel {
	case Call:
		fmt.Fprintf(&line, ": flash call from a number ending in %s", m.Code)
	case Email:
		fmt.Fprintf(&line, ": %s\n    %s", m.Subject, strings.ReplaceAll(strings.TrimSpace(m.Text), "\n", "\n    "))
	default:
		fmt.Fprintf(&line, ": %s", m.Text)
	}
	line.WriteByte('\n')

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.w, line.String()); err != nil {
		return "", fmt.Errorf("console: %w", err)
	}
	if len(c.recent) == c.keep {
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:c.keep-1]
	}
	c.recent = append(c.recent, cm)
	c.count++
	return "console-" + strconv.FormatInt(c.count, 10), nil
}

// Recent returns the kept messages, newest first.
func (c *Console) Recent() []ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ConsoleMessage, len(c.recent))
	for i, m := range c.recent {
		out[len(c.recent)-1-i] = m
	}
	return out
}

// maskPhone shows the country code, the next digits of a Russian or
// Kazakh number's operator code, and the last two digits:
// +79161234567 → +7 916 ***-**-67; +996555123456 → +996 *******56.
func maskPhone(e164 string) string {
	d := strings.TrimPrefix(e164, "+")
	if d == "" || strings.Trim(d, "0123456789") != "" {
		return "***"
	}
	if len(d) == 11 && d[0] == '7' {
		return "+7 " + d[1:4] + " ***-**-" + d[9:]
	}
	if len(d) < 7 {
		return "+" + strings.Repeat("*", len(d))
	}
	cc := 3 // most country codes outside zone 7 are one to three digits; three hides more
	return "+" + d[:cc] + " " + strings.Repeat("*", len(d)-cc-2) + d[len(d)-2:]
}

// maskEmail keeps the first character of the local part and the domain:
// ivan.petrov@example.ru → i***@example.ru.
func maskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "***@" + domain
}
