package identity

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// errCredentials is the one answer to a wrong password and an unknown
// account alike.
func errCredentials() error { return fault.New(fault.Unauthorized, "identity.credentials_wrong") }

// SignInPassword signs in by phone number or e-mail address and password.
// An unknown identifier, an account without a password and a wrong
// password all give fault.Unauthorized "identity.credentials_wrong" after
// the same argon2id work. Failures count against the identifier (delay,
// then lock) and the address; a refused attempt is fault.RateLimited
// "identity.too_many_failures", "identity.locked" or "identity.too_many_attempts"
// (Args retry_after, n) and is not checked at all, right password or not.
// A hash made with older parameters is replaced on success.
func (s *Service) SignInPassword(ctx context.Context, c Client, ident, password string) (Session, string, error) {
	id, err := s.parseIdentifier(ident)
	if err != nil {
		return Session{}, "", err
	}
	key := s.limitKey(id.value)
	if err := s.beginAttempt(ctx, key, c.IP); err != nil {
		return Session{}, "", err
	}
	a, err := s.findAccount(ctx, id, c.RequestID)
	if err != nil {
		return Session{}, "", err
	}
	phc := s.dummy
	if a != nil && a.hash.Valid && a.hash.String != "" {
		phc = a.hash.String
	}
	if len(password) > s.cfg.Password.MaxLength {
		// Nobody's password is this long: spend the same work and fail.
		phc, password = s.dummy, ""
	}
	ok, stale, err := s.hasher.verify(phc, password)
	if err != nil {
		return Session{}, "", fmt.Errorf("identity: account %s: %w", accountIDOf(a), err)
	}
	if !ok || phc == s.dummy {
		if err := s.failAttempt(ctx, c.IP); err != nil {
			return Session{}, "", fmt.Errorf("identity: sign in: %w", err)
		}
		return Session{}, "", errCredentials()
	}
	if err := s.succeed(ctx, key); err != nil {
		return Session{}, "", fmt.Errorf("identity: sign in: %w", err)
	}
	if stale {
		s.rehash(ctx, a, password)
	}
	return s.signIn(ctx, c, a)
}

func accountIDOf(a *accountRef) string {
	if a == nil {
		return "-"
	}
	return a.id
}

// rehash stores a hash of password under the configured parameters. A
// failure is logged, not returned: the sign-in stands, and the next one
// tries again.
func (s *Service) rehash(ctx context.Context, a *accountRef, password string) {
	h, err := s.hasher.hash(password)
	if err == nil {
		err = s.db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4",
				h, sqldb.Micros(s.now()), a.id, a.hash.String)
			return err
		})
	}
	if err != nil {
		s.log.Warn("identity: rehash password", "account", a.id, "err", err)
	}
}

// startCode begins a flow of kind that sends a code to an account found
// by ident, or a decoy flow sending nothing when there is none, with the
// same answer and timing.
func (s *Service) startCode(ctx context.Context, c Client, ident, channel, kind string) (string, error) {
	start := time.Now()
	id, err := s.parseIdentifier(ident)
	if err != nil {
		return "", err
	}
	if err := channelFits(id.method, channel); err != nil {
		return "", err
	}
	key := s.limitKey(id.value)
	if err := s.allowCode(ctx, key, c.IP); err != nil {
		return "", err
	}
	defer s.pad(ctx, start)
	a, err := s.findAccount(ctx, id, c.RequestID)
	if err != nil {
		return "", err
	}
	f := &flow{kind: kind, method: id.method, channel: channel, limitKey: key}
	if a == nil {
		flowID, _, err := s.createFlow(ctx, f, true)
		return flowID, err
	}
	f.subject, f.account = a.subject, a.id
	flowID, code, err := s.createFlow(ctx, f, false)
	if err != nil {
		return "", err
	}
	what := "signin_code"
	if kind == FlowReset {
		what = "reset_code"
	}
	if err := s.send(ctx, c, a.subject, channel, what, map[string]string{"code": code}, f.expires); err != nil {
		return "", err
	}
	return flowID, nil
}

// StartCodeSignIn begins a sign-in by one-time code, the alternative to a
// password (and the only way into a simplified account): a code goes to
// the phone (channel sms or call) or address (email) of the account, if
// there is one; the flow id is returned either way. Errors as
// StartSignup's.
func (s *Service) StartCodeSignIn(ctx context.Context, c Client, ident, channel string) (string, error) {
	return s.startCode(ctx, c, ident, channel, FlowSigninCode)
}

// FinishCodeSignIn signs in with the code of a StartCodeSignIn flow.
// Errors: those of ConfirmCode; a wrong code also counts against the
// address's failures.
func (s *Service) FinishCodeSignIn(ctx context.Context, c Client, flowID, code string) (Session, string, error) {
	f, err := s.confirmed(ctx, flowID, FlowSigninCode, code)
	if err != nil {
		if fault.KindOf(err) == fault.Invalid {
			if err := s.failAttempt(ctx, c.IP); err != nil {
				return Session{}, "", fmt.Errorf("identity: sign in: %w", err)
			}
		}
		return Session{}, "", err
	}
	a, err := s.accountByID(ctx, f.account)
	if err != nil {
		return Session{}, "", errExpired() // deleted meanwhile
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error { return finishFlow(ctx, tx, f, s.now()) })
	if err != nil {
		return Session{}, "", err
	}
	if err := s.succeed(ctx, f.limitKey); err != nil {
		return Session{}, "", fmt.Errorf("identity: sign in: %w", err)
	}
	return s.signIn(ctx, c, a)
}

// StartReset begins a password reset by code, like StartCodeSignIn.
func (s *Service) StartReset(ctx context.Context, c Client, ident, channel string) (string, error) {
	return s.startCode(ctx, c, ident, channel, FlowReset)
}

// FinishReset sets a new password with the code of a StartReset flow (or
// after ConfirmCode, with code ""), by the password rules, and ends every
// session of the account: whoever knew the old password is out. A
// simplified account becomes standard. Errors: those of ConfirmCode and
// the password rules.
func (s *Service) FinishReset(ctx context.Context, c Client, flowID, code, newPassword string) error {
	f, err := s.loadFlow(ctx, flowID, FlowReset)
	if err != nil {
		return err
	}
	// The rules first, so that a weak password does not spend an attempt.
	if err := s.checkPassword(newPassword, s.sameAs(f)); err != nil {
		return err
	}
	if f, err = s.confirmed(ctx, flowID, FlowReset, code); err != nil {
		if fault.KindOf(err) == fault.Invalid {
			if err := s.failAttempt(ctx, c.IP); err != nil {
				return fmt.Errorf("identity: reset: %w", err)
			}
		}
		return err
	}
	a, err := s.accountByID(ctx, f.account)
	if err != nil {
		return errExpired()
	}
	hash, err := s.hasher.hash(newPassword)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := finishFlow(ctx, tx, f, now); err != nil {
			return err
		}
		level := max(parseStoredLevel(a.level), LevelStandard)
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET password_hash = $1, trust_level = $2, updated_at = $3 WHERE id = $4",
			hash, level.String(), sqldb.Micros(now), a.id); err != nil {
			return fmt.Errorf("identity: reset: %w", err)
		}
		n, err := endSessions(ctx, tx, a.id)
		if err != nil {
			return err
		}
		_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(a.id), Subject: a.subject, Action: "account.password_reset",
			Outcome: audit.OutcomeOK, RequestID: c.RequestID, Attrs: map[string]string{"sessions_ended": fmt.Sprint(n)}})
		return err
	})
	if err != nil {
		return err
	}
	if err := s.succeed(ctx, f.limitKey); err != nil {
		return fmt.Errorf("identity: reset: %w", err)
	}
	return nil
}
