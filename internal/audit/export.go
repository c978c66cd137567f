package audit

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// Filter selects the entries Export writes.
type Filter struct {
	// Subject selects one subject's entries. Empty selects every subject
	// (a full scan of the time range, for an auditor; the index serves the
	// per-subject extract).
	Subject string
	// From and To bound Time: From <= Time < To. A zero value leaves that
	// side open.
	From, To time.Time
	// Action, when set, selects that action and every action under it:
	// "pd" matches "pd", "pd.read", "pd.write"; "pd.read" matches only itself
	// and "pd.read.*".
	Action string
}

// ExportRecord is one line of Export's output. Seq, PrevHash and Hash let an
// auditor check the extract against the chain (and Entry.Sum recomputes
// Hash from the other fields).
type ExportRecord struct {
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Actor      ExportActor       `json:"actor"`
	Subject    string            `json:"subject"`
	Action     string            `json:"action"`
	Purpose    string            `json:"purpose"`
	Categories []string          `json:"categories"`
	Outcome    string            `json:"outcome"`
	Reason     string            `json:"reason,omitempty"`
	RequestID  string            `json:"request_id,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
	PrevHash   string            `json:"prev_hash"` // hex
	Hash       string            `json:"hash"`      // hex
}

// ExportActor is the actor of an ExportRecord.
type ExportActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Export writes the entries matching f to w as JSON Lines (one
// ExportRecord per line) in seq order, and returns how many it wrote. It is
// the event-log extract that goes with an act of destruction: the subject,
// the categories, the actions and their dates. It streams; the extract's
// size is not limited by memory. A stored row too corrupt to decode fails
// the export (run Verify).
func Export(ctx context.Context, db *sqldb.DB, f Filter, w io.Writer) (int, error) {
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return 0, fault.Wrap(fault.Invalid, fmt.Errorf("audit export: empty time range %s … %s", f.From, f.To), "")
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Subject != "" {
		where = append(where, "subject = "+arg(f.Subject))
	}
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(sqldb.Micros(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(sqldb.Micros(f.To)))
	}
	q := "SELECT " + entryColumns + " FROM audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	rows, err := db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("audit export: %w", sqldb.Map(err))
	}
	defer rows.Close()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	action := strings.TrimSuffix(f.Action, ".")
	n := 0
	for rows.Next() {
		e, bad, err := scanEntry(rows)
		if err != nil {
			return n, fmt.Errorf("audit export: %w", err)
		}
		if bad != nil {
			return n, fmt.Errorf("audit export: entry %d is corrupt (%v): run audit verify", e.Seq, bad)
		}
		// Actions are codes of [a-z0-9_.], so the prefix match is done here
		// rather than with LIKE, where '_' is a wildcard.
		if action != "" && e.Action != action && !strings.HasPrefix(e.Action, action+".") {
			continue
		}
		rec := ExportRecord{
			Seq: e.Seq, Time: e.Time, Actor: ExportActor{Kind: string(e.Actor.Kind), ID: e.Actor.ID},
			Subject: e.Subject, Action: e.Action, Purpose: e.Purpose, Categories: e.Categories,
			Outcome: string(e.Outcome), Reason: e.Reason, RequestID: e.RequestID, Attrs: e.Attrs,
			PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
		}
		if rec.Categories == nil {
			rec.Categories = []string{}
		}
		if err := enc.Encode(rec); err != nil {
			return n, fmt.Errorf("audit export: write: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("audit export: %w", sqldb.Map(err))
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("audit export: write: %w", err)
	}
	return n, nil
}
