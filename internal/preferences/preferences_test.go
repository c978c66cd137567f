package preferences_test

import (
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/consent"
	"kabinet/internal/fault"
	"kabinet/internal/i18n/i18ntest"
	"kabinet/internal/notify"
	"kabinet/internal/preferences"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

var (
	cabinet = preferences.Cabinet
	mailCh  = preferences.Email
	sms     = preferences.SMS
	push    = preferences.Push
)

// A person who has chosen nothing gets service notices in the cabinet and
// by e-mail — not by SMS (seed 000 §3.13), not by push — and no marketing
// anywhere.
func TestDefaults(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s := f.subject(t)
		m, err := f.n.Settings(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		want := map[preferences.Cell]bool{
			{Channel: cabinet, Topic: preferences.Service}: true, {Channel: mailCh, Topic: preferences.Service}: true,
			{Channel: cabinet, Topic: preferences.Informational}: true, {Channel: mailCh, Topic: preferences.Informational}: true,
		}
		if len(m) != 12 {
			t.Errorf("matrix has %d cells, want 12", len(m))
		}
		for _, ch := range preferences.Channels() {
			for _, topic := range preferences.Topics() {
				c := preferences.Cell{Channel: ch, Topic: topic}
				if got := m[c]; got.On != want[c] || got.Chosen || got.Fixed != (c == preferences.Cell{Channel: cabinet, Topic: preferences.Service}) {
					t.Errorf("%s/%s = %+v, want on=%v by default", ch, topic, got, want[c])
				}
			}
		}

		sent := f.notify(t, notice(s, preferences.Service))
		if !slices.Equal(sent, []preferences.Channel{cabinet, mailCh}) {
			t.Errorf("service notice went to %v, want cabinet and e-mail", sent)
		}
		got := f.waitMail(t, 1)
		if got.subject != "Весенняя распродажа" || !strings.Contains(got.text, "Скидки на курсы до 31 марта.") {
			t.Errorf("service mail %q: %q", got.subject, got.text)
		}
		if h := got.header.Get("List-Unsubscribe"); h != "" {
			t.Errorf("a service mail carries List-Unsubscribe %q", h)
		}
		if n := f.queued(t, s, notify.SMS); n != 0 {
			t.Errorf("%d SMS queued without an opt-in", n)
		}
		// Marketing, even with a consent, waits for the opt-in.
		f.consent(t, s)
		if sent := f.notify(t, notice(s, preferences.Marketing)); len(sent) != 0 {
			t.Errorf("marketing went to %v without an opt-in", sent)
		}
		if n := f.queued(t, s, notify.Email); n != 1 {
			t.Errorf("%d e-mails queued, want only the service one", n)
		}
		if len(f.sms.messages()) != 0 {
			t.Error("an SMS was delivered")
		}
	})
}

// Opting in to SMS makes a service notice go by SMS too; the choice is
// audited once, and repeating it changes nothing.
func TestSMSOptIn(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s := f.subject(t)
		f.clock.Add(time.Hour)
		f.set(t, s, sms, preferences.Service, true)
		f.set(t, s, sms, preferences.Service, true) // a form posting the same again
		m, err := f.n.Settings(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := m[preferences.Cell{Channel: sms, Topic: preferences.Service}]; !got.On || !got.Chosen || !got.UpdatedAt.Equal(f.clock.Now()) {
			t.Errorf("SMS/service = %+v after opting in", got)
		}
		if got := f.settingsEntries(t, s); !slices.Equal(got, []string{`account {"channel":"sms","on":"true","topic":"service"}`}) {
			t.Errorf("audit entries %q, want one", got)
		}

		sent := f.notify(t, notice(s, preferences.Service))
		if !slices.Equal(sent, []preferences.Channel{cabinet, mailCh, sms}) {
			t.Errorf("sent to %v", sent)
		}
		got := f.waitSMS(t, 1)
		if got.To != phone || got.Text != "Весенняя распродажа: Скидки на курсы до 31 марта." {
			t.Errorf("SMS to %q: %q", got.To, got.Text)
		}
		// Informational SMS stays off: the opt-in was for service notices.
		if sent := f.notify(t, notice(s, preferences.Informational)); slices.Contains(sent, sms) {
			t.Errorf("informational notice went to %v", sent)
		}

		// Opting out again is a change, and audited.
		f.set(t, s, sms, preferences.Service, false)
		if sent := f.notify(t, notice(s, preferences.Service)); slices.Contains(sent, sms) {
			t.Errorf("after opting out, sent to %v", sent)
		}
		if got := f.settingsEntries(t, s); len(got) != 2 {
			t.Errorf("audit entries %q, want two", got)
		}
	})
}

var unsubscribeHeader = regexp.MustCompile(`^<` + regexp.QuoteMeta(baseURL) + `/unsubscribe/([A-Za-z0-9_-]+)>$`)

// Marketing needs both the opt-in and a valid consent; the e-mail carries
// a one-click unsubscribe (RFC 8058) whose token, taken from the captured
// message, turns marketing e-mail off without signing in.
func TestMarketingConsentAndUnsubscribe(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s, other := f.subject(t), f.subject(t)
		f.set(t, s, mailCh, preferences.Marketing, true)
		f.set(t, other, mailCh, preferences.Marketing, true)
		if sent := f.notify(t, notice(s, preferences.Marketing)); len(sent) != 0 {
			t.Fatalf("marketing went to %v without a consent", sent)
		}
		if n := f.queued(t, s, notify.Email); n != 0 {
			t.Fatalf("%d e-mails queued without a consent", n)
		}

		f.consent(t, s)
		f.consent(t, other)
		if sent := f.notify(t, notice(s, preferences.Marketing)); !slices.Equal(sent, []preferences.Channel{mailCh}) {
			t.Fatalf("marketing with consent and opt-in went to %v, want e-mail", sent)
		}
		got := f.waitMail(t, 1)
		if got.subject != "Реклама: Весенняя распродажа" {
			t.Errorf("subject %q", got.subject)
		}
		if h := got.header.Get("List-Unsubscribe-Post"); h != "List-Unsubscribe=One-Click" {
			t.Errorf("List-Unsubscribe-Post %q", h)
		}
		match := unsubscribeHeader.FindStringSubmatch(got.header.Get("List-Unsubscribe"))
		if match == nil {
			t.Fatalf("List-Unsubscribe %q is not <%s/unsubscribe/TOKEN>", got.header.Get("List-Unsubscribe"), baseURL)
		}
		link, token := strings.Trim(got.header.Get("List-Unsubscribe"), "<>"), match[1]
		for part, body := range map[string]string{"plain": got.text, "html": got.html} {
			if !strings.Contains(body, link) || !strings.Contains(body, "Чтобы отписаться") {
				t.Errorf("the %s body does not give the unsubscribe link: %q", part, body)
			}
		}

		// Forged and altered tokens are refused and change nothing.
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			t.Fatal(err)
		}
		swapped := strings.Replace(string(raw), s, other, 1) // another subject, the MAC kept
		flipped := []byte(token)
		flipped[len(flipped)/2] ^= 1
		for name, bad := range map[string]string{
			"other subject": base64.RawURLEncoding.EncodeToString([]byte(swapped)),
			"flipped char":  string(flipped),
			"truncated":     token[:len(token)-4],
			"empty":         "",
			"not base64":    "!!!" + token,
			"with padding":  token + "==",
			"another key":   otherKey(t, f, s),
			"other channel": retarget(t, token),
		} {
			_, err := f.n.Unsubscribe(ctx, bad, "req-forged")
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("%s: Unsubscribe = %v, want invalid", name, err)
				continue
			}
			wantFault(t, err, fault.Invalid, "preferences.unsubscribe_invalid")
		}
		if got := f.settingsEntries(t, other); len(got) != 1 {
			t.Errorf("the other subject's entries %q: a forged token changed something", got)
		}

		// The genuine token, a week later (links do not expire), twice.
		f.clock.Add(7 * 24 * time.Hour)
		for range 2 {
			u, err := f.n.Unsubscribe(ctx, token, "req-unsub")
			if err != nil {
				t.Fatalf("Unsubscribe: %v", err)
			}
			if u.Subject != s || u.Channel != mailCh || u.Topic != preferences.Marketing || !u.Issued.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("unsubscribed %+v", u)
			}
		}
		m, err := f.n.Settings(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if m.On(mailCh, preferences.Marketing) {
			t.Error("marketing e-mail is still on after unsubscribing")
		}
		entries := f.settingsEntries(t, s)
		if len(entries) != 2 || entries[1] != `subject {"channel":"email","issued":"2026-03-10","on":"false","topic":"marketing","via":"unsubscribe"}` {
			t.Errorf("audit entries %q: want the opt-in and one unsubscription by the subject", entries)
		}
		if sent := f.notify(t, notice(s, preferences.Marketing)); len(sent) != 0 {
			t.Errorf("after unsubscribing, marketing went to %v", sent)
		}
		if n := f.queued(t, s, notify.Email); n != 1 {
			t.Errorf("%d marketing e-mails queued, want the first only", n)
		}
		// The token was for s's e-mail only: the other subject still gets it.
		if sent := f.notify(t, notice(other, preferences.Marketing)); !slices.Equal(sent, []preferences.Channel{mailCh}) {
			t.Errorf("the other subject's marketing went to %v", sent)
		}

		// Withdrawing the consent stops marketing even with the opt-in.
		if _, err := f.ledger.Withdraw(ctx, consent.Event{Subject: other, Purpose: "marketing", Method: "checkbox",
			Actor: audit.Actor{Kind: audit.ActorAccount, ID: "acc-2"}, RequestID: "req-w"}); err != nil {
			t.Fatal(err)
		}
		if sent := f.notify(t, notice(other, preferences.Marketing)); len(sent) != 0 {
			t.Errorf("after withdrawal, marketing went to %v", sent)
		}
	})
}

// otherKey returns a well-formed token for s under a different key.
func otherKey(t *testing.T, f *fixture, s string) string {
	t.Helper()
	n, err := preferences.New(f.db, f.outbox, f.audit, f.bundle, func(string, string, time.Time) bool { return true },
		preferences.Config{BaseURL: baseURL, UnsubscribeKey: []byte("another key of thirty-two bytes!")})
	if err != nil {
		t.Fatal(err)
	}
	return n.UnsubscribeToken(s, preferences.Marketing, mailCh)
}

// retarget changes the channel byte of token (e-mail → SMS) keeping its MAC.
func retarget(t *testing.T, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	b[1] = 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// An SMS and an informational e-mail carry unsubscribe links too (seed 002
// §5.9.2: every mailing lets the person opt out), each for its own channel.
func TestInformationalAndSMSUnsubscribe(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s := f.subject(t)
		f.consent(t, s)
		f.set(t, s, sms, preferences.Marketing, true)
		if sent := f.notify(t, notice(s, preferences.Marketing)); !slices.Equal(sent, []preferences.Channel{sms}) {
			t.Fatalf("sent to %v, want SMS", sent)
		}
		text := f.waitSMS(t, 1).Text
		i := strings.Index(text, baseURL+"/unsubscribe/")
		if !strings.HasPrefix(text, "Реклама. ") || i < 0 {
			t.Fatalf("SMS %q", text)
		}
		if _, err := f.n.Unsubscribe(ctx, text[i+len(baseURL+"/unsubscribe/"):], "req-sms"); err != nil {
			t.Fatal(err)
		}
		m, _ := f.n.Settings(ctx, s)
		if m.On(sms, preferences.Marketing) {
			t.Error("marketing SMS still on")
		}

		if sent := f.notify(t, notice(s, preferences.Informational)); !slices.Equal(sent, []preferences.Channel{cabinet, mailCh}) {
			t.Fatalf("informational notice went to %v", sent)
		}
		got := f.waitMail(t, 1)
		if unsubscribeHeader.FindStringSubmatch(got.header.Get("List-Unsubscribe")) == nil || !strings.Contains(got.text, "/unsubscribe/") {
			t.Errorf("informational mail: List-Unsubscribe %q, body %q", got.header.Get("List-Unsubscribe"), got.text)
		}
		u, err := f.n.CheckToken(unsubscribeHeader.FindStringSubmatch(got.header.Get("List-Unsubscribe"))[1])
		if err != nil || u.Topic != preferences.Informational || u.Channel != mailCh {
			t.Errorf("CheckToken = %+v, %v", u, err)
		}
	})
}

// Without a configured marketing purpose nothing is sent as marketing; a
// configured informing purpose makes informational notices need consent.
func TestPurposesConfigured(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, preferences.Config{InformingPurpose: "marketing"})
		s := f.subject(t)
		f.consent(t, s)
		f.set(t, s, mailCh, preferences.Marketing, true)
		f.set(t, s, cabinet, preferences.Marketing, true)
		if f.n.MarketingEnabled() {
			t.Error("MarketingEnabled without a purpose")
		}
		if sent := f.notify(t, notice(s, preferences.Marketing)); len(sent) != 0 {
			t.Errorf("marketing went to %v without a marketing purpose", sent)
		}
		// The informing purpose (here the consent-based "marketing") is
		// consented: informational notices go out; withdrawn: they do not.
		if sent := f.notify(t, notice(s, preferences.Informational)); len(sent) != 2 {
			t.Errorf("informational went to %v", sent)
		}
		if _, err := f.ledger.Withdraw(ctx, consent.Event{Subject: s, Purpose: "marketing", Method: "checkbox",
			Actor: audit.Actor{Kind: audit.ActorAccount, ID: "acc-1"}, RequestID: "req-w"}); err != nil {
			t.Fatal(err)
		}
		if sent := f.notify(t, notice(s, preferences.Informational)); len(sent) != 0 {
			t.Errorf("informational went to %v without the informing consent", sent)
		}
	})
}

// The inbox lists a subject's notices newest first with the unread count;
// only the owner can mark one read.
func TestInbox(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a, b := f.subject(t), f.subject(t)
		f.set(t, a, mailCh, preferences.Service, false) // the cabinet only
		for i := range preferences.InboxPageSize + 5 {
			nt := notice(a, preferences.Service)
			nt.Params["title"] = "Уведомление " + string(rune('A'+i))
			if sent := f.notify(t, nt); !slices.Equal(sent, []preferences.Channel{cabinet}) {
				t.Fatalf("sent to %v", sent)
			}
			f.clock.Add(time.Second)
		}
		f.notify(t, notice(b, preferences.Service))

		items, unread, err := f.n.Inbox(ctx, a, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != preferences.InboxPageSize || unread != preferences.InboxPageSize+5 {
			t.Fatalf("page 1: %d items, %d unread", len(items), unread)
		}
		first := items[0]
		subject, body := first.Text(f.bundle.Localizer("en"))
		if subject != "Уведомление Y" || body != "Скидки на курсы до 31 марта." || !first.Unread() || first.Topic != preferences.Service {
			t.Errorf("newest item %+v renders %q / %q", first, subject, body)
		}
		page2, _, err := f.n.Inbox(ctx, a, 2)
		if err != nil || len(page2) != 5 || page2[4].Params["title"] != "Уведомление A" {
			t.Fatalf("page 2: %d items (%v)", len(page2), err)
		}

		if err := f.n.MarkRead(ctx, a, first.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.n.MarkRead(ctx, a, first.ID); err != nil {
			t.Errorf("marking read twice: %v", err)
		}
		// B cannot mark A's notice, and learns no more than for a missing id.
		wantFault(t, f.n.MarkRead(ctx, b, page2[0].ID), fault.NotFound, "preferences.no_item")
		wantFault(t, f.n.MarkRead(ctx, a, 1<<40), fault.NotFound, "preferences.no_item")
		items, unread, _ = f.n.Inbox(ctx, a, 1)
		if unread != preferences.InboxPageSize+4 || items[0].Unread() || !items[1].Unread() || !page2[0].Unread() {
			t.Errorf("after marking one read: %d unread, first read at %v", unread, items[0].ReadAt)
		}
		if _, unreadB, _ := f.n.Inbox(ctx, b, 1); unreadB != 1 {
			t.Errorf("B's unread = %d", unreadB)
		}
		if n, err := f.n.MarkAllRead(ctx, a); err != nil || n != int64(preferences.InboxPageSize+4) {
			t.Errorf("MarkAllRead = %d, %v", n, err)
		}
		if n, _ := f.n.Unread(ctx, a); n != 0 {
			t.Errorf("unread after MarkAllRead = %d", n)
		}

		// Retention and deletion.
		f.clock.Add(366 * 24 * time.Hour)
		f.notify(t, notice(a, preferences.Service))
		if n, err := f.n.Prune(ctx); err != nil || n != int64(preferences.InboxPageSize+6) {
			t.Errorf("Prune = %d, %v", n, err)
		}
		if err := f.n.Forget(ctx, a); err != nil {
			t.Fatal(err)
		}
		if items, unread, _ := f.n.Inbox(ctx, a, 1); len(items) != 0 || unread != 0 {
			t.Errorf("after Forget: %d items", len(items))
		}
		if m, _ := f.n.Settings(ctx, a); !m.On(mailCh, preferences.Service) {
			t.Error("after Forget the choices remain")
		}
	})
}

// The inbox keeps no unsubscribe link: it is a credential, and the
// cabinet has the settings page.
func TestInboxKeepsNoLink(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s := f.subject(t)
		f.consent(t, s)
		f.set(t, s, cabinet, preferences.Marketing, true)
		f.set(t, s, mailCh, preferences.Marketing, true)
		if sent := f.notify(t, notice(s, preferences.Marketing)); len(sent) != 2 {
			t.Fatalf("sent to %v", sent)
		}
		var params string
		if err := f.db.Reader().QueryRow("SELECT params FROM inbox WHERE subject_id = $1", s).Scan(&params); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(params, "unsubscribe") {
			t.Errorf("inbox params %s", params)
		}
	})
}

func TestSetRefusals(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s := f.subject(t)
		acc := audit.Actor{Kind: audit.ActorAccount, ID: "acc-1"}
		wantFault(t, f.n.Set(ctx, acc, s, "fax", preferences.Service, true, "r"), fault.Invalid, "preferences.unknown_channel")
		wantFault(t, f.n.Set(ctx, acc, s, sms, "gossip", true, "r"), fault.Invalid, "preferences.unknown_topic")
		wantFault(t, f.n.Set(ctx, acc, s, cabinet, preferences.Service, false, "r"), fault.Invalid, "preferences.fixed")
		wantFault(t, f.n.Set(ctx, acc, "", sms, preferences.Service, true, "r"), fault.Invalid, "preferences.no_subject")
		// Push has no transport, but the choice is kept.
		f.set(t, s, push, preferences.Service, true)
		if m, _ := f.n.Settings(ctx, s); !m.On(push, preferences.Service) || f.n.Available(push) || !f.n.Available(sms) {
			t.Error("push setting not kept, or push claimed available")
		}
		if sent := f.notify(t, notice(s, preferences.Service)); slices.Contains(sent, push) {
			t.Errorf("sent by push: %v", sent)
		}
		// A stored row for the fixed cell (written by hand) is ignored.
		if _, err := f.db.Writer().Exec(`INSERT INTO notification_settings (subject_id, channel, topic, enabled, updated_at)
			VALUES ($1, 'cabinet', 'service', 0, 1)`, s); err != nil {
			t.Fatal(err)
		}
		if m, _ := f.n.Settings(ctx, s); !m.On(cabinet, preferences.Service) {
			t.Error("the cabinet's service notices were turned off")
		}

		_, err := f.n.Notify(ctx, preferences.Notice{Subject: s, Topic: preferences.Service, Template: "no_such_template"})
		wantFault(t, err, fault.Invalid, "preferences.unknown_template")
		_, err = f.n.Notify(ctx, preferences.Notice{Subject: s, Topic: "gossip", Template: preferences.TemplateNotice})
		wantFault(t, err, fault.Invalid, "preferences.unknown_topic")
		// A template without an unsubscribe link cannot carry marketing.
		_, err = f.n.Notify(ctx, preferences.Notice{Subject: s, Topic: preferences.Marketing, Template: preferences.TemplateNotice})
		wantFault(t, err, fault.Invalid, "preferences.no_unsubscribe_link")
	})
}

// Tokens need no database, survive years, and bind subject, topic and
// channel.
func TestTokens(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLite(t), preferences.Config{MarketingPurpose: "marketing"})
	s := "sabcdefghijklmnopqrstuvwxy"
	tok := f.n.UnsubscribeToken(s, preferences.Marketing, mailCh)
	if len(tok) > 70 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q: %d characters", tok, len(tok))
	}
	if url := f.n.UnsubscribeURL(s, preferences.Marketing, mailCh); url != baseURL+"/unsubscribe/"+tok {
		t.Errorf("URL %q", url)
	}
	f.clock.Add(5 * 365 * 24 * time.Hour)
	u, err := f.n.CheckToken(tok)
	if err != nil || u.Subject != s || u.Topic != preferences.Marketing || u.Channel != mailCh {
		t.Errorf("CheckToken five years on = %+v, %v", u, err)
	}
	if f.n.UnsubscribeToken(s, preferences.Marketing, mailCh) == tok {
		t.Error("a token issued another day is the same")
	}
	for _, bad := range []string{
		f.n.UnsubscribeToken("", preferences.Marketing, mailCh),
		f.n.UnsubscribeToken(s, "gossip", mailCh),
		f.n.UnsubscribeToken(s, preferences.Marketing, "fax"),
		f.n.UnsubscribeToken(strings.Repeat("s", 200), preferences.Marketing, mailCh),
	} {
		if bad != "" {
			t.Errorf("token %q for bad input", bad)
		}
	}
	for _, cfg := range []preferences.Config{
		{BaseURL: "portal.example.ru", UnsubscribeKey: make([]byte, 32)},
		{BaseURL: "https://portal.example.ru?x=1", UnsubscribeKey: make([]byte, 32)},
		{BaseURL: baseURL, UnsubscribeKey: make([]byte, 15)},
	} {
		if _, err := preferences.New(f.db, f.outbox, f.audit, f.bundle, func(string, string, time.Time) bool { return true }, cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}

// Every template kabinet ships has a text on every channel, and those for
// informational and marketing notices link the unsubscribe page in every
// language; marketing is marked as advertising.
func TestTemplates(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLite(t), preferences.Config{MarketingPurpose: "marketing"})
	for _, tmpl := range []string{preferences.TemplateNotice, preferences.TemplateInformation, preferences.TemplateMarketing} {
		for _, lang := range f.bundle.Languages() {
			l := f.bundle.Localizer(lang)
			for _, key := range []string{"notify.inbox." + tmpl + ".subject", "notify.inbox." + tmpl + ".body",
				"notify.email." + tmpl + ".subject", "notify.email." + tmpl + ".body", "notify.sms." + tmpl} {
				if !l.Has(key) {
					t.Errorf("%s: no %s", lang, key)
				}
				linked := strings.Contains(l.T(key), "{unsubscribe_url}")
				if want := tmpl != preferences.TemplateNotice && (strings.HasSuffix(key, ".body") || strings.HasPrefix(key, "notify.sms.")) &&
					!strings.HasPrefix(key, "notify.inbox."); linked != want {
					t.Errorf("%s: %s has the link: %v, want %v", lang, key, linked, want)
				}
			}
		}
		mkt := f.bundle.Localizer("ru").T("notify.email.marketing.subject", "title", "x")
		if !strings.HasPrefix(mkt, "Реклама") {
			t.Errorf("marketing subject %q is not marked as advertising", mkt)
		}
	}
}

func TestKeysTranslated(t *testing.T) {
	i18ntest.KeysTranslated(t, "preferences", 15, preferences.JobPrune)
}
