package consent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// State is the current status of a subject's consent to a purpose, as
// stored, for the subject's cabinet and for receipts.
type State struct {
	Subject     string
	Purpose     string
	Status      Status    // Expired for a consent past its term, even before the expiry job ran
	Since       time.Time // when the status began (the end of the term for Expired)
	ExpiresAt   time.Time // end of the term; zero when none
	LastEventID int64
	Doc         Doc // the text the status refers to
}

// States returns the subject's consents, one per purpose with anything
// recorded, sorted by purpose, read from the database (not the index).
func (l *Ledger) States(ctx context.Context, subject string) ([]State, error) {
	rows, err := l.db.Reader().QueryContext(ctx, `SELECT purpose, status, since, expires_at, last_event_id, doc_id, doc_version, doc_hash
		FROM consent_state WHERE subject_id = $1 ORDER BY purpose`, subject)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("consent: read states: %w", err))
	}
	defer rows.Close()
	now := sqldb.Micros(l.clock())
	var out []State
	for rows.Next() {
		var (
			s              State
			status         string
			since          int64
			expires        sql.NullInt64
			docID, ver, hh string
		)
		if err := rows.Scan(&s.Purpose, &status, &since, &expires, &s.LastEventID, &docID, &ver, &hh); err != nil {
			return nil, sqldb.Map(fmt.Errorf("consent: read states: %w", err))
		}
		s.Subject, s.Status, s.Since, s.Doc = subject, Status(status), sqldb.FromMicros(since), Doc{docID, ver, hh}
		if expires.Valid {
			s.ExpiresAt = sqldb.FromMicros(expires.Int64)
			if s.Status.Active() && now >= expires.Int64 {
				s.Status, s.Since = Expired, s.ExpiresAt
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, sqldb.Map(fmt.Errorf("consent: read states: %w", err))
	}
	return out, nil
}

const recordColumns = `id, subject_id, purpose, event, at, expires_at, doc_id, doc_version, doc_hash, method,
	expressed_by, representative_id, reason, evidence IS NOT NULL, actor_kind, actor_id, request_id`

func scanRecord(rows *sql.Rows) (Record, error) {
	var (
		r             Record
		event, actorK string
		at            int64
		expires       sql.NullInt64
		rep           sql.NullString
	)
	err := rows.Scan(&r.ID, &r.Subject, &r.Purpose, &event, &at, &expires, &r.Doc.ID, &r.Doc.Version, &r.Doc.Hash,
		&r.Method, &r.ExpressedBy, &rep, &r.Reason, &r.HasEvidence, &actorK, &r.Actor.ID, &r.RequestID)
	if err != nil {
		return Record{}, err
	}
	r.Event, r.At, r.RepresentativeID, r.Actor.Kind = Status(event), sqldb.FromMicros(at), rep.String, audit.ActorKind(actorK)
	if expires.Valid {
		r.ExpiresAt = sqldb.FromMicros(expires.Int64)
	}
	return r, nil
}

// History returns the subject's events for purpose (every purpose when
// purpose is empty) in the order they were recorded. Evidence stays
// sealed: see Evidence.
func (l *Ledger) History(ctx context.Context, subject, purpose string) ([]Record, error) {
	q := `SELECT ` + recordColumns + ` FROM consent_events WHERE subject_id = $1 ORDER BY id`
	args := []any{subject}
	if purpose != "" {
		q = `SELECT ` + recordColumns + ` FROM consent_events WHERE subject_id = $1 AND purpose = $2 ORDER BY id`
		args = append(args, purpose)
	}
	rows, err := l.db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("consent: read history: %w", err))
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, sqldb.Map(fmt.Errorf("consent: read history: %w", err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, sqldb.Map(fmt.Errorf("consent: read history: %w", err))
	}
	return out, nil
}

// Evidence opens the evidence of event id through the Sealer. Errors:
// fault.NotFound "consent.event_not_found" or "consent.no_evidence"; the
// Sealer's (for a destroyed subject, the vault's ErrDestroyed).
func (l *Ledger) Evidence(ctx context.Context, eventID int64) (Evidence, error) {
	var (
		subject string
		sealed  []byte
	)
	err := l.db.Reader().QueryRowContext(ctx, `SELECT subject_id, evidence FROM consent_events WHERE id = $1`, eventID).Scan(&subject, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return Evidence{}, fault.Wrap(fault.NotFound, fmt.Errorf("consent event %d", eventID), "consent.event_not_found")
	}
	if err != nil {
		return Evidence{}, sqldb.Map(fmt.Errorf("consent: read evidence: %w", err))
	}
	if sealed == nil {
		return Evidence{}, fault.Wrap(fault.NotFound, fmt.Errorf("consent event %d has no evidence", eventID), "consent.no_evidence")
	}
	plain, err := l.sealer.OpenEvidence(ctx, subject, sealed)
	if err != nil {
		return Evidence{}, fmt.Errorf("consent: open evidence of event %d: %w", eventID, err)
	}
	var ev Evidence
	if err := json.Unmarshal(plain, &ev); err != nil {
		return Evidence{}, fault.Wrap(fault.Internal, fmt.Errorf("consent: evidence of event %d: %w", eventID, err), "")
	}
	return ev, nil
}
