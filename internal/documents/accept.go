package documents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/register"
)

// How a subject came to accept a version.
const (
	MethodExplicit     = "explicit"      // ticked and confirmed the new version
	MethodContinuedUse = "continued_use" // used the portal after a version that binds on publication
	MethodRegistration = "registration"  // registered while the version was current
)

// Accept records that subject accepted versionID, the current agreement or
// policy text in the language the subject was shown. The acceptance binds
// the current text in the operator's default language (of which a shown
// translation is a rendering) and keeps which text was shown. An audit
// entry "document.accepted" is written in the same transaction.
//
// Accepting again is a no-op. Errors: fault.NotFound for an unknown
// version; fault.Invalid for a consent text (consents are given, not
// accepted), a method other than explicit, continued_use or registration,
// or a malformed subject id; fault.Conflict (key documents.not_current)
// when a newer version was published since the subject was shown this one.
func (s *Store) Accept(ctx context.Context, subject string, versionID int64, method string, actor audit.Actor, requestID string) error {
	switch method {
	case MethodExplicit, MethodContinuedUse, MethodRegistration:
	default:
		return fault.Wrap(fault.Invalid, fmt.Errorf("documents: acceptance method %q", method), "")
	}
	if !printableASCII(subject, audit.MaxIDLen) {
		return fault.Wrap(fault.Invalid, errors.New("documents: subject id must be printable ASCII of at most 128 bytes"), "")
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		shown, err := scanVersion(tx.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM document_versions v WHERE v.id = $1`, versionID))
		if errors.Is(err, sql.ErrNoRows) {
			return fault.New(fault.NotFound, "error.not_found.text")
		}
		if err != nil {
			return fmt.Errorf("read version %d: %w", versionID, err)
		}
		if shown.Kind != register.DocAgreement && shown.Kind != register.DocPolicy {
			return fault.Wrap(fault.Invalid, fmt.Errorf("documents: %s is a %s, which is not accepted", shown.DocID, shown.Kind), "")
		}
		cur, err := s.current(ctx, tx, shown.DocID, shown.Lang)
		if err != nil {
			return err
		}
		if cur.ID != shown.ID {
			return fault.New(fault.Conflict, "documents.not_current")
		}
		binding := cur
		if shown.Lang != s.cfg.DefaultLanguage() {
			if binding, err = s.current(ctx, tx, shown.DocID, s.cfg.DefaultLanguage()); err != nil {
				return err
			}
		}
		_, err = s.insertAcceptance(ctx, tx, subject, binding, shown.ID, method, actor, requestID)
		return err
	})
	if err != nil {
		return fmt.Errorf("documents: accept: %w", err)
	}
	return nil
}

// insertAcceptance records the acceptance unless it exists, and audits it
// when it is new; it reports whether it was new.
func (s *Store) insertAcceptance(ctx context.Context, tx *sql.Tx, subject string, binding Version, shownID int64, method string, actor audit.Actor, requestID string) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO document_acceptances (subject_id, doc_id, version_id, shown_id, method, at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject_id, version_id) DO NOTHING`,
		subject, binding.DocID, binding.ID, shownID, method, s.now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("insert acceptance: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err // already accepted: nothing new to audit
	}
	return true, s.appendAudit(ctx, tx, audit.Entry{
		Actor: actor, Subject: subject, Action: "document.accepted", Outcome: audit.OutcomeOK, RequestID: requestID,
		Attrs: map[string]string{"doc": binding.DocID, "version_id": strconv.FormatInt(binding.ID, 10),
			"hash": binding.Hash, "method": method, "shown_id": strconv.FormatInt(shownID, 10)},
	})
}

// unaccepted returns which of the current binding versions of the register's
// agreement and policy, with the given acceptance mode, subject has not
// accepted.
func (s *Store) unaccepted(ctx context.Context, subject, acceptance string) ([]Version, error) {
	var out []Version
	for _, d := range s.cfg.Register.Documents {
		if d.Kind != register.DocAgreement && d.Kind != register.DocPolicy {
			continue
		}
		v, err := s.current(ctx, s.db.Reader(), d.ID, s.cfg.DefaultLanguage())
		if fault.KindOf(err) == fault.NotFound {
			continue // not published yet
		}
		if err != nil {
			return nil, err
		}
		if v.Acceptance != acceptance {
			continue
		}
		var n int
		if err := s.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM document_acceptances WHERE subject_id = $1 AND version_id = $2`,
			subject, v.ID).Scan(&n); err != nil {
			return nil, fmt.Errorf("documents: read acceptances: %w", err)
		}
		if n == 0 {
			out = append(out, v)
		}
	}
	return out, nil
}

// Pending returns the agreement and policy versions subject must accept
// explicitly before going on: those whose current version was published
// with acceptance explicit and which subject has not accepted. Each is
// the current version in lang (the default language when lang has none),
// with its text, ready to show and to pass to Accept.
func (s *Store) Pending(ctx context.Context, subject, lang string) ([]Version, error) {
	bind, err := s.unaccepted(ctx, subject, "explicit")
	if err != nil {
		return nil, fmt.Errorf("documents: pending: %w", err)
	}
	var out []Version
	for _, b := range bind {
		v, err := s.Current(ctx, b.DocID, lang)
		if err != nil {
			return nil, fmt.Errorf("documents: pending: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// RecordContinuedUse records that subject, by using the portal, accepted
// every current agreement and policy version published with acceptance
// continued_use that subject has not accepted yet (seed 000 §1.3.5), with
// an audit entry each. Call it when a subject signs in or otherwise uses
// the portal; it returns how many acceptances it recorded, and writes
// nothing when there are none.
func (s *Store) RecordContinuedUse(ctx context.Context, subject string, actor audit.Actor, requestID string) (int, error) {
	if !printableASCII(subject, audit.MaxIDLen) {
		return 0, fault.Wrap(fault.Invalid, errors.New("documents: subject id must be printable ASCII of at most 128 bytes"), "")
	}
	todo, err := s.unaccepted(ctx, subject, "continued_use")
	if err != nil || len(todo) == 0 {
		return 0, err
	}
	recorded := 0
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		recorded = 0
		for _, v := range todo {
			added, err := s.insertAcceptance(ctx, tx, subject, v, v.ID, MethodContinuedUse, actor, requestID)
			if err != nil {
				return err
			}
			if added {
				recorded++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("documents: record continued use: %w", err)
	}
	return recorded, nil
}
