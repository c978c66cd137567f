package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// chainLock is the advisory-lock key that makes the chain's appends one
// writer at a time across every kabinet process on a PostgreSQL database.
const chainLock int64 = 0x6b61622e61756474 // "kab.audt"

// batchTimeout bounds one group-commit transaction, so that a database that
// stops answering fails the waiting Appends instead of hanging them.
const batchTimeout = 30 * time.Second

// ErrClosed is returned (as a fault.Unavailable) by appends to a closed Log.
var ErrClosed = errors.New("audit log closed")

// Options configure a Log.
type Options struct {
	// Signer signs checkpoints. Required.
	Signer ed25519.PrivateKey
	// KeyID names Signer's public key in the keys given to Verify. Required.
	KeyID string
	// CheckpointEvery writes a checkpoint when a batch crosses a multiple of
	// this many entries. 0 means 1000; negative disables it.
	CheckpointEvery int
	// CheckpointInterval writes a checkpoint this often if this Log has
	// appended since its last one. 0 means one minute; negative disables it.
	CheckpointInterval time.Duration
	// MaxBatch bounds the entries written in one transaction. 0 means 256.
	MaxBatch int
	// Clock stamps entries and checkpoints. nil means time.Now.
	Clock func() time.Time
	// Logger receives every checkpoint written (seq, hash, signature: no
	// personal data), so that a copy of them lives outside the database,
	// and failures of the background writer. nil means slog.Default().
	Logger *slog.Logger
}

// Log appends entries to the audit chain through one group-commit writer
// goroutine. It is safe for concurrent use; several Logs (in one or many
// processes) may append to the same database.
type Log struct {
	db     *sqldb.DB
	signer ed25519.PrivateKey
	keyID  string
	every  int64
	tick   time.Duration
	max    int
	clock  func() time.Time
	log    *slog.Logger

	reqs    chan *request
	quit    chan struct{}
	stopped chan struct{}

	mu        sync.RWMutex // guards closed against senders on reqs
	closed    bool
	closeOnce sync.Once
	closeErr  error

	appended       atomic.Int64 // entries this Log has written
	checkpointedAt atomic.Int64 // value of appended at this Log's last checkpoint
	batches        atomic.Int64 // group-commit transactions committed

	// beforeCommit, set only by tests, runs at the end of every batch
	// transaction; an error it returns aborts the transaction.
	beforeCommit func() error
}

// Request states: the writer takes a pending request into a transaction;
// Append withdraws it when its context ends first. Whoever moves it out of
// pending decides whether it is written.
const (
	statePending int32 = iota
	stateTaken
	stateWithdrawn
)

type request struct {
	e     Entry
	state atomic.Int32
	done  chan result // buffered: the writer never blocks on a waiter
}

type result struct {
	e   Entry
	err error
}

// Open checks that the audit tables exist and starts the writer goroutine.
// Close stops it.
func Open(ctx context.Context, db *sqldb.DB, opts Options) (*Log, error) {
	if len(opts.Signer) != ed25519.PrivateKeySize {
		return nil, fault.Wrap(fault.Invalid, errors.New("audit: Options.Signer must be an Ed25519 private key"), "")
	}
	if opts.KeyID == "" || !isCode(opts.KeyID, MaxCodeLen) {
		return nil, fault.Wrap(fault.Invalid, fmt.Errorf("audit: Options.KeyID %q must be a code of [A-Za-z0-9_.:-]", opts.KeyID), "")
	}
	l := &Log{
		db:      db,
		signer:  opts.Signer,
		keyID:   opts.KeyID,
		every:   int64(opts.CheckpointEvery),
		tick:    opts.CheckpointInterval,
		max:     opts.MaxBatch,
		clock:   opts.Clock,
		log:     opts.Logger,
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if l.every == 0 {
		l.every = 1000
	}
	if l.tick == 0 {
		l.tick = time.Minute
	}
	if l.max <= 0 {
		l.max = 256
	}
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if _, err := readHead(ctx, db.Reader()); err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	l.reqs = make(chan *request, l.max)
	go l.run()
	return l, nil
}

// Append writes e to the chain and returns the stored entry (with Seq,
// Time, PrevHash and Hash) only after its transaction has committed. Entries
// from concurrent Appends are written together in one transaction.
//
// A nil error means the entry is durable; an error means it was not written,
// except in the one case no database client can rule out: the connection
// failing during COMMIT. When ctx ends before the writer has taken the entry
// into a transaction, Append returns ctx's error and the entry is never
// written; once taken, Append waits for that transaction (bounded by
// batchTimeout) so that its answer is exact. Invalid entries are rejected
// with fault.Invalid; after Close, Append fails with ErrClosed.
//
// Never call Append while holding a write transaction on the same database:
// on SQLite the writer needs the one write connection you hold. Use AppendTx.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	e, err := normalize(e)
	if err != nil {
		return Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	r := &request{e: e, done: make(chan result, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Entry{}, fault.Wrap(fault.Unavailable, fmt.Errorf("audit: append: %w", ErrClosed), "")
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		l.mu.RUnlock()
		return Entry{}, fmt.Errorf("audit: append: %w", ctx.Err())
	}
	l.mu.RUnlock()
	select {
	case res := <-r.done:
		return res.e, res.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(statePending, stateWithdrawn) {
			return Entry{}, fmt.Errorf("audit: append: %w", ctx.Err())
		}
		res := <-r.done
		return res.e, res.err
	}
}

// AppendTx appends e inside the caller's write transaction tx (from
// db.InTx or db.Writer()), for a change that must be atomic with its audit
// entry, such as recording a consent. The entry is durable only when the
// caller commits; the returned Seq and Hash are void if it rolls back.
//
// The trade-off: there is no batching. AppendTx takes the chain lock in tx,
// so every other append — from every kabinet process — waits until tx ends;
// keep such transactions short and do nothing slow in them after AppendTx.
// tx must run at READ COMMITTED (PostgreSQL's default) so that it reads the
// head another process committed while it waited for the lock; at a
// stricter isolation the insert fails on the seq key rather than fork the
// chain.
func (l *Log) AppendTx(ctx context.Context, tx *sql.Tx, e Entry) (Entry, error) {
	e, err := normalize(e)
	if err != nil {
		return Entry{}, err
	}
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return Entry{}, fault.Wrap(fault.Unavailable, fmt.Errorf("audit: append: %w", ErrClosed), "")
	}
	h, err := l.lockHead(ctx, tx)
	if err != nil {
		return Entry{}, sqldb.Map(fmt.Errorf("audit: append: %w", err))
	}
	out, cp, err := l.appendLocked(ctx, tx, h, []Entry{e})
	if err != nil {
		return Entry{}, sqldb.Map(fmt.Errorf("audit: append: %w", err))
	}
	if cp != nil {
		l.logCheckpoint(cp, "audit checkpoint written (commits with the caller's transaction)")
	}
	return out[0], nil
}

// Close writes every pending entry, writes a checkpoint of the head if it
// has none, and stops the writer. Later appends fail with ErrClosed. Close
// returns the checkpoint's error, if any; calling it again returns the same.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.quit)
		<-l.stopped
	})
	return l.closeErr
}

// run is the writer goroutine: it waits for requests, takes every pending
// one (up to max) and writes them in one transaction. While a transaction
// commits, new requests queue up in reqs and form the next batch: that is
// the group commit.
func (l *Log) run() {
	defer close(l.stopped)
	var ticks <-chan time.Time
	if l.tick > 0 {
		t := time.NewTicker(l.tick)
		defer t.Stop()
		ticks = t.C
	}
	batch := make([]*request, 0, l.max)
	for {
		select {
		case r := <-l.reqs:
			batch = l.collect(append(batch[:0], r))
			l.writeBatch(batch)
		case <-ticks:
			if l.appended.Load() == l.checkpointedAt.Load() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
			if _, err := l.Checkpoint(ctx); err != nil {
				l.log.Error("audit: periodic checkpoint failed", "err", err)
			}
			cancel()
		case <-l.quit:
			// No sender can add to reqs any more (closed is set under the
			// lock every sender holds): drain what is there.
			for {
				batch = l.collect(batch[:0])
				if len(batch) == 0 {
					break
				}
				l.writeBatch(batch)
			}
			ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
			if _, err := l.Checkpoint(ctx); err != nil {
				l.closeErr = fmt.Errorf("audit: close: %w", err)
			}
			cancel()
			return
		}
	}
}

// collect adds to batch every request already waiting in reqs, up to max.
func (l *Log) collect(batch []*request) []*request {
	for len(batch) < l.max {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// writeBatch writes the batch's still-pending requests in one transaction
// and answers each of them: all with their entries, or all with the error.
func (l *Log) writeBatch(batch []*request) {
	live := 0
	for _, r := range batch {
		if r.state.Load() == statePending {
			live++
		}
	}
	if live == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	var (
		taken []*request
		out   []Entry
		cp    *Checkpoint
	)
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		h, err := l.lockHead(ctx, tx)
		if err != nil {
			return err
		}
		// Requests are taken only now, with the lock held, so that a
		// caller whose context ends while we wait for the lock is
		// withdrawn rather than written.
		taken = taken[:0]
		for _, r := range batch {
			if r.state.CompareAndSwap(statePending, stateTaken) {
				taken = append(taken, r)
			}
		}
		if len(taken) == 0 {
			return nil
		}
		entries := make([]Entry, len(taken))
		for i, r := range taken {
			entries[i] = r.e
		}
		if out, cp, err = l.appendLocked(ctx, tx, h, entries); err != nil {
			return err
		}
		if l.beforeCommit != nil {
			return l.beforeCommit()
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("audit: append: %w", err)
		l.log.Error("audit: batch not written", "entries", len(batch), "err", err)
		for _, r := range batch {
			if r.state.Load() == stateTaken || r.state.CompareAndSwap(statePending, stateTaken) {
				r.done <- result{err: err}
			}
		}
		return
	}
	l.batches.Add(1)
	if cp != nil {
		l.logCheckpoint(cp, "audit checkpoint written")
	}
	for i, r := range taken {
		r.done <- result{e: out[i]}
	}
}

// head is the last entry of the chain: seq 0 and the genesis hash when the
// chain is empty.
type head struct {
	seq  int64
	at   int64
	hash []byte
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readHead(ctx context.Context, q queryRower) (head, error) {
	var h head
	err := q.QueryRowContext(ctx, "SELECT seq, at, hash FROM audit_log ORDER BY seq DESC LIMIT 1").Scan(&h.seq, &h.at, &h.hash)
	if errors.Is(err, sql.ErrNoRows) {
		return head{hash: genesis}, nil
	}
	if err != nil {
		return head{}, fmt.Errorf("read audit head: %w", err)
	}
	return h, nil
}

// lockHead takes the chain lock in tx and reads the head — in that order,
// so that the head is the one the previous lock holder committed.
func (l *Log) lockHead(ctx context.Context, tx *sql.Tx) (head, error) {
	if err := l.db.LockXact(ctx, tx, chainLock); err != nil {
		return head{}, err
	}
	return readHead(ctx, tx)
}

const entryColumns = "seq, at, actor_kind, actor_id, subject, action, purpose, categories, outcome, reason, request_id, attrs, prev_hash, hash"

const entryColumnCount = 14

// insertChunks are the row counts of the multi-row INSERTs a batch is cut
// into: few distinct statement texts (PostgreSQL caches one prepared
// statement per text) and few round trips. Not larger: SQLite resolves
// each $N by a linear search of the statement's parameters, so preparing
// an INSERT costs O(params²) — measured, 16 rows cost 23 µs a row to
// insert, 128 rows 92 µs a row.
var insertChunks = [...]int{16, 4, 1}

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_log (" + entryColumns + ") VALUES ")
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range entryColumnCount {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// appendLocked chains entries after h and inserts them in tx, which holds
// the chain lock. It writes a checkpoint of the new head in the same
// transaction when the batch crosses a multiple of every.
func (l *Log) appendLocked(ctx context.Context, tx *sql.Tx, h head, entries []Entry) ([]Entry, *Checkpoint, error) {
	// Entry times never go backwards along the chain, even when the clocks
	// of several kabinet processes disagree a little.
	at := max(sqldb.Micros(l.clock()), h.at)
	prev, seq := h.hash, h.seq
	for i := range entries {
		seq++
		e := &entries[i]
		e.Seq, e.Time, e.PrevHash = seq, sqldb.FromMicros(at), prev
		e.Hash = e.Sum()
		prev = e.Hash
	}
	rest := entries
	for len(rest) > 0 {
		n := 1
		for _, c := range insertChunks {
			if c <= len(rest) {
				n = c
				break
			}
		}
		args := make([]any, 0, n*entryColumnCount)
		for _, e := range rest[:n] {
			cats, attrs, err := encodeLists(e)
			if err != nil {
				return nil, nil, err
			}
			args = append(args, e.Seq, sqldb.Micros(e.Time), string(e.Actor.Kind), e.Actor.ID, e.Subject,
				e.Action, e.Purpose, cats, string(e.Outcome), e.Reason, e.RequestID, attrs, e.PrevHash, e.Hash)
		}
		if _, err := tx.ExecContext(ctx, insertSQL(n), args...); err != nil {
			return nil, nil, fmt.Errorf("insert audit entries %d…%d: %w", rest[0].Seq, rest[n-1].Seq, err)
		}
		rest = rest[n:]
	}
	l.appended.Add(int64(len(entries)))
	var cp *Checkpoint
	if last := entries[len(entries)-1]; l.every > 0 && h.seq/l.every != last.Seq/l.every {
		c, err := l.insertCheckpoint(ctx, tx, last.Seq, last.Hash)
		if err != nil {
			return nil, nil, err
		}
		cp = &c
	}
	return entries, cp, nil
}

// encodeLists gives the stored text of Categories and Attrs: JSON, "[]"
// and "{}" when empty (never "null").
func encodeLists(e Entry) (cats, attrs string, err error) {
	cats, attrs = "[]", "{}"
	if len(e.Categories) > 0 {
		b, err := json.Marshal(e.Categories)
		if err != nil {
			return "", "", fmt.Errorf("encode categories: %w", err)
		}
		cats = string(b)
	}
	if len(e.Attrs) > 0 {
		b, err := json.Marshal(e.Attrs) // keys sorted
		if err != nil {
			return "", "", fmt.Errorf("encode attrs: %w", err)
		}
		attrs = string(b)
	}
	return cats, attrs, nil
}

func (l *Log) logCheckpoint(cp *Checkpoint, msg string) {
	l.log.Info(msg, "seq", cp.Seq, "hash", hex.EncodeToString(cp.Hash), "time", cp.Time,
		"key_id", cp.KeyID, "signature", hex.EncodeToString(cp.Signature))
}
