package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// ProblemKind names what Verify found wrong.
type ProblemKind string

const (
	// HashMismatch: an entry's stored fields do not hash to its stored hash
	// — it was edited (or rows were swapped).
	HashMismatch ProblemKind = "hash mismatch"
	// BrokenLink: an entry is intact but its PrevHash is not the hash of the
	// entry before it — the entry before it was rewritten with a recomputed
	// hash, or the chain was spliced.
	BrokenLink ProblemKind = "broken link"
	// MissingEntry: the seq named is absent — deleted from the middle, or
	// from the tail below a checkpoint.
	MissingEntry ProblemKind = "missing entry"
	// UnexpectedEntry: an entry whose seq cannot occur (below 1, or
	// repeated).
	UnexpectedEntry ProblemKind = "unexpected entry"
	// BadSignature: a checkpoint's signature does not verify.
	BadSignature ProblemKind = "bad signature"
	// CheckpointMismatch: a validly signed checkpoint names a hash the
	// chain does not have at its seq — the chain was rewritten.
	CheckpointMismatch ProblemKind = "checkpoint mismatch"
	// UnknownKey: a checkpoint is signed by a key id Verify was not given.
	UnknownKey ProblemKind = "unknown key"
)

// Problem is the first thing wrong in the chain, at entry (or checkpoint)
// Seq. Detail is for people and logs; it holds no personal data.
type Problem struct {
	Seq    int64
	Kind   ProblemKind
	Detail string
}

func (p Problem) String() string { return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Kind, p.Detail) }

// Report is Verify's verdict.
type Report struct {
	// Entries is how many entries were found intact and in order, from seq 1.
	Entries int64
	// Checkpoints is how many checkpoints were found valid.
	Checkpoints int64
	// LastCheckpoint is the newest valid checkpoint, nil if none. Comparing
	// it with a copy kept outside the database (the writer logs every
	// checkpoint) detects deletion of the tail together with its
	// checkpoints.
	LastCheckpoint *Checkpoint
	// Unsigned is how many intact entries follow LastCheckpoint: entries
	// no signature covers yet.
	Unsigned int64
	// OK is true when nothing is wrong; then FirstBad is nil.
	OK       bool
	FirstBad *Problem
}

// String is a one-paragraph, human-readable verdict for the CLI.
func (r Report) String() string {
	var b strings.Builder
	if r.OK {
		fmt.Fprintf(&b, "audit chain OK: %d entries, %d checkpoints", r.Entries, r.Checkpoints)
	} else {
		fmt.Fprintf(&b, "audit chain BROKEN at seq %d: %s: %s\n", r.FirstBad.Seq, r.FirstBad.Kind, r.FirstBad.Detail)
		fmt.Fprintf(&b, "before it: %d entries and %d checkpoints verified", r.Entries, r.Checkpoints)
	}
	if cp := r.LastCheckpoint; cp != nil {
		fmt.Fprintf(&b, "; last checkpoint: seq %d, hash %s, signed by key %q at %s",
			cp.Seq, hex.EncodeToString(cp.Hash), cp.KeyID, cp.Time.Format("2006-01-02T15:04:05Z07:00"))
	}
	if r.OK && r.Unsigned > 0 {
		fmt.Fprintf(&b, "; %d entries after it are not yet covered by a signature", r.Unsigned)
	}
	return b.String()
}

// verifyPage is how many entries Verify reads per query: memory stays flat
// however long the chain is.
const verifyPage = 2000

// Verify reads the whole chain in seq order, in pages through db's reader
// pool, and checks that:
//   - seqs run 1, 2, 3… without gaps or repeats;
//   - every entry hashes (Entry.Sum) to its stored hash;
//   - every entry's PrevHash is the previous entry's hash (genesis: 32 zero
//     bytes);
//   - every checkpoint is signed by a key in keys (by key id) and names the
//     hash the chain has at its seq, and no checkpoint names a seq the
//     chain lacks.
//
// It stops at the first problem, in seq order, and reports it in
// Report.FirstBad. Tampering is a Report, not an error: the error is for
// I/O failures and for a malformed key in keys (fault.Invalid).
//
// Entries appended while Verify runs are outside its view: it checks the
// chain up to the head it saw at the start.
//
// What cannot be detected: someone with write access to the database can
// delete (or rewrite, recomputing the hashes) entries AFTER the last
// checkpoint, because nothing signed vouches for them yet; the remaining
// chain is valid. Deleting the tail BELOW a checkpoint is detected (the
// checkpoint names a seq that is gone), unless the checkpoints above the
// cut are deleted too — which only a copy of the checkpoints kept outside
// the database (the writer logs each; compare Report.LastCheckpoint) can
// reveal. Frequent checkpoints (CheckpointEvery, CheckpointInterval) bound
// what can be lost this way. An attacker who holds a signing key can forge
// anything; keep it out of the database.
//
// progress, when not nil, is called after each page and at the end with
// the entries verified so far and the head's seq.
func Verify(ctx context.Context, db *sqldb.DB, keys map[string]ed25519.PublicKey, progress func(done, total int64)) (Report, error) {
	return verify(ctx, db, keys, progress, verifyPage)
}

// verify is Verify reading pageSize entries per query (tests use small
// pages to cross page boundaries).
func verify(ctx context.Context, db *sqldb.DB, keys map[string]ed25519.PublicKey, progress func(done, total int64), pageSize int) (Report, error) {
	for id, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return Report{}, fault.Wrap(fault.Invalid, fmt.Errorf("audit verify: key %q is %d bytes, want an Ed25519 public key", id, len(k)), "")
		}
	}
	q := db.Reader()
	// Checkpoints first, then the head: every checkpoint read then names an
	// entry at or below the head, since it commits with or after its entry.
	cps, err := loadCheckpoints(ctx, q)
	if err != nil {
		return Report{}, err
	}
	var total int64
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit_log").Scan(&total); err != nil {
		return Report{}, fmt.Errorf("audit verify: read head: %w", sqldb.Map(err))
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	v := verifier{keys: keys, cps: cps, prev: genesis, expect: 1}
	rep := &v.rep
	after := int64(math.MinInt64)
	for rep.FirstBad == nil {
		n, last, err := v.page(ctx, q, after, total, pageSize)
		if err != nil {
			return Report{}, err
		}
		if n < pageSize || rep.FirstBad != nil {
			break
		}
		after = last
		progress(rep.Entries, total)
	}
	// Checkpoints beyond the last intact entry.
	for rep.FirstBad == nil && v.ci < len(cps) {
		cp := cps[v.ci]
		if p := v.checkSignature(cp); p != nil {
			rep.FirstBad = p
			break
		}
		rep.FirstBad = &Problem{Seq: v.expect, Kind: MissingEntry, Detail: fmt.Sprintf(
			"the chain ends at seq %d but a valid checkpoint signs seq %d: entries were deleted from the tail", v.expect-1, cp.Seq)}
	}
	progress(rep.Entries, total)
	rep.OK = rep.FirstBad == nil
	if rep.LastCheckpoint != nil {
		rep.Unsigned = rep.Entries - rep.LastCheckpoint.Seq
	} else {
		rep.Unsigned = rep.Entries
	}
	return *rep, nil
}

type verifier struct {
	keys   map[string]ed25519.PublicKey
	cps    []Checkpoint
	ci     int // next checkpoint to check
	prev   []byte
	expect int64
	rep    Report
}

// page verifies the entries after seq after (up to total) and returns how
// many rows it read and the last seq.
func (v *verifier) page(ctx context.Context, q *sql.DB, after, total int64, pageSize int) (n int, last int64, err error) {
	rows, err := q.QueryContext(ctx, "SELECT "+entryColumns+" FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
		after, total, pageSize)
	if err != nil {
		return 0, 0, fmt.Errorf("audit verify: read entries after %d: %w", after, sqldb.Map(err))
	}
	defer rows.Close()
	for rows.Next() {
		e, bad, err := scanEntry(rows)
		if err != nil {
			return 0, 0, fmt.Errorf("audit verify: %w", err)
		}
		n++
		last = e.Seq
		if p := v.entry(e, bad); p != nil {
			v.rep.FirstBad = p
			return n, last, nil
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("audit verify: read entries after %d: %w", after, sqldb.Map(err))
	}
	return n, last, nil
}

// entry checks one entry and the checkpoints at its seq.
func (v *verifier) entry(e Entry, decodeErr error) *Problem {
	// A checkpoint below the first possible seq can name no entry.
	if v.ci < len(v.cps) && v.cps[v.ci].Seq < v.expect && v.cps[v.ci].Seq < e.Seq {
		cp := v.cps[v.ci]
		return &Problem{Seq: cp.Seq, Kind: CheckpointMismatch, Detail: fmt.Sprintf("a checkpoint names seq %d, which no entry can have", cp.Seq)}
	}
	switch {
	case e.Seq < v.expect:
		return &Problem{Seq: e.Seq, Kind: UnexpectedEntry, Detail: fmt.Sprintf(
			"an entry has seq %d where seq %d was expected: seqs start at 1 and never repeat", e.Seq, v.expect)}
	case e.Seq > v.expect:
		return &Problem{Seq: v.expect, Kind: MissingEntry, Detail: fmt.Sprintf(
			"entry %d is missing: the next entry stored is %d", v.expect, e.Seq)}
	case decodeErr != nil:
		return &Problem{Seq: e.Seq, Kind: HashMismatch, Detail: fmt.Sprintf("stored fields are malformed (%v): the row was edited", decodeErr)}
	case !bytes.Equal(e.Sum(), e.Hash):
		return &Problem{Seq: e.Seq, Kind: HashMismatch, Detail: "the stored fields do not hash to the stored hash: the entry was edited, or rows were swapped"}
	case !bytes.Equal(e.PrevHash, v.prev):
		return &Problem{Seq: e.Seq, Kind: BrokenLink, Detail: fmt.Sprintf(
			"the entry does not link to the hash of entry %d: that entry was rewritten, or the chain was spliced", e.Seq-1)}
	}
	v.prev = e.Hash
	v.expect++
	v.rep.Entries++
	for v.ci < len(v.cps) && v.cps[v.ci].Seq == e.Seq {
		cp := v.cps[v.ci]
		if p := v.checkSignature(cp); p != nil {
			return p
		}
		if !bytes.Equal(cp.Hash, e.Hash) {
			return &Problem{Seq: cp.Seq, Kind: CheckpointMismatch, Detail: fmt.Sprintf(
				"the checkpoint signed by key %q names another hash than the chain has at seq %d: the chain was rewritten up to here", cp.KeyID, cp.Seq)}
		}
		v.rep.Checkpoints++
		v.rep.LastCheckpoint = &cp
		v.ci++
	}
	return nil
}

func (v *verifier) checkSignature(cp Checkpoint) *Problem {
	key, ok := v.keys[cp.KeyID]
	if !ok {
		return &Problem{Seq: cp.Seq, Kind: UnknownKey, Detail: fmt.Sprintf("the checkpoint is signed by key %q, which was not given", cp.KeyID)}
	}
	if !ed25519.Verify(key, checkpointMessage(cp.Seq, cp.Hash, cp.Time, cp.KeyID), cp.Signature) {
		return &Problem{Seq: cp.Seq, Kind: BadSignature, Detail: fmt.Sprintf("the checkpoint's signature by key %q does not verify", cp.KeyID)}
	}
	return nil
}

// loadCheckpoints reads every checkpoint, in seq order. There is one per
// CheckpointEvery entries at most, so they fit in memory.
func loadCheckpoints(ctx context.Context, q *sql.DB) ([]Checkpoint, error) {
	rows, err := q.QueryContext(ctx, "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("audit verify: read checkpoints: %w", sqldb.Map(err))
	}
	defer rows.Close()
	var cps []Checkpoint
	for rows.Next() {
		var cp Checkpoint
		var at int64
		if err := rows.Scan(&cp.Seq, &cp.Hash, &at, &cp.KeyID, &cp.Signature); err != nil {
			return nil, fmt.Errorf("audit verify: read checkpoints: %w", err)
		}
		cp.Time = sqldb.FromMicros(at)
		cps = append(cps, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit verify: read checkpoints: %w", sqldb.Map(err))
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
	return cps, nil
}

// scanEntry reads one row selected with entryColumns. A row whose stored
// lists are not valid JSON is returned with decodeErr set (tampering, for
// Verify to report); err is for the scan itself.
func scanEntry(rows *sql.Rows) (e Entry, decodeErr, err error) {
	var at int64
	var kind, outcome, cats, attrs string
	if err := rows.Scan(&e.Seq, &at, &kind, &e.Actor.ID, &e.Subject, &e.Action, &e.Purpose, &cats,
		&outcome, &e.Reason, &e.RequestID, &attrs, &e.PrevHash, &e.Hash); err != nil {
		return Entry{}, nil, fmt.Errorf("read audit entry: %w", err)
	}
	e.Time = sqldb.FromMicros(at)
	e.Actor.Kind, e.Outcome = ActorKind(kind), Outcome(outcome)
	if cats != "[]" {
		var ok bool
		if e.Categories, ok = fastList(cats); !ok {
			if err := json.Unmarshal([]byte(cats), &e.Categories); err != nil {
				decodeErr = fmt.Errorf("categories: %w", err)
			}
		}
	}
	if attrs != "{}" {
		var ok bool
		if e.Attrs, ok = fastMap(attrs); !ok {
			if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
				decodeErr = fmt.Errorf("attrs: %w", err)
			}
		}
	}
	return e, decodeErr, nil
}

// fastList and fastMap parse the JSON the log itself writes — no spaces,
// strings of printable ASCII without escapes — without encoding/json, which
// took a quarter of Verify's time. On anything else they report !ok and
// encoding/json decides; on what they accept, both give the same result.
func fastList(s string) ([]string, bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	var out []string
	for i := 1; ; {
		str, next, ok := fastString(s, i)
		if !ok {
			return nil, false
		}
		out = append(out, str)
		switch {
		case next == len(s)-1:
			return out, true
		case s[next] == ',':
			i = next + 1
		default:
			return nil, false
		}
	}
}

func fastMap(s string) (map[string]string, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	out := make(map[string]string)
	for i := 1; ; {
		k, next, ok := fastString(s, i)
		if !ok || next >= len(s) || s[next] != ':' {
			return nil, false
		}
		v, next, ok := fastString(s, next+1)
		if !ok {
			return nil, false
		}
		out[k] = v
		switch {
		case next == len(s)-1:
			return out, true
		case s[next] == ',':
			i = next + 1
		default:
			return nil, false
		}
	}
}

// fastString reads a JSON string at s[i] made of printable ASCII other
// than '\' and returns it and the index after its closing quote.
func fastString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}
