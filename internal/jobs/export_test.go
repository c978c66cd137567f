package jobs

import (
	"context"
	"time"
)

// Claim is a lease taken outside a Runner, for tests that play a worker
// which claims a job and then crashes.
type Claim = claimed

// ClaimLike leases up to n due jobs of kinds as a Runner would, without
// running or renewing them.
func (q *Queue) ClaimLike(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]Claim, error) {
	return q.claim(ctx, owner, kinds, n, lease)
}

// CompleteLate records success for a claim, as a worker that comes back
// after its lease expired would.
func (q *Queue) CompleteLate(ctx context.Context, c *Claim) (bool, error) {
	return q.complete(ctx, c)
}

// ErrorText exposes the stored form of an error.
var ErrorText = errorText
