// Package preferences keeps a data subject's notification settings — per
// channel (SMS, e-mail, push, the cabinet's inbox) and per topic (service,
// informational, marketing) — and sends notices by topic through them: to
// the channels the person has turned on, to the inbox kept here, and, for
// marketing, only while the person also holds a valid consent to the
// operator's marketing purpose (seed 000 agreement §3.13, policy §4.6;
// seed 002 §5.9.2).
//
// Only explicit choices are stored; the defaults are in code (Default): a
// service notice goes to the cabinet and by e-mail, SMS waits until the
// person opts in (seed 000 agreement §3.13), marketing is off everywhere
// until the person opts in, and push is off (there is no push transport
// yet; the setting is kept for when there is). The cabinet's service
// notices cannot be turned off: the inbox is where the portal tells the
// person about their own requests.
//
// Every informational and marketing e-mail carries a one-click unsubscribe
// link (List-Unsubscribe and List-Unsubscribe-Post, RFC 8058) and the same
// link in its body; an SMS of those topics carries the link too. The link
// holds a token (UnsubscribeToken) that is a MAC over the subject, topic,
// channel and issue day: it needs no database row, never expires (a link
// in an old e-mail must still work) and is good only for its own subject,
// topic and channel.
//
// Personal data: the settings and the inbox name the subject by its
// opaque id only. Inbox notices keep their template key and parameters,
// which must be non-personal (see Notice.Params); the texts are rendered
// from the catalogue when shown. Recipients' addresses are read through
// the gate by package notify at delivery.
package preferences

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/notify"
	"kabinet/internal/sqldb"
)

// Channel is a way a notice reaches a person.
type Channel string

const (
	SMS     Channel = "sms"
	Email   Channel = "email"
	Push    Channel = "push"    // no transport yet: the setting is stored only
	Cabinet Channel = "cabinet" // the inbox in the personal cabinet
)

// Topic is what a notice is about.
type Topic string

const (
	// Service notices are about the person's own account and requests.
	Service Topic = "service"
	// Informational notices are not advertising: social projects,
	// vaccination, surveys, tax debts (seed 000 policy §4.6).
	Informational Topic = "informational"
	// Marketing is advertising; it also needs a consent to the operator's
	// marketing purpose.
	Marketing Topic = "marketing"
)

// Channels returns every channel in the order a settings page shows them.
func Channels() []Channel { return []Channel{Cabinet, Email, SMS, Push} }

// Topics returns every topic in the order a settings page shows them.
func Topics() []Topic { return []Topic{Service, Informational, Marketing} }

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	switch c {
	case SMS, Email, Push, Cabinet:
		return true
	}
	return false
}

// Label is the message key of the channel's name.
func (c Channel) Label() string {
	switch c {
	case SMS:
		return "preferences.channel.sms"
	case Email:
		return "preferences.channel.email"
	case Push:
		return "preferences.channel.push"
	case Cabinet:
		return "preferences.channel.cabinet"
	}
	return "preferences.unknown_channel"
}

// Valid reports whether t is a known topic.
func (t Topic) Valid() bool {
	switch t {
	case Service, Informational, Marketing:
		return true
	}
	return false
}

// Label is the message key of the topic's name.
func (t Topic) Label() string {
	switch t {
	case Service:
		return "preferences.topic.service"
	case Informational:
		return "preferences.topic.informational"
	case Marketing:
		return "preferences.topic.marketing"
	}
	return "preferences.unknown_topic"
}

// Hint is the message key of the topic's one-line explanation.
func (t Topic) Hint() string {
	switch t {
	case Service:
		return "preferences.topic.service.hint"
	case Informational:
		return "preferences.topic.informational.hint"
	case Marketing:
		return "preferences.topic.marketing.hint"
	}
	return "preferences.unknown_topic"
}

// Default reports whether ch carries topic for a person who has not
// chosen: service notices in the cabinet and by e-mail, informational ones
// likewise (they may still need a consent, see Config.InformingPurpose),
// nothing by SMS or push, no marketing anywhere.
func Default(ch Channel, topic Topic) bool {
	return (ch == Cabinet || ch == Email) && topic != Marketing
}

// Fixed reports whether the setting cannot be changed: service notices
// always reach the cabinet's inbox.
func Fixed(ch Channel, topic Topic) bool { return ch == Cabinet && topic == Service }

// Cell names one setting.
type Cell struct {
	Channel Channel
	Topic   Topic
}

// Setting is the state of one cell for one subject.
type Setting struct {
	On bool
	// Chosen is true when the person set it (then UpdatedAt is when);
	// false when On is the default.
	Chosen    bool
	UpdatedAt time.Time
	// Fixed is true when the person cannot change it (see Fixed).
	Fixed bool
}

// Matrix is a subject's complete settings: every channel × topic.
type Matrix map[Cell]Setting

// On reports whether ch carries topic.
func (m Matrix) On(ch Channel, topic Topic) bool { return m[Cell{ch, topic}].On }

// defaults returns the matrix of a person who has chosen nothing.
func defaults() Matrix {
	m := make(Matrix, len(Channels())*len(Topics()))
	for _, ch := range Channels() {
		for _, t := range Topics() {
			m[Cell{ch, t}] = Setting{On: Default(ch, t), Fixed: Fixed(ch, t)}
		}
	}
	return m
}

// ConsentFunc reports whether subject holds a valid consent to purpose at
// the instant at; cmd/kabinet wires it to the consent ledger:
//
//	func(s, p string, at time.Time) bool { return ledger.Allowed(s, p, at).Allowed }
type ConsentFunc func(subject, purpose string, at time.Time) bool

// Outbox is what this package needs of *notify.Outbox.
type Outbox interface {
	Send(ctx context.Context, m notify.Message) (int64, error)
	Enabled(ch notify.Channel) bool
}

// Auditor appends an audit entry inside the caller's transaction;
// *audit.Log implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx *sql.Tx, e audit.Entry) (audit.Entry, error)
}

// Config is the operator's side of notifications.
type Config struct {
	// MarketingPurpose is the register's id of the consent-based purpose
	// under which marketing is sent (e.g. "marketing"). Empty: the
	// operator declares none, and no marketing notice is ever sent.
	MarketingPurpose string
	// InformingPurpose, when set, is a consent-based purpose whose consent
	// informational notices need as well (seed 000 policy §4.6: "informing"
	// rests on consent). Empty: informational notices need only the
	// setting. Do not set it to a purpose on another legal basis: the
	// ledger answers "no" for those.
	InformingPurpose string
	// BaseURL is the portal's public address, e.g.
	// "https://portal.example.ru"; an unsubscribe link is
	// BaseURL + "/unsubscribe/" + token. Required.
	BaseURL string
	// UnsubscribeKey is the MAC key of unsubscribe tokens, at least 16
	// bytes (128 bits, as much as the MAC keeps), e.g. the vault's
	// Index("unsubscribe", "token-key"). It must be stable: changing it —
	// or the index key it is derived from — breaks every link already
	// sent. Required.
	UnsubscribeKey []byte
	// InboxRetention is how long an inbox notice is kept; 0: 365 days.
	InboxRetention time.Duration
	// Clock is the time of records and consent checks; nil: time.Now.
	Clock func() time.Time
}

// Notifications keeps settings and the inbox and sends notices. It is safe
// for concurrent use.
type Notifications struct {
	db        *sqldb.DB
	out       Outbox
	log       Auditor
	bundle    *i18n.Bundle
	consent   ConsentFunc
	marketing string
	informing string
	base      string
	key       []byte
	retention time.Duration
	now       func() time.Time
}

// New returns Notifications over db, sending through out, auditing setting
// changes in log, rendering templates from bundle and asking consent for
// marketing (and, if configured, informational) notices. It fails on a
// missing collaborator, a BaseURL that is not an absolute http(s) URL, or
// an UnsubscribeKey shorter than 16 bytes.
func New(db *sqldb.DB, out Outbox, log Auditor, bundle *i18n.Bundle, consent ConsentFunc, cfg Config) (*Notifications, error) {
	if db == nil || out == nil || log == nil || bundle == nil || consent == nil {
		return nil, errors.New("preferences: New needs a database, an outbox, an audit log, a bundle and a consent function")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("preferences: base URL %q is not an absolute http(s) address without query", cfg.BaseURL)
	}
	if len(cfg.UnsubscribeKey) < 16 {
		return nil, fmt.Errorf("preferences: the unsubscribe key has %d bytes; at least 16 are needed", len(cfg.UnsubscribeKey))
	}
	if cfg.InboxRetention <= 0 {
		cfg.InboxRetention = 365 * 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Notifications{db: db, out: out, log: log, bundle: bundle, consent: consent,
		marketing: cfg.MarketingPurpose, informing: cfg.InformingPurpose,
		base: strings.TrimRight(cfg.BaseURL, "/"), key: append([]byte(nil), cfg.UnsubscribeKey...),
		retention: cfg.InboxRetention, now: cfg.Clock}, nil
}

// Available reports whether ch can deliver now: the cabinet always, SMS
// and e-mail when the outbox has a sender for them, push never (yet). A
// settings page still lets the person set an unavailable channel.
func (n *Notifications) Available(ch Channel) bool {
	switch ch {
	case Cabinet:
		return true
	case Email:
		return n.out.Enabled(notify.Email)
	case SMS:
		return n.out.Enabled(notify.SMS)
	}
	return false
}

// MarketingEnabled reports whether the operator sends marketing at all (a
// marketing purpose is configured), so a settings page can hide the row.
func (n *Notifications) MarketingEnabled() bool { return n.marketing != "" }

// Settings returns subject's complete matrix: the choices stored, the
// defaults elsewhere.
func (n *Notifications) Settings(ctx context.Context, subject string) (Matrix, error) {
	m := defaults()
	rows, err := n.db.Reader().QueryContext(ctx,
		"SELECT channel, topic, enabled, updated_at FROM notification_settings WHERE subject_id = $1", subject)
	if err != nil {
		return nil, fmt.Errorf("preferences: settings: %w", sqldb.Map(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ch, topic string
			on        int
			updated   int64
		)
		if err := rows.Scan(&ch, &topic, &on, &updated); err != nil {
			return nil, fmt.Errorf("preferences: settings: %w", sqldb.Map(err))
		}
		c := Cell{Channel(ch), Topic(topic)}
		if _, ok := m[c]; !ok || Fixed(c.Channel, c.Topic) {
			continue // a channel or topic no longer offered, or one the person cannot change
		}
		m[c] = Setting{On: on == 1, Chosen: true, UpdatedAt: sqldb.FromMicros(updated)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("preferences: settings: %w", sqldb.Map(err))
	}
	return m, nil
}

// Set records subject's choice for channel and topic, with an audit entry
// "notify.settings" (attrs channel, topic, on) in the same transaction. A
// choice equal to the current setting changes nothing and writes no entry,
// so a form that posts every cell audits only what changed. Errors:
// fault.Invalid for an unknown channel or topic, a missing subject, or a
// cell that cannot be changed (Fixed).
func (n *Notifications) Set(ctx context.Context, actor audit.Actor, subject string, ch Channel, topic Topic, on bool, requestID string) error {
	_, err := n.set(ctx, actor, subject, ch, topic, on, requestID, nil)
	if err != nil {
		return fmt.Errorf("preferences: set %s/%s: %w", ch, topic, err)
	}
	return nil
}

// set writes one choice and reports whether it changed anything; extra
// attrs go into the audit entry.
func (n *Notifications) set(ctx context.Context, actor audit.Actor, subject string, ch Channel, topic Topic, on bool,
	requestID string, extra map[string]string) (bool, error) {
	switch {
	case !ch.Valid():
		return false, fault.New(fault.Invalid, "preferences.unknown_channel")
	case !topic.Valid():
		return false, fault.New(fault.Invalid, "preferences.unknown_topic")
	case subject == "":
		return false, fault.New(fault.Invalid, "preferences.no_subject")
	case Fixed(ch, topic):
		return false, fault.New(fault.Invalid, "preferences.fixed")
	}
	changed := false
	err := n.db.InTx(ctx, func(tx *sql.Tx) error {
		current := Default(ch, topic)
		var stored int
		err := tx.QueryRowContext(ctx, "SELECT enabled FROM notification_settings WHERE subject_id = $1 AND channel = $2 AND topic = $3",
			subject, string(ch), string(topic)).Scan(&stored)
		switch {
		case err == nil:
			current = stored == 1
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if current == on {
			return nil
		}
		now := sqldb.Micros(n.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO notification_settings (subject_id, channel, topic, enabled, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (subject_id, channel, topic) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at`,
			subject, string(ch), string(topic), boolInt(on), now); err != nil {
			return err
		}
		attrs := map[string]string{"channel": string(ch), "topic": string(topic), "on": strconv.FormatBool(on)}
		for k, v := range extra {
			attrs[k] = v
		}
		if _, err := n.log.AppendTx(ctx, tx, audit.Entry{Actor: actor, Subject: subject, Action: "notify.settings",
			Outcome: audit.OutcomeOK, RequestID: requestID, Attrs: attrs}); err != nil {
			return err
		}
		changed = true
		return nil
	})
	return changed, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Forget deletes subject's settings and inbox, for the deletion of the
// subject (the rows hold no personal data, but nothing is left to serve).
func (n *Notifications) Forget(ctx context.Context, subject string) error {
	err := n.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM notification_settings WHERE subject_id = $1", subject); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM inbox WHERE subject_id = $1", subject)
		return err
	})
	if err != nil {
		return fmt.Errorf("preferences: forget: %w", err)
	}
	return nil
}
