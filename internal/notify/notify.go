// Package notify delivers messages to data subjects — SMS, flash calls and
// e-mail — through a durable outbox.
//
// Outbox.Send stores a message and enqueues its delivery job in one
// transaction, so a crash loses nothing; a jobs.Runner then delivers it
// with retries and back-off and records the outcome (Status). The outbox
// holds no personal data in plain text: a message names the subject by its
// opaque id, and the recipient's phone number or e-mail address is read
// through the gate only at delivery and kept in memory; the parameters (a
// one-time code) are sealed through the gate under the subject's key. A
// message past its expiry is not delivered: a stale code is worthless.
//
// Senders are small adapters behind one interface: the console (the demo:
// prints to the terminal and keeps recent messages for a demo page — never
// for real people), SMTP, and generic HTTP gateways for SMS and flash calls.
// Delivery is at least once: a process that dies between the gateway's
// answer and the outbox update sends the message again on the next attempt.
package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
)

// Channel is how a message reaches a person.
type Channel string

const (
	SMS   Channel = "sms"
	Call  Channel = "call" // a flash call: the code is the caller number's last digits
	Email Channel = "email"
)

// Templates kabinet sends. A template names catalogue entries per
// channel: notify.sms.NAME, notify.call.NAME, notify.email.NAME.subject and
// notify.email.NAME.body; a channel without its entry cannot send it (a
// flash call carries no text, so only code templates have a call entry).
// Code templates take the parameter "code", and their e-mail bodies say how
// long the code is valid ({valid_for}, from Message.ExpiresAt, which they
// therefore need).
const (
	TemplateSignupCode   = "signup_code"
	TemplateSigninCode   = "signin_code"
	TemplateResetCode    = "reset_code"
	TemplateDeletionCode = "deletion_code"
	// TemplateSignupExists tells the owner of a number or address that
	// someone tried to sign up with it (sign-up never reveals to the
	// caller that an account exists). No parameters; SMS and e-mail only.
	TemplateSignupExists = "signup_exists"
)

// Job kinds this package registers.
const (
	JobDeliver = "notify.deliver"
	JobPrune   = "notify.prune"
)

// State is where a message is in its life.
type State string

const (
	Queued    State = "queued"    // waiting for its (next) attempt
	Sending   State = "sending"   // an attempt is under way
	Sent      State = "sent"      // the sender accepted it
	Failed    State = "failed"    // given up; LastError says why
	Cancelled State = "cancelled" // withdrawn before delivery
)

// Reasons recorded in LastError when a message fails without a sender's
// error.
const (
	ReasonExpired     = "expired"      // its ExpiresAt passed before delivery
	ReasonNoRecipient = "no_recipient" // the subject is destroyed or has no phone/e-mail
	ReasonRefused     = "refused"      // the gate refused (blocked, no consent…): "refused: <gate reason>"
	ReasonChannelOff  = "channel_off"  // the channel lost its sender (configuration) before delivery
)

// Message is what a capability asks to send.
type Message struct {
	Subject  string // the data subject's opaque id; the recipient is read through the gate
	Channel  Channel
	Template string            // e.g. TemplateSignupCode; the full key notify.<channel>.<name> is accepted too
	Params   map[string]string // placeholders of the template; sealed before storage
	Lang     string            // the person's language; unsupported or empty: the default
	// ExpiresAt is when the message becomes worthless (a code's expiry);
	// zero: never.
	ExpiresAt time.Time
	// Actor is who causes the message, for the audit entry of sealing its
	// parameters; zero: kabinet itself (system "notify").
	Actor     audit.Actor
	RequestID string
	// Headers are extra header fields of an e-mail, such as
	// List-Unsubscribe and List-Unsubscribe-Post (RFC 8058); e-mail only.
	// They are sealed with the parameters: an unsubscribe link is a
	// credential of the subject.
	Headers map[string]string
}

// headerPrefix marks header fields inside the sealed parameters. A
// placeholder name is [a-z0-9_], so no parameter can collide with it.
const headerPrefix = "header:"

// reservedHeader reports whether the SMTP sender sets the field itself on
// every message.
func reservedHeader(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding":
		return true
	}
	return false
}

// checkHeaders validates m.Headers: e-mail only, field names of RFC 5322
// §3.6.8 other than those the sender sets, values without line breaks.
func checkHeaders(m Message) error {
	if len(m.Headers) == 0 {
		return nil
	}
	if m.Channel != Email {
		return fault.New(fault.Invalid, "notify.bad_headers")
	}
	for name, v := range m.Headers {
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) ||
			strings.ContainsAny(v, "\r\n") || reservedHeader(name) {
			return fault.Wrap(fault.Invalid, fmt.Errorf("notify: header %q is not allowed", name), "notify.bad_headers")
		}
	}
	return nil
}

// Delivery is the stored record of a message, without its parameters.
type Delivery struct {
	ID         int64
	Subject    string
	Channel    Channel
	Template   string
	Lang       string
	State      State
	Attempts   int
	LastError  string // a reason code or a scrubbed error text; kept after a later success
	ProviderID string
	CreatedAt  time.Time
	SentAt     time.Time // zero unless Sent
	ExpiresAt  time.Time // zero: never
}

// Gate is what notify needs of the gate (*gate.Gate).
type Gate interface {
	Read(ctx context.Context, req gate.Request) (gate.Values, error)
	Seal(ctx context.Context, req gate.Request, category string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, req gate.Request, category string, sealed []byte) ([]byte, error)
}

// Options are the Outbox's collaborators; zero values take defaults.
type Options struct {
	// Demo is true for the built-in demo operator (config.Config.Demo):
	// channels without a sender then use the console.
	Demo bool
	// Clock is the time of records and expiry checks; nil: time.Now.
	Clock func() time.Time
	// Logger receives delivery failures (ids and codes, no personal
	// data); nil: discard.
	Logger *slog.Logger
	// ConsoleWriter is the console sender's terminal; nil: os.Stderr.
	ConsoleWriter io.Writer
	// Getenv reads the secrets named in the configuration; nil: os.Getenv.
	Getenv func(string) string
	// HTTPClient is used by HTTP gateways; nil: a client of its own.
	HTTPClient *http.Client
	// Senders replaces the configured sender of a channel (a provider
	// adapter of the operator's own, or a test's recorder).
	Senders map[Channel]Sender
}

// Outbox stores messages and delivers them. It is safe for concurrent use.
type Outbox struct {
	db      *sqldb.DB
	queue   *jobs.Queue
	gate    Gate
	bundle  *i18n.Bundle
	cfg     config.Messages
	senders map[Channel]Sender
	console *Console
	now     func() time.Time
	log     *slog.Logger
}

// systemActor is the actor of deliveries: kabinet reading a recipient to
// send what a capability asked for.
func systemActor() audit.Actor { return audit.Actor{Kind: audit.ActorSystem, ID: "notify"} }

// New returns an Outbox on db whose deliveries are jobs in queue. It builds
// the sender of every channel the configuration turns on (the console for
// a channel without a sender when opts.Demo is set) and fails when one
// cannot be built: a missing secret, a bad template or CA file, or the
// console outside the demo without messages.allow_console.
func New(db *sqldb.DB, queue *jobs.Queue, g Gate, bundle *i18n.Bundle, cfg config.Messages, opts Options) (*Outbox, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ConsoleWriter == nil {
		opts.ConsoleWriter = os.Stderr
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	o := &Outbox{db: db, queue: queue, gate: g, bundle: bundle, cfg: cfg, senders: map[Channel]Sender{},
		now: opts.Clock, log: opts.Logger}
	for _, ch := range []Channel{SMS, Call, Email} {
		if s, ok := opts.Senders[ch]; ok {
			o.senders[ch] = s
			continue
		}
		kind := cfg.Sender(string(ch), opts.Demo)
		var (
			s   Sender
			err error
		)
		switch kind {
		case "":
			continue // the channel is off
		case config.SenderConsole:
			if !opts.Demo && !cfg.AllowConsole {
				return nil, fmt.Errorf("notify: %s: the console sender shows codes to anyone who reads the terminal; it is allowed only in the demo or with messages.allow_console", ch)
			}
			if o.console == nil {
				o.console = NewConsole(opts.ConsoleWriter, cfg.ConsoleKeep, opts.Clock)
			}
			s = o.console
		case config.SenderHTTP:
			gw := cfg.SMS.HTTP
			if ch == Call {
				gw = cfg.Call.HTTP
			}
			s, err = NewGateway(gw, opts.Getenv, opts.HTTPClient)
		case config.SenderSMTP:
			s, err = NewSMTP(cfg.Email.SMTP, opts.Getenv, opts.Clock)
		default:
			err = fmt.Errorf("unknown sender %q", kind)
		}
		if err != nil {
			return nil, fmt.Errorf("notify: %s sender: %w", ch, err)
		}
		o.senders[ch] = s
	}
	return o, nil
}

// Console returns the console sender when a channel uses it (the demo
// page lists its Recent messages), else nil.
func (o *Outbox) Console() *Console { return o.console }

// Enabled reports whether channel has a sender, so a form offers only
// what can be delivered.
func (o *Outbox) Enabled(ch Channel) bool { return o.senders[ch] != nil }

// CodeDigits is the length of a code sent by flash call.
func (o *Outbox) CodeDigits() int { return o.cfg.Call.CodeDigits }

// category is the register category of the channel's recipient, under
// which the parameters are sealed too.
func (o *Outbox) category(ch Channel) string {
	if ch == Email {
		return o.cfg.EmailCategory
	}
	return o.cfg.PhoneCategory
}

// deliverPayload is the job's payload: the message id only.
type deliverPayload struct {
	Message int64 `json:"message"`
}

// Send stores m and enqueues its delivery in one transaction, and returns
// the message id. Its parameters are sealed through the gate first, so a
// subject the gate refuses (destroyed, blocked) is refused here. Errors:
// fault.Invalid for an unknown channel or template, a missing subject, an
// expiry in the past or a flash-call code of the wrong length;
// fault.Unavailable when the channel has no sender; the gate's refusals.
func (o *Outbox) Send(ctx context.Context, m Message) (int64, error) {
	if !slices.Contains([]Channel{SMS, Call, Email}, m.Channel) {
		return 0, fault.New(fault.Invalid, "notify.unknown_channel")
	}
	if o.senders[m.Channel] == nil {
		return 0, fault.New(fault.Unavailable, "notify.channel_off")
	}
	if m.Subject == "" {
		return 0, fault.New(fault.Invalid, "notify.no_subject")
	}
	m.Template = strings.TrimPrefix(m.Template, "notify."+string(m.Channel)+".")
	if !o.hasTemplate(m.Channel, m.Template) {
		return 0, fault.Wrap(fault.Invalid, fmt.Errorf("notify: no template %q for %s", m.Template, m.Channel), "notify.unknown_template")
	}
	if err := checkHeaders(m); err != nil {
		return 0, err
	}
	if m.Channel == Call && !isCode(m.Params["code"], o.cfg.Call.CodeDigits) {
		return 0, fault.New(fault.Invalid, "notify.call_code", "n", o.cfg.Call.CodeDigits)
	}
	now := o.now()
	if !m.ExpiresAt.IsZero() && !m.ExpiresAt.After(now) {
		return 0, fault.New(fault.Invalid, "notify.expired")
	}
	if m.Actor == (audit.Actor{}) {
		m.Actor = systemActor()
	}
	params := make(map[string]string, len(m.Params)+len(m.Headers))
	for k, v := range m.Params {
		if strings.HasPrefix(k, headerPrefix) {
			return 0, fault.Wrap(fault.Invalid, fmt.Errorf("notify: parameter %q", k), "notify.bad_headers")
		}
		params[k] = v
	}
	for k, v := range m.Headers {
		params[headerPrefix+k] = v
	}
	plain, err := json.Marshal(params)
	if err != nil {
		return 0, fmt.Errorf("notify: send: %w", err)
	}
	// Sealing runs before the transaction: the gate writes its own audit
	// entry, and SQLite's single writer must not be held meanwhile.
	sealed, err := o.gate.Seal(ctx, gate.Request{Actor: m.Actor, Subject: m.Subject, Purpose: o.cfg.Purpose, RequestID: m.RequestID},
		o.category(m.Channel), plain)
	if err != nil {
		return 0, fmt.Errorf("notify: seal parameters: %w", err)
	}
	var expires any
	if !m.ExpiresAt.IsZero() {
		expires = sqldb.Micros(m.ExpiresAt)
	}
	lang := o.bundle.Localizer(m.Lang).Lang()
	var id int64
	err = o.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO outbox (subject_id, channel, template, lang, params_sealed, request_id, created_at, updated_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id`,
			m.Subject, string(m.Channel), m.Template, lang, sealed, m.RequestID, sqldb.Micros(now), expires).Scan(&id); err != nil {
			return fmt.Errorf("insert message: %w", err)
		}
		payload, _ := json.Marshal(deliverPayload{Message: id})
		_, err := o.queue.EnqueueTx(ctx, tx, jobs.Spec{Kind: JobDeliver, Payload: payload, MaxAttempts: o.cfg.MaxAttempts})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("notify: send: %w", err)
	}
	return id, nil
}

// isCode reports whether s is exactly n decimal digits.
func isCode(s string, n int) bool {
	return len(s) == n && strings.Trim(s, "0123456789") == ""
}

// Status returns the record of message id; fault.NotFound if there is none
// (never sent, or pruned).
func (o *Outbox) Status(ctx context.Context, id int64) (Delivery, error) {
	var (
		d                 Delivery
		channel, state    string
		lastErr, provider sql.NullString
		created           int64
		sent, expires     sql.NullInt64
	)
	err := o.db.Reader().QueryRowContext(ctx, `SELECT id, subject_id, channel, template, lang, status, attempts, last_error, provider_id,
		created_at, sent_at, expires_at FROM outbox WHERE id = $1`, id).Scan(&d.ID, &d.Subject, &channel, &d.Template, &d.Lang, &state,
		&d.Attempts, &lastErr, &provider, &created, &sent, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, fault.New(fault.NotFound, "notify.no_message")
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("notify: status of %d: %w", id, sqldb.Map(err))
	}
	d.Channel, d.State, d.LastError, d.ProviderID = Channel(channel), State(state), lastErr.String, provider.String
	d.CreatedAt = sqldb.FromMicros(created)
	if sent.Valid {
		d.SentAt = sqldb.FromMicros(sent.Int64)
	}
	if expires.Valid {
		d.ExpiresAt = sqldb.FromMicros(expires.Int64)
	}
	return d, nil
}

// Cancel withdraws a message that has not been delivered yet (a newer code
// replaces it). It is fault.NotFound when there is no such message and
// fault.Conflict when an attempt is under way or the message is final.
func (o *Outbox) Cancel(ctx context.Context, id int64) error {
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'cancelled', params_sealed = NULL, updated_at = $2
			WHERE id = $1 AND status = 'queued'`, id, sqldb.Micros(o.now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var state string
		if err := tx.QueryRowContext(ctx, "SELECT status FROM outbox WHERE id = $1", id).Scan(&state); err != nil {
			return err
		}
		return fault.Wrap(fault.Conflict, fmt.Errorf("message is %s", state), "notify.not_cancellable")
	})
	if err != nil {
		return fmt.Errorf("notify: cancel %d: %w", id, err)
	}
	return nil
}

// Register adds the delivery handler and the hourly pruning of old records
// to r. Call it before r.Run.
func (o *Outbox) Register(r *jobs.Runner) {
	r.Handle(JobDeliver, o.deliver)
	r.Every(JobPrune, time.Hour, func(ctx context.Context, _ jobs.Job) error {
		_, err := o.Prune(ctx)
		return err
	})
}

// abandonAfter is how long after its expiry a message still queued or
// sending is given up: its job died (a worker lost on the last attempt)
// and nothing else would finish it.
const abandonAfter = time.Hour

// Prune gives up messages whose job was lost an hour past their expiry,
// deletes the records of final messages older than the configured
// retention, and returns how many it deleted.
func (o *Outbox) Prune(ctx context.Context) (int64, error) {
	now := o.now()
	var n int64
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'failed', last_error = $1, params_sealed = NULL, updated_at = $2
			WHERE status IN ('queued', 'sending') AND expires_at < $3`,
			ReasonExpired, sqldb.Micros(now), sqldb.Micros(now.Add(-abandonAfter))); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE status IN ('sent', 'failed', 'cancelled') AND updated_at < $1`,
			sqldb.Micros(now.Add(-o.cfg.Retention)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("notify: prune: %w", err)
	}
	return n, nil
}
