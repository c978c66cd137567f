// Package gate is the only way to personal data. Every read and write
// names the actor, the subject, the purpose and the categories; the gate
// checks the processing register (does the purpose cover these categories
// and this kind of subject?), the consent ledger (for consent-based
// purposes), and the subject's state (blocked? destroyed?), seals and opens
// values under the subject's key (package vault), and appends an audit
// entry for every decrypting read, every write and every refusal — naming
// who, whose, why and what, never the values.
//
// No other package reads or writes the tables subjects, pd_values and
// pd_blocks, and no other package opens a vault (a test enforces both), so
// these promises hold by construction.
package gate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/vault"
)

// ConsentFunc answers whether subject has a valid consent to purpose at t,
// with a reason code when not. The consent ledger provides it; the gate
// does not import the ledger (it sits above the gate).
type ConsentFunc func(subject, purpose string, at time.Time) (ok bool, reason string)

// Options configure a Gate.
type Options struct {
	// Consent decides consent-based purposes; required when the register
	// has any.
	Consent ConsentFunc
	// Clock is the time of checks and records; nil means time.Now.
	Clock func() time.Time
}

// Gate serves personal data to callers that state their purpose.
type Gate struct {
	db      *sqldb.DB
	reg     *register.Register
	vault   *vault.Vault
	log     *audit.Log
	consent ConsentFunc
	now     func() time.Time
}

// New returns a Gate over the main database db, the register, the vault
// (keys in the separate key store) and the audit log.
func New(db *sqldb.DB, reg *register.Register, v *vault.Vault, log *audit.Log, opts Options) (*Gate, error) {
	if opts.Consent == nil && slices.ContainsFunc(reg.Purposes, func(p register.Purpose) bool { return p.ConsentBased() }) {
		return nil, errors.New("gate: the register has consent-based purposes but no consent ledger was given")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Gate{db: db, reg: reg, vault: v, log: log, consent: opts.Consent, now: opts.Clock}, nil
}

// Request names who wants which data of whom, and why.
type Request struct {
	Actor      audit.Actor
	Subject    string
	Purpose    string
	Categories []string
	RequestID  string
}

// Values are personal data by category.
type Values map[string][]byte

// String returns the value of a category as text ("" when absent).
func (v Values) String(category string) string { return string(v[category]) }

// Subject states.
const (
	StateActive    = "active"
	StateDestroyed = "destroyed"
)

var subjectIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewSubject registers a data subject of a kind the register declares
// (user, child, …), creates its key, and returns its opaque id.
func (g *Gate) NewSubject(ctx context.Context, actor audit.Actor, kind, requestID string) (string, error) {
	if !slices.ContainsFunc(g.reg.Subjects, func(s register.SubjectCategory) bool { return s.ID == kind }) {
		return "", fault.New(fault.Invalid, "gate.unknown_subject_kind")
	}
	var b [15]byte
	rand.Read(b[:])
	id := "s" + subjectIDEncoding.EncodeToString(b[:])
	if err := g.vault.CreateSubject(ctx, id); err != nil {
		return "", fmt.Errorf("gate: new subject: %w", err)
	}
	now := g.now()
	err := g.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO subjects (id, kind, state, created_at) VALUES ($1, $2, $3, $4)",
			id, kind, StateActive, sqldb.Micros(now)); err != nil {
			return err
		}
		_, err := g.log.AppendTx(ctx, tx, audit.Entry{Actor: actor, Subject: id, Action: "subject.created",
			Outcome: audit.OutcomeOK, RequestID: requestID, Attrs: map[string]string{"kind": kind}})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gate: new subject: %w", err)
	}
	return id, nil
}

// subjectRow is what the checks need of a subject.
type subjectRow struct {
	kind, state string
	blocked     bool
}

// check runs every rule for req and returns the purpose, or a *Refusal
// (already audited) or an error.
func (g *Gate) check(ctx context.Context, req Request, action string) (*register.Purpose, error) {
	p := g.reg.Purpose(req.Purpose)
	if p == nil {
		return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonUnknownPurpose, Purpose: req.Purpose})
	}
	for _, c := range req.Categories {
		if g.reg.Category(c) == nil {
			return nil, fault.New(fault.Invalid, "gate.unknown_category")
		}
	}
	if missing := p.Covers(req.Categories...); len(missing) > 0 {
		return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonNotCovered, Purpose: p.ID, Categories: missing})
	}
	row, err := g.subject(ctx, req.Subject, req.Categories)
	if err != nil {
		return nil, err
	}
	switch {
	case row == nil:
		return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonUnknownSubject, Purpose: p.ID})
	case row.state == StateDestroyed:
		return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonDestroyed, Purpose: p.ID})
	case !slices.Contains(p.Subjects, row.kind):
		return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonWrongSubjectKind, Purpose: p.ID, Detail: row.kind})
	case !g.kindAllows(row.kind, req.Categories):
		// The register limits the data set of this kind of subject (seed 003 §2.2).
		return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonWrongSubjectKind, Purpose: p.ID, Categories: req.Categories, Detail: row.kind})
	case row.blocked && p.Role != register.RoleRectification:
		// 152-FZ art. 21 p.1: blocked data are processed only to rectify them.
		return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonBlocked, Purpose: p.ID, Categories: req.Categories})
	}
	if p.ConsentBased() {
		if ok, why := g.consent(req.Subject, p.ID, g.now()); !ok {
			return nil, g.refuse(ctx, req, action, &Refusal{Reason: ReasonNoConsent, Purpose: p.ID, Detail: why})
		}
	}
	return p, nil
}

// kindAllows reports whether subjects of kind may have data of every one
// of categories.
func (g *Gate) kindAllows(kind string, categories []string) bool {
	sc := g.reg.Subject(kind)
	if sc == nil {
		return false
	}
	for _, c := range categories {
		if !sc.Allows(c) {
			return false
		}
	}
	return true
}

// subject reads the subject's kind, state and whether any of categories
// (or the whole subject) is blocked now; nil when there is no such subject.
func (g *Gate) subject(ctx context.Context, id string, categories []string) (*subjectRow, error) {
	args := []any{id, sqldb.Micros(g.now()), "*"}
	marks := make([]string, 0, len(categories)+1)
	marks = append(marks, "$3")
	for _, c := range categories {
		args = append(args, c)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	var r subjectRow
	var blocks int
	err := g.db.Reader().QueryRowContext(ctx, `SELECT s.kind, s.state,
		(SELECT COUNT(*) FROM pd_blocks b WHERE b.subject_id = s.id AND b.lifted_at IS NULL
			AND (b.until IS NULL OR b.until > $2) AND b.category IN (`+strings.Join(marks, ", ")+`))
		FROM subjects s WHERE s.id = $1`, args...).Scan(&r.kind, &r.state, &blocks)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("gate: read subject: %w", err))
	}
	r.blocked = blocks > 0
	return &r, nil
}

// refuse audits a refusal and returns it. If the audit entry cannot be
// written, that failure is returned instead: nothing happens unrecorded.
func (g *Gate) refuse(ctx context.Context, req Request, action string, r *Refusal) error {
	_, err := g.log.Append(ctx, audit.Entry{Actor: req.Actor, Subject: req.Subject, Action: action, Purpose: auditCode(req.Purpose),
		Categories: auditCodes(req.Categories), Outcome: audit.OutcomeRefused, Reason: r.Reason, RequestID: req.RequestID})
	if err != nil {
		return fmt.Errorf("gate: audit refusal: %w", err)
	}
	return r
}

// auditCode keeps caller-supplied codes that are not in the register out
// of the audit log when they could carry anything: an unknown purpose is
// recorded as "unknown".
func auditCode(s string) string {
	if len(s) > audit.MaxCodeLen || strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) {
		return "unknown"
	}
	return s
}

func auditCodes(cs []string) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, auditCode(c))
	}
	return out
}

func (g *Gate) audit(ctx context.Context, req Request, action string, attrs map[string]string) error {
	_, err := g.log.Append(ctx, audit.Entry{Actor: req.Actor, Subject: req.Subject, Action: action, Purpose: req.Purpose,
		Categories: req.Categories, Outcome: audit.OutcomeOK, RequestID: req.RequestID, Attrs: attrs})
	if err != nil {
		return fmt.Errorf("gate: audit %s: %w", action, err)
	}
	return nil
}

// Read returns the subject's values of req.Categories (absent categories
// are absent from the result) after every check, and only once the audit
// entry of the read is durably written.
func (g *Gate) Read(ctx context.Context, req Request) (Values, error) {
	if len(req.Categories) == 0 {
		return nil, fault.New(fault.Invalid, "gate.no_categories")
	}
	if _, err := g.check(ctx, req, "pd.read"); err != nil {
		return nil, err
	}
	args := []any{req.Subject}
	marks := make([]string, len(req.Categories))
	for i, c := range req.Categories {
		args = append(args, c)
		marks[i] = fmt.Sprintf("$%d", i+2)
	}
	rows, err := g.db.Reader().QueryContext(ctx, "SELECT category, sealed FROM pd_values WHERE subject_id = $1 AND category IN ("+strings.Join(marks, ", ")+")", args...)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("gate: read values: %w", err))
	}
	sealed := map[string][]byte{}
	for rows.Next() {
		var c string
		var b []byte
		if err := rows.Scan(&c, &b); err != nil {
			rows.Close()
			return nil, sqldb.Map(fmt.Errorf("gate: read values: %w", err))
		}
		sealed[c] = b
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, sqldb.Map(fmt.Errorf("gate: read values: %w", err))
	}
	out := Values{}
	if len(sealed) > 0 {
		key, err := g.vault.SubjectKey(ctx, req.Subject)
		if errors.Is(err, vault.ErrDestroyed) {
			return nil, g.refuse(ctx, req, "pd.read", &Refusal{Reason: ReasonDestroyed, Purpose: req.Purpose})
		}
		if err != nil {
			return nil, fmt.Errorf("gate: read: %w", err)
		}
		for c, b := range sealed {
			v, err := key.Open(c, b)
			if err != nil {
				return nil, fmt.Errorf("gate: open %s: %w", c, err)
			}
			out[c] = v
		}
	}
	if err := g.audit(ctx, req, "pd.read", nil); err != nil {
		return nil, err
	}
	return out, nil
}

// Write seals and stores values (category → value) for the subject. A
// category the register marks for lookup also gets a blind index of the
// value, which must therefore be given in its normal form (E.164 phone,
// lower-case e-mail). The audit entry commits with the values.
func (g *Gate) Write(ctx context.Context, req Request, values Values) error {
	if len(values) == 0 {
		return fault.New(fault.Invalid, "gate.no_categories")
	}
	req.Categories = make([]string, 0, len(values))
	for c := range values {
		req.Categories = append(req.Categories, c)
	}
	slices.Sort(req.Categories)
	if _, err := g.check(ctx, req, "pd.write"); err != nil {
		return err
	}
	key, err := g.vault.SubjectKey(ctx, req.Subject)
	if err != nil {
		return fmt.Errorf("gate: write: %w", err)
	}
	type row struct {
		category      string
		sealed, blind []byte
	}
	rows := make([]row, 0, len(values))
	for _, c := range req.Categories {
		s, err := key.Seal(c, values[c])
		if err != nil {
			return fmt.Errorf("gate: seal %s: %w", c, err)
		}
		r := row{category: c, sealed: s}
		if g.reg.Category(c).Lookup {
			r.blind = g.vault.Index(c, string(values[c]))
		}
		rows = append(rows, r)
	}
	now := sqldb.Micros(g.now())
	return g.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pd_values (subject_id, category, sealed, blind, updated_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (subject_id, category) DO UPDATE SET sealed = excluded.sealed, blind = excluded.blind, updated_at = excluded.updated_at`,
				req.Subject, r.category, r.sealed, r.blind, now); err != nil {
				return fmt.Errorf("gate: store %s: %w", r.category, err)
			}
		}
		_, err := g.log.AppendTx(ctx, tx, audit.Entry{Actor: req.Actor, Subject: req.Subject, Action: "pd.write", Purpose: req.Purpose,
			Categories: req.Categories, Outcome: audit.OutcomeOK, RequestID: req.RequestID})
		return err
	})
}

// Erase deletes the subject's values of req.Categories (a field the person
// removes, seed 002 §7.1.3). It is a processing operation like any other:
// checked and audited.
func (g *Gate) Erase(ctx context.Context, req Request) error {
	if len(req.Categories) == 0 {
		return fault.New(fault.Invalid, "gate.no_categories")
	}
	if _, err := g.check(ctx, req, "pd.erase"); err != nil {
		return err
	}
	return g.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, c := range req.Categories {
			if _, err := tx.ExecContext(ctx, "DELETE FROM pd_values WHERE subject_id = $1 AND category = $2", req.Subject, c); err != nil {
				return fmt.Errorf("gate: erase %s: %w", c, err)
			}
		}
		_, err := g.log.AppendTx(ctx, tx, audit.Entry{Actor: req.Actor, Subject: req.Subject, Action: "pd.erase", Purpose: req.Purpose,
			Categories: req.Categories, Outcome: audit.OutcomeOK, RequestID: req.RequestID})
		return err
	})
}
