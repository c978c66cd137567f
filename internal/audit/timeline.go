package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"kabinet/internal/sqldb"
)

// Timeline returns up to limit of the subject's entries, newest first,
// older than seq before (0: from the newest), whose action is one of
// actions or under one of them ("consent" matches "consent.given"). It is
// the person's own history of operations (seed 000 §1.2.4), read from the
// same chain the auditor verifies.
func Timeline(ctx context.Context, db *sqldb.DB, subject string, actions []string, before int64, limit int) ([]Entry, error) {
	if subject == "" || limit <= 0 {
		return nil, nil
	}
	args := []any{subject}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q := "SELECT " + entryColumns + " FROM audit_log WHERE subject = $1"
	if before > 0 {
		q += " AND seq < " + arg(before)
	}
	if len(actions) > 0 {
		var or []string
		for _, a := range actions {
			// Actions are codes of [a-z0-9_.]: escape LIKE's wildcards.
			esc := strings.NewReplacer(`\`, `\\`, "_", `\_`, "%", `\%`).Replace(a)
			or = append(or, "action = "+arg(a)+" OR action LIKE "+arg(esc+`.%`)+` ESCAPE '\'`)
		}
		q += " AND (" + strings.Join(or, " OR ") + ")"
	}
	q += " ORDER BY seq DESC LIMIT " + arg(limit)
	rows, err := db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit timeline: %w", sqldb.Map(err))
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, bad, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("audit timeline: %w", err)
		}
		if bad != nil {
			return nil, fmt.Errorf("audit timeline: entry %d is corrupt (%v): run audit verify", e.Seq, bad)
		}
		out = append(out, e)
	}
	return out, sqldb.Map(rows.Err())
}
