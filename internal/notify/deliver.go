package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/gate"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
)

// stored is what delivery needs of an outbox row.
type stored struct {
	id                      int64
	subject, template, lang string
	channel                 Channel
	state                   State
	sealed                  []byte
	requestID               string
	expires                 time.Time // zero: never
}

// deliver is the JobDeliver handler: one attempt to deliver one message.
// It is idempotent: a message already final is left alone, and one left
// "sending" by a worker that died is attempted again (at least once).
func (o *Outbox) deliver(ctx context.Context, j jobs.Job) error {
	var p deliverPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Message <= 0 {
		return jobs.Permanent(fmt.Errorf("notify: bad payload of job %d", j.ID))
	}
	m, err := o.load(ctx, p.Message)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // pruned: nothing left to do
	}
	if err != nil {
		return err
	}
	if m.state != Queued && m.state != Sending {
		return nil
	}
	if !m.expires.IsZero() && !o.now().Before(m.expires) {
		return o.finish(ctx, m.id, Failed, ReasonExpired, "")
	}
	sender := o.senders[m.channel]
	if sender == nil {
		// The configuration turned the channel off after the message was
		// queued.
		return o.finish(ctx, m.id, Failed, ReasonChannelOff, "")
	}
	started, err := o.mark(ctx, m.id)
	if err != nil || !started {
		return err // cancelled meanwhile, or a database error to retry
	}

	out, params, err := o.prepare(ctx, m)
	var refusal *gate.Refusal
	switch {
	case errors.As(err, &refusal):
		// The subject is gone, blocked or no longer covered: a decision
		// about the subject, not a fault a retry could mend.
		reason := ReasonRefused + ": " + refusal.Reason
		if refusal.Reason == gate.ReasonDestroyed || refusal.Reason == gate.ReasonUnknownSubject {
			reason = ReasonNoRecipient
		}
		return o.finish(ctx, m.id, Failed, reason, "")
	case errors.Is(err, errNoRecipient):
		return o.finish(ctx, m.id, Failed, ReasonNoRecipient, "")
	case err != nil:
		return o.failed(ctx, j, m.id, err, nil)
	}

	provider, err := sender.Deliver(ctx, out)
	if err != nil {
		// A sender's error must not carry the recipient or the code; if one
		// does anyway, they are cut out before the text is stored or logged.
		secrets := []string{out.To, strings.TrimPrefix(out.To, "+")}
		for _, v := range params {
			secrets = append(secrets, v)
		}
		for _, v := range out.Headers {
			secrets = append(secrets, v)
		}
		return o.failed(ctx, j, m.id, err, secrets)
	}
	return o.finish(ctx, m.id, Sent, "", provider)
}

// errNoRecipient: the subject has no phone number or e-mail address.
var errNoRecipient = errors.New("notify: no recipient")

// prepare reads the recipient and the parameters through the gate and
// renders the message. Both stay in memory only.
func (o *Outbox) prepare(ctx context.Context, m stored) (Outgoing, map[string]string, error) {
	cat := o.category(m.channel)
	req := gate.Request{Actor: systemActor(), Subject: m.subject, Purpose: o.cfg.Purpose, RequestID: m.requestID}
	params := map[string]string{}
	if len(m.sealed) > 0 {
		plain, err := o.gate.Open(ctx, req, cat, m.sealed)
		if err != nil {
			return Outgoing{}, nil, err
		}
		if err := json.Unmarshal(plain, &params); err != nil {
			return Outgoing{}, nil, &SendError{Err: fmt.Errorf("notify: parameters of message %d are not a JSON object", m.id), Permanent: true}
		}
	}
	var headers map[string]string
	for k, v := range params {
		if name, ok := strings.CutPrefix(k, headerPrefix); ok {
			if headers == nil {
				headers = map[string]string{}
			}
			headers[name] = v
			delete(params, k)
		}
	}
	req.Categories = []string{cat}
	vals, err := o.gate.Read(ctx, req)
	if err != nil {
		return Outgoing{}, nil, err
	}
	to := vals.String(cat)
	if to == "" {
		return Outgoing{}, nil, errNoRecipient
	}
	var remaining time.Duration
	if !m.expires.IsZero() {
		remaining = m.expires.Sub(o.now())
	}
	out := o.render(m.channel, m.template, m.lang, params, remaining)
	out.ID, out.Channel, out.To, out.Code = strconv.FormatInt(m.id, 10), m.channel, to, params["code"]
	out.Headers = headers
	return out, params, nil
}

// load reads message id; sql.ErrNoRows when there is none.
func (o *Outbox) load(ctx context.Context, id int64) (stored, error) {
	m := stored{id: id}
	var channel, state string
	var expires sql.NullInt64
	err := o.db.Reader().QueryRowContext(ctx, `SELECT subject_id, channel, template, lang, status, params_sealed, request_id, expires_at
		FROM outbox WHERE id = $1`, id).Scan(&m.subject, &channel, &m.template, &m.lang, &state, &m.sealed, &m.requestID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return m, err
	}
	if err != nil {
		return m, fmt.Errorf("notify: load message %d: %w", id, sqldb.Map(err))
	}
	m.channel, m.state = Channel(channel), State(state)
	if expires.Valid {
		m.expires = sqldb.FromMicros(expires.Int64)
	}
	return m, nil
}

// mark records the start of an attempt; false when the message is no
// longer waiting for one (cancelled).
func (o *Outbox) mark(ctx context.Context, id int64) (bool, error) {
	res, err := o.db.Writer().ExecContext(ctx, `UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = $2
		WHERE id = $1 AND status IN ('queued', 'sending')`, id, sqldb.Micros(o.now()))
	if err != nil {
		return false, fmt.Errorf("notify: start attempt on %d: %w", id, sqldb.Map(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// finish records a final state; the sealed parameters go, since nothing
// will render them again.
func (o *Outbox) finish(ctx context.Context, id int64, state State, reason, provider string) error {
	now := sqldb.Micros(o.now())
	var sentAt, lastErr, prov any
	if state == Sent {
		sentAt = now
	}
	if reason != "" {
		lastErr = reason
	}
	if provider != "" {
		prov = truncate(provider, 200)
	}
	// COALESCE keeps the error of an earlier attempt after a success.
	_, err := o.db.Writer().ExecContext(ctx, `UPDATE outbox SET status = $2, last_error = COALESCE($3, last_error), provider_id = $4,
		sent_at = $5, params_sealed = NULL, updated_at = $6 WHERE id = $1 AND status IN ('queued', 'sending')`,
		id, string(state), lastErr, prov, sentAt, now)
	if err != nil {
		return fmt.Errorf("notify: record %s for %d: %w", state, id, sqldb.Map(err))
	}
	if state == Failed {
		o.log.Warn("notify: message failed", "message_id", id, "reason", reason)
	}
	return nil
}

// failed records a failed attempt and tells the Runner what to do next:
// retry (after the sender's Retry-After, if any) or, on a permanent error
// or the last attempt, give up — then the message is failed too.
func (o *Outbox) failed(ctx context.Context, j jobs.Job, id int64, cause error, secrets []string) error {
	text := scrub(cause.Error(), secrets)
	var se *SendError
	isSend := errors.As(cause, &se)
	// Errors of the handler itself (a database hiccup) are retried.
	final := j.Attempt >= j.MaxAttempts || (isSend && se.Permanent)
	state := Queued
	if final {
		state = Failed
	}
	if err := o.record(ctx, id, state, text); err != nil {
		return err
	}
	err := errors.New(text) // what the jobs table and its log get: scrubbed
	switch {
	case final:
		o.log.Warn("notify: message failed", "message_id", id, "attempt", j.Attempt, "err", text)
		return jobs.Permanent(err)
	case isSend && se.RetryAfter > 0:
		return jobs.RetryAfter(err, se.RetryAfter)
	}
	return err
}

// record stores the outcome of a failed attempt.
func (o *Outbox) record(ctx context.Context, id int64, state State, text string) error {
	params := "params_sealed"
	if state == Failed {
		params = "NULL"
	}
	_, err := o.db.Writer().ExecContext(ctx, `UPDATE outbox SET status = $2, last_error = $3, params_sealed = `+params+`, updated_at = $4
		WHERE id = $1 AND status = 'sending'`, id, string(state), truncate(text, 500), sqldb.Micros(o.now()))
	if err != nil {
		return fmt.Errorf("notify: record failure of %d: %w", id, sqldb.Map(err))
	}
	return nil
}

// scrub replaces every secret (recipient, parameters) found in s.
func scrub(s string, secrets []string) string {
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, v := range secrets {
		if len(v) >= 3 {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

// truncate bounds s to n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
