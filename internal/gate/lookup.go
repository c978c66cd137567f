package gate

import (
	"context"
	"fmt"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
)

// Lookup finds the active subjects whose value of category equals value
// (in its normal form) through the blind index, without decrypting
// anything. The purpose must cover the category, and the category must be
// marked for lookup in the register. Every lookup is audited, once per
// subject found, or once without a subject when none is.
func (g *Gate) Lookup(ctx context.Context, actor audit.Actor, purpose, category, value, requestID string) ([]string, error) {
	req := Request{Actor: actor, Purpose: purpose, Categories: []string{category}, RequestID: requestID}
	p := g.reg.Purpose(purpose)
	if p == nil {
		return nil, g.refuse(ctx, req, "pd.lookup", &Refusal{Reason: ReasonUnknownPurpose, Purpose: purpose})
	}
	c := g.reg.Category(category)
	if c == nil || !c.Lookup {
		return nil, fault.New(fault.Invalid, "gate.no_lookup")
	}
	if missing := p.Covers(category); len(missing) > 0 {
		return nil, g.refuse(ctx, req, "pd.lookup", &Refusal{Reason: ReasonNotCovered, Purpose: purpose, Categories: missing})
	}
	// Blocked data are not processed except to rectify them (152-FZ
	// art. 21 p.1): a lookup for any other purpose passes over them.
	blockFilter, args := "", []any{category, g.vault.Index(category, value)}
	if p.Role != register.RoleRectification {
		args = append(args, sqldb.Micros(g.now()))
		blockFilter = ` AND NOT EXISTS (SELECT 1 FROM pd_blocks b WHERE b.subject_id = v.subject_id AND b.lifted_at IS NULL
			AND (b.until IS NULL OR b.until > $3) AND b.category IN ('*', $1))`
	}
	rows, err := g.db.Reader().QueryContext(ctx, `SELECT v.subject_id FROM pd_values v JOIN subjects s ON s.id = v.subject_id
		WHERE v.category = $1 AND v.blind = $2 AND s.state = 'active'`+blockFilter+` ORDER BY v.subject_id`, args...)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("gate: lookup: %w", err))
	}
	var found []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, sqldb.Map(fmt.Errorf("gate: lookup: %w", err))
		}
		found = append(found, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, sqldb.Map(fmt.Errorf("gate: lookup: %w", err))
	}
	if len(found) == 0 {
		return nil, g.audit(ctx, req, "pd.lookup", map[string]string{"found": "0"})
	}
	for _, id := range found {
		req.Subject = id
		if err := g.audit(ctx, req, "pd.lookup", nil); err != nil {
			return nil, err
		}
	}
	return found, nil
}
