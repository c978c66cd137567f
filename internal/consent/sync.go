package consent

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"kabinet/internal/sqldb"
)

// channel is the PostgreSQL notification channel of consent writes. The
// payload is the new event id, so a listener already past it can skip the
// catch-up.
const channel = "kabinet_consent"

// catchUp applies every consent_state row written after the watermark and
// advances it. Because event ids grow in commit order (see the package
// documentation), the rows above the watermark are exactly the changes not
// yet applied.
func (l *Ledger) catchUp(ctx context.Context) error {
	from := l.high.Load()
	rows, err := l.db.Reader().QueryContext(ctx, `SELECT subject_id, purpose, status, expires_at, last_event_id
		FROM consent_state WHERE last_event_id > $1`, from)
	if err != nil {
		return sqldb.Map(fmt.Errorf("read consent states: %w", err))
	}
	defer rows.Close()
	high := from
	for rows.Next() {
		var (
			subject, purpose, status string
			expires                  sql.NullInt64
			id                       int64
		)
		if err := rows.Scan(&subject, &purpose, &status, &expires, &id); err != nil {
			return sqldb.Map(fmt.Errorf("read consent states: %w", err))
		}
		high = max(high, id)
		if p, ok := l.purposes[purpose]; ok && p.consent {
			l.index.put(subject, slot{lastEvent: id, expires: expires.Int64, purpose: p.idx, status: statusCode(Status(status))})
		}
	}
	if err := rows.Err(); err != nil {
		return sqldb.Map(fmt.Errorf("read consent states: %w", err))
	}
	l.high.Store(high)
	return nil
}

// sync catches up and, on success, confirms the index as fresh for
// maxStale counted from the moment the query started.
func (l *Ledger) sync(ctx context.Context) error {
	start := time.Now()
	qctx, cancel := context.WithTimeout(ctx, l.maxStale/2)
	defer cancel()
	if err := l.catchUp(qctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	l.stale.Reset(l.maxStale - time.Since(start))
	l.fresh.Store(true)
	return nil
}

// syncLoop catches up every interval and whenever the listener says so.
func (l *Ledger) syncLoop(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.wake:
		}
		err := l.sync(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			l.logger.Warn("consent: catching up with the database failed; will retry", "err", err)
		case err == nil && failing:
			l.logger.Info("consent: caught up with the database again")
		}
		failing = err != nil
	}
}

func (l *Ledger) nudge() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// listen keeps a LISTEN connection on PostgreSQL and nudges the sync loop
// on every notification past the watermark, and after every (re)connect,
// so that whatever was committed while it was not listening is caught up.
// The first attempt's outcome goes to ready (New fails on it); later
// failures are logged and retried with back-off.
func (l *Ledger) listen(ctx context.Context, ready chan<- error) {
	delay := 50 * time.Millisecond
	first := true
	for {
		err := l.listenOnce(ctx, func() {
			if first {
				first = false
				ready <- nil
			}
			delay = 50 * time.Millisecond
			l.nudge()
		})
		if ctx.Err() != nil {
			return
		}
		if first {
			ready <- err
			return
		}
		l.logger.Warn("consent: change listener disconnected; reconnecting", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// listenOnce holds one pool connection, LISTENs on it, calls listening,
// and waits for notifications until the connection fails or ctx ends. The
// connection is then discarded rather than returned to the pool with a
// LISTEN (or a cancelled wait) on it.
func (l *Ledger) listenOnce(ctx context.Context, listening func()) error {
	conn, err := l.db.Writer().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("%w: connection is a %T, not pgx", driver.ErrBadConn, dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+channel); err != nil {
			return fmt.Errorf("%w: LISTEN: %w", driver.ErrBadConn, err)
		}
		listening()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
			}
			if id, err := strconv.ParseInt(n.Payload, 10, 64); err != nil || id > l.high.Load() {
				l.nudge()
			}
		}
	})
}

// notify tells the other processes, on commit of tx, that event id was
// written. On SQLite there is one process (other writers on the file are
// caught up by the periodic sync).
func (l *Ledger) notify(ctx context.Context, tx *sql.Tx, id int64) error {
	if l.db.Engine() != sqldb.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify('"+channel+"', $1)", strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
