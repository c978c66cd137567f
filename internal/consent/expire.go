package consent

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
)

// JobExpire is the kind of the periodic expiry job.
const JobExpire = "consent.expire"

// expireActor is the audit actor of expiry events.
var expireActor = audit.Actor{Kind: audit.ActorSystem, ID: JobExpire}

// ExpireDue records an 'expired' event, with its audit entry, for every
// consent given or renewed whose term ended at or before now, in
// transactions of Options.ExpireBatch consents, and returns how many it
// recorded. Each event is dated at the end of the term, not at the run.
// It is idempotent: a consent already recorded as expired (or ended
// otherwise) is not touched again, so a retried or concurrent run records
// nothing twice. Allowed refuses expired consents from the end of their
// term whether or not this has run; it makes the ledger say so too.
func (l *Ledger) ExpireDue(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, err := l.expireBatch(ctx, sqldb.Micros(now))
		total += n
		if err != nil {
			return total, fmt.Errorf("consent: expire: %w", err)
		}
		if n < l.batch {
			return total, nil
		}
	}
}

func (l *Ledger) expireBatch(ctx context.Context, now int64) (int, error) {
	var done []Record
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		done = done[:0]
		if err := l.db.LockXact(ctx, tx, ledgerLock); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT subject_id, purpose, expires_at, doc_id, doc_version, doc_hash
			FROM consent_state WHERE status IN ('given', 'renewed') AND expires_at <= $1
			ORDER BY expires_at LIMIT $2`, now, l.batch)
		if err != nil {
			return fmt.Errorf("find due consents: %w", err)
		}
		// Read them all before writing: on SQLite the transaction has one
		// connection.
		var due []Record
		for rows.Next() {
			var r Record
			var at int64
			if err := rows.Scan(&r.Subject, &r.Purpose, &at, &r.Doc.ID, &r.Doc.Version, &r.Doc.Hash); err != nil {
				rows.Close()
				return fmt.Errorf("find due consents: %w", err)
			}
			r.Event, r.At, r.Actor = Expired, sqldb.FromMicros(at), expireActor
			due = append(due, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find due consents: %w", err)
		}
		for i := range due {
			if err := l.append(ctx, tx, &due[i], nil); err != nil {
				return err
			}
		}
		done = due
		if len(due) == 0 {
			return nil
		}
		// One notification for the batch: a listener catches up on all of it.
		return l.notify(ctx, tx, due[len(due)-1].ID)
	})
	if err != nil {
		return 0, err
	}
	for _, r := range done {
		l.apply(r)
	}
	if len(done) > 0 {
		l.logger.Info("consent: expired consents recorded", "count", len(done))
	}
	return len(done), nil
}

// Register schedules ExpireDue on r every interval (at least a second),
// as the periodic job JobExpire: one run per interval across all kabinet
// processes.
func (l *Ledger) Register(r *jobs.Runner, every time.Duration) {
	r.Every(JobExpire, every, func(ctx context.Context, _ jobs.Job) error {
		_, err := l.ExpireDue(ctx, l.clock())
		return err
	})
}
