// Package audit keeps kabinet's audit log: an append-only chain of entries,
// each carrying the SHA-256 hash of the one before it, with Ed25519-signed
// checkpoints, so that editing, deleting, inserting or reordering stored
// entries is detected by Verify.
//
// Every decrypting read and every write of personal data appends an entry
// naming who (Actor) did what (Action) to whose data (Subject), for which
// purpose and to which categories of data, with what outcome.
//
// # VALUES OF PERSONAL DATA NEVER GO INTO AN ENTRY
//
// An entry records THAT something was done, never WHAT the data were: no
// names, phone numbers, addresses, document numbers, e-mail addresses, free
// text typed by a person, or anything derived from them. Subject and
// Actor.ID are opaque identifiers; Purpose, Action, Categories, Outcome and
// Reason are codes from the register; Attrs hold small non-personal extras
// such as a consent version. The log is kept for years and is exported to
// auditors and regulators, and it cannot be edited after the fact — a value
// written here by mistake can never be destroyed, which would break the
// promise that destroyed data are unrecoverable. Append enforces what it can
// (codes must be short ASCII codes, identifiers printable ASCII without
// spaces, Attrs few and short) and rejects the rest with fault.Invalid, but
// the rule is the caller's to keep.
//
// # Ordering and writers
//
// The chain is strictly ordered: every append runs in a write transaction
// that holds the chain lock (a PostgreSQL advisory lock; on SQLite the
// immediate write transaction), reads the current head from the table —
// another kabinet process may have appended — and links to it. A Log runs one
// writer goroutine that takes every pending Append and writes them in one
// transaction (group commit), so throughput comes from batching rather than
// from parallel writers.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"kabinet/internal/fault"
)

// ActorKind says what sort of party acted.
type ActorKind string

const (
	ActorAccount   ActorKind = "account"   // a signed-in account of the portal
	ActorStaff     ActorKind = "staff"     // a member of the operator's (or an organisation's) staff
	ActorSystem    ActorKind = "system"    // kabinet itself: a job, a timer, a migration
	ActorRecipient ActorKind = "recipient" // an external recipient to whom data were transferred
	ActorSubject   ActorKind = "subject"   // the data subject acting on their own data
)

// Outcome says whether the action happened.
type Outcome string

const (
	OutcomeOK      Outcome = "ok"
	OutcomeRefused Outcome = "refused"
)

// Actor names who acted. ID is an opaque identifier (an account id, a staff
// id, a job name), never a name or a login.
type Actor struct {
	Kind ActorKind
	ID   string
}

// Entry is one record of the audit log. It never holds values of personal
// data: see the package documentation.
type Entry struct {
	// Seq is the entry's position in the chain: 1, 2, 3… without gaps,
	// assigned by the log.
	Seq int64
	// Time is when the entry was written, to the microsecond, assigned by
	// the log from its clock (never earlier than the previous entry's time).
	// A value set by the caller is replaced.
	Time time.Time
	// Actor is who acted.
	Actor Actor
	// Subject is the opaque id of the data subject whose data were touched;
	// empty when there is none (e.g. a refused sign-in of an unknown account).
	Subject string
	// Action is a dotted code: "pd.read", "pd.write", "consent.given",
	// "subject.destroyed", "session.created".
	Action string
	// Purpose is the register's code of the purpose of processing.
	Purpose string
	// Categories are the register's codes of the categories of data touched.
	// The log stores them sorted and without duplicates.
	Categories []string
	// Outcome is OutcomeOK or OutcomeRefused.
	Outcome Outcome
	// Reason is a refusal code ("no_consent", "subject_blocked"), never free
	// text; required when Outcome is OutcomeRefused.
	Reason string
	// RequestID ties the entry to the request or job that caused it.
	RequestID string
	// Attrs are small non-personal extras, e.g. {"consent_version": "3"}: at
	// most MaxAttrs pairs, keys codes of at most MaxAttrKeyLen bytes, values
	// printable ASCII of at most MaxAttrValueLen bytes.
	Attrs map[string]string
	// PrevHash is the Hash of entry Seq-1 (32 zero bytes for entry 1).
	PrevHash []byte
	// Hash is Sum() of this entry, as stored.
	Hash []byte
}

// Limits enforced by Append, so that the log is hard to misuse as a store of
// values. They are deliberately small.
const (
	MaxAttrs        = 8
	MaxAttrKeyLen   = 32
	MaxAttrValueLen = 64
	MaxCodeLen      = 64  // Action, Purpose, Reason, each category, Actor.Kind
	MaxIDLen        = 128 // Actor.ID, Subject, RequestID
	MaxCategories   = 64
)

// HashSize is the length of an entry hash.
const HashSize = sha256.Size

// genesis is the PrevHash of entry 1.
var genesis = make([]byte, HashSize)

// entryDomain separates entry hashes from every other use of SHA-256; it
// also versions the encoding below, which must never change for stored
// entries (a golden test guards it).
const entryDomain = "kabinet/audit/entry/v1"

// Sum returns the SHA-256 of the canonical encoding of e, which is, in
// order: the domain string "kabinet/audit/entry/v1"; Seq and Time (Unix
// microseconds) as 8-byte big-endian integers; Actor.Kind, Actor.ID,
// Subject, Action, Purpose; the number of Categories (4-byte big-endian)
// and each category in order; Outcome, Reason, RequestID; the number of
// Attrs and each key and value, sorted by key; PrevHash. Every string and
// byte string is preceded by its length as a 4-byte big-endian integer, so
// no two different entries encode alike. e.Hash is not part of it. A stored
// entry is intact when Sum() equals its Hash; an auditor can recompute it
// from an Export line.
func (e Entry) Sum() []byte {
	b := encoder{buf: make([]byte, 0, 512)}
	b.str(entryDomain)
	b.i64(e.Seq)
	b.time(e.Time)
	b.str(string(e.Actor.Kind))
	b.str(e.Actor.ID)
	b.str(e.Subject)
	b.str(e.Action)
	b.str(e.Purpose)
	b.u32(uint32(len(e.Categories)))
	for _, c := range e.Categories {
		b.str(c)
	}
	b.str(string(e.Outcome))
	b.str(e.Reason)
	b.str(e.RequestID)
	b.u32(uint32(len(e.Attrs)))
	for _, k := range slices.Sorted(maps.Keys(e.Attrs)) {
		b.str(k)
		b.str(e.Attrs[k])
	}
	b.bytes(e.PrevHash)
	h := sha256.Sum256(b.buf)
	return h[:]
}

// encoder builds the canonical binary encoding: fixed-width big-endian
// integers and length-prefixed byte strings.
type encoder struct{ buf []byte }

func (b *encoder) u32(v uint32)     { b.buf = binary.BigEndian.AppendUint32(b.buf, v) }
func (b *encoder) u64(v uint64)     { b.buf = binary.BigEndian.AppendUint64(b.buf, v) }
func (b *encoder) str(s string)     { b.u32(uint32(len(s))); b.buf = append(b.buf, s...) }
func (b *encoder) bytes(p []byte)   { b.u32(uint32(len(p))); b.buf = append(b.buf, p...) }
func (b *encoder) i64(v int64)      { b.u64(uint64(v)) }
func (b *encoder) time(t time.Time) { b.i64(t.UnixMicro()) }

// normalize checks e against the rules above and returns the copy the log
// will store: categories sorted and deduplicated, Attrs copied (the caller
// may reuse its map), log-assigned fields cleared. Errors are fault.Invalid.
func normalize(e Entry) (Entry, error) {
	bad := func(format string, args ...any) (Entry, error) {
		return Entry{}, fault.Wrap(fault.Invalid, fmt.Errorf("audit entry: "+format, args...), "")
	}
	switch e.Actor.Kind {
	case ActorAccount, ActorStaff, ActorSystem, ActorRecipient, ActorSubject:
	default:
		return bad("actor kind %q is not one of account, staff, system, recipient, subject", e.Actor.Kind)
	}
	if e.Actor.ID == "" {
		return bad("actor id is empty")
	}
	if err := checkID("actor id", e.Actor.ID); err != nil {
		return bad("%w", err)
	}
	if err := checkID("subject", e.Subject); err != nil {
		return bad("%w", err)
	}
	if err := checkID("request id", e.RequestID); err != nil {
		return bad("%w", err)
	}
	if !isAction(e.Action) {
		return bad("action %q is not a dotted lower-case code like pd.read", e.Action)
	}
	if e.Purpose != "" && !isCode(e.Purpose, MaxCodeLen) {
		return bad("purpose %q is not a code of at most %d bytes of [A-Za-z0-9_.:-]", e.Purpose, MaxCodeLen)
	}
	switch e.Outcome {
	case OutcomeOK:
	case OutcomeRefused:
		if e.Reason == "" {
			return bad("a refused action needs a reason code")
		}
	default:
		return bad("outcome %q is neither %q nor %q", e.Outcome, OutcomeOK, OutcomeRefused)
	}
	if e.Reason != "" && !isCode(e.Reason, MaxCodeLen) {
		return bad("reason must be a code of at most %d bytes of [A-Za-z0-9_.:-], not free text", MaxCodeLen)
	}
	if len(e.Categories) > MaxCategories {
		return bad("%d categories, at most %d", len(e.Categories), MaxCategories)
	}
	for _, c := range e.Categories {
		if !isCode(c, MaxCodeLen) {
			return bad("category %q is not a code of at most %d bytes of [A-Za-z0-9_.:-]", c, MaxCodeLen)
		}
	}
	if len(e.Attrs) > MaxAttrs {
		return bad("%d attrs, at most %d", len(e.Attrs), MaxAttrs)
	}
	for k, v := range e.Attrs {
		if !isCode(k, MaxAttrKeyLen) {
			return bad("attr key %q is not a code of at most %d bytes", k, MaxAttrKeyLen)
		}
		if len(v) > MaxAttrValueLen {
			return bad("attr %q: value of %d bytes, at most %d (attrs are for small non-personal extras)", k, len(v), MaxAttrValueLen)
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return bad("attr %q: value must be printable ASCII (attrs are for small non-personal extras)", k)
			}
		}
	}
	cats := slices.Clone(e.Categories)
	sort.Strings(cats)
	e.Categories = slices.Compact(cats)
	if len(e.Attrs) == 0 {
		e.Attrs = nil
	} else {
		e.Attrs = maps.Clone(e.Attrs)
	}
	e.Seq, e.Time, e.PrevHash, e.Hash = 0, time.Time{}, nil, nil
	return e, nil
}

// checkID accepts opaque identifiers: printable ASCII without spaces, so
// that a name or an address (with spaces, or in Cyrillic) is refused.
func checkID(what, s string) error {
	if len(s) > MaxIDLen {
		return fmt.Errorf("%s longer than %d bytes", what, MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return fmt.Errorf("%s must be an opaque identifier (printable ASCII, no spaces)", what)
		}
	}
	return nil
}

// isCode reports whether s is a non-empty code of at most n bytes of
// [A-Za-z0-9_.:-].
func isCode(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// isAction reports whether s is a dotted lower-case code: segments of
// [a-z0-9_] starting with a letter, at least two of them.
func isAction(s string) bool {
	if len(s) > MaxCodeLen {
		return false
	}
	segments := 0
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case 'a' <= c && c <= 'z':
			if start {
				segments++
			}
			start = false
		case '0' <= c && c <= '9' || c == '_':
			if start {
				return false
			}
		default:
			return false
		}
	}
	return !start && segments >= 2
}
