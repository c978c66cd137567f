package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/i18n/i18ntest"
	"kabinet/internal/notify"
)

func TestConsoleDeliversRenderedText(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		var term strings.Builder
		o := f.outbox(t, messages(t), notify.Options{Demo: true, ConsoleWriter: &term})
		s := f.subject(t)
		f.run(t, o)

		d := wait(t, o, send(t, o, f, s, notify.SMS, code))
		if d.State != notify.Sent || d.Attempts != 1 || d.ProviderID != "console-1" || d.SentAt.IsZero() || d.LastError != "" {
			t.Errorf("sms delivery = %+v", d)
		}
		wantSMS := "Код подтверждения: " + code + ". Никому его не сообщайте."
		if !strings.Contains(term.String(), wantSMS) || !strings.Contains(term.String(), "+7 916 ***-**-67") {
			t.Errorf("terminal = %q, want the text and the masked number", term.String())
		}
		if strings.Contains(term.String(), phone) || strings.Contains(term.String(), "9161234567") {
			t.Error("the terminal shows the whole phone number")
		}

		// E-mail in English, and a flash call.
		eid, err := o.Send(context.Background(), notify.Message{Subject: s, Channel: notify.Email, Template: notify.TemplateResetCode,
			Params: map[string]string{"code": code}, Lang: "en", ExpiresAt: f.clock.Now().Add(5 * time.Minute), RequestID: "req-2"})
		if err != nil {
			t.Fatal(err)
		}
		if d := wait(t, o, eid); d.State != notify.Sent || d.Lang != "en" {
			t.Errorf("email delivery = %+v", d)
		}
		if d := wait(t, o, send(t, o, f, s, notify.Call, "48291")); d.State != notify.Sent {
			t.Errorf("call delivery = %+v", d)
		}

		// A notice without parameters or expiry, named by its full key.
		nid, err := o.Send(context.Background(), notify.Message{Subject: s, Channel: notify.SMS, Template: "notify.sms.signup_exists"})
		if err != nil {
			t.Fatal(err)
		}
		if d := wait(t, o, nid); d.State != notify.Sent || d.Template != notify.TemplateSignupExists {
			t.Errorf("notice delivery = %+v", d)
		}

		recent := o.Console().Recent()
		if len(recent) != 4 {
			t.Fatalf("Recent() = %d messages, want 4", len(recent))
		}
		notice, call, mail, sms := recent[0], recent[1], recent[2], recent[3]
		if !strings.HasPrefix(notice.Text, "Кто-то пытается зарегистрироваться") {
			t.Errorf("notice = %+v", notice)
		}
		if sms.Channel != notify.SMS || sms.To != "+7 916 ***-**-67" || sms.Text != wantSMS {
			t.Errorf("recent sms = %+v", sms)
		}
		if mail.Channel != notify.Email || mail.To != "i***@example.ru" || mail.Subject != "Password reset code" ||
			!strings.Contains(mail.Text, "Your password reset code: "+code) || !strings.Contains(mail.Text, "valid for 5 minutes") {
			t.Errorf("recent email = %+v", mail)
		}
		if call.Channel != notify.Call || call.Code != "48291" || !strings.Contains(call.Text, "48291") {
			t.Errorf("recent call = %+v", call)
		}
	})
}

func TestExpiredMessageIsNotDelivered(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rec := &recorder{}
		o := f.outbox(t, messages(t), notify.Options{Demo: true, Senders: map[notify.Channel]notify.Sender{notify.SMS: rec}})
		id := send(t, o, f, f.subject(t), notify.SMS, code)
		f.clock.Add(5*time.Minute + time.Second) // the worker comes late: the code is worthless now
		f.run(t, o)
		d := wait(t, o, id)
		if d.State != notify.Failed || d.LastError != notify.ReasonExpired || d.Attempts != 0 {
			t.Errorf("delivery = %+v, want failed (expired) without an attempt", d)
		}
		if rec.count() != 0 {
			t.Error("an expired message reached the sender")
		}
		// Sending with an expiry already past is refused.
		_, err := o.Send(context.Background(), notify.Message{Subject: f.subject(t), Channel: notify.SMS, Template: notify.TemplateSignupCode,
			Params: map[string]string{"code": code}, ExpiresAt: f.clock.Now()})
		if fault.KindOf(err) != fault.Invalid {
			t.Errorf("send expired: %v, want invalid", err)
		}
	})
}

func TestDestroyedSubjectFailsPermanently(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rec := &recorder{}
		o := f.outbox(t, messages(t), notify.Options{Demo: true, Senders: map[notify.Channel]notify.Sender{notify.SMS: rec}})
		s := f.subject(t)
		id := send(t, o, f, s, notify.SMS, code)
		if err := f.gate.Destroy(context.Background(), system, s, "account_deleted", "req-del"); err != nil {
			t.Fatal(err)
		}
		f.run(t, o)
		d := wait(t, o, id)
		if d.State != notify.Failed || d.LastError != notify.ReasonNoRecipient || d.Attempts != 1 {
			t.Errorf("delivery = %+v, want failed (no recipient) after one attempt", d)
		}
		if rec.count() != 0 {
			t.Error("a message to a destroyed subject reached the sender")
		}
		// Nothing retries it: the job finished.
		time.Sleep(50 * time.Millisecond)
		if d := wait(t, o, id); d.Attempts != 1 {
			t.Errorf("attempts = %d after the failure, want 1", d.Attempts)
		}
		// A new message to the destroyed subject is refused at once.
		_, err := o.Send(context.Background(), notify.Message{Subject: s, Channel: notify.SMS, Template: notify.TemplateSignupCode,
			Params: map[string]string{"code": code}})
		if !errors.Is(err, gate.ErrDestroyed) {
			t.Errorf("send to destroyed subject: %v, want gate.ErrDestroyed", err)
		}
	})
}

func TestSubjectWithoutRecipientFails(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		o := f.outbox(t, messages(t), notify.Options{Demo: true})
		s, err := f.gate.NewSubject(context.Background(), system, "user", "r") // no phone, no e-mail
		if err != nil {
			t.Fatal(err)
		}
		id := send(t, o, f, s, notify.Email, code)
		f.run(t, o)
		if d := wait(t, o, id); d.State != notify.Failed || d.LastError != notify.ReasonNoRecipient {
			t.Errorf("delivery = %+v, want failed (no recipient)", d)
		}
	})
}

// The outbox stores neither the recipient nor the code in plain text, in
// its rows or anywhere in the database file, before or after delivery.
func TestNoPersonalDataInTheDatabase(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		o := f.outbox(t, messages(t), notify.Options{Demo: true})
		s := f.subject(t)
		pending := send(t, o, f, s, notify.SMS, code) // stays queued: sealed parameters stored
		rowsText := func() string {
			rows, err := f.db.Reader().Query(`SELECT id, subject_id, channel, template, lang, params_sealed, status, attempts,
				last_error, provider_id, request_id, created_at, updated_at, sent_at, expires_at FROM outbox`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var b strings.Builder
			for rows.Next() {
				vals := make([]any, 15)
				ptrs := make([]any, 15)
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					fmt.Fprintf(&b, "%s|", v)
				}
				b.WriteString("\n")
			}
			return b.String()
		}
		var sealed []byte
		if err := f.db.Reader().QueryRow("SELECT params_sealed FROM outbox WHERE id = $1", pending).Scan(&sealed); err != nil || len(sealed) == 0 {
			t.Fatalf("queued message has no sealed parameters: %v", err)
		}
		secrets := []string{phone, "9161234567", email, "ivan.petrov", code}
		check := func(when string) {
			t.Helper()
			text := rowsText()
			var jobsText strings.Builder
			rows, err := f.db.Reader().Query("SELECT kind, payload, COALESCE(last_error, '') FROM jobs")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var k, e string
				var p []byte
				rows.Scan(&k, &p, &e)
				jobsText.WriteString(k + string(p) + e)
			}
			rows.Close()
			for _, v := range secrets {
				if strings.Contains(text, v) {
					t.Errorf("%s: outbox rows contain %q", when, v)
				}
				if strings.Contains(jobsText.String(), v) {
					t.Errorf("%s: jobs contain %q", when, v)
				}
			}
			if f.path == "" {
				return
			}
			var files []byte
			for _, file := range []string{f.path, f.path + "-wal"} {
				data, err := os.ReadFile(file)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				files = append(files, data...)
			}
			// The scan sees what the outbox stores in the clear…
			if !bytes.Contains(files, []byte(notify.TemplateSignupCode)) || !bytes.Contains(files, []byte(s)) {
				t.Fatalf("%s: the database files lack the template and the subject id: the scan reads the wrong files", when)
			}
			// …and no personal datum.
			for _, v := range secrets {
				if bytes.Contains(files, []byte(v)) {
					t.Errorf("%s: the database file contains %q", when, v)
				}
			}
		}
		check("queued")

		f.run(t, o)
		for _, ch := range []notify.Channel{notify.SMS, notify.Email} {
			if d := wait(t, o, send(t, o, f, s, ch, code)); d.State != notify.Sent {
				t.Fatalf("%s: %+v", ch, d)
			}
		}
		wait(t, o, pending)
		check("delivered")
		var left int
		if err := f.db.Reader().QueryRow("SELECT COUNT(*) FROM outbox WHERE params_sealed IS NOT NULL").Scan(&left); err != nil || left != 0 {
			t.Errorf("%d final messages keep sealed parameters (%v); want none", left, err)
		}
	})
}

// A sender's error that quotes the recipient or the code is scrubbed
// before it is stored; a retry then succeeds.
func TestSenderErrorsAreScrubbedAndRetried(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rec := &recorder{fail: func(n int, m notify.Outgoing) error {
			if n == 1 {
				return fmt.Errorf("gateway refused %s with text %q", m.To, m.Text)
			}
			return nil
		}}
		o := f.outbox(t, messages(t), notify.Options{Demo: true, Senders: map[notify.Channel]notify.Sender{notify.SMS: rec}})
		id := send(t, o, f, f.subject(t), notify.SMS, code)
		f.run(t, o)
		d := wait(t, o, id)
		if d.State != notify.Sent || d.Attempts != 2 || d.ProviderID != "rec-1" {
			t.Errorf("delivery = %+v, want sent on attempt 2", d)
		}
		if !strings.Contains(d.LastError, "gateway refused ***") || strings.Contains(d.LastError, phone) || strings.Contains(d.LastError, code) {
			t.Errorf("last error %q: want the first failure, scrubbed", d.LastError)
		}
		var jobErr string
		if err := f.db.Reader().QueryRow("SELECT COALESCE(last_error, '') FROM jobs WHERE kind = $1", notify.JobDeliver).Scan(&jobErr); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(jobErr, phone) || strings.Contains(jobErr, code) {
			t.Errorf("jobs.last_error %q holds personal data", jobErr)
		}
	})
}

func TestAttemptsRunOut(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		failing := &recorder{fail: func(int, notify.Outgoing) error { return errBoom }}
		refusing := &recorder{fail: func(int, notify.Outgoing) error { return &notify.SendError{Err: errBoom, Permanent: true} }}
		cfg := messages(t)
		cfg.MaxAttempts = 3
		o := f.outbox(t, cfg, notify.Options{Demo: true, Senders: map[notify.Channel]notify.Sender{notify.SMS: failing, notify.Email: refusing}})
		s := f.subject(t)
		sms, mail := send(t, o, f, s, notify.SMS, code), send(t, o, f, s, notify.Email, code)
		f.run(t, o)
		if d := wait(t, o, sms); d.State != notify.Failed || d.Attempts != 3 || d.LastError != "boom" || failing.count() != 3 {
			t.Errorf("delivery = %+v after %d sends, want failed after 3", d, failing.count())
		}
		if d := wait(t, o, mail); d.State != notify.Failed || d.Attempts != 1 || refusing.count() != 1 {
			t.Errorf("permanent failure: %+v after %d sends, want failed after 1", d, refusing.count())
		}
		// Both jobs are dead, for an operator to look into (the Runner
		// records that just after the handler returns).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var dead int
			f.db.Reader().QueryRow("SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'dead'", notify.JobDeliver).Scan(&dead)
			if dead == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d dead delivery jobs, want 2", dead)
			}
		}
	})
}

func TestSendRefusesWhatCannotBeDelivered(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		cfg := messages(t)
		o := f.outbox(t, cfg, notify.Options{}) // not the demo, no sender configured: every channel off
		s := f.subject(t)
		msg := notify.Message{Subject: s, Channel: notify.SMS, Template: notify.TemplateSignupCode, Params: map[string]string{"code": code}}
		if _, err := o.Send(ctx, msg); fault.KindOf(err) != fault.Unavailable || o.Enabled(notify.SMS) {
			t.Errorf("send on a channel that is off: %v", err)
		}
		o = f.outbox(t, cfg, notify.Options{Demo: true})
		for name, m := range map[string]notify.Message{
			"unknown channel":  {Subject: s, Channel: "pigeon", Template: notify.TemplateSignupCode},
			"unknown template": {Subject: s, Channel: notify.SMS, Template: "lottery_win"},
			"no subject":       {Channel: notify.SMS, Template: notify.TemplateSignupCode},
			"call code length": {Subject: s, Channel: notify.Call, Template: notify.TemplateSignupCode, Params: map[string]string{"code": "739146"}},
			"no text by call":  {Subject: s, Channel: notify.Call, Template: notify.TemplateSignupExists},
		} {
			if _, err := o.Send(ctx, m); fault.KindOf(err) != fault.Invalid {
				t.Errorf("%s: %v, want invalid", name, err)
			}
		}
		var n int
		f.db.Reader().QueryRow("SELECT COUNT(*) FROM outbox").Scan(&n)
		if n != 0 {
			t.Errorf("%d refused messages were stored", n)
		}
	})
}

func TestCancelAndPrune(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		o := f.outbox(t, messages(t), notify.Options{Demo: true})
		s := f.subject(t)
		id := send(t, o, f, s, notify.SMS, code)
		if err := o.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := o.Cancel(ctx, id); fault.KindOf(err) != fault.Conflict {
			t.Errorf("second cancel: %v, want conflict", err)
		}
		if err := o.Cancel(ctx, 999999); fault.KindOf(err) != fault.NotFound {
			t.Errorf("cancel of nothing: %v, want not found", err)
		}
		f.run(t, o)
		sent := send(t, o, f, s, notify.SMS, code)
		if d := wait(t, o, sent); d.State != notify.Sent {
			t.Fatalf("%+v", d)
		}
		if d := wait(t, o, id); d.State != notify.Cancelled || d.Attempts != 0 {
			t.Errorf("cancelled message = %+v", d)
		}
		if n, err := o.Prune(ctx); err != nil || n != 0 {
			t.Errorf("prune within retention: %d, %v", n, err)
		}
		f.clock.Add(messages(t).Retention + time.Minute)
		if n, err := o.Prune(ctx); err != nil || n != 2 {
			t.Errorf("prune after retention: %d, %v; want 2", n, err)
		}
		if _, err := o.Status(ctx, sent); fault.KindOf(err) != fault.NotFound {
			t.Errorf("status of a pruned message: %v", err)
		}
	})
}

func TestConsoleRefusedOutsideTheDemo(t *testing.T) {
	f := newFixture(t, "sqlite:"+t.TempDir()+"/k.db", "sqlite:"+t.TempDir()+"/keys.db")
	cfg := messages(t)
	cfg.SMS.Sender = config.SenderConsole
	if _, err := notify.New(f.db, f.queue, f.gate, f.bundle, cfg, notify.Options{}); err == nil {
		t.Error("New accepted the console for an operator without allow_console")
	}
	cfg.AllowConsole = true
	if _, err := notify.New(f.db, f.queue, f.gate, f.bundle, cfg, notify.Options{}); err != nil {
		t.Errorf("allow_console: %v", err)
	}
}

// The configuration section rejects what notify could not run with.
func TestConfigValidation(t *testing.T) {
	base, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(c *config.Config)
		paths []string // problems expected, by path; none: valid
	}{
		{"demo defaults", func(c *config.Config) {}, nil},
		{"console outside the demo", func(c *config.Config) { c.Demo = false; c.Messages.SMS.Sender = "console" }, []string{"messages.sms.sender"}},
		{"console allowed", func(c *config.Config) {
			c.Demo = false
			c.Messages.SMS.Sender = "console"
			c.Messages.AllowConsole = true
		}, nil},
		{"operator without senders", func(c *config.Config) { c.Demo = false; c.Messages.Purpose = "nonexistent" }, nil},
		{"unknown sender", func(c *config.Config) { c.Messages.Email.Sender = "http" }, []string{"messages.email.sender"}},
		{"unknown purpose", func(c *config.Config) { c.Messages.Purpose = "nonexistent" }, []string{"messages.purpose"}},
		{"purpose not covering", func(c *config.Config) { c.Messages.EmailCategory = "payment.accounts" }, []string{"messages.email_category"}},
		{"http gateway", func(c *config.Config) {
			c.Messages.SMS.Sender = "http"
			c.Messages.SMS.HTTP.URL = "ftp://{{.To}}"
			c.Messages.SMS.HTTP.Body = "{{.To"
			c.Messages.SMS.HTTP.Auth = "bearer"
			c.Messages.SMS.HTTP.Headers = map[string]string{"Bad Name": "x"}
		}, []string{"messages.sms.http.body", "messages.sms.http.headers.Bad Name", "messages.sms.http.token_env", "messages.sms.http.url"}},
		{"smtp", func(c *config.Config) {
			c.Messages.Email.Sender = "smtp"
			c.Messages.Email.SMTP.Username = "u"
			c.Messages.Email.SMTP.Headers = map[string]string{"Subject": "x"}
		}, []string{"messages.email.smtp.from", "messages.email.smtp.headers.Subject", "messages.email.smtp.host", "messages.email.smtp.password_env"}},
		{"code digits", func(c *config.Config) { c.Messages.Call.CodeDigits = 12 }, []string{"messages.call.code_digits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *base
			c.Messages.SMS.HTTP.Headers, c.Messages.Email.SMTP.Headers = nil, nil
			tc.edit(&c)
			var got []string
			var ps config.Problems
			if err := c.Validate(); errors.As(err, &ps) {
				for _, p := range ps {
					// Validating a loaded Config again also sees the register's
					// built-ins as user-declared: only this section matters here.
					if strings.HasPrefix(p.Path, "messages.") {
						got = append(got, p.Path)
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tc.paths, ",") {
				t.Errorf("problems at %v, want %v (%v)", got, tc.paths, err)
			}
		})
	}
}

// Every message key the package emits, and every template on every
// channel, has a text in every language.
func TestKeysTranslated(t *testing.T) {
	i18ntest.KeysTranslated(t, "notify", 8, notify.JobDeliver, notify.JobPrune)
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range b.Languages() {
		l := b.Localizer(lang)
		for _, tpl := range []string{notify.TemplateSignupCode, notify.TemplateSigninCode, notify.TemplateResetCode, notify.TemplateDeletionCode, notify.TemplateSignupExists} {
			keys := []string{"notify.sms." + tpl, "notify.email." + tpl + ".subject", "notify.email." + tpl + ".body"}
			if tpl != notify.TemplateSignupExists {
				keys = append(keys, "notify.call."+tpl)
			}
			for _, key := range keys {
				if !l.Has(key) {
					t.Errorf("%s has no %s text", key, lang)
				} else if txt := l.T(key, "code", "12345", "valid_for", "x"); strings.Contains(txt, "{") {
					t.Errorf("%s (%s) has a placeholder other than code and valid_for: %q", key, lang, txt)
				}
			}
		}
	}
}
