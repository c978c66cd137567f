package identity

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"kabinet/internal/sqldb"
)

// Rate limits live in the table rate_limits, so that every kabinet process
// sees the same counts. A row is (limit_key, window_start): a fixed window
// (an hour or a day, aligned to the Unix epoch) counting events, or, with
// window_start 0, a run of failures that ends after FailuresForget without
// one. Keys are a scope and a keyed hash (Deps.Index) of the identifier or
// address, never the value.

// Key scopes.
const (
	scopeCodeHour = "code.h:"  // codes sent to an identifier, per hour
	scopeCodeDay  = "code.d:"  // codes sent to an identifier, per day
	scopeCodeIP   = "code.ip:" // codes requested from an address, per hour
	scopeFailRun  = "fail:"    // failed sign-ins of an identifier in a row
	scopeFailIP   = "fail.ip:" // failed sign-ins from an address, per hour
)

// limitKey is the keyed hash of an identifier (or an account id, for the
// codes of a deletion) that names its counters.
func (s *Service) limitKey(value string) string {
	return base64.RawURLEncoding.EncodeToString(s.index("identity.limit", value))
}

// ipKey names the counters of an address: an IPv6 address by its /64,
// since one machine usually holds the whole /64. The zero address (no
// address known: a test, a command) is one key of its own.
func (s *Service) ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			ip = p.Addr()
		}
	}
	return base64.RawURLEncoding.EncodeToString(s.index("identity.limit.ip", ip.String()))
}

func windowStart(now time.Time, size time.Duration) time.Time { return now.Truncate(size) }

// hitWindow counts one event in the fixed window of size containing now
// and returns the count with it.
func hitWindow(ctx context.Context, tx *sql.Tx, key string, size time.Duration, now time.Time) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `INSERT INTO rate_limits (limit_key, window_start, hits, last_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (limit_key, window_start) DO UPDATE SET hits = rate_limits.hits + 1, last_at = excluded.last_at
		RETURNING hits`, key, sqldb.Micros(windowStart(now, size)), sqldb.Micros(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", key[:min(len(key), 8)], err)
	}
	return n, nil
}

// allowCode counts a code about to be sent to the identifier named by
// idKey from ip, and refuses it (counting nothing) when the identifier has
// had its codes for the hour or the day, or the address for the hour.
func (s *Service) allowCode(ctx context.Context, idKey string, ip netip.Addr) error {
	now := s.now()
	l := s.cfg.Limits
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, c := range []struct {
			key   string
			size  time.Duration
			limit int
		}{
			{scopeCodeHour + idKey, time.Hour, l.CodesPerNumberHour},
			{scopeCodeDay + idKey, 24 * time.Hour, l.CodesPerNumberDay},
			{scopeCodeIP + s.ipKey(ip), time.Hour, l.CodesPerIPHour},
		} {
			n, err := hitWindow(ctx, tx, c.key, c.size, now)
			if err != nil {
				return err
			}
			if n > c.limit {
				// Returning an error rolls the counts back: a refused
				// request does not use up the next window.
				return retryAfter("identity.too_many_codes", windowStart(now, c.size).Add(c.size).Sub(now))
			}
		}
		return nil
	})
}

// beginAttempt admits a sign-in attempt for the identifier named by idKey
// from ip, or refuses it while the identifier waits out its delay or lock
// or the address has had its failures for the hour. An admitted attempt is
// counted as a failure at once, so that parallel guesses cannot outrun the
// count; succeed clears the run.
func (s *Service) beginAttempt(ctx context.Context, idKey string, ip netip.Addr) error {
	now := s.now()
	l := s.cfg.Limits
	var ipFails int
	err := s.db.Reader().QueryRowContext(ctx, "SELECT hits FROM rate_limits WHERE limit_key = $1 AND window_start = $2",
		scopeFailIP+s.ipKey(ip), sqldb.Micros(windowStart(now, time.Hour))).Scan(&ipFails)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sqldb.Map(fmt.Errorf("identity: read limits: %w", err))
	}
	if ipFails >= l.FailuresPerIPHour {
		return retryAfter("identity.too_many_attempts", windowStart(now, time.Hour).Add(time.Hour).Sub(now))
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		var last int64
		err := tx.QueryRowContext(ctx, "SELECT hits, last_at FROM rate_limits WHERE limit_key = $1 AND window_start = 0"+s.forUpdate(),
			scopeFailRun+idKey).Scan(&n, &last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read failures: %w", err)
		}
		lastAt := sqldb.FromMicros(last)
		if n > 0 && now.Sub(lastAt) >= l.FailuresForget {
			n = 0 // the run has ended
		}
		if wait := s.waitAfter(n); wait > 0 && now.Before(lastAt.Add(wait)) {
			key := "identity.too_many_failures"
			if n >= l.LockAfter {
				key = "identity.locked"
			}
			return retryAfter(key, lastAt.Add(wait).Sub(now))
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO rate_limits (limit_key, window_start, hits, last_at) VALUES ($1, 0, 1, $2)
			ON CONFLICT (limit_key, window_start) DO UPDATE SET
				hits = CASE WHEN rate_limits.last_at < $3 THEN 1 ELSE rate_limits.hits + 1 END, last_at = excluded.last_at`,
			scopeFailRun+idKey, sqldb.Micros(now), sqldb.Micros(now.Add(-l.FailuresForget)))
		if err != nil {
			return fmt.Errorf("count attempt: %w", err)
		}
		return nil
	})
}

// waitAfter is how long after the last of n failures in a row the next
// attempt must wait: nothing before DelayAfter, then DelayBase doubling
// with each failure, and LockFor from LockAfter on.
func (s *Service) waitAfter(n int) time.Duration {
	l := s.cfg.Limits
	switch {
	case n >= l.LockAfter:
		return l.LockFor
	case n < l.DelayAfter:
		return 0
	}
	d := l.DelayBase
	for i := l.DelayAfter; i < n && d < l.LockFor; i++ {
		d *= 2
	}
	return min(d, l.LockFor)
}

// failAttempt records a failed attempt against the address (the run of
// the identifier was counted by beginAttempt).
func (s *Service) failAttempt(ctx context.Context, ip netip.Addr) error {
	now := s.now()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := hitWindow(ctx, tx, scopeFailIP+s.ipKey(ip), time.Hour, now)
		return err
	})
}

// succeed ends the identifier's run of failures.
func (s *Service) succeed(ctx context.Context, idKey string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM rate_limits WHERE limit_key = $1 AND window_start = 0", scopeFailRun+idKey)
		return err
	})
}
