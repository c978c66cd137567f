// Package jobs runs kabinet's background work — expiry of consents and
// codes, retention, deadline alarms, message delivery — as durable rows in
// the jobs table that workers lease, so that several kabinet processes on
// one database share the work and a crash loses nothing.
//
// A Queue stores jobs; a Runner claims due jobs and runs the Handler
// registered for their kind. Delivery is at least once: a worker that dies
// mid-job leaves a lease that expires, and another worker runs the job
// again. Handlers must therefore be idempotent — typically they load the
// current state by the identifiers in the payload and do nothing if the work
// is already done or no longer applies.
//
// Payloads and handler errors are stored in plain text and errors are
// logged: they carry identifiers only, never personal-data values.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// State is where a job is in its life.
type State string

const (
	Queued  State = "queued"  // waiting for its run_at, or for a free worker
	Running State = "running" // leased by a worker
	Done    State = "done"    // finished successfully
	Dead    State = "dead"    // failed its last attempt, or failed permanently; see Queue.Retry
)

// DefaultMaxAttempts is the number of attempts a job gets when its Spec
// does not say.
const DefaultMaxAttempts = 10

// maxErrorLen bounds the stored text of a failure: enough to diagnose,
// not enough for a handler's error to turn the jobs table into a log.
const maxErrorLen = 2000

// Spec describes a job to enqueue.
type Spec struct {
	// Kind names the handler, e.g. "consent.expire". Required.
	Kind string
	// Payload is the handler's input, opaque to the queue: identifiers
	// only, never personal-data values. nil is stored as empty.
	Payload []byte
	// RunAt is the earliest time the job may run; zero means now.
	RunAt time.Time
	// DedupeKey, when set, makes the enqueue idempotent: while a job with
	// this key exists in any state (until Prune deletes it), enqueueing
	// again inserts nothing and returns the existing job's id.
	DedupeKey string
	// MaxAttempts bounds the attempts before the job is dead; zero means
	// DefaultMaxAttempts.
	MaxAttempts int
}

// Job is what a Handler receives.
type Job struct {
	ID          int64
	Kind        string
	Payload     []byte
	Attempt     int       // 1 on the first attempt
	MaxAttempts int       // Attempt == MaxAttempts on the last one
	RunAt       time.Time // when the job was due
	CreatedAt   time.Time
}

// Info is a job's stored record, for inspection (console, tests).
type Info struct {
	ID          int64
	Kind        string
	Payload     []byte
	DedupeKey   string // "" when none
	State       State
	RunAt       time.Time // next (or last) due time
	Attempts    int       // attempts started so far
	MaxAttempts int
	LeaseOwner  string    // the worker holding a Running job
	LeaseUntil  time.Time // zero unless Running
	LastError   string    // the latest failure, kept after a later success
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  time.Time // zero unless Done or Dead
}

// Queue stores jobs in the database. It is safe for concurrent use.
type Queue struct {
	db  *sqldb.DB
	now func() time.Time
	// wake nudges a Runner in this process when a job becomes due now, so
	// that work enqueued here does not wait for the next poll.
	wake chan struct{}
}

// NewQueue returns a Queue on db. now is the clock (nil means time.Now);
// every instant the queue stores and compares comes from it, so tests can
// move time.
func NewQueue(db *sqldb.DB, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{db: db, now: now, wake: make(chan struct{}, 1)}
}

// Enqueue stores a job in its own transaction and returns its id (or, with
// a DedupeKey already present, the existing job's id). An invalid spec is
// a fault.Invalid error.
func (q *Queue) Enqueue(ctx context.Context, spec Spec) (int64, error) {
	now := q.now()
	var id int64
	err := q.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = q.insert(ctx, tx, spec, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue %q job: %w", spec.Kind, err)
	}
	if !spec.RunAt.After(now) {
		q.signal()
	}
	return id, nil
}

// EnqueueTx stores a job inside the caller's write transaction, so that the
// job exists if and only if the caller's change commits (a consent given
// and its expiry job, a message and its delivery). tx must come from the
// same database's writer (sqldb.DB.InTx). It returns like Enqueue; a Runner
// in this process notices the job at its next poll.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, spec Spec) (int64, error) {
	id, err := q.insert(ctx, tx, spec, q.now())
	if err != nil {
		return 0, fmt.Errorf("enqueue %q job: %w", spec.Kind, err)
	}
	return id, nil
}

func (q *Queue) insert(ctx context.Context, tx *sql.Tx, spec Spec, now time.Time) (int64, error) {
	if spec.Kind == "" {
		return 0, fault.Wrap(fault.Invalid, errors.New("job kind is empty"), "")
	}
	if spec.MaxAttempts < 0 {
		return 0, fault.Wrap(fault.Invalid, fmt.Errorf("max attempts %d is negative", spec.MaxAttempts), "")
	}
	runAt := spec.RunAt
	if runAt.IsZero() {
		runAt = now
	}
	maxAttempts := spec.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = DefaultMaxAttempts
	}
	payload := spec.Payload
	if payload == nil {
		payload = []byte{} // drivers send a nil slice as NULL
	}
	var dedupe any // NULL never conflicts
	if spec.DedupeKey != "" {
		dedupe = spec.DedupeKey
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (dedupe_key) DO NOTHING
		RETURNING id`,
		spec.Kind, payload, dedupe, sqldb.Micros(runAt), maxAttempts, sqldb.Micros(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) && spec.DedupeKey != "" {
		// DO NOTHING returns no row; on PostgreSQL it first waits for a
		// concurrent inserter of the same key, so the row is visible now.
		err = tx.QueryRowContext(ctx, "SELECT id FROM jobs WHERE dedupe_key = $1", spec.DedupeKey).Scan(&id)
	}
	if err != nil {
		return 0, sqldb.Map(err)
	}
	return id, nil
}

// signal wakes one waiting Runner, if any, without blocking.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Get returns the stored record of job id; fault.NotFound if there is none.
func (q *Queue) Get(ctx context.Context, id int64) (Info, error) {
	var (
		in                      Info
		dedupe, owner, lastErr  sql.NullString
		state                   string
		runAt, created, updated int64
		leaseUntil, finished    sql.NullInt64
	)
	err := q.db.Reader().QueryRowContext(ctx, `SELECT id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts,
		lease_owner, lease_until, last_error, created_at, updated_at, finished_at
		FROM jobs WHERE id = $1`, id).Scan(&in.ID, &in.Kind, &in.Payload, &dedupe, &state, &runAt, &in.Attempts, &in.MaxAttempts,
		&owner, &leaseUntil, &lastErr, &created, &updated, &finished)
	if err != nil {
		return Info{}, fmt.Errorf("get job %d: %w", id, sqldb.Map(err))
	}
	in.DedupeKey, in.State, in.LeaseOwner, in.LastError = dedupe.String, State(state), owner.String, lastErr.String
	in.RunAt, in.CreatedAt, in.UpdatedAt = sqldb.FromMicros(runAt), sqldb.FromMicros(created), sqldb.FromMicros(updated)
	if leaseUntil.Valid {
		in.LeaseUntil = sqldb.FromMicros(leaseUntil.Int64)
	}
	if finished.Valid {
		in.FinishedAt = sqldb.FromMicros(finished.Int64)
	}
	return in, nil
}

// Retry gives a dead job a fresh set of attempts, due now — the operator's
// answer once the cause of its failures is fixed. It is fault.NotFound if
// the job does not exist and fault.Conflict if it is not dead.
func (q *Queue) Retry(ctx context.Context, id int64) error {
	now := sqldb.Micros(q.now())
	err := q.db.InTx(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = $1", id).Scan(&state); err != nil {
			return err
		}
		if State(state) != Dead {
			return fault.Wrap(fault.Conflict, fmt.Errorf("job is %s, not dead", state), "")
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, updated_at = $2, finished_at = NULL
			WHERE id = $1`, id, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("retry job %d: %w", id, err)
	}
	q.signal()
	return nil
}

// pruneBatch bounds each delete transaction, so that pruning a large
// backlog never holds SQLite's single writer for long.
const pruneBatch = 500

// Prune deletes done and dead jobs that finished before cutoff and returns
// how many it deleted. Deleting a job frees its DedupeKey, so cutoff should
// lie well behind the time within which the same key could be enqueued
// again (for Runner.Every jobs: more than one interval ago).
func (q *Queue) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := q.db.InTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id IN (
				SELECT id FROM jobs WHERE state IN ('done', 'dead') AND finished_at < $1 LIMIT $2)`,
				sqldb.Micros(cutoff), pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune jobs: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// claimed is a job leased to this process: the token proves the lease in
// every later write, so a worker whose lease expired and passed to another
// cannot record an outcome over the new holder's.
type claimed struct {
	Job
	token      string
	leaseUntil time.Time
}

// claim leases up to n due jobs of the given kinds to owner for lease, in
// one write transaction, and first buries jobs whose holder vanished during
// their last attempt. Jobs whose lease expired are taken before queued ones:
// they have waited longest.
func (q *Queue) claim(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]claimed, error) {
	if n <= 0 || len(kinds) == 0 {
		return nil, nil
	}
	now := q.now()
	until := now.Add(lease)
	// One token serves the whole batch: a claim is (id, token), and every
	// later claim of the same job draws a new token.
	token := newToken()
	// $1 now, $2 owner, $3 token, $4 lease_until, $5 limit, $6… kinds.
	ph := make([]string, len(kinds))
	for i := range kinds {
		ph[i] = fmt.Sprintf("$%d", i+6)
	}
	kindIn := "kind IN (" + strings.Join(ph, ", ") + ")"
	set := `UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $2, lease_token = $3, lease_until = $4, updated_at = $1
		WHERE id IN (SELECT id FROM jobs WHERE `
	returning := `) RETURNING id, kind, payload, attempts, max_attempts, run_at, created_at`
	expired := set + `state = 'running' AND lease_until <= $1 AND attempts < max_attempts AND ` + kindIn +
		` ORDER BY lease_until, id LIMIT $5` + q.db.SkipLocked() + returning
	due := set + `state = 'queued' AND run_at <= $1 AND ` + kindIn +
		` ORDER BY run_at, id LIMIT $5` + q.db.SkipLocked() + returning

	// An idle poll stays off the writer (on SQLite the one write connection
	// is the whole application's), and a poll runs only the statements
	// that have rows to act on.
	var queuedDue, leaseExpired bool
	if err := q.db.Reader().QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND run_at <= $1),
		EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND lease_until <= $1)`,
		sqldb.Micros(now)).Scan(&queuedDue, &leaseExpired); err != nil {
		return nil, fmt.Errorf("look for due jobs: %w", sqldb.Map(err))
	}
	var queries []string
	if leaseExpired {
		queries = append(queries, expired)
	}
	if queuedDue {
		queries = append(queries, due)
	}
	if len(queries) == 0 {
		return nil, nil
	}
	var out []claimed
	err := q.db.InTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		// A job whose holder died on its last attempt gets no further one.
		if leaseExpired {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'dead', finished_at = $1, updated_at = $1, last_error = $2,
				lease_owner = NULL, lease_token = NULL, lease_until = NULL
				WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until <= $1 AND attempts >= max_attempts`+q.db.SkipLocked()+`)`,
				sqldb.Micros(now), "lease expired during the last attempt: the worker stopped or lost the database"); err != nil {
				return fmt.Errorf("bury expired jobs: %w", err)
			}
		}
		for _, query := range queries {
			args := []any{sqldb.Micros(now), owner, token, sqldb.Micros(until), n - len(out)}
			for _, k := range kinds {
				args = append(args, k)
			}
			rows, err := tx.QueryContext(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("claim jobs: %w", err)
			}
			for rows.Next() {
				c := claimed{token: token, leaseUntil: until}
				var runAt, created int64
				if err := rows.Scan(&c.ID, &c.Kind, &c.Payload, &c.Attempt, &c.MaxAttempts, &runAt, &created); err != nil {
					rows.Close()
					return fmt.Errorf("claim jobs: %w", err)
				}
				c.RunAt, c.CreatedAt = sqldb.FromMicros(runAt), sqldb.FromMicros(created)
				out = append(out, c)
			}
			if err := rows.Close(); err != nil {
				return fmt.Errorf("claim jobs: %w", err)
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("claim jobs: %w", err)
			}
			if len(out) >= n {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// The writes below hold the lease token in their WHERE clause and report
// whether the lease was still held; a false means another worker has the
// job now and this outcome is void.

// extend renews a lease.
func (q *Queue) extend(ctx context.Context, c *claimed, until time.Time) (bool, error) {
	return q.leaseWrite(ctx, c, `UPDATE jobs SET lease_until = $3, updated_at = $4
		WHERE id = $1 AND lease_token = $2 AND state = 'running'`, sqldb.Micros(until), sqldb.Micros(q.now()))
}

// complete marks a job done.
func (q *Queue) complete(ctx context.Context, c *claimed) (bool, error) {
	return q.leaseWrite(ctx, c, `UPDATE jobs SET state = 'done', finished_at = $3, updated_at = $3,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL
		WHERE id = $1 AND lease_token = $2 AND state = 'running'`, sqldb.Micros(q.now()))
}

// reschedule puts a failed job back in the queue for a later attempt.
func (q *Queue) reschedule(ctx context.Context, c *claimed, at time.Time, msg string) (bool, error) {
	return q.leaseWrite(ctx, c, `UPDATE jobs SET state = 'queued', run_at = $3, last_error = $4, updated_at = $5,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL
		WHERE id = $1 AND lease_token = $2 AND state = 'running'`, sqldb.Micros(at), msg, sqldb.Micros(q.now()))
}

// bury marks a failed job dead.
func (q *Queue) bury(ctx context.Context, c *claimed, msg string) (bool, error) {
	return q.leaseWrite(ctx, c, `UPDATE jobs SET state = 'dead', last_error = $3, finished_at = $4, updated_at = $4,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL
		WHERE id = $1 AND lease_token = $2 AND state = 'running'`, msg, sqldb.Micros(q.now()))
}

// release returns an interrupted job to the queue, due now, without
// counting the attempt: stopping a process is not the job's fault.
func (q *Queue) release(ctx context.Context, c *claimed) (bool, error) {
	return q.leaseWrite(ctx, c, `UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $3, updated_at = $3,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL
		WHERE id = $1 AND lease_token = $2 AND state = 'running'`, sqldb.Micros(q.now()))
}

func (q *Queue) leaseWrite(ctx context.Context, c *claimed, query string, args ...any) (bool, error) {
	res, err := q.db.Writer().ExecContext(ctx, query, append([]any{c.ID, c.token}, args...)...)
	if err != nil {
		return false, sqldb.Map(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, sqldb.Map(err)
	}
	return n == 1, nil
}

// errorText is the stored form of a failure: bounded, valid UTF-8.
func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorLen {
		cut := maxErrorLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // do not split a character
		}
		s = s[:cut] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
