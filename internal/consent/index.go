package consent

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"kabinet/internal/sqldb"
)

// Decision is the ledger's answer for one subject and purpose at one
// instant.
type Decision struct {
	// Allowed is true when a given or renewed consent is in force.
	Allowed bool
	// Status is the consent's status at the instant asked: Expired for a
	// consent past its term even before the expiry job recorded it; None
	// when nothing is recorded (or the answer is ReasonStale).
	Status Status
	// ExpiresAt is the end of the consent's term; zero when it has none.
	ExpiresAt time.Time
	// Reason is a refusal code (ReasonNoConsent, …); empty when allowed.
	Reason string
}

// Allowed reports whether purpose may process subject at the instant at
// (normally now) on the basis of consent. It answers from memory, without
// a database query, and is safe for concurrent use.
//
// The index holds each consent's current status, not its history: at is
// compared with the end of the current term only, so asking about the past
// gives today's answer. A purpose that is not consent-based is refused with
// ReasonNotConsentBased: the gate must take its basis from the register.
func (l *Ledger) Allowed(subject, purpose string, at time.Time) Decision {
	p, ok := l.purposes[purpose]
	switch {
	case !ok:
		return Decision{Reason: ReasonUnknownPurpose}
	case !p.consent:
		return Decision{Reason: ReasonNotConsentBased}
	case !l.fresh.Load():
		return Decision{Reason: ReasonStale}
	}
	s, ok := l.index.get(subject, p.idx)
	if !ok {
		return Decision{Reason: ReasonNoConsent}
	}
	return s.decide(sqldb.Micros(at))
}

// decide evaluates a slot at an instant in unix microseconds.
func (s slot) decide(at int64) Decision {
	d := Decision{Status: statuses[s.status]}
	if s.expires != 0 {
		d.ExpiresAt = sqldb.FromMicros(s.expires)
	}
	switch {
	case d.Status.Active() && s.expires != 0 && at >= s.expires:
		d.Status, d.Reason = Expired, ReasonExpired
	case d.Status.Active():
		d.Allowed = true
	default:
		d.Reason = string(d.Status) // refused, withdrawn, expired, invalidated
	}
	return d
}

// shardCount spreads the index over independently locked maps, so that
// writers block few readers and readers on many cores do not all bounce
// one lock's cache line.
const shardCount = 64

// slot is the current state of one subject's consent to one purpose: 24
// bytes, plus the subject id once per subject.
type slot struct {
	lastEvent int64 // consent_state.last_event_id: newer rows replace older ones
	expires   int64 // unix microseconds; 0 when the consent has no term
	purpose   uint16
	status    uint8 // index into statuses
}

type shard struct {
	mu sync.RWMutex
	m  map[string][]slot // subject → one slot per purpose with a recorded state
	_  [32]byte          // keep shards on separate cache lines
}

// index maps (subject, purpose) to its slot.
type index struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

func newIndex() *index {
	ix := &index{seed: maphash.MakeSeed()}
	for i := range ix.shards {
		ix.shards[i].m = map[string][]slot{}
	}
	return ix
}

func (ix *index) shard(subject string) *shard {
	return &ix.shards[maphash.String(ix.seed, subject)&(shardCount-1)]
}

func (ix *index) get(subject string, purpose uint16) (slot, bool) {
	sh := ix.shard(subject)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, s := range sh.m[subject] {
		if s.purpose == purpose {
			return s, true
		}
	}
	return slot{}, false
}

// put stores s unless the index already holds the same or a newer event
// for its subject and purpose: local writes, notifications and catch-ups
// may arrive in any order, and the highest event id is the latest state.
func (ix *index) put(subject string, s slot) {
	sh := ix.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	slots, ok := sh.m[subject]
	for i := range slots {
		if slots[i].purpose == s.purpose {
			if s.lastEvent > slots[i].lastEvent {
				slots[i] = s
			}
			return
		}
	}
	if !ok {
		// The caller's string may share memory with a larger buffer.
		subject = strings.Clone(subject)
	}
	sh.m[subject] = append(slots, s)
}

// len counts the slots, for tests and statistics.
func (ix *index) len() int {
	n := 0
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			n += len(s)
		}
		sh.mu.RUnlock()
	}
	return n
}
