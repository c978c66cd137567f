package consent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
)

// ledgerLock is the advisory-lock key every consent write holds, so that
// event ids are committed in the order they are assigned (the watermark
// the index catches up from relies on it).
const ledgerLock int64 = 0x6b61622e636f6e73 // "kab.cons"

// Doc names the consent text the person was shown.
type Doc struct {
	ID      string // the register's document id: the purpose's consent document
	Version string // its version label
	Hash    string // hash of the text shown, e.g. hex SHA-256; at most 64 bytes
}

// Evidence is how the expression of consent was received. It is personal
// data: the ledger stores it only sealed (see Sealer).
type Evidence struct {
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Time      time.Time `json:"time"` // when the person acted; zero means the time of recording
}

func (e Evidence) empty() bool { return e.IP == "" && e.UserAgent == "" }

// maxUserAgent bounds the stored user agent; browsers send a few hundred
// bytes.
const maxUserAgent = 1024

// Event is one expression of consent (or its end) to record.
type Event struct {
	Subject string // opaque subject id
	Purpose string // the register's purpose id; the purpose must be consent-based
	// Doc is the consent text. Required for Give, Renew and Refuse and
	// must be the purpose's consent document; for Withdraw and Invalidate
	// it defaults to the text of the consent being ended.
	Doc Doc
	// Method is how the person expressed it: one of the purpose's
	// consent methods for Give and Renew, any known method
	// (register.ConsentMethods) for Refuse and Withdraw, empty for
	// Invalidate.
	Method string
	// ExpressedBy is BySubject or ByRepresentative; empty means
	// ByRepresentative for the "representative" method and BySubject
	// otherwise, and must be empty for Invalidate.
	ExpressedBy string
	// RepresentativeID is the opaque id of the representative; required
	// when ExpressedBy is ByRepresentative or Method is "representative".
	RepresentativeID string
	// Evidence is sealed under the subject's key; may be empty (paper).
	Evidence Evidence
	// Reason is a code: required for Invalidate (InvalidTextChanged, …).
	Reason string
	// Actor is who recorded it, for the audit entry: the subject's or
	// representative's account, a staff member entering a paper consent,
	// the system.
	Actor     audit.Actor
	RequestID string
}

// Record is a stored ledger event. Evidence is not in it: see
// Ledger.Evidence.
type Record struct {
	ID               int64
	Subject          string
	Purpose          string
	Event            Status
	At               time.Time
	ExpiresAt        time.Time // zero when none
	Doc              Doc
	Method           string
	ExpressedBy      string
	RepresentativeID string
	Reason           string
	HasEvidence      bool
	Actor            audit.Actor
	RequestID        string
}

// Give records that consent was given. The new consent runs for the
// purpose's consent term (calendar months or years from now), or until
// withdrawn when the term is zero; it replaces whatever was recorded
// before. Errors: fault.Invalid with a "consent.*" key for input that
// breaks the register's rules; those of the audit log and the database.
func (l *Ledger) Give(ctx context.Context, e Event) (Record, error) { return l.write(ctx, Given, e) }

// Renew records that an active consent was confirmed again, possibly to a
// newer version of the text; its term starts again. A consent that is not
// in force (never given, ended, or past its term) is fault.Conflict
// "consent.not_active": record a Give instead.
func (l *Ledger) Renew(ctx context.Context, e Event) (Record, error) {
	return l.write(ctx, Renewed, e)
}

// Refuse records that the subject declined when asked. It is the latest
// expression of their will, so it also ends a consent given before.
func (l *Ledger) Refuse(ctx context.Context, e Event) (Record, error) {
	return l.write(ctx, Refused, e)
}

// Withdraw records the withdrawal of a consent in force; anything else is
// fault.Conflict "consent.not_active". Processing stops at once (Allowed);
// what must happen to the data afterwards is the lifecycle's business.
func (l *Ledger) Withdraw(ctx context.Context, e Event) (Record, error) {
	return l.write(ctx, Withdrawn, e)
}

// Invalidate ends a consent in force by the operator's decision — the
// consent text changed materially, a representative's authority ended —
// with e.Reason saying why. A consent not in force is fault.Conflict
// "consent.not_active".
func (l *Ledger) Invalidate(ctx context.Context, e Event) (Record, error) {
	return l.write(ctx, Invalidated, e)
}

func invalid(key string, args ...any) error { return fault.New(fault.Invalid, key, args...) }

// check validates e for an event of kind against the register, without
// the database, and fills defaults. It returns the purpose.
func (l *Ledger) check(kind Status, e *Event) (*register.Purpose, error) {
	if !isID(e.Subject, 128) {
		return nil, invalid("consent.subject_invalid")
	}
	pi, ok := l.purposes[e.Purpose]
	if !ok {
		return nil, invalid("consent.purpose_unknown", "purpose", e.Purpose)
	}
	if !pi.consent {
		return nil, invalid("consent.purpose_not_consent", "purpose", e.Purpose)
	}
	p := pi.p
	ending := kind == Withdrawn || kind == Invalidated

	// The text: the purpose's own consent document, named in full unless
	// the event ends a consent (then the ended consent's text is the
	// default).
	if e.Doc.ID != "" && e.Doc.ID != p.Consent.Document || e.Doc.ID == "" && !ending {
		return nil, invalid("consent.document_mismatch", "document", p.Consent.Document)
	}
	if e.Doc.ID != "" && (!isID(e.Doc.Version, 64) || !isID(e.Doc.Hash, 64)) ||
		e.Doc.ID == "" && (e.Doc.Version != "" || e.Doc.Hash != "") {
		return nil, invalid("consent.document_incomplete")
	}

	// Who and how.
	if kind == Invalidated {
		// Nobody expressed anything: the operator decided.
		if e.Method != "" {
			return nil, invalid("consent.method_not_allowed", "method", e.Method)
		}
		if e.ExpressedBy != "" {
			return nil, invalid("consent.expressed_by_invalid")
		}
		if !isCode(e.Reason) {
			return nil, invalid("consent.reason_required")
		}
	} else {
		methods := p.Consent.Methods
		if kind == Refused || kind == Withdrawn {
			methods = register.ConsentMethods
		}
		if !slices.Contains(methods, e.Method) {
			return nil, invalid("consent.method_not_allowed", "method", e.Method)
		}
		switch {
		case e.ExpressedBy != "":
		case e.Method == "representative":
			e.ExpressedBy = ByRepresentative
		default:
			e.ExpressedBy = BySubject
		}
		if e.ExpressedBy != BySubject && e.ExpressedBy != ByRepresentative {
			return nil, invalid("consent.expressed_by_invalid")
		}
		if e.Method == "representative" && e.ExpressedBy != ByRepresentative {
			return nil, invalid("consent.representative_required")
		}
		if e.Reason != "" && !isCode(e.Reason) {
			return nil, invalid("consent.reason_invalid")
		}
	}
	switch {
	case e.ExpressedBy == ByRepresentative && e.RepresentativeID == "":
		return nil, invalid("consent.representative_required")
	case e.RepresentativeID != "" && !isID(e.RepresentativeID, 64):
		return nil, invalid("consent.representative_invalid")
	case e.ExpressedBy == BySubject && e.RepresentativeID != "":
		return nil, invalid("consent.representative_unexpected")
	}

	if e.Evidence.IP != "" {
		if _, err := netip.ParseAddr(e.Evidence.IP); err != nil {
			return nil, invalid("consent.evidence_invalid")
		}
	}
	if len(e.Evidence.UserAgent) > maxUserAgent || !utf8.ValidString(e.Evidence.UserAgent) {
		return nil, invalid("consent.evidence_invalid")
	}
	return p, nil
}

// current is a consent_state row.
type current struct {
	status     Status
	since      int64
	expires    int64 // 0 when none
	lastEvent  int64
	docID      string
	docVersion string
	docHash    string
}

// activeAt reports whether the consent is in force at the instant at.
func (c current) activeAt(at int64) bool {
	return c.status.Active() && (c.expires == 0 || at < c.expires)
}

func readCurrent(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, subject, purpose string) (current, bool, error) {
	var (
		c       current
		status  string
		expires sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT status, since, expires_at, last_event_id, doc_id, doc_version, doc_hash
		FROM consent_state WHERE subject_id = $1 AND purpose = $2`, subject, purpose).
		Scan(&status, &c.since, &expires, &c.lastEvent, &c.docID, &c.docVersion, &c.docHash)
	if errors.Is(err, sql.ErrNoRows) {
		return current{}, false, nil
	}
	if err != nil {
		return current{}, false, fmt.Errorf("read consent state: %w", err)
	}
	c.status, c.expires = Status(status), expires.Int64
	return c, true, nil
}

// write records one event: the evidence sealed first (outside the
// transaction: the key store is another database), then, in one write
// transaction under the ledger lock, the state check, the event, the new
// state, the audit entry and the notification; the index after commit.
func (l *Ledger) write(ctx context.Context, kind Status, e Event) (Record, error) {
	p, err := l.check(kind, &e)
	if err != nil {
		return Record{}, fmt.Errorf("consent: %s: %w", kind, err)
	}
	at := sqldb.Micros(l.clock())
	needsActive := kind == Renewed || kind == Withdrawn || kind == Invalidated
	notActive := fault.New(fault.Conflict, "consent.not_active", "purpose", e.Purpose)
	if needsActive {
		// Checked again under the lock; this early look spares sealing
		// evidence for a write that cannot happen.
		cur, found, err := readCurrent(ctx, l.db.Reader(), e.Subject, e.Purpose)
		if err != nil {
			return Record{}, sqldb.Map(fmt.Errorf("consent: %s: %w", kind, err))
		}
		if !found || !cur.activeAt(at) {
			return Record{}, fmt.Errorf("consent: %s: %w", kind, notActive)
		}
	}
	var sealed []byte
	if !e.Evidence.empty() {
		ev := e.Evidence
		if ev.Time.IsZero() {
			ev.Time = sqldb.FromMicros(at)
		}
		plain, err := json.Marshal(ev)
		if err != nil {
			return Record{}, fmt.Errorf("consent: encode evidence: %w", err)
		}
		if sealed, err = l.sealer.SealEvidence(ctx, e.Subject, plain); err != nil {
			return Record{}, fmt.Errorf("consent: seal evidence: %w", err)
		}
	}
	var expires int64
	if (kind == Given || kind == Renewed) && !p.Consent.Term.IsZero() {
		expires = sqldb.Micros(p.Consent.Term.AddTo(sqldb.FromMicros(at)))
	}
	rec := Record{
		Subject: e.Subject, Purpose: e.Purpose, Event: kind,
		At: sqldb.FromMicros(at), Doc: e.Doc, Method: e.Method, ExpressedBy: e.ExpressedBy,
		RepresentativeID: e.RepresentativeID, Reason: e.Reason, HasEvidence: sealed != nil,
		Actor: e.Actor, RequestID: e.RequestID,
	}
	if expires != 0 {
		rec.ExpiresAt = sqldb.FromMicros(expires)
	}
	err = l.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := l.db.LockXact(ctx, tx, ledgerLock); err != nil {
			return err
		}
		cur, found, err := readCurrent(ctx, tx, e.Subject, e.Purpose)
		if err != nil {
			return err
		}
		if needsActive {
			if !found || !cur.activeAt(at) {
				return notActive
			}
			if rec.Doc.ID == "" {
				rec.Doc = Doc{ID: cur.docID, Version: cur.docVersion, Hash: cur.docHash}
			}
		}
		if err := l.append(ctx, tx, &rec, sealed); err != nil {
			return err
		}
		return l.notify(ctx, tx, rec.ID)
	})
	if err != nil {
		return Record{}, fmt.Errorf("consent: record %s: %w", kind, err)
	}
	l.apply(rec)
	return rec, nil
}

// append inserts rec as a new event (setting rec.ID), makes it the current
// state and appends its audit entry, in tx, which holds the ledger lock.
// The caller then notifies other processes.
func (l *Ledger) append(ctx context.Context, tx *sql.Tx, rec *Record, sealed []byte) error {
	var expires, rep, evidence any
	if sealed != nil {
		evidence = sealed
	}
	if !rec.ExpiresAt.IsZero() {
		expires = sqldb.Micros(rec.ExpiresAt)
	}
	if rec.RepresentativeID != "" {
		rep = rec.RepresentativeID
	}
	at := sqldb.Micros(rec.At)
	err := tx.QueryRowContext(ctx, `INSERT INTO consent_events (subject_id, purpose, event, at, expires_at,
			doc_id, doc_version, doc_hash, method, expressed_by, representative_id, reason, evidence,
			actor_kind, actor_id, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
		rec.Subject, rec.Purpose, string(rec.Event), at, expires,
		rec.Doc.ID, rec.Doc.Version, rec.Doc.Hash, rec.Method, rec.ExpressedBy, rep, rec.Reason, evidence,
		string(rec.Actor.Kind), rec.Actor.ID, rec.RequestID).Scan(&rec.ID)
	if err != nil {
		return fmt.Errorf("insert consent event: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO consent_state (subject_id, purpose, status, since, expires_at,
			last_event_id, doc_id, doc_version, doc_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (subject_id, purpose) DO UPDATE SET status = excluded.status, since = excluded.since,
			expires_at = excluded.expires_at, last_event_id = excluded.last_event_id,
			doc_id = excluded.doc_id, doc_version = excluded.doc_version, doc_hash = excluded.doc_hash`,
		rec.Subject, rec.Purpose, string(rec.Event), at, expires, rec.ID, rec.Doc.ID, rec.Doc.Version, rec.Doc.Hash)
	if err != nil {
		return fmt.Errorf("update consent state: %w", err)
	}
	attrs := map[string]string{"event_id": strconv.FormatInt(rec.ID, 10), "doc_version": rec.Doc.Version, "doc_hash": rec.Doc.Hash}
	for k, v := range map[string]string{"method": rec.Method, "by": rec.ExpressedBy, "representative": rec.RepresentativeID, "reason": rec.Reason} {
		if v != "" {
			attrs[k] = v
		}
	}
	_, err = l.log.AppendTx(ctx, tx, audit.Entry{
		Actor: rec.Actor, Subject: rec.Subject, Action: "consent." + string(rec.Event), Purpose: rec.Purpose,
		Outcome: audit.OutcomeOK, RequestID: rec.RequestID, Attrs: attrs,
	})
	return err
}

// apply puts a committed event into the index.
func (l *Ledger) apply(rec Record) {
	var expires int64
	if !rec.ExpiresAt.IsZero() {
		expires = sqldb.Micros(rec.ExpiresAt)
	}
	l.index.put(rec.Subject, slot{lastEvent: rec.ID, expires: expires, purpose: l.purposes[rec.Purpose].idx, status: statusCode(rec.Event)})
}

// isID accepts opaque identifiers of at most n bytes: printable ASCII
// without spaces (as the audit log does), so a name or an address is
// refused.
func isID(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isCode accepts reason codes: [a-z0-9_], at most 64 bytes.
func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
