package gate

import (
	"context"
	"errors"
	"fmt"

	"kabinet/internal/vault"
)

// Seal encrypts a record that another package stores in its own table
// (consent evidence, an uploaded document, a session's address) under the
// subject's key, after the same checks as Write, and audits it. The record
// dies with the subject's key.
func (g *Gate) Seal(ctx context.Context, req Request, category string, plaintext []byte) ([]byte, error) {
	req.Categories = []string{category}
	if _, err := g.check(ctx, req, "pd.seal"); err != nil {
		return nil, err
	}
	sealed, err := g.vault.Seal(ctx, req.Subject, category, plaintext)
	if err != nil {
		return nil, fmt.Errorf("gate: seal: %w", err)
	}
	if err := g.audit(ctx, req, "pd.seal", nil); err != nil {
		return nil, err
	}
	return sealed, nil
}

// Open decrypts a record made by Seal, after the same checks as Read, and
// only once the audit entry is written.
func (g *Gate) Open(ctx context.Context, req Request, category string, sealed []byte) ([]byte, error) {
	req.Categories = []string{category}
	if _, err := g.check(ctx, req, "pd.open"); err != nil {
		return nil, err
	}
	plain, err := g.vault.Open(ctx, req.Subject, category, sealed)
	if errors.Is(err, vault.ErrDestroyed) {
		return nil, g.refuse(ctx, req, "pd.open", &Refusal{Reason: ReasonDestroyed, Purpose: req.Purpose})
	}
	if err != nil {
		return nil, fmt.Errorf("gate: open: %w", err)
	}
	if err := g.audit(ctx, req, "pd.open", nil); err != nil {
		return nil, err
	}
	return plain, nil
}
