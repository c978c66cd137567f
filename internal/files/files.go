// Package files keeps the documents data subjects upload to the cabinet
// (seed 001 §1.6, §4.1–4.2): upload with size and type limits and content
// sniffing, virus scanning through clamd, list, download, delete, and
// deletion after the register's retention term by a job.
//
// A document is personal data from the moment it arrives. It is never
// stored or logged in plain text:
//
//   - the content is sealed through the gate under the subject's key (one
//     sealed blob per file) and written to a Store — a local directory by
//     default (DirStore) or S3-compatible object storage (S3Store) — under
//     a random id; destroying the subject makes every copy unreadable;
//   - the file name is sealed separately, so listing opens names only;
//   - the database keeps the id, owner, size, detected type, times and the
//     SHA-256 of the SEALED blob (to detect corruption) — never a hash of
//     the plaintext, which would fingerprint the document;
//   - an infected upload is refused before anything is sealed or stored,
//     and only the signature's name is logged.
//
// Every seal and open goes through the gate, which checks the purpose and
// the subject's state and audits it; uploads, deletions and expiries are
// audited here, in the transaction that changes the row.
package files

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
)

// Defaults of Config.
const (
	DefaultMaxSize = 10 << 20 // 10 MiB
)

// DefaultAllowedTypes are the types accepted when Config.AllowedTypes is
// empty: what people photograph or scan their papers into.
var DefaultAllowedTypes = []string{"application/pdf", "image/jpeg", "image/png"}

// Config is the operator's choice for documents; the lead maps the
// operator file onto it.
type Config struct {
	// MaxSize bounds an upload in bytes; zero means DefaultMaxSize.
	MaxSize int64
	// AllowedTypes are the media types accepted, as detected from the
	// content; empty means DefaultAllowedTypes. Each must be one of
	// KnownTypes().
	AllowedTypes []string
	// Dir is the local storage directory, used when New gets no Store and
	// S3 is not configured.
	Dir string
	// S3 is the object storage used instead of Dir when New gets no Store
	// and S3.Endpoint is set.
	S3 S3Config
	// Clamd is the scanner's address, "unix:/path/clamd.ctl" or
	// "tcp:127.0.0.1:3310", used when New gets no Scanner; "" means no
	// scanning.
	Clamd string
	// Purpose and Category are the register's purpose and data category
	// under which documents are sealed and opened (e.g. "services" and a
	// documents category). Required.
	Purpose, Category string
	// RetentionDays is how long a document is kept after its upload, from
	// the register's retention term for Purpose; then the expiry job
	// deletes it. Required, positive.
	RetentionDays int
}

// Options are the Service's collaborators; zero values take defaults.
type Options struct {
	// Clock gives the time of uploads and of expiry; nil means time.Now.
	Clock func() time.Time
	// Logger receives refusals (an infected upload's signature, never the
	// file) and storage failures; nil discards.
	Logger *slog.Logger
}

// Gate is what the service needs of the gate: sealing and opening records
// it stores itself. *gate.Gate is one.
type Gate interface {
	Seal(ctx context.Context, req gate.Request, category string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, req gate.Request, category string, sealed []byte) ([]byte, error)
}

// Auditor appends audit entries, alone or inside the caller's transaction;
// *audit.Log is one.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
	AppendTx(ctx context.Context, tx *sql.Tx, e audit.Entry) (audit.Entry, error)
}

// File describes a stored document.
type File struct {
	ID          string
	Name        string // as uploaded, opened through the gate
	Size        int64  // bytes
	Type        string // media type detected from the content
	CreatedAt   time.Time
	DeleteAfter time.Time // when the expiry job deletes it
}

// Service stores, lists, serves and deletes documents. It is safe for
// concurrent use.
type Service struct {
	db      *sqldb.DB
	gate    Gate
	log     Auditor
	store   Store
	scanner Scanner
	cfg     Config
	now     func() time.Time
	logger  *slog.Logger
}

// New returns a Service over the main database db. store nil means an
// S3Store on cfg.S3 when cfg.S3.Endpoint is set, else a DirStore on
// cfg.Dir; scanner nil means Clamd{Address: cfg.Clamd} when
// cfg.Clamd is set, and no scanning otherwise. A configuration error is
// returned as such.
func New(db *sqldb.DB, g Gate, log Auditor, store Store, scanner Scanner, cfg Config, opts Options) (*Service, error) {
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxSize < 0 {
		return nil, errors.New("files: MaxSize is negative")
	}
	if len(cfg.AllowedTypes) == 0 {
		cfg.AllowedTypes = DefaultAllowedTypes
	}
	cfg.AllowedTypes = slices.Clone(cfg.AllowedTypes)
	for _, t := range cfg.AllowedTypes {
		if _, ok := knownTypes[t]; !ok {
			return nil, fmt.Errorf("files: type %q is not one kabinet recognises by content (known: %v)", t, KnownTypes())
		}
	}
	if cfg.Purpose == "" || cfg.Category == "" {
		return nil, errors.New("files: Purpose and Category are required")
	}
	if cfg.RetentionDays <= 0 {
		return nil, errors.New("files: RetentionDays must be positive")
	}
	if store == nil && cfg.S3.Endpoint != "" {
		s3, err := NewS3Store(cfg.S3, nil)
		if err != nil {
			return nil, err
		}
		store = s3
	}
	if store == nil {
		if cfg.Dir == "" {
			return nil, errors.New("files: no Store, no S3 endpoint and no Dir")
		}
		ds, err := NewDirStore(cfg.Dir)
		if err != nil {
			return nil, err
		}
		store = ds
	}
	if scanner == nil && cfg.Clamd != "" {
		c := &Clamd{Address: cfg.Clamd}
		if _, _, err := c.network(); err != nil {
			return nil, err
		}
		scanner = c
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, gate: g, log: log, store: store, scanner: scanner, cfg: cfg, now: opts.Clock, logger: opts.Logger}, nil
}

// MaxSize is the upload limit in force, in bytes (for the upload form).
func (s *Service) MaxSize() int64 { return s.cfg.MaxSize }

// Accept is the value for the upload form's <input type=file accept>:
// the allowed types and their extensions, ".pdf,application/pdf,…". It
// only guides the browser; Upload checks the content.
func (s *Service) Accept() string {
	var parts []string
	for _, t := range s.cfg.AllowedTypes {
		parts = append(parts, knownTypes[t]...)
		parts = append(parts, t)
	}
	return strings.Join(parts, ",")
}

// JobExpire is the kind of the periodic job that deletes documents past
// their retention term.
const JobExpire = "files.expire"

// ExpireEvery is how often the expiry job runs.
const ExpireEvery = time.Hour

// Register schedules the expiry job on r.
func (s *Service) Register(r *jobs.Runner) {
	r.Every(JobExpire, ExpireEvery, func(ctx context.Context, _ jobs.Job) error {
		_, err := s.ExpireDue(ctx, s.now())
		return err
	})
}

// request is the gate request for the subject's documents.
func (s *Service) request(actor audit.Actor, subject, requestID string) gate.Request {
	return gate.Request{Actor: actor, Subject: subject, Purpose: s.cfg.Purpose, Categories: []string{s.cfg.Category}, RequestID: requestID}
}

// entry is an audit entry about one of the subject's documents.
func (s *Service) entry(actor audit.Actor, subject, action, fileID, requestID string) audit.Entry {
	return audit.Entry{Actor: actor, Subject: subject, Action: action, Purpose: s.cfg.Purpose, Categories: []string{s.cfg.Category},
		Outcome: audit.OutcomeOK, RequestID: requestID, Attrs: map[string]string{"file": fileID}}
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random file id: "f" and 26 base32 letters (128 bits).
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return "f" + idEncoding.EncodeToString(b[:])
}

// notFound is the one answer for a file that does not exist and a file of
// another subject: the caller learns nothing about others' documents.
func notFound() error { return fault.New(fault.NotFound, "files.not_found") }
