// Package documents publishes the operator's legal documents — the user
// agreement, the personal-data policy and one consent text per
// consent-based purpose — rendered from the processing register, keeps
// every published version at its own address, and records which subject
// accepted which version of the agreement and policy.
//
// A version is a distinct text of a document in one language, named by
// the hex SHA-256 of its HTML. Publish runs at start-up: every document
// whose rendered text is new becomes the current version, whatever the
// operator's version label says; texts are never changed or deleted. The
// text in the operator's default language is the binding one; the others
// are translations published beside it.
//
// Acceptance follows the operator's choice per document: a new version
// with acceptance continued_use binds on publication and is recorded as
// accepted when the subject next uses the portal (RecordContinuedUse; seed
// 000 §1.3.4–1.3.5); one with acceptance explicit waits in Pending until
// the subject accepts it (seed 001 §1.8). Subjects are opaque ids: this
// package holds no personal data.
package documents

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"regexp"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/sqldb"
)

// Auditor appends audit entries inside the caller's transaction;
// *audit.Log is one.
type Auditor interface {
	AppendTx(ctx context.Context, tx *sql.Tx, e audit.Entry) (audit.Entry, error)
}

// Store publishes and serves document versions and records acceptances.
// It is safe for concurrent use, and several kabinet processes may share
// one database.
type Store struct {
	db     *sqldb.DB
	cfg    *config.Config
	bundle *i18n.Bundle
	audit  Auditor
	now    func() time.Time
}

// NewStore returns a Store for the documents of cfg's register. Every
// publication and acceptance is written to log in the same transaction;
// log may be nil only where no audit log exists yet (then nothing is
// audited). clock nil means time.Now.
func NewStore(db *sqldb.DB, cfg *config.Config, bundle *i18n.Bundle, log Auditor, clock func() time.Time) *Store {
	if clock == nil {
		clock = time.Now
	}
	return &Store{db: db, cfg: cfg, bundle: bundle, audit: log, now: clock}
}

// Version is one published text of a document in one language.
type Version struct {
	ID         int64
	DocID      string
	Kind       string // agreement, policy, consent
	Lang       string
	Label      string // the operator's label; several texts may share one
	Title      string
	Hash       string // hex SHA-256 of HTML
	Acceptance string // continued_use or explicit; "" for consent texts
	// PublishedAt is when the text was first published; in the list from
	// Versions, when that publication happened.
	PublishedAt time.Time
	// Current reports whether this is the current text in its language.
	Current bool
	// HTML and Text are the document; Versions leaves them empty.
	HTML template.HTML
	Text string
}

// ShortHashLen is the length of the hash prefix in a version's address.
const ShortHashLen = 12

// ShortHash is the version's hash prefix used in its address.
func (v Version) ShortHash() string { return v.Hash[:ShortHashLen] }

// Path is the version's own address: /documents/{doc}/{hash12}.
func (v Version) Path() string { return historyPath(v.DocID) + "/" + v.ShortHash() }

// Published reports one version that Publish made current.
type Published struct {
	Version
	// LabelKept is true when the text changed but the operator kept the
	// version label: it is still a new version, told apart by its hash.
	LabelKept bool
	// Restored is true when an earlier text became current again (the
	// operator rolled the register back); no new row was needed.
	Restored bool
}

// publishLock serialises Publish across kabinet processes starting at once
// on one PostgreSQL ("kab.docs").
const publishLock int64 = 0x6b61622e646f6373

var systemActor = audit.Actor{Kind: audit.ActorSystem, ID: "documents.publish"}

// rendering is one document rendered in one language, ready to store.
type rendering struct {
	docID, kind, lang, label, acceptance string
	r                                    Rendered
	hash                                 string
}

// Publish renders every document of the register in every language of
// the operator and makes each text that differs from the current one the
// new current version, with an audit entry "document.published" (actor
// system) in the same transaction. It returns what it published, in
// register order, the default language first: nothing when nothing
// changed, so calling it at every start-up is safe, also from several
// processes at once.
func (s *Store) Publish(ctx context.Context) ([]Published, error) {
	var todo []rendering
	for i := range s.cfg.Register.Documents {
		d := &s.cfg.Register.Documents[i]
		for _, lang := range s.cfg.Languages {
			r, err := Render(s.cfg, s.bundle, d, lang)
			if err != nil {
				return nil, fmt.Errorf("documents: publish %s/%s: %w", d.ID, lang, err)
			}
			sum := sha256.Sum256([]byte(r.HTML))
			todo = append(todo, rendering{docID: d.ID, kind: d.Kind, lang: lang, label: d.Version,
				acceptance: d.Acceptance, r: r, hash: hex.EncodeToString(sum[:])})
		}
	}
	var out []Published
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		if err := s.db.LockXact(ctx, tx, publishLock); err != nil {
			return err
		}
		now := s.now()
		for _, t := range todo {
			p, changed, err := s.publishOne(ctx, tx, t, now)
			if err != nil {
				return err
			}
			if changed {
				out = append(out, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("documents: publish: %w", err)
	}
	return out, nil
}

// publishOne makes t current in tx unless it already is.
func (s *Store) publishOne(ctx context.Context, tx *sql.Tx, t rendering, now time.Time) (Published, bool, error) {
	var curID int64
	var curHash, curLabel string
	err := tx.QueryRowContext(ctx, `SELECT v.id, v.hash, v.label FROM document_publications p
		JOIN document_versions v ON v.id = p.version_id
		WHERE p.doc_id = $1 AND p.lang = $2 ORDER BY p.id DESC LIMIT 1`, t.docID, t.lang).Scan(&curID, &curHash, &curLabel)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Published{}, false, fmt.Errorf("read current %s/%s: %w", t.docID, t.lang, err)
	case curHash == t.hash:
		return Published{}, false, nil
	}
	p := Published{LabelKept: curID != 0 && curLabel == t.label}
	v := Version{DocID: t.docID, Kind: t.kind, Lang: t.lang, Label: t.label, Title: t.r.Title, Hash: t.hash,
		Acceptance: t.acceptance, Current: true, HTML: t.r.HTML, Text: t.r.Text}
	var first int64
	err = tx.QueryRowContext(ctx, `SELECT id, published_at FROM document_versions WHERE doc_id = $1 AND lang = $2 AND hash = $3`,
		t.docID, t.lang, t.hash).Scan(&v.ID, &first)
	switch {
	case err == nil:
		p.Restored, p.LabelKept = true, false
		v.PublishedAt = sqldb.FromMicros(first)
	case errors.Is(err, sql.ErrNoRows):
		v.PublishedAt = sqldb.FromMicros(sqldb.Micros(now))
		err = tx.QueryRowContext(ctx, `INSERT INTO document_versions
			(doc_id, kind, lang, label, title, hash, body, text, acceptance, published_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			t.docID, t.kind, t.lang, t.label, v.Title, t.hash, string(t.r.HTML), t.r.Text, t.acceptance, sqldb.Micros(now)).Scan(&v.ID)
		if err != nil {
			return Published{}, false, fmt.Errorf("insert version %s/%s: %w", t.docID, t.lang, err)
		}
	default:
		return Published{}, false, fmt.Errorf("find version %s/%s: %w", t.docID, t.lang, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO document_publications (doc_id, lang, version_id, at) VALUES ($1, $2, $3, $4)`,
		t.docID, t.lang, v.ID, sqldb.Micros(now)); err != nil {
		return Published{}, false, fmt.Errorf("record publication %s/%s: %w", t.docID, t.lang, err)
	}
	attrs := map[string]string{"doc": t.docID, "lang": t.lang, "hash": t.hash, "version_id": strconv.FormatInt(v.ID, 10)}
	if printableASCII(t.label, audit.MaxAttrValueLen) {
		attrs["label"] = t.label
	}
	if p.LabelKept {
		attrs["label_kept"] = "true"
	}
	if p.Restored {
		attrs["restored"] = "true"
	}
	if err := s.appendAudit(ctx, tx, audit.Entry{Actor: systemActor, Action: "document.published", Outcome: audit.OutcomeOK, Attrs: attrs}); err != nil {
		return Published{}, false, err
	}
	p.Version = v
	return p, true, nil
}

func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, e audit.Entry) error {
	if s.audit == nil {
		return nil
	}
	if _, err := s.audit.AppendTx(ctx, tx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

func printableASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

const versionColumns = "v.id, v.doc_id, v.kind, v.lang, v.label, v.title, v.hash, v.acceptance, v.published_at"

type scanner interface{ Scan(dest ...any) error }

func scanVersion(row scanner, extra ...any) (Version, error) {
	var v Version
	var at int64
	dest := append([]any{&v.ID, &v.DocID, &v.Kind, &v.Lang, &v.Label, &v.Title, &v.Hash, &v.Acceptance, &at}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Version{}, err
	}
	v.PublishedAt = sqldb.FromMicros(at)
	return v, nil
}

// Current returns the current version of docID in lang, with its text;
// when lang has none (or is ""), the one in the operator's default
// language. fault.NotFound when the document was never published.
func (s *Store) Current(ctx context.Context, docID, lang string) (Version, error) {
	langs := []string{s.cfg.DefaultLanguage()}
	if lang != "" && lang != langs[0] {
		langs = []string{lang, langs[0]}
	}
	for _, l := range langs {
		v, err := s.current(ctx, s.db.Reader(), docID, l)
		if fault.KindOf(err) == fault.NotFound {
			continue
		}
		return v, err
	}
	return Version{}, fault.New(fault.NotFound, "error.not_found.text")
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) current(ctx context.Context, q querier, docID, lang string) (Version, error) {
	row := q.QueryRowContext(ctx, `SELECT `+versionColumns+`, v.body, v.text
		FROM document_publications p JOIN document_versions v ON v.id = p.version_id
		WHERE p.doc_id = $1 AND p.lang = $2 ORDER BY p.id DESC LIMIT 1`, docID, lang)
	v, err := scanFull(row)
	if err != nil {
		return Version{}, err
	}
	v.Current = true
	return v, nil
}

// scanFull scans a row of versionColumns followed by body and text.
func scanFull(row scanner) (Version, error) {
	var body, text string
	v, err := scanVersion(row, &body, &text)
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, fault.New(fault.NotFound, "error.not_found.text")
	}
	if err != nil {
		return Version{}, fmt.Errorf("documents: read version: %w", err)
	}
	v.HTML, v.Text = template.HTML(body), text // generated by Render with html/template, stored by Publish
	return v, nil
}

// hashPrefix accepts the short hash of an address or a full hash.
var hashPrefix = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// Version returns the version of docID whose hash starts with prefix (12
// to 64 lower-case hex digits), with its text, whether or not it is
// current. fault.NotFound when there is none or prefix is malformed;
// fault.Conflict in the astronomically unlikely case that two texts of the
// document share the prefix.
func (s *Store) Version(ctx context.Context, docID, prefix string) (Version, error) {
	prefix = strings.ToLower(prefix)
	if !hashPrefix.MatchString(prefix) {
		return Version{}, fault.New(fault.NotFound, "error.not_found.text")
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+versionColumns+`, v.body, v.text,
		CASE WHEN v.id IN (SELECT p.version_id FROM document_publications p WHERE p.id IN
			(SELECT MAX(id) FROM document_publications WHERE doc_id = $1 GROUP BY lang)) THEN 1 ELSE 0 END
		FROM document_versions v WHERE v.doc_id = $1 AND v.hash LIKE $2 ORDER BY v.id`, docID, prefix+"%")
	if err != nil {
		return Version{}, fmt.Errorf("documents: find version: %w", err)
	}
	defer rows.Close()
	var found []Version
	for rows.Next() {
		var body, text string
		var cur int
		v, err := scanVersion(rows, &body, &text, &cur)
		if err != nil {
			return Version{}, fmt.Errorf("documents: find version: %w", err)
		}
		v.HTML, v.Text, v.Current = template.HTML(body), text, cur == 1
		found = append(found, v)
	}
	if err := rows.Err(); err != nil {
		return Version{}, fmt.Errorf("documents: find version: %w", err)
	}
	switch len(found) {
	case 0:
		return Version{}, fault.New(fault.NotFound, "error.not_found.text")
	case 1:
		return found[0], nil
	}
	return Version{}, fault.New(fault.Conflict, "error.conflict")
}

// Versions lists the publications of docID, newest first: one entry per
// time a text became current in its language (an earlier text restored by
// a rollback appears again), PublishedAt being that time, without the
// texts. fault.NotFound when the document was never published.
func (s *Store) Versions(ctx context.Context, docID string) ([]Version, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+versionColumns+`, p.at, p.id,
		CASE WHEN p.id IN (SELECT MAX(id) FROM document_publications WHERE doc_id = $1 GROUP BY lang) THEN 1 ELSE 0 END
		FROM document_publications p JOIN document_versions v ON v.id = p.version_id
		WHERE p.doc_id = $1 ORDER BY p.id DESC`, docID)
	if err != nil {
		return nil, fmt.Errorf("documents: list versions: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var at, pid int64
		var cur int
		v, err := scanVersion(rows, &at, &pid, &cur)
		if err != nil {
			return nil, fmt.Errorf("documents: list versions: %w", err)
		}
		v.PublishedAt, v.Current = sqldb.FromMicros(at), cur == 1
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("documents: list versions: %w", err)
	}
	if len(out) == 0 {
		return nil, fault.New(fault.NotFound, "error.not_found.text")
	}
	return out, nil
}
