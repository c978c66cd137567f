package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

func TestSealOpenRoundTrip(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		kr := newKeyring(t)
		for _, ttl := range []time.Duration{0, DefaultCacheTTL} {
			v := openVault(t, db, kr, Options{CacheTTL: ttl})
			subject := "subj-" + ttl.String()
			if err := v.CreateSubject(ctx, subject); err != nil {
				t.Fatal(err)
			}
			plain := []byte("+7 900 123-45-67")
			a, err := v.Seal(ctx, subject, "phone", plain)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := v.Seal(ctx, subject, "phone", plain)
			if len(a) != len(plain)+Overhead || a[0] != formatV1 {
				t.Errorf("sealed value: %d bytes, format %#x", len(a), a[0])
			}
			if bytes.Contains(a, plain) || bytes.Equal(a, b) {
				t.Error("sealing shows the plaintext or repeats (nonce not random)")
			}
			for _, c := range [][]byte{a, b} {
				got, err := v.Open(ctx, subject, "phone", c)
				if err != nil || !bytes.Equal(got, plain) {
					t.Errorf("Open = %q, %v", got, err)
				}
			}
			// One key fetch for several categories.
			k, err := v.SubjectKey(ctx, subject)
			if err != nil {
				t.Fatal(err)
			}
			email, _ := k.Seal("email", []byte("ivan@example.ru"))
			empty, _ := k.Seal("note", nil)
			if got, err := k.Open("phone", a); err != nil || !bytes.Equal(got, plain) {
				t.Errorf("SubjectKey.Open(phone) = %q, %v", got, err)
			}
			if got, err := v.Open(ctx, subject, "email", email); err != nil || string(got) != "ivan@example.ru" {
				t.Errorf("Open(email) = %q, %v", got, err)
			}
			if got, err := k.Open("note", empty); err != nil || len(got) != 0 {
				t.Errorf("Open(empty) = %q, %v", got, err)
			}
			// CreateSubject is idempotent and keeps the key.
			if err := v.CreateSubject(ctx, subject); err != nil {
				t.Errorf("second CreateSubject: %v", err)
			}
			v.cache.purge()
			if _, err := v.Open(ctx, subject, "phone", a); err != nil {
				t.Errorf("Open after second CreateSubject: %v", err)
			}
		}
	})
}

func TestOpenRejectsMovedOrTamperedValues(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		v := openVault(t, db, newKeyring(t), Options{})
		for _, s := range []string{"alice", "bob"} {
			if err := v.CreateSubject(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		sealed, err := v.Seal(ctx, "alice", "phone", []byte("+79001234567"))
		if err != nil {
			t.Fatal(err)
		}
		wantCorrupt := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, ErrCorrupt) || fault.KindOf(err) != fault.Invalid {
				t.Errorf("%s: %v, want ErrCorrupt (invalid)", what, err)
			}
		}
		_, err = v.Open(ctx, "bob", "phone", sealed)
		wantCorrupt("other subject", err)
		_, err = v.Open(ctx, "alice", "email", sealed)
		wantCorrupt("other category", err)
		for i := range sealed {
			bad := bytes.Clone(sealed)
			bad[i] ^= 0x01
			_, err := v.Open(ctx, "alice", "phone", bad)
			wantCorrupt("flipped bit", err)
		}
		_, err = v.Open(ctx, "alice", "phone", sealed[:len(sealed)-1])
		wantCorrupt("truncated", err)
		_, err = v.Open(ctx, "alice", "phone", sealed[:5])
		wantCorrupt("too short", err)

		// A wrapped key copied onto another subject's row does not unwrap.
		_, err = db.Writer().ExecContext(ctx, `UPDATE subject_keys SET wrapped = (SELECT wrapped FROM subject_keys WHERE subject_id = 'alice') WHERE subject_id = 'bob'`)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Open(ctx, "bob", "phone", sealed); err == nil || fault.KindOf(err) != fault.Internal {
			t.Errorf("Open with a wrapped key moved from another subject: %v, want internal error", err)
		}
	})
}

func TestDestroy(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		v := openVault(t, db, newKeyring(t), Options{CacheTTL: time.Minute})
		if err := v.CreateSubject(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		sealed, _ := v.Seal(ctx, "alice", "phone", []byte("+79001234567"))
		if st, _ := v.State(ctx, "alice"); st != Active {
			t.Errorf("State before destroy = %v", st)
		}
		if err := v.Destroy(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		// The key was cached: Destroy must evict it in this process.
		_, err := v.Open(ctx, "alice", "phone", sealed)
		if !errors.Is(err, ErrDestroyed) || !errors.Is(err, fault.ErrNotFound) || errors.Is(err, ErrUnknownSubject) {
			t.Errorf("Open after destroy: %v, want ErrDestroyed (not found)", err)
		}
		if _, err := v.Seal(ctx, "alice", "phone", []byte("x")); !errors.Is(err, ErrDestroyed) {
			t.Errorf("Seal after destroy: %v", err)
		}
		if st, err := v.State(ctx, "alice"); st != Destroyed || err != nil {
			t.Errorf("State after destroy = %v, %v", st, err)
		}
		var wrapped []byte
		var destroyedAt *int64
		if err := db.Reader().QueryRowContext(ctx, `SELECT wrapped, destroyed_at FROM subject_keys WHERE subject_id = 'alice'`).Scan(&wrapped, &destroyedAt); err != nil {
			t.Fatal(err)
		}
		if wrapped != nil || destroyedAt == nil {
			t.Errorf("tombstone row: wrapped=%x destroyed_at=%v", wrapped, destroyedAt)
		}
		if err := v.Destroy(ctx, "alice"); err != nil {
			t.Errorf("second Destroy: %v", err)
		}
		if err := v.CreateSubject(ctx, "alice"); fault.KindOf(err) != fault.Conflict {
			t.Errorf("CreateSubject of a destroyed subject: %v, want conflict", err)
		}
		// A fresh process (no cache) sees the destruction too.
		v2 := openVault(t, db, v.Keyring(), Options{})
		if _, err := v2.Open(ctx, "alice", "phone", sealed); !errors.Is(err, ErrDestroyed) {
			t.Errorf("Open in another vault: %v", err)
		}

		// Unknown subjects.
		if st, err := v.State(ctx, "nobody"); st != Unknown || err != nil {
			t.Errorf("State(unknown) = %v, %v", st, err)
		}
		if _, err := v.Open(ctx, "nobody", "phone", sealed); !errors.Is(err, ErrUnknownSubject) || !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("Open(unknown) = %v", err)
		}
		if err := v.Destroy(ctx, "nobody"); !errors.Is(err, ErrUnknownSubject) {
			t.Errorf("Destroy(unknown) = %v", err)
		}
		if _, err := v.Seal(ctx, "", "phone", nil); fault.KindOf(err) != fault.Invalid {
			t.Errorf("Seal with empty subject: %v", err)
		}
	})
}

// Another process keeps a destroyed key for at most its cache TTL.
func TestDestroyInAnotherProcessBoundedByTTL(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			url := e.url(t)
			kr := newKeyring(t)
			clock := newFakeClock()
			a := openVault(t, sqldbtest.Open(t, url), kr, Options{Clock: clock.Now, CacheTTL: 30 * time.Second})
			b := openVault(t, sqldbtest.Open(t, url), kr, Options{Clock: clock.Now, CacheTTL: 30 * time.Second})
			if err := a.CreateSubject(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			sealed, _ := a.Seal(ctx, "alice", "phone", []byte("+79001234567"))
			if _, err := b.Open(ctx, "alice", "phone", sealed); err != nil { // b caches the key
				t.Fatal(err)
			}
			if err := a.Destroy(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(29 * time.Second)
			if _, err := b.Open(ctx, "alice", "phone", sealed); err != nil {
				t.Errorf("within the TTL the other process still has the key (documented): %v", err)
			}
			clock.Advance(time.Second)
			if _, err := b.Open(ctx, "alice", "phone", sealed); !errors.Is(err, ErrDestroyed) {
				t.Errorf("after the TTL: %v, want ErrDestroyed", err)
			}
			if n := b.cache.len(); n != 1 { // only the tombstone
				t.Errorf("cache holds %d entries, want the tombstone only", n)
			}
		})
	}
}

func TestCacheEvictionZeroesKeys(t *testing.T) {
	c := newKeyCache(time.Minute, 2)
	now := time.Now()
	var k [KeySize]byte
	k[0] = 1
	c.put("a", &k, now)
	held := c.m["a"].key
	c.put("b", &k, now)
	c.put("c", &k, now) // full: evicts a or b
	if len(c.m) != 2 {
		t.Errorf("cache size %d, want bound 2", len(c.m))
	}
	c.purge()
	if *held != [KeySize]byte{} {
		t.Error("evicted key not zeroed")
	}
	c.destroyed("a", now)
	c.put("a", &k, now) // a lookup racing Destroy must not resurrect the key
	var got [KeySize]byte
	if r := c.get("a", now, &got); r != cacheDestroyed {
		t.Errorf("get after tombstone = %v", r)
	}
	if r := c.get("a", now.Add(time.Minute), &got); r != cacheMiss {
		t.Errorf("get after the tombstone expired = %v", r)
	}
}

func TestOpenChecksKeyring(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		kr := newKeyring(t, "k1")
		v := openVault(t, db, kr, Options{})
		if err := v.CreateSubject(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, db, newKeyring(t, "k1"), Options{}); fault.KindOf(err) != fault.Invalid {
			t.Errorf("Open with another index key: %v, want invalid", err)
		}
		other, err := LoadKeyring("master k2 " + b64(randomKey()) + "\nindex " + b64(kr.index[:]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, db, other, Options{}); fault.KindOf(err) != fault.Invalid {
			t.Errorf("Open with a keyring lacking k1: %v, want invalid", err)
		}
		if err := v.SetKeyring(newKeyring(t, "k9")); err == nil {
			t.Error("SetKeyring accepted a different index key")
		}
	})
}
