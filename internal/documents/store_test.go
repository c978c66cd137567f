package documents

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// clock is a test clock that advances a second on every reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openAudit(t *testing.T, db *sqldb.DB) *audit.Log {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "documents-test")
	l, err := audit.Open(context.Background(), db, audit.Options{
		Signer: ed25519.NewKeyFromSeed(seed), KeyID: "k1", CheckpointInterval: -1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newStore(t *testing.T, db *sqldb.DB, cfg *config.Config) *Store {
	t.Helper()
	c := &clock{t: time.Date(2025, 9, 1, 9, 0, 0, 0, time.UTC)}
	return NewStore(db, cfg, bundle(t), openAudit(t, db), c.now)
}

func auditCount(t *testing.T, db *sqldb.DB, action string) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRow("SELECT COUNT(*) FROM audit_log WHERE action = $1", action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func publish(t *testing.T, s *Store) []Published {
	t.Helper()
	out, err := s.Publish(context.Background())
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return out
}

// editPolicy changes the text of the policy without changing its label.
func editPolicy(cfg *config.Config) {
	d := cfg.Register.DocumentOfKind(register.DocPolicy)
	d.Sections = append(d.Sections, register.Section{
		Title: i18n.Text{"ru": "Дополнение", "en": "Addendum"},
		Text:  i18n.Text{"ru": "Новый абзац.", "en": "A new paragraph."},
	})
}

func TestPublishIsIdempotent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		cfg := demo(t)
		s := newStore(t, db, cfg)
		first := publish(t, s)
		if want := len(cfg.Register.Documents) * len(cfg.Languages); len(first) != want {
			t.Fatalf("first Publish published %d versions, want %d", len(first), want)
		}
		if first[0].Lang != cfg.DefaultLanguage() || first[0].LabelKept || first[0].Restored {
			t.Errorf("first version %+v", first[0].Version)
		}
		if again := publish(t, s); len(again) != 0 {
			t.Fatalf("second Publish of the same register published %d versions", len(again))
		}
		// A fresh process with the same register publishes nothing either.
		if again := publish(t, newStore(t, db, demo(t))); len(again) != 0 {
			t.Fatalf("Publish from another store published %d versions", len(again))
		}
		if n := auditCount(t, db, "document.published"); n != len(first) {
			t.Errorf("%d audit entries, want %d", n, len(first))
		}
		for _, p := range first {
			cur, err := s.Current(ctx, p.DocID, p.Lang)
			if err != nil {
				t.Fatal(err)
			}
			if cur.ID != p.ID || !cur.Current || cur.HTML == "" || cur.Text == "" || len(cur.Hash) != 64 {
				t.Errorf("Current(%s, %s) = %d %q, want the published version %d", p.DocID, p.Lang, cur.ID, cur.Hash, p.ID)
			}
			r := render(t, cfg, p.DocID, p.Lang)
			if cur.HTML != r.HTML || cur.Title != r.Title {
				t.Errorf("%s/%s: stored text differs from the rendering", p.DocID, p.Lang)
			}
		}
	})
}

func TestChangedRegisterPublishesNewVersionAndKeepsTheOld(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db, demo(t))
		publish(t, s)
		old, err := s.Current(ctx, "policy", "ru")
		if err != nil {
			t.Fatal(err)
		}

		changed := demo(t)
		editPolicy(changed)
		s2 := newStore(t, db, changed)
		got := publish(t, s2)
		if len(got) != len(changed.Languages) {
			t.Fatalf("published %d versions, want one per language", len(got))
		}
		for _, p := range got {
			if p.DocID != "policy" || !p.LabelKept || p.Restored || p.Label != old.Label {
				t.Errorf("published %s/%s label %q kept=%v restored=%v", p.DocID, p.Lang, p.Label, p.LabelKept, p.Restored)
			}
		}
		cur, _ := s2.Current(ctx, "policy", "ru")
		if cur.ID == old.ID || cur.Hash == old.Hash || !strings.Contains(cur.Text, "Новый абзац.") {
			t.Fatalf("current policy is not the new text")
		}

		// The old text stays at its address, marked as not current.
		v, err := s2.Version(ctx, "policy", old.ShortHash())
		if err != nil {
			t.Fatal(err)
		}
		if v.ID != old.ID || v.Current || v.HTML != old.HTML || !v.PublishedAt.Equal(old.PublishedAt) {
			t.Errorf("old version: id %d current %v", v.ID, v.Current)
		}
		if v, err := s2.Version(ctx, "policy", strings.ToUpper(cur.Hash)); err != nil || v.ID != cur.ID || !v.Current {
			t.Errorf("new version by full upper-case hash: %d current %v, %v", v.ID, v.Current, err)
		}
		for _, bad := range []string{"", old.Hash[:11], "zzzzzzzzzzzz", "000000000000", old.Hash + "0"} {
			if _, err := s2.Version(ctx, "policy", bad); fault.KindOf(err) != fault.NotFound {
				t.Errorf("Version(%q): %v, want NotFound", bad, err)
			}
		}
		if _, err := s2.Version(ctx, "agreement", old.ShortHash()); fault.KindOf(err) != fault.NotFound {
			t.Errorf("policy hash under the agreement: %v, want NotFound", err)
		}

		// Rolling the register back makes the old text current again.
		back := publish(t, newStore(t, db, demo(t)))
		if len(back) != len(changed.Languages) || !back[0].Restored || back[0].ID != old.ID {
			t.Fatalf("rollback published %+v", back)
		}
		if cur, _ := s.Current(ctx, "policy", "ru"); cur.ID != old.ID {
			t.Errorf("after rollback current is %d, want %d", cur.ID, old.ID)
		}
		hist, err := s.Versions(ctx, "policy")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3*len(changed.Languages) {
			t.Fatalf("history has %d entries, want 3 publications per language", len(hist))
		}
		if hist[0].ID != back[len(back)-1].ID || !hist[0].Current || hist[len(hist)-1].Current || hist[0].HTML != "" {
			t.Errorf("history order or current marks wrong: first %d current %v", hist[0].ID, hist[0].Current)
		}
		for i := 1; i < len(hist); i++ {
			if hist[i].PublishedAt.After(hist[i-1].PublishedAt) {
				t.Errorf("history not newest first at %d", i)
			}
		}
		if _, err := s.Versions(ctx, "no-such-doc"); fault.KindOf(err) != fault.NotFound {
			t.Errorf("Versions of an unknown document: %v", err)
		}
	})
}

func TestCurrentFallsBackToTheDefaultLanguage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db, demo(t))
		if _, err := s.Current(ctx, "policy", "ru"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("Current before Publish: %v, want NotFound", err)
		}
		publish(t, s)
		for lang, want := range map[string]string{"de": "ru", "": "ru", "en": "en"} {
			v, err := s.Current(ctx, "policy", lang)
			if err != nil || v.Lang != want {
				t.Errorf("Current(policy, %q) in %q, %v; want %q", lang, v.Lang, err, want)
			}
		}
	})
}

// TestConcurrentPublish starts two "processes" on one database at once:
// each text is published exactly once.
func TestConcurrentPublish(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		t.Run(engine.name, func(t *testing.T) {
			u := engine.url(t)
			dbs := []*sqldb.DB{sqldbtest.Open(t, u), sqldbtest.Open(t, u)}
			stores := []*Store{newStore(t, dbs[0], demo(t)), newStore(t, dbs[1], demo(t))}
			var wg sync.WaitGroup
			counts := make([]int, 2)
			for i := range stores {
				wg.Go(func() {
					out, err := stores[i].Publish(context.Background())
					if err != nil {
						t.Error(err)
					}
					counts[i] = len(out)
				})
			}
			wg.Wait()
			cfg := demo(t)
			if want := len(cfg.Register.Documents) * len(cfg.Languages); counts[0]+counts[1] != want {
				t.Errorf("published %d + %d versions, want %d in all", counts[0], counts[1], want)
			}
		})
	}
}

// BenchmarkPublishUnchanged is the cost Publish adds to every start-up
// once the documents are published.
func BenchmarkPublishUnchanged(b *testing.B) {
	db := sqldbtest.SQLite(b)
	s := NewStore(db, demo(b), bundle(b), nil, nil)
	ctx := context.Background()
	if _, err := s.Publish(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if out, err := s.Publish(ctx); err != nil || len(out) != 0 {
			b.Fatal(out, err)
		}
	}
}
