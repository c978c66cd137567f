// Package consent keeps the consent ledger: every time a subject (or their
// representative) gives, renews, refuses or withdraws consent to a purpose
// of processing, and every time a consent expires or is invalidated, an
// event is appended with the consent text's version and hash, the method,
// who expressed it, sealed evidence and an audit entry. From the ledger it
// answers the one question the gate asks before processing on the basis of
// consent: may purpose P process subject S now?
//
// # Storage
//
// consent_events is append-only; consent_state holds the current status
// per subject and purpose and is updated in the same transaction as each
// event, together with the audit entry (audit.Log.AppendTx). Evidence — the
// IP address and user agent of the person who clicked — is personal data:
// it is sealed through a Sealer under the subject's key before it reaches
// the database, and becomes unreadable when the subject's key is destroyed.
// Audit entries carry codes and ids only (doc_version, method, by), never
// the evidence.
//
// # Decisions without a query
//
// Allowed answers from an in-memory index of consent_state (about 70
// bytes per subject and purpose) in about 100 ns, with no database query
// and no allocation. A consent whose term has run out is refused from that instant,
// whether or not the expiry job has written its 'expired' event yet.
//
// # Consistency across kabinet processes
//
// Every write takes one ledger-wide lock (pg_advisory_xact_lock on
// PostgreSQL; the single writer on SQLite), so event ids grow in commit
// order and consent_state.last_event_id is a watermark: a process that has
// applied every row up to id N and then reads the rows with
// last_event_id > N has seen every change. (The audit chain's lock
// serialises these transactions anyway, so the extra lock costs nothing.)
//
// The index is kept consistent by:
//   - local writes, applied right after their commit;
//   - on PostgreSQL, a LISTEN connection: each write does
//     pg_notify('kabinet_consent', event id) in its transaction, delivered on
//     commit, and every other process then catches up from its watermark —
//     staleness is the notification's delivery time, a few milliseconds;
//     after the listener reconnects it catches up likewise, so a
//     notification missed while disconnected cannot leave a stale answer;
//   - on both engines, a catch-up every Options.SyncInterval (1 s) as a
//     safety net; on SQLite, where kabinet is one process, it also picks up
//     writes by a second process on the file (a CLI command);
//   - failing closed: if no catch-up has succeeded for Options.MaxStale
//     (10 s) — database unreachable — Allowed refuses with ReasonStale
//     rather than answer from an old view.
//
// The listener holds one connection of the PostgreSQL pool for the life of
// the Ledger, and needs session-level connections (not a transaction-mode
// pooler, where LISTEN does not work: New fails).
package consent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
)

// Status is the kind of a ledger event, and the status of a consent after
// it: the W3C DPV consent states kabinet records.
type Status string

const (
	None        Status = ""            // no consent was ever asked or recorded
	Given       Status = "given"       // consent given
	Renewed     Status = "renewed"     // an active consent confirmed again, with a new term
	Refused     Status = "refused"     // the subject declined when asked
	Withdrawn   Status = "withdrawn"   // the subject withdrew a consent they had given
	Expired     Status = "expired"     // the term of the consent ran out
	Invalidated Status = "invalidated" // ended by the operator: the text changed materially, a representative's authority ended
)

// statuses lists the Statuses in the order of their index codes (1…6).
var statuses = [...]Status{None, Given, Renewed, Refused, Withdrawn, Expired, Invalidated}

func statusCode(s Status) uint8 {
	for i, x := range statuses {
		if x == s {
			return uint8(i)
		}
	}
	return 0
}

// Active reports whether the status lets processing go on (before expiry).
func (s Status) Active() bool { return s == Given || s == Renewed }

// Who expressed a consent.
const (
	BySubject        = "subject"
	ByRepresentative = "representative" // a parent or guardian for a child, or a representative with authority
)

// Reason codes of a Decision that refuses.
const (
	ReasonNoConsent       = "no_consent"        // nothing recorded for the subject and purpose
	ReasonRefused         = "refused"           // the subject declined
	ReasonWithdrawn       = "withdrawn"         // the subject withdrew it
	ReasonExpired         = "expired"           // its term ran out (even if the expiry job has not run yet)
	ReasonInvalidated     = "invalidated"       // the operator ended it
	ReasonUnknownPurpose  = "unknown_purpose"   // the register has no such purpose
	ReasonNotConsentBased = "not_consent_based" // the purpose rests on another legal basis: ask the register, not the ledger
	ReasonStale           = "ledger_stale"      // this process could not confirm its view for Options.MaxStale (or the Ledger is closed)
)

// Invalidation reason codes (any other short code is accepted too).
const (
	InvalidTextChanged  = "text_changed"                   // the consent text changed materially
	InvalidAuthorityEnd = "representative_authority_ended" // the child came of age, the guardianship ended
)

// Sealer seals and opens evidence under the subject's key. In production
// the gate implements it over the vault (category
// "technical.consent_evidence") and audits the reads; the ledger never
// sees a key. OpenEvidence of a destroyed subject must fail.
type Sealer interface {
	SealEvidence(ctx context.Context, subject string, plaintext []byte) ([]byte, error)
	OpenEvidence(ctx context.Context, subject string, sealed []byte) ([]byte, error)
}

// Options tune a Ledger. The zero value is valid.
type Options struct {
	// Clock gives the time of writes and of States; nil means time.Now.
	Clock func() time.Time
	// Logger receives synchronisation failures and expiry runs (ids and
	// counts only). nil means slog.Default().
	Logger *slog.Logger
	// SyncInterval is how often the index catches up from the database
	// regardless of notifications. 0 means 1 s.
	SyncInterval time.Duration
	// MaxStale is how long the index may go without a successful catch-up
	// before Allowed refuses with ReasonStale. 0 means 10 s; it must exceed
	// SyncInterval.
	MaxStale time.Duration
	// ExpireBatch bounds the consents ExpireDue ends in one transaction.
	// 0 means 200.
	ExpireBatch int
}

// Ledger records consent events and answers decisions from an in-memory
// index. It is safe for concurrent use. Close it to stop synchronisation.
type Ledger struct {
	db       *sqldb.DB
	reg      *register.Register
	log      *audit.Log
	sealer   Sealer
	clock    func() time.Time
	logger   *slog.Logger
	interval time.Duration
	maxStale time.Duration
	batch    int

	purposes map[string]purposeInfo // immutable after New
	index    *index

	high  atomic.Int64 // every consent_state row with last_event_id <= high has been applied
	fresh atomic.Bool  // a catch-up succeeded within maxStale, and not closed
	stale *time.Timer  // clears fresh when no catch-up succeeds for maxStale
	wake  chan struct{}

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type purposeInfo struct {
	idx     uint16
	consent bool
	p       *register.Purpose
}

// New loads the index from consent_state and starts keeping it in sync
// (see the package documentation); on PostgreSQL it returns once its
// listener is listening, and fails if LISTEN does not work. reg, log and
// sealer are required.
func New(ctx context.Context, db *sqldb.DB, reg *register.Register, log *audit.Log, sealer Sealer, opts Options) (*Ledger, error) {
	if db == nil || reg == nil || log == nil || sealer == nil {
		return nil, errors.New("consent: New needs a database, a register, an audit log and a sealer")
	}
	if len(reg.Purposes) > 1<<16-1 {
		return nil, fmt.Errorf("consent: %d purposes; at most 65535", len(reg.Purposes))
	}
	l := &Ledger{
		db: db, reg: reg, log: log, sealer: sealer,
		clock: opts.Clock, logger: opts.Logger,
		interval: opts.SyncInterval, maxStale: opts.MaxStale, batch: opts.ExpireBatch,
		purposes: make(map[string]purposeInfo, len(reg.Purposes)),
		index:    newIndex(),
		wake:     make(chan struct{}, 1),
	}
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if l.interval <= 0 {
		l.interval = time.Second
	}
	if l.maxStale <= 0 {
		l.maxStale = 10 * time.Second
	}
	if l.maxStale <= l.interval {
		return nil, fmt.Errorf("consent: MaxStale (%s) must exceed SyncInterval (%s)", l.maxStale, l.interval)
	}
	if l.batch <= 0 {
		l.batch = 200
	}
	for i := range reg.Purposes {
		p := &reg.Purposes[i]
		l.purposes[p.ID] = purposeInfo{idx: uint16(i), consent: p.ConsentBased() && p.Consent != nil, p: p}
	}

	start := time.Now()
	if err := l.catchUp(ctx); err != nil {
		return nil, fmt.Errorf("consent: load index: %w", err)
	}
	l.fresh.Store(true)
	l.stale = time.AfterFunc(l.maxStale-time.Since(start), l.markStale)

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	l.wg.Go(func() { l.syncLoop(bg) })
	if db.Engine() == sqldb.Postgres {
		ready := make(chan error, 1)
		l.wg.Go(func() { l.listen(bg, ready) })
		var err error
		select {
		case err = <-ready:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("consent: listen for changes by other processes: %w", err)
		}
	}
	return l, nil
}

// Close stops synchronisation and waits for it. Afterwards Allowed refuses
// with ReasonStale; writes still work. Calling it again does nothing.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		l.stale.Stop()
		l.fresh.Store(false)
	})
	return nil
}

func (l *Ledger) markStale() {
	if l.fresh.Swap(false) {
		l.logger.Error("consent: index not confirmed against the database; consent-based processing is refused until it is", "max_stale", l.maxStale)
	}
}
