package preferences

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
)

// InboxPageSize is how many notices Inbox returns per page.
const InboxPageSize = 20

// JobPrune is the kind of the daily job that deletes old inbox notices.
const JobPrune = "preferences.prune_inbox"

// Item is a notice in the cabinet's inbox.
type Item struct {
	ID        int64
	Topic     Topic
	Template  string
	Params    map[string]string // non-personal
	CreatedAt time.Time
	ReadAt    time.Time // zero: unread
}

// Unread reports whether the item has not been marked read.
func (it Item) Unread() bool { return it.ReadAt.IsZero() }

// Text renders the item's subject line and body in l's language.
func (it Item) Text(l *i18n.Localizer) (subject, body string) {
	args := make([]any, 0, 2*len(it.Params))
	for _, k := range slices.Sorted(maps.Keys(it.Params)) {
		args = append(args, k, it.Params[k])
	}
	keys := templateKeys(Cabinet, it.Template)
	return l.T(keys[0], args...), l.T(keys[1], args...)
}

// Inbox returns page (from 1) of subject's notices, newest first, and how
// many of all its notices are unread. A page past the end is empty; a
// full page may be the last.
func (n *Notifications) Inbox(ctx context.Context, subject string, page int) ([]Item, int, error) {
	page = max(page, 1)
	rows, err := n.db.Reader().QueryContext(ctx, `SELECT id, topic, template, params, created_at, read_at FROM inbox
		WHERE subject_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`, subject, InboxPageSize, (page-1)*InboxPageSize)
	if err != nil {
		return nil, 0, fmt.Errorf("preferences: inbox: %w", sqldb.Map(err))
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		var (
			it            Item
			topic, params string
			created       int64
			read          sql.NullInt64
		)
		if err := rows.Scan(&it.ID, &topic, &it.Template, &params, &created, &read); err != nil {
			return nil, 0, fmt.Errorf("preferences: inbox: %w", sqldb.Map(err))
		}
		if err := json.Unmarshal([]byte(params), &it.Params); err != nil {
			return nil, 0, fmt.Errorf("preferences: inbox item %d: parameters: %w", it.ID, err)
		}
		it.Topic, it.CreatedAt = Topic(topic), sqldb.FromMicros(created)
		if read.Valid {
			it.ReadAt = sqldb.FromMicros(read.Int64)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("preferences: inbox: %w", sqldb.Map(err))
	}
	unread, err := n.Unread(ctx, subject)
	if err != nil {
		return nil, 0, err
	}
	return items, unread, nil
}

// Unread returns how many of subject's notices are unread (a badge).
func (n *Notifications) Unread(ctx context.Context, subject string) (int, error) {
	var c int
	if err := n.db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM inbox WHERE subject_id = $1 AND read_at IS NULL",
		subject).Scan(&c); err != nil {
		return 0, fmt.Errorf("preferences: unread: %w", sqldb.Map(err))
	}
	return c, nil
}

// MarkRead marks subject's notice id read; marking it again changes
// nothing. A notice that does not exist or belongs to another subject is
// fault.NotFound "preferences.no_item" — the same answer for both, so ids
// reveal nothing.
func (n *Notifications) MarkRead(ctx context.Context, subject string, id int64) error {
	err := n.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE inbox SET read_at = $3 WHERE id = $1 AND subject_id = $2 AND read_at IS NULL",
			id, subject, sqldb.Micros(n.now()))
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 1 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM inbox WHERE id = $1 AND subject_id = $2", id, subject).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.New(fault.NotFound, "preferences.no_item")
		}
		return err // nil: already read
	})
	if err != nil {
		return fmt.Errorf("preferences: mark read: %w", err)
	}
	return nil
}

// MarkAllRead marks every unread notice of subject read and returns how
// many it marked.
func (n *Notifications) MarkAllRead(ctx context.Context, subject string) (int64, error) {
	res, err := n.db.Writer().ExecContext(ctx, "UPDATE inbox SET read_at = $2 WHERE subject_id = $1 AND read_at IS NULL",
		subject, sqldb.Micros(n.now()))
	if err != nil {
		return 0, fmt.Errorf("preferences: mark all read: %w", sqldb.Map(err))
	}
	return res.RowsAffected()
}

// Prune deletes inbox notices older than the retention and returns how
// many.
func (n *Notifications) Prune(ctx context.Context) (int64, error) {
	res, err := n.db.Writer().ExecContext(ctx, "DELETE FROM inbox WHERE created_at < $1", sqldb.Micros(n.now().Add(-n.retention)))
	if err != nil {
		return 0, fmt.Errorf("preferences: prune inbox: %w", sqldb.Map(err))
	}
	return res.RowsAffected()
}

// Register adds the daily pruning of the inbox to r. Call it before r.Run.
func (n *Notifications) Register(r *jobs.Runner) {
	r.Every(JobPrune, 24*time.Hour, func(ctx context.Context, _ jobs.Job) error {
		_, err := n.Prune(ctx)
		return err
	})
}
