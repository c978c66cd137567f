package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// List returns the subject's documents, newest first, with their names
// opened through the gate (each open is audited).
func (s *Service) List(ctx context.Context, actor audit.Actor, subject, requestID string) ([]File, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, sealed_name, size, content_type, created_at, delete_after FROM files
		WHERE subject_id = $1 AND state = 'stored' ORDER BY created_at DESC, id`, subject)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("files: list: %w", err))
	}
	type row struct {
		f      File
		sealed []byte
	}
	var found []row
	for rows.Next() {
		var r row
		var created, deleteAfter int64
		if err := rows.Scan(&r.f.ID, &r.sealed, &r.f.Size, &r.f.Type, &created, &deleteAfter); err != nil {
			rows.Close()
			return nil, sqldb.Map(fmt.Errorf("files: list: %w", err))
		}
		r.f.CreatedAt, r.f.DeleteAfter = sqldb.FromMicros(created), sqldb.FromMicros(deleteAfter)
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, sqldb.Map(fmt.Errorf("files: list: %w", err))
	}
	// Names are opened after the rows are read: the gate's audit writes
	// must not wait behind an open read.
	out := make([]File, 0, len(found))
	req := s.request(actor, subject, requestID)
	for _, r := range found {
		name, err := s.gate.Open(ctx, req, s.cfg.Category, r.sealed)
		if err != nil {
			return nil, fmt.Errorf("files: list: open name of %s: %w", r.f.ID, err)
		}
		r.f.Name = string(name)
		out = append(out, r.f)
	}
	return out, nil
}

// stored is a file's row as the service reads it back.
type stored struct {
	File
	sealedName, sum []byte
}

// get reads the subject's stored file fileID; another subject's file, a
// pending one and a missing one are all notFound.
func (s *Service) get(ctx context.Context, subject, fileID string) (stored, error) {
	var f stored
	var created, deleteAfter int64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT id, sealed_name, size, content_type, blob_sha256, created_at, delete_after FROM files
		WHERE id = $1 AND subject_id = $2 AND state = 'stored'`, fileID, subject).
		Scan(&f.ID, &f.sealedName, &f.Size, &f.Type, &f.sum, &created, &deleteAfter)
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound()
	}
	if err != nil {
		return f, sqldb.Map(fmt.Errorf("files: read %s: %w", fileID, err))
	}
	f.CreatedAt, f.DeleteAfter = sqldb.FromMicros(created), sqldb.FromMicros(deleteAfter)
	return f, nil
}

// Download returns a document of the subject: its name, detected media
// type and content, each opened through the gate. A file of another
// subject is "files.not_found" like one that does not exist; a destroyed
// subject's documents are refused by the gate (fault.NotFound); a blob
// that is missing or does not match its recorded hash is fault.Internal.
func (s *Service) Download(ctx context.Context, actor audit.Actor, subject, fileID, requestID string) (name, contentType string, data []byte, err error) {
	f, err := s.get(ctx, subject, fileID)
	if err != nil {
		return "", "", nil, err
	}
	req := s.request(actor, subject, requestID)
	// The name first: it is small, and the gate's checks (purpose,
	// subject's state) run before the blob is fetched.
	plainName, err := s.gate.Open(ctx, req, s.cfg.Category, f.sealedName)
	if err != nil {
		return "", "", nil, fmt.Errorf("files: download %s: %w", fileID, err)
	}
	blob, err := s.store.Get(ctx, f.ID)
	if fault.KindOf(err) == fault.NotFound {
		// Deleted meanwhile (Delete removes the blob before the row), or lost.
		if _, again := s.get(ctx, subject, fileID); fault.KindOf(again) == fault.NotFound {
			return "", "", nil, notFound()
		}
		s.logger.Error("files: blob missing", "file", f.ID, "request_id", requestID)
		return "", "", nil, fault.Wrap(fault.Internal, err, "")
	}
	if err != nil {
		return "", "", nil, fault.Wrap(fault.Unavailable, fmt.Errorf("files: download %s: %w", fileID, err), "files.storage_unavailable")
	}
	if sum := sha256.Sum256(blob); !bytes.Equal(sum[:], f.sum) {
		s.logger.Error("files: blob does not match its recorded hash", "file", f.ID, "request_id", requestID)
		return "", "", nil, fault.Wrap(fault.Internal, fmt.Errorf("files: blob of %s is corrupt", f.ID), "")
	}
	data, err = s.gate.Open(ctx, req, s.cfg.Category, blob)
	if err != nil {
		return "", "", nil, fmt.Errorf("files: download %s: %w", fileID, err)
	}
	return string(plainName), f.Type, data, nil
}

// Delete deletes a document of the subject: the blob, then the row with
// its audit entry (file.deleted) in one transaction. Like the gate's
// Erase it is processing, so it is checked through the gate first (the
// file's name is opened: a blocked or destroyed subject is refused). A
// file of another subject is "files.not_found".
func (s *Service) Delete(ctx context.Context, actor audit.Actor, subject, fileID, requestID string) error {
	f, err := s.get(ctx, subject, fileID)
	if err != nil {
		return err
	}
	if _, err := s.gate.Open(ctx, s.request(actor, subject, requestID), s.cfg.Category, f.sealedName); err != nil {
		return fmt.Errorf("files: delete %s: %w", fileID, err)
	}
	return s.remove(ctx, actor, subject, fileID, "stored", "file.deleted", "", requestID)
}

// remove deletes the blob, then the row in state with an audit entry. The
// blob goes first so that a failure leaves a row to retry from, never an
// orphan blob; Store.Delete of a missing blob succeeds, so retrying is
// safe.
func (s *Service) remove(ctx context.Context, actor audit.Actor, subject, fileID, state, action, reason, requestID string) error {
	if err := s.store.Delete(ctx, fileID); err != nil {
		return fault.Wrap(fault.Unavailable, fmt.Errorf("files: delete blob %s: %w", fileID, err), "files.storage_unavailable")
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM files WHERE id = $1 AND subject_id = $2 AND state = $3", fileID, subject, state)
		if err != nil {
			return fmt.Errorf("files: delete %s: %w", fileID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound() // deleted meanwhile by another call
		}
		e := s.entry(actor, subject, action, fileID, requestID)
		e.Reason = reason
		_, err = s.log.AppendTx(ctx, tx, e)
		return err
	})
}

// Audit codes of the expiry job.
const (
	ReasonRetention  = "retention_term"    // the register's retention term ended
	ReasonIncomplete = "incomplete_upload" // an upload that failed half-way
)

// pendingGrace is how long an upload may stay pending before the expiry
// job takes it for one that failed half-way (a crash between the row and
// the blob). Uploads take seconds.
const pendingGrace = time.Hour

// expireBatch bounds the files one ExpireDue call deletes; the next run
// takes the rest.
const expireBatch = 1000

// ExpireDue deletes the documents whose retention term ended by now —
// blob, row and an audit entry (file.expired, actor system, reason
// retention_term) — and the leftovers of uploads that failed half-way
// (file.discarded). It returns how many it deleted; failures of single
// files are logged, the rest go on, and the joined error is returned so
// the job retries.
func (s *Service) ExpireDue(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, subject_id, state FROM files
		WHERE delete_after <= $1 OR (state = 'pending' AND created_at < $2) ORDER BY delete_after, id LIMIT $3`,
		sqldb.Micros(now), sqldb.Micros(now.Add(-pendingGrace)), expireBatch)
	if err != nil {
		return 0, sqldb.Map(fmt.Errorf("files: expire: %w", err))
	}
	type due struct{ id, subject, state string }
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.subject, &d.state); err != nil {
			rows.Close()
			return 0, sqldb.Map(fmt.Errorf("files: expire: %w", err))
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, sqldb.Map(fmt.Errorf("files: expire: %w", err))
	}
	system := audit.Actor{Kind: audit.ActorSystem, ID: JobExpire}
	n := 0
	var errs []error
	for _, d := range list {
		action, reason := "file.expired", ReasonRetention
		if d.state == "pending" {
			action, reason = "file.discarded", ReasonIncomplete
		}
		err := s.remove(ctx, system, d.subject, d.id, d.state, action, reason, "")
		switch {
		case err == nil:
			n++
		case fault.KindOf(err) == fault.NotFound:
			// Deleted meanwhile by its owner or another process.
		default:
			s.logger.Error("files: expire", "file", d.id, "err", err)
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
