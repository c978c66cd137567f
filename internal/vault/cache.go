package vault

import (
	"sync"
	"time"
)

// keyCache holds unwrapped subject data keys for a short TTL, so that a
// request touching one subject several times unwraps its key once. It is
// bounded in size and time, because several kabinet processes share the
// key store and a key destroyed by another process stays usable here
// until its entry expires.
//
// A destroyed subject is remembered as a tombstone (key == nil) for the
// same TTL: a lookup that read the key store just before Destroy committed
// must not put the key back after Destroy evicted it.
type keyCache struct {
	ttl time.Duration
	max int

	mu        sync.Mutex
	m         map[string]*cacheEntry
	lastSweep time.Time
}

type cacheEntry struct {
	key     *[KeySize]byte // nil: the subject was destroyed
	expires time.Time
}

type cacheResult int

const (
	cacheMiss cacheResult = iota
	cacheHit
	cacheDestroyed
)

func newKeyCache(ttl time.Duration, max int) *keyCache {
	return &keyCache{ttl: ttl, max: max, m: make(map[string]*cacheEntry)}
}

// get copies a live key into dst.
func (c *keyCache) get(subject string, now time.Time, dst *[KeySize]byte) cacheResult {
	if c == nil {
		return cacheMiss
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[subject]
	switch {
	case !ok:
		return cacheMiss
	case !now.Before(e.expires):
		c.dropLocked(subject, e)
		return cacheMiss
	case e.key == nil:
		return cacheDestroyed
	}
	*dst = *e.key
	return cacheHit
}

// put caches a copy of key unless the subject has a live tombstone.
func (c *keyCache) put(subject string, key *[KeySize]byte, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[subject]; ok {
		if e.key == nil && now.Before(e.expires) {
			return
		}
		c.dropLocked(subject, e)
	}
	c.makeRoomLocked(now)
	k := new([KeySize]byte)
	*k = *key
	c.m[subject] = &cacheEntry{key: k, expires: now.Add(c.ttl)}
}

// destroyed replaces any cached key of subject with a tombstone.
func (c *keyCache) destroyed(subject string, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[subject]; ok {
		c.dropLocked(subject, e)
	}
	c.makeRoomLocked(now)
	c.m[subject] = &cacheEntry{expires: now.Add(c.ttl)}
}

// purge drops every entry, zeroing the keys.
func (c *keyCache) purge() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for s, e := range c.m {
		c.dropLocked(s, e)
	}
}

func (c *keyCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *keyCache) dropLocked(subject string, e *cacheEntry) {
	if e.key != nil {
		clear(e.key[:])
	}
	delete(c.m, subject)
}

// makeRoomLocked drops expired entries at least once per TTL (so that key
// bytes do not outlive their TTL in memory by much even when unused), and
// arbitrary entries when the cache is still full.
func (c *keyCache) makeRoomLocked(now time.Time) {
	if len(c.m) >= c.max || now.Sub(c.lastSweep) >= c.ttl {
		c.lastSweep = now
		for s, e := range c.m {
			if !now.Before(e.expires) {
				c.dropLocked(s, e)
			}
		}
	}
	for s, e := range c.m { // map order is random: a cheap random eviction
		if len(c.m) < c.max {
			break
		}
		c.dropLocked(s, e)
	}
}
