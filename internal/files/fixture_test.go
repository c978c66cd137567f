package files_test

import (
	"context"
	"io/fs"
	"kabinet/internal/gate/gatetest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/files"
	"kabinet/internal/files/filestest"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
)

const (
	purpose  = "services"
	category = "documents.file"
)

var (
	owner  = audit.Actor{Kind: audit.ActorAccount, ID: "acc-1"}
	system = audit.Actor{Kind: audit.ActorSystem, ID: "test"}
)

func text(s string) i18n.Text { return i18n.Text{"": s} }

// testRegister declares the documents category and a contract purpose
// covering it, as an operator's register would.
func testRegister() *register.Register {
	return &register.Register{
		Categories: []register.Category{{ID: category, Kind: register.KindOrdinary, Title: text("documents")}},
		Subjects:   []register.SubjectCategory{{ID: "user", Title: text("user")}},
		Purposes: []register.Purpose{{ID: purpose, Title: text(purpose), Basis: register.BasisContract, Categories: []string{"documents"},
			Subjects: []string{"user"}, Operations: []string{"collection", "storage", "use", "destruction"}, Processing: "automated",
			Retention: register.Retention{Rule: "contract", After: "destroy"}}},
	}
}

// clock is the service's clock, moved by tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is the real stack: key store, vault, audit log, gate, and the
// service on a DirStore in a temp dir.
type fixture struct {
	db    *sqldb.DB
	gate  *gate.Gate
	log   *audit.Log
	dir   string // the DirStore's directory
	clock *clock
	svc   *files.Service
}

// newFixture wires the service over db; scanner may be nil; cfg's zero
// fields take the test defaults.
func newFixture(t testing.TB, db *sqldb.DB, scanner files.Scanner, cfg files.Config) *fixture {
	t.Helper()
	st := gatetest.New(t, db)
	log := st.Audit
	g, err := gate.New(db, testRegister(), st.Vault, log, gate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, gate: g, log: log, dir: t.TempDir(), clock: &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}}
	if cfg.Purpose == "" {
		cfg.Purpose, cfg.Category = purpose, category
	}
	if cfg.RetentionDays == 0 {
		cfg.RetentionDays = 30
	}
	cfg.Dir = f.dir
	f.svc, err = files.New(db, g, log, nil, scanner, cfg, files.Options{Clock: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) newSubject(t testing.TB) string {
	t.Helper()
	id, err := f.gate.NewSubject(context.Background(), system, "user", "req-new")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// rows counts the rows of the files table.
func (f *fixture) rows(t testing.TB) int {
	t.Helper()
	var n int
	if err := f.db.Reader().QueryRow("SELECT COUNT(*) FROM files").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// blobs lists the files under dir.
func blobs(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// actions returns the subject's audit entries about files, oldest first.
func (f *fixture) actions(t testing.TB, subject string) []audit.Entry {
	t.Helper()
	es, err := audit.Timeline(context.Background(), f.db, subject, []string{"file"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

func eicar(t testing.TB) []byte { return filestest.EICAR(t) }

func tinyPDF(text string, payload []byte, padding int) []byte {
	return filestest.TinyPDF(text, payload, padding)
}

type clamd = filestest.Clamd

func startClamd(t testing.TB, maxLen string) *clamd { return filestest.StartClamd(t, maxLen) }
