package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
)

// JobExpireFlows is the periodic job that clears what expired: abandoned
// sign-ups (their subjects are destroyed: a number typed and never
// confirmed is not kept), used and expired flows, ended sessions and old
// rate-limit counters.
const JobExpireFlows = "identity.expire_flows"

// ExpireEvery is how often JobExpireFlows runs: an abandoned sign-up's
// phone number lives at most Codes.TTL (or FinishWithin) plus this.
const ExpireEvery = 5 * time.Minute

// expireBatch bounds the flows one run handles per transaction.
const expireBatch = 200

// Register schedules the identity jobs on r.
func (s *Service) Register(r *jobs.Runner) {
	r.Every(JobExpireFlows, ExpireEvery, func(ctx context.Context, _ jobs.Job) error {
		_, err := s.ExpireFlows(ctx)
		return err
	})
	r.Handle(JobDestroyRetained, func(ctx context.Context, j jobs.Job) error {
		var p destroyJob
		if err := json.Unmarshal(j.Payload, &p); err != nil || p.Account == "" {
			return jobs.Permanent(fmt.Errorf("identity: bad payload of job %d", j.ID))
		}
		return s.DestroyRetained(ctx, p.Account)
	})
}

// abandon destroys the subject of a sign-up that failed before it had an
// account; a failure is logged, and the expiry of its flow (if any) or the
// operator's review finds it again.
func (s *Service) abandon(ctx context.Context, subject string) {
	if err := s.gate.Destroy(context.WithoutCancel(ctx), systemActor, subject, "signup_abandoned", ""); err != nil {
		s.log.Warn("identity: destroy abandoned sign-up", "subject", subject, "err", err)
	}
}

// ExpireFlows does the work of JobExpireFlows now and returns how many
// flows it removed.
func (s *Service) ExpireFlows(ctx context.Context) (int, error) {
	now := s.now()
	// A minute's grace, so that a flow being finished as it expires is
	// not taken from under its finisher.
	cutoff := sqldb.Micros(now.Add(-time.Minute))
	total := 0
	for {
		type row struct{ hash, kind, subject string }
		var batch []row
		rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, kind, subject_id FROM auth_flows f
			WHERE expires_at < $1 ORDER BY expires_at LIMIT $2`, cutoff, expireBatch)
		if err != nil {
			return total, sqldb.Map(fmt.Errorf("identity: expire flows: %w", err))
		}
		for rows.Next() {
			var r row
			var subject sql.NullString
			if err := rows.Scan(&r.hash, &r.kind, &subject); err != nil {
				rows.Close()
				return total, sqldb.Map(fmt.Errorf("identity: expire flows: %w", err))
			}
			r.subject = subject.String
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, sqldb.Map(fmt.Errorf("identity: expire flows: %w", err))
		}
		for _, r := range batch {
			if r.kind == FlowContactChange && r.subject != "" {
				// The carrier of a new contact never confirmed.
				if err := s.gate.Destroy(ctx, systemActor, r.subject, "contact_change_abandoned", ""); err != nil && fault.KindOf(err) != fault.NotFound {
					return total, fmt.Errorf("identity: destroy abandoned contact change: %w", err)
				}
			}
			if r.kind == FlowSignup && r.subject != "" {
				// The subject of a sign-up that never became an account;
				// the decoy of a sign-up for an existing account names
				// that account's subject, which has an account.
				a, err := s.anyAccountOf(ctx, r.subject)
				if err != nil {
					return total, err
				}
				if !a {
					err := s.gate.Destroy(ctx, systemActor, r.subject, "signup_abandoned", "")
					if err != nil && fault.KindOf(err) != fault.NotFound {
						return total, fmt.Errorf("identity: destroy abandoned sign-up: %w", err)
					}
				}
			}
			if err := s.db.InTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "DELETE FROM auth_flows WHERE id = $1", r.hash)
				return err
			}); err != nil {
				return total, fmt.Errorf("identity: expire flows: %w", err)
			}
			total++
		}
		if len(batch) < expireBatch {
			break
		}
	}
	l, ss := s.cfg.Limits, s.cfg.Sessions
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE last_seen <= $1 OR created_at <= $2",
			sqldb.Micros(now.Add(-ss.Idle)), sqldb.Micros(now.Add(-ss.Absolute))); err != nil {
			return fmt.Errorf("expire sessions: %w", err)
		}
		// Windows are at most a day long; a run of failures ends after
		// FailuresForget, but a lock it caused may outlast that.
		_, err := tx.ExecContext(ctx, `DELETE FROM rate_limits WHERE (window_start > 0 AND window_start < $1)
			OR (window_start = 0 AND last_at < $2)`,
			sqldb.Micros(now.Add(-48*time.Hour)), sqldb.Micros(now.Add(-l.FailuresForget-l.LockFor)))
		if err != nil {
			return fmt.Errorf("expire limits: %w", err)
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("identity: %w", err)
	}
	return total, nil
}

// anyAccountOf reports whether the subject has an account, in any state.
func (s *Service) anyAccountOf(ctx context.Context, subject string) (bool, error) {
	var n int
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE subject_id = $1", subject).Scan(&n); err != nil {
		return false, sqldb.Map(fmt.Errorf("identity: expire flows: %w", err))
	}
	return n > 0, nil
}
