package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// sealAll creates n subjects and seals one value of each.
func sealAll(t *testing.T, v *Vault, prefix string, n int) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	for i := range n {
		s := fmt.Sprintf("%s-%03d", prefix, i)
		if err := v.CreateSubject(ctx, s); err != nil {
			t.Fatal(err)
		}
		sealed, err := v.Seal(ctx, s, "phone", []byte("+7900"+s))
		if err != nil {
			t.Fatal(err)
		}
		out[s] = sealed
	}
	return out
}

func openAll(t *testing.T, v *Vault, sealed map[string][]byte) {
	t.Helper()
	for s, c := range sealed {
		got, err := v.Open(context.Background(), s, "phone", c)
		if err != nil || string(got) != "+7900"+s {
			t.Fatalf("Open(%s) = %q, %v", s, got, err)
		}
	}
}

func TestRotate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "master.keys")
		kr1, err := CreateKeyringFile(path)
		if err != nil {
			t.Fatal(err)
		}
		v1 := openVault(t, db, kr1, Options{})
		sealed := sealAll(t, v1, "s", 25)
		if err := v1.Destroy(ctx, "s-003"); err != nil {
			t.Fatal(err)
		}
		delete(sealed, "s-003")

		kr2, err := kr1.AddVersion()
		if err != nil {
			t.Fatal(err)
		}
		v2 := openVault(t, db, kr2, Options{})
		var calls [][2]int
		n, err := v2.Rotate(ctx, 7, func(done, total int) { calls = append(calls, [2]int{done, total}) })
		if err != nil {
			t.Fatal(err)
		}
		if n != 24 {
			t.Errorf("Rotate rewrapped %d keys, want 24", n)
		}
		if len(calls) != 4 || calls[len(calls)-1] != [2]int{24, 24} {
			t.Errorf("progress calls %v, want 4 batches ending at 24/24", calls)
		}
		counts, err := v2.KeyVersions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 1 || counts["k2"] != 24 {
			t.Errorf("KeyVersions after rotation = %v, want k2:24 only", counts)
		}
		var destroyed int
		db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM subject_keys WHERE wrapped IS NULL`).Scan(&destroyed)
		if destroyed != 1 {
			t.Errorf("%d destroyed keys after rotation, want 1 (rotation must not resurrect)", destroyed)
		}
		openAll(t, v2, sealed)
		if n, err := v2.Rotate(ctx, 7, nil); n != 0 || err != nil {
			t.Errorf("second Rotate = %d, %v; want nothing to do", n, err)
		}

		// The process still on kr1 (cache off) meets keys under k2 and
		// reloads the key file by itself.
		openAll(t, v1, sealed)
		if got := v1.Keyring().Current(); got != "k2" {
			t.Errorf("v1 did not reload the key file: current %s", got)
		}

		// A keyring without the old version opens everything.
		only2, err := LoadKeyring(keyringText(kr2, "k2"))
		if err != nil {
			t.Fatal(err)
		}
		v3 := openVault(t, db, only2, Options{})
		openAll(t, v3, sealed)

		// And a key under an unknown version is reported, not looped on.
		if _, err := db.Writer().ExecContext(ctx, `UPDATE subject_keys SET key_version = 'k0' WHERE subject_id = 's-010'`); err != nil {
			t.Fatal(err)
		}
		n, err = v3.Rotate(ctx, 7, nil)
		if n != 0 || fault.KindOf(err) != fault.Internal {
			t.Errorf("Rotate over an unknown version = %d, %v; want 0 and an internal error", n, err)
		}
	})
}

// Two processes rotating at once rewrap each key exactly once, while a
// third keeps serving.
func TestConcurrentRotate(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			url := e.url(t)
			kr1 := newKeyring(t, "k1")
			v := openVault(t, sqldbtest.Open(t, url), kr1, Options{})
			sealed := sealAll(t, v, "c", 120)
			kr2, err := LoadKeyring(keyringText(kr1, "k1") + "master k2 " + b64(randomKey()))
			if err != nil {
				t.Fatal(err)
			}
			if err := v.SetKeyring(kr2); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			ns := make([]int, 2)
			errs := make([]error, 2)
			for i := range 2 {
				r := openVault(t, sqldbtest.Open(t, url), kr2, Options{})
				wg.Go(func() { ns[i], errs[i] = r.Rotate(ctx, 10, nil) })
			}
			stop := make(chan struct{})
			var served sync.WaitGroup
			served.Go(func() { // serving meanwhile, including new subjects
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := v.Open(ctx, "c-007", "phone", sealed["c-007"]); err != nil {
						t.Error(err)
						return
					}
					if err := v.CreateSubject(ctx, fmt.Sprintf("new-%d", i)); err != nil {
						t.Error(err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
			wg.Wait()
			close(stop)
			served.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if ns[0]+ns[1] != 120 {
				t.Errorf("rotations rewrapped %d + %d keys, want 120 in all", ns[0], ns[1])
			}
			counts, _ := v.KeyVersions(ctx)
			if counts["k1"] != 0 {
				t.Errorf("KeyVersions = %v, want none under k1", counts)
			}
			openAll(t, v, sealed)
		})
	}
}

// A process whose keyring came from a file starts wrapping new keys under
// a version another process added within reloadInterval, and keeps its
// keyring when the file is broken.
func TestReloadKeyFile(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "master.keys")
		kr, err := CreateKeyringFile(path)
		if err != nil {
			t.Fatal(err)
		}
		clock := newFakeClock()
		v := openVault(t, db, kr, Options{Clock: clock.Now})
		other, err := LoadKeyringFile(path) // "kabinet keys rotate --new" elsewhere
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.AddVersion(); err != nil {
			t.Fatal(err)
		}
		version := func(s string) string {
			var ver string
			if err := db.Reader().QueryRowContext(ctx, `SELECT key_version FROM subject_keys WHERE subject_id = $1`, s).Scan(&ver); err != nil {
				t.Fatal(err)
			}
			return ver
		}
		clock.Advance(reloadInterval / 2)
		if err := v.CreateSubject(ctx, "early"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(reloadInterval)
		if err := v.CreateSubject(ctx, "late"); err != nil {
			t.Fatal(err)
		}
		if e, l := version("early"), version("late"); e != "k1" || l != "k2" {
			t.Errorf("key versions early=%s late=%s, want k1 then k2", e, l)
		}

		if err := os.WriteFile(path, []byte("master k1 garbage\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * reloadInterval)
		if err := v.CreateSubject(ctx, "alice"); err != nil {
			t.Errorf("CreateSubject with a broken key file on disk: %v (the loaded keyring is still valid)", err)
		}
		if _, err := v.Seal(ctx, "alice", "phone", []byte("x")); err != nil {
			t.Error(err)
		}
	})
}
