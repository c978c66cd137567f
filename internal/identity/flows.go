package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// A flow is one expiring, single-use procedure confirmed by a one-time
// code (or, for a federated link, by the account's owner): a sign-up, a
// sign-in by code, a password reset, a deletion, a link to an identity
// provider. The caller holds the flow id; the table keeps only its
// SHA-256, and only an HMAC of the code under a random salt of the flow.

// Flow kinds.
const (
	FlowSignup        = "signup"
	FlowSigninCode    = "signin_code"
	FlowReset         = "reset"
	FlowDeletion      = "deletion"
	FlowFederatedLink = "federated_link"
	FlowContactChange = "contact_change"
)

// flow is a row of auth_flows.
type flow struct {
	hash        string
	kind        string
	subject     string // whose contact the code went to; "" for a decoy
	account     string // the account acted on; "" for a new sign-up
	method      string // phone or email, for sign-up, sign-in and reset
	channel     string
	limitKey    string // keyed hash of the identifier, for its counters
	codeHash    []byte
	salt        []byte
	attempts    int
	maxAttempts int
	provider    string // federated link: provider id and keyed hash of its subject
	providerSub string
	verified    bool
	expires     time.Time
	confirmed   time.Time // zero until the code was entered
	finished    time.Time // zero until the flow was used
}

func flowHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func codeMAC(salt []byte, code string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(code))
	return m.Sum(nil)
}

// newCode returns n random decimal digits.
func newCode(n int) string {
	v, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
	if err != nil {
		panic("identity: crypto/rand: " + err.Error()) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%0*d", n, v)
}

// codeLength is the number of digits of a code sent by channel.
func (s *Service) codeLength(channel string) int {
	if channel == ChannelCall {
		return s.cfg.Codes.FlashDigits
	}
	return s.cfg.Codes.Length
}

// createFlow stores f with a new id and, unless decoy, a new code, and
// returns the id and the code. A decoy flow's code is random text no
// entry can match: it answers exactly like a real one.
func (s *Service) createFlow(ctx context.Context, f *flow, decoy bool) (id, code string, err error) {
	id = randomToken(24)
	f.hash = flowHash(id)
	f.salt = make([]byte, 16)
	rand.Read(f.salt)
	if decoy {
		f.codeHash = codeMAC(f.salt, randomToken(32))
	} else if f.kind != FlowFederatedLink {
		code = newCode(s.codeLength(f.channel))
		f.codeHash = codeMAC(f.salt, code)
	}
	now := s.now()
	if f.expires.IsZero() {
		f.expires = now.Add(s.cfg.Codes.TTL)
	}
	f.maxAttempts = s.cfg.Codes.MaxAttempts
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_flows (id, kind, subject_id, account_id, method, channel, limit_key,
				code_hash, salt, attempts, max_attempts, provider, provider_subject, verified, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14, $15)`,
			f.hash, f.kind, nullString(f.subject), nullString(f.account), f.method, f.channel, f.limitKey,
			f.codeHash, f.salt, f.maxAttempts, nullString(f.provider), nullString(f.providerSub), boolInt(f.verified),
			sqldb.Micros(f.expires), sqldb.Micros(now))
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("identity: store flow: %w", err)
	}
	return id, code, nil
}

const flowColumns = `id, kind, subject_id, account_id, method, channel, limit_key, code_hash, salt, attempts, max_attempts,
	provider, provider_subject, verified, expires_at, confirmed_at, finished_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanFlow(row rowScanner) (*flow, error) {
	var (
		f                               flow
		subject, account, prov, provSub sql.NullString
		verified                        int
		expires                         int64
		confirmed, finished             sql.NullInt64
	)
	err := row.Scan(&f.hash, &f.kind, &subject, &account, &f.method, &f.channel, &f.limitKey, &f.codeHash, &f.salt,
		&f.attempts, &f.maxAttempts, &prov, &provSub, &verified, &expires, &confirmed, &finished)
	if err != nil {
		return nil, err
	}
	f.subject, f.account, f.provider, f.providerSub = subject.String, account.String, prov.String, provSub.String
	f.verified, f.expires = verified != 0, sqldb.FromMicros(expires)
	if confirmed.Valid {
		f.confirmed = sqldb.FromMicros(confirmed.Int64)
	}
	if finished.Valid {
		f.finished = sqldb.FromMicros(finished.Int64)
	}
	return &f, nil
}

// errExpired answers for a flow that is unknown, expired, used up or of
// another kind alike: the caller must start again.
func errExpired() error { return fault.New(fault.Invalid, "identity.code_expired") }

// loadFlow reads the live flow id of kind, or errExpired.
func (s *Service) loadFlow(ctx context.Context, id, kind string) (*flow, error) {
	if id == "" || len(id) > 64 {
		return nil, errExpired()
	}
	f, err := scanFlow(s.db.Reader().QueryRowContext(ctx, "SELECT "+flowColumns+" FROM auth_flows WHERE id = $1", flowHash(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errExpired()
	}
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: read flow: %w", err))
	}
	if f.kind != kind || !f.finished.IsZero() || !s.now().Before(f.expires) {
		return nil, errExpired()
	}
	return f, nil
}

// ConfirmCode checks the code of the flow flowID, of any kind. A right
// code confirms the flow, which may then be finished within
// Codes.FinishWithin (FinishSignup, FinishReset, …; those also take the
// code themselves). Errors: fault.Invalid "identity.code_wrong" with the
// attempts left in Args ("n"); after the last wrong attempt, or for an
// unknown, expired or used flow, fault.Invalid "identity.code_expired";
// a flow whose attempts are used up is dead, "identity.code_attempts".
// Confirming an already confirmed flow again with its code is a no-op.
func (s *Service) ConfirmCode(ctx context.Context, c Client, flowID, code string) error {
	_, err := s.confirm(ctx, flowID, "", code)
	return err
}

// confirm checks code against the live flow flowID (of kind, when kind is
// not "") in one write transaction, so that concurrent guesses cannot
// exceed the attempts, and returns the flow.
func (s *Service) confirm(ctx context.Context, flowID, kind, code string) (*flow, error) {
	if flowID == "" || len(flowID) > 64 {
		return nil, errExpired()
	}
	now := s.now()
	var out *flow
	var verdict error
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		out, verdict = nil, nil
		f, err := scanFlow(tx.QueryRowContext(ctx, "SELECT "+flowColumns+" FROM auth_flows WHERE id = $1"+s.forUpdate(), flowHash(flowID)))
		if errors.Is(err, sql.ErrNoRows) {
			verdict = errExpired()
			return nil
		}
		if err != nil {
			return fmt.Errorf("read flow: %w", err)
		}
		switch {
		case kind != "" && f.kind != kind, !f.finished.IsZero(), f.kind == FlowFederatedLink:
			verdict = errExpired()
			return nil
		case !f.confirmed.IsZero():
			// Already confirmed: the code is still checked (it is the
			// proof), but a wrong one does not undo the confirmation.
			if !now.Before(f.expires) {
				verdict = errExpired()
			} else if !hmac.Equal(codeMAC(f.salt, code), f.codeHash) {
				verdict = fault.New(fault.Invalid, "identity.code_wrong", "n", max(f.maxAttempts-f.attempts, 0))
			}
			out = f
			return nil
		case !now.Before(f.expires):
			verdict = errExpired()
			return nil
		case f.attempts >= f.maxAttempts:
			verdict = fault.New(fault.Invalid, "identity.code_attempts")
			return nil
		}
		f.attempts++
		if !hmac.Equal(codeMAC(f.salt, code), f.codeHash) {
			if _, err := tx.ExecContext(ctx, "UPDATE auth_flows SET attempts = $1 WHERE id = $2", f.attempts, f.hash); err != nil {
				return fmt.Errorf("count attempt: %w", err)
			}
			if left := f.maxAttempts - f.attempts; left > 0 {
				verdict = fault.New(fault.Invalid, "identity.code_wrong", "n", left)
			} else {
				verdict = fault.New(fault.Invalid, "identity.code_attempts")
			}
			return nil
		}
		// Right: the flow may be finished for FinishWithin from now.
		f.confirmed, f.expires = now, now.Add(s.cfg.Codes.FinishWithin)
		if _, err := tx.ExecContext(ctx, "UPDATE auth_flows SET attempts = $1, confirmed_at = $2, expires_at = $3 WHERE id = $4",
			f.attempts, sqldb.Micros(now), sqldb.Micros(f.expires), f.hash); err != nil {
			return fmt.Errorf("confirm flow: %w", err)
		}
		out = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("identity: confirm code: %w", err)
	}
	return out, verdict
}

// confirmed returns the live flow of kind, confirming it with code first
// unless it is already confirmed and code is "" (a surface that asked for
// the code on an earlier page).
func (s *Service) confirmed(ctx context.Context, flowID, kind, code string) (*flow, error) {
	if code == "" {
		f, err := s.loadFlow(ctx, flowID, kind)
		if err != nil {
			return nil, err
		}
		if f.confirmed.IsZero() {
			return nil, fault.New(fault.Invalid, "identity.code_required")
		}
		return f, nil
	}
	return s.confirm(ctx, flowID, kind, code)
}

// finishFlow marks the flow used in tx; fault.Conflict when another call
// used it first.
func finishFlow(ctx context.Context, tx *sql.Tx, f *flow, now time.Time) error {
	res, err := tx.ExecContext(ctx, "UPDATE auth_flows SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL", sqldb.Micros(now), f.hash)
	if err != nil {
		return fmt.Errorf("finish flow: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errExpired()
	}
	return nil
}

// forUpdate locks the row read in a write transaction on PostgreSQL; on
// SQLite the immediate write transaction already excludes other writers.
func (s *Service) forUpdate() string {
	if s.db.Engine() == sqldb.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// send hands a code (or a notice) to the outbox.
func (s *Service) send(ctx context.Context, c Client, subject, channel, what string, params map[string]string, expires time.Time) error {
	_, err := s.msg.Send(ctx, Message{Subject: subject, Channel: channel, Template: "notify." + channel + "." + what,
		Params: params, Lang: c.Lang, ExpiresAt: expires, RequestID: c.RequestID})
	if err != nil {
		return fault.Wrap(fault.Unavailable, fmt.Errorf("identity: send %s: %w", what, err), "identity.send_failed")
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
