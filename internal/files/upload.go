package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// knownTypes are the media types recognised by content, with the name
// extensions that agree with each. Only types http.DetectContentType (plus
// the PDF check below) identifies from their magic numbers are here: a
// type that cannot be told from the content cannot be limited by it.
var knownTypes = map[string][]string{
	"application/pdf": {".pdf"},
	"image/jpeg":      {".jpg", ".jpeg"},
	"image/png":       {".png"},
	"image/gif":       {".gif"},
	"image/webp":      {".webp"},
	"image/bmp":       {".bmp"},
}

// typeNames are the names people know the allowed types by, for messages.
var typeNames = map[string]string{
	"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WebP", "image/bmp": "BMP",
}

// typeNames lists the allowed types for a message: "PDF, JPEG, PNG".
func (s *Service) typeNames() string {
	names := make([]string, len(s.cfg.AllowedTypes))
	for i, t := range s.cfg.AllowedTypes {
		names[i] = typeNames[t]
	}
	return strings.Join(names, ", ")
}

// KnownTypes lists the media types Config.AllowedTypes may name.
func KnownTypes() []string { return slices.Sorted(maps.Keys(knownTypes)) }

// maxNameLen bounds a file name in bytes, as most file systems do.
const maxNameLen = 255

// Upload stores a document for subject: it reads at most MaxSize bytes of
// r, scans them when a scanner is configured, checks the type detected
// from the content against the allowed types and the name's extension,
// seals content and name through the gate and stores them. Nothing is
// stored unless every check passes. Errors (fault kinds with message
// keys): Invalid "files.empty", "files.too_large" (Args "max": the limit
// in MB), "files.name_required", "files.bad_name", "files.infected",
// "files.type_not_allowed" (Args "types": "PDF, JPEG, PNG"), "files.type_mismatch"; Unavailable
// "files.scanner_unavailable" (fail closed: no scan, no upload) and
// "files.storage_unavailable"; the gate's refusals.
func (s *Service) Upload(ctx context.Context, actor audit.Actor, subject, name string, r io.Reader, requestID string) (File, error) {
	name, err := cleanName(name)
	if err != nil {
		return File{}, err
	}
	data, err := io.ReadAll(io.LimitReader(r, s.cfg.MaxSize+1))
	if err != nil {
		return File{}, fmt.Errorf("files: read upload: %w", err)
	}
	if int64(len(data)) > s.cfg.MaxSize {
		return File{}, fault.New(fault.Invalid, "files.too_large", "max", megabytes(s.cfg.MaxSize))
	}
	if len(data) == 0 {
		return File{}, fault.New(fault.Invalid, "files.empty")
	}
	// Scan before anything else looks at the content, so that an infected
	// file is reported as such whatever its type.
	if s.scanner != nil {
		res, err := s.scanner.Scan(ctx, bytes.NewReader(data))
		if err != nil {
			s.logger.Error("files: scanner unavailable, upload refused", "subject", subject, "request_id", requestID, "err", err)
			return File{}, fault.Wrap(fault.Unavailable, err, "files.scanner_unavailable")
		}
		if res.Infected {
			s.logger.Warn("files: upload refused: infected", "signature", res.Signature, "size", len(data), "subject", subject, "request_id", requestID)
			e := s.entry(actor, subject, "file.refused", "", requestID)
			e.Outcome, e.Reason, e.Attrs = audit.OutcomeRefused, "infected", nil
			if _, err := s.log.Append(ctx, e); err != nil {
				return File{}, fmt.Errorf("files: audit refusal: %w", err)
			}
			return File{}, fault.New(fault.Invalid, "files.infected")
		}
	}
	ct := sniff(data)
	if !slices.Contains(s.cfg.AllowedTypes, ct) {
		return File{}, fault.New(fault.Invalid, "files.type_not_allowed", "types", s.typeNames())
	}
	if !slices.Contains(knownTypes[ct], strings.ToLower(path.Ext(name))) {
		return File{}, fault.New(fault.Invalid, "files.type_mismatch")
	}

	req := s.request(actor, subject, requestID)
	blob, err := s.gate.Seal(ctx, req, s.cfg.Category, data)
	if err != nil {
		return File{}, fmt.Errorf("files: seal content: %w", err)
	}
	sealedName, err := s.gate.Seal(ctx, req, s.cfg.Category, []byte(name))
	if err != nil {
		return File{}, fmt.Errorf("files: seal name: %w", err)
	}
	sum := sha256.Sum256(blob)
	now := s.now()
	f := File{ID: newID(), Name: name, Size: int64(len(data)), Type: ct, CreatedAt: sqldb.FromMicros(sqldb.Micros(now)),
		DeleteAfter: sqldb.FromMicros(sqldb.Micros(now.AddDate(0, 0, s.cfg.RetentionDays)))}

	// The row first (pending), then the blob, then the row stored: a crash
	// anywhere leaves either nothing or a pending row the expiry job
	// cleans up with its blob.
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO files (id, subject_id, state, sealed_name, size, content_type, blob_sha256, created_at, delete_after)
			VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8)`,
			f.ID, subject, sealedName, f.Size, f.Type, sum[:], sqldb.Micros(f.CreatedAt), sqldb.Micros(f.DeleteAfter))
		return err
	})
	if err != nil {
		return File{}, fmt.Errorf("files: record upload: %w", err)
	}
	if err := s.store.Put(ctx, f.ID, blob); err != nil {
		s.logger.Error("files: store blob", "file", f.ID, "request_id", requestID, "err", err)
		s.discardPending(f.ID)
		return File{}, fault.Wrap(fault.Unavailable, err, "files.storage_unavailable")
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE files SET state = 'stored' WHERE id = $1 AND state = 'pending'", f.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("pending row of file %s is gone", f.ID)
		}
		e := s.entry(actor, subject, "file.uploaded", f.ID, requestID)
		e.Attrs["type"] = f.Type
		_, err = s.log.AppendTx(ctx, tx, e)
		return err
	})
	if err != nil {
		s.discardPending(f.ID)
		return File{}, fmt.Errorf("files: record upload: %w", err)
	}
	return f, nil
}

// discardPending removes the blob and the pending row of an upload that
// failed half-way, on a context of its own (the request's may be what
// failed). Whatever it cannot remove, ExpireDue removes later.
func (s *Service) discardPending(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.store.Delete(ctx, id); err != nil {
		s.logger.Warn("files: discard blob of failed upload; the expiry job retries", "file", id, "err", err)
		return
	}
	if err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM files WHERE id = $1 AND state = 'pending'", id)
		return err
	}); err != nil {
		s.logger.Warn("files: discard row of failed upload; the expiry job retries", "file", id, "err", err)
	}
}

// cleanName returns the last element of a name as a browser may send it
// (some send a whole Windows path), or an Invalid fault.
func cleanName(name string) (string, error) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "", fault.New(fault.Invalid, "files.name_required")
	}
	if len(name) > maxNameLen || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || r == utf8.RuneError
	}) {
		return "", fault.New(fault.Invalid, "files.bad_name")
	}
	return name, nil
}

// sniff returns the media type of data judged by its content only.
func sniff(data []byte) string {
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		if isPDF(data) {
			return "application/pdf"
		}
		return "application/octet-stream"
	}
	ct, _, err := mime.ParseMediaType(http.DetectContentType(data))
	if err != nil {
		return "application/octet-stream"
	}
	return ct
}

// isPDF checks the PDF header ("%PDF-1.x" or "%PDF-2.x" at the start, ISO
// 32000) and the end-of-file marker "%%EOF" within the last kilobyte,
// where readers look for it: a file with only the magic is not a PDF.
func isPDF(data []byte) bool {
	if len(data) < 8 || !(bytes.HasPrefix(data, []byte("%PDF-1.")) || bytes.HasPrefix(data, []byte("%PDF-2."))) {
		return false
	}
	tail := data[max(0, len(data)-1024):]
	return bytes.Contains(tail, []byte("%%EOF"))
}

// megabytes formats a size limit in MB (MiB) for a message, rounded down
// to hundredths so that it never promises more than the limit: "10", "0.5".
func megabytes(n int64) string {
	return strconv.FormatFloat(math.Floor(float64(n)/(1<<20)*100)/100, 'f', -1, 64)
}
