package gate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// Block reasons (codes; the request that caused a block is in the journal
// of requests, not here).
const (
	BlockInaccuracyCheck = "inaccuracy_check" // 152-FZ art. 21 p.1: inaccurate data, during the check
	BlockUnlawfulCheck   = "unlawful_check"   // 152-FZ art. 21 p.1: unlawful processing, during the check
	BlockRetention       = "retention_hold"   // kept only for a legal duty, until its term
	BlockDestruction     = "destruction_due"  // 152-FZ art. 21 p.6: destruction impossible in term
)

// Block stops processing of the subject's categories ("*" for all) for
// every purpose but rectification, from now until `until` (zero: until
// lifted). It returns the block's id.
func (g *Gate) Block(ctx context.Context, actor audit.Actor, subject string, categories []string, reason string, until time.Time, requestID string) (int64, error) {
	if !slices.Contains([]string{BlockInaccuracyCheck, BlockUnlawfulCheck, BlockRetention, BlockDestruction}, reason) {
		return 0, fault.New(fault.Invalid, "gate.block_reason")
	}
	if len(categories) == 0 {
		return 0, fault.New(fault.Invalid, "gate.no_categories")
	}
	for _, c := range categories {
		if c != "*" && g.reg.Category(c) == nil {
			return 0, fault.New(fault.Invalid, "gate.unknown_category")
		}
	}
	var untilArg any
	if !until.IsZero() {
		untilArg = sqldb.Micros(until)
	}
	now := sqldb.Micros(g.now())
	var id int64
	err := g.db.InTx(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, "SELECT state FROM subjects WHERE id = $1", subject).Scan(&state); err != nil {
			return fmt.Errorf("gate: block: %w", err)
		}
		if state != StateActive {
			return ErrDestroyed
		}
		for _, c := range categories {
			if err := tx.QueryRowContext(ctx, `INSERT INTO pd_blocks (subject_id, category, reason, since, until) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
				subject, c, reason, now, untilArg).Scan(&id); err != nil {
				return fmt.Errorf("gate: block: %w", err)
			}
		}
		// "*" (the whole subject) is recorded as an attribute: audit
		// categories are register codes.
		cats, attrs := categories, map[string]string(nil)
		if slices.Contains(categories, "*") {
			cats, attrs = nil, map[string]string{"scope": "all"}
		}
		_, err := g.log.AppendTx(ctx, tx, audit.Entry{Actor: actor, Subject: subject, Action: "pd.block", Categories: cats,
			Outcome: audit.OutcomeOK, Reason: reason, RequestID: requestID, Attrs: attrs})
		return err
	})
	return id, err
}

// Unblock lifts every active block of the subject with the given reason.
func (g *Gate) Unblock(ctx context.Context, actor audit.Actor, subject, reason, requestID string) (int, error) {
	var n int64
	err := g.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE pd_blocks SET lifted_at = $1 WHERE subject_id = $2 AND reason = $3 AND lifted_at IS NULL",
			sqldb.Micros(g.now()), subject, reason)
		if err != nil {
			return fmt.Errorf("gate: unblock: %w", err)
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return fault.New(fault.NotFound, "gate.no_block")
		}
		_, err = g.log.AppendTx(ctx, tx, audit.Entry{Actor: actor, Subject: subject, Action: "pd.unblock",
			Outcome: audit.OutcomeOK, Reason: reason, RequestID: requestID})
		return err
	})
	return int(n), err
}

// Destroy destroys every personal datum of the subject by deleting its key
// from the key store (crypto-shredding: every copy of the ciphertexts,
// backups included, becomes unreadable), then deletes the ciphertexts and
// marks the subject destroyed. The audit entry names the reason code. It
// is idempotent.
func (g *Gate) Destroy(ctx context.Context, actor audit.Actor, subject, reason, requestID string) error {
	var state string
	err := g.db.Reader().QueryRowContext(ctx, "SELECT state FROM subjects WHERE id = $1", subject).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrUnknownSubject
	}
	if err != nil {
		return sqldb.Map(fmt.Errorf("gate: destroy: %w", err))
	}
	if state == StateDestroyed {
		return nil
	}
	// The key first: once it is gone the data are destroyed, whatever
	// happens to the rows below.
	if err := g.vault.Destroy(ctx, subject); err != nil {
		return fmt.Errorf("gate: destroy key: %w", err)
	}
	return g.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM pd_values WHERE subject_id = $1", subject); err != nil {
			return fmt.Errorf("gate: destroy values: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE pd_blocks SET lifted_at = $1 WHERE subject_id = $2 AND lifted_at IS NULL", sqldb.Micros(g.now()), subject); err != nil {
			return fmt.Errorf("gate: destroy blocks: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE subjects SET state = $1, destroyed_at = $2 WHERE id = $3", StateDestroyed, sqldb.Micros(g.now()), subject); err != nil {
			return fmt.Errorf("gate: destroy subject: %w", err)
		}
		_, err := g.log.AppendTx(ctx, tx, audit.Entry{Actor: actor, Subject: subject, Action: "subject.destroyed",
			Outcome: audit.OutcomeOK, Reason: reason, RequestID: requestID})
		return err
	})
}

// SubjectInfo is what the gate tells about a subject without touching
// its data.
type SubjectInfo struct {
	Kind, State string
	CreatedAt   time.Time
	Blocks      []BlockInfo
}

// BlockInfo describes an active block.
type BlockInfo struct {
	ID       int64
	Category string
	Reason   string
	Since    time.Time
	Until    time.Time // zero: until lifted
}

// Subject returns the subject's kind, state and active blocks.
func (g *Gate) Subject(ctx context.Context, id string) (SubjectInfo, error) {
	var info SubjectInfo
	var created int64
	err := g.db.Reader().QueryRowContext(ctx, "SELECT kind, state, created_at FROM subjects WHERE id = $1", id).Scan(&info.Kind, &info.State, &created)
	if err != nil {
		return info, sqldb.Map(fmt.Errorf("gate: subject: %w", err))
	}
	info.CreatedAt = sqldb.FromMicros(created)
	rows, err := g.db.Reader().QueryContext(ctx, `SELECT id, category, reason, since, until FROM pd_blocks
		WHERE subject_id = $1 AND lifted_at IS NULL AND (until IS NULL OR until > $2) ORDER BY id`, id, sqldb.Micros(g.now()))
	if err != nil {
		return info, sqldb.Map(fmt.Errorf("gate: subject blocks: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var b BlockInfo
		var since int64
		var until sql.NullInt64
		if err := rows.Scan(&b.ID, &b.Category, &b.Reason, &since, &until); err != nil {
			return info, sqldb.Map(fmt.Errorf("gate: subject blocks: %w", err))
		}
		b.Since = sqldb.FromMicros(since)
		if until.Valid {
			b.Until = sqldb.FromMicros(until.Int64)
		}
		info.Blocks = append(info.Blocks, b)
	}
	return info, sqldb.Map(rows.Err())
}

// Retain ends the subject's processing except for a legal duty to keep
// some data: it deletes every value but those of keep, and blocks the
// subject for every purpose but rectification until `until` (reason
// BlockRetention), when a job should Destroy it. With nothing to keep it
// destroys the subject at once. The audit entry lists the kept categories.
//
// Deleted rows stay readable in backups taken before until the subject is
// destroyed: the key must live on for the kept data.
func (g *Gate) Retain(ctx context.Context, actor audit.Actor, subject string, keep []string, until time.Time, reason, requestID string) error {
	if len(keep) == 0 {
		return g.Destroy(ctx, actor, subject, reason, requestID)
	}
	for _, c := range keep {
		if g.reg.Category(c) == nil {
			return fault.New(fault.Invalid, "gate.unknown_category")
		}
	}
	if until.IsZero() || !until.After(g.now()) {
		return fault.New(fault.Invalid, "gate.retention_term")
	}
	now := sqldb.Micros(g.now())
	return g.db.InTx(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, "SELECT state FROM subjects WHERE id = $1", subject).Scan(&state); err != nil {
			return fmt.Errorf("gate: retain: %w", err)
		}
		if state != StateActive {
			return ErrDestroyed
		}
		args := []any{subject}
		marks := make([]string, len(keep))
		for i, c := range keep {
			args = append(args, c)
			marks[i] = fmt.Sprintf("$%d", i+2)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM pd_values WHERE subject_id = $1 AND category NOT IN ("+strings.Join(marks, ", ")+")", args...); err != nil {
			return fmt.Errorf("gate: retain: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO pd_blocks (subject_id, category, reason, since, until) VALUES ($1, '*', $2, $3, $4)",
			subject, BlockRetention, now, sqldb.Micros(until)); err != nil {
			return fmt.Errorf("gate: retain: %w", err)
		}
		_, err := g.log.AppendTx(ctx, tx, audit.Entry{Actor: actor, Subject: subject, Action: "subject.retained", Categories: keep,
			Outcome: audit.OutcomeOK, Reason: reason, RequestID: requestID, Attrs: map[string]string{"until": until.UTC().Format("2006-01-02")}})
		return err
	})
}
