package gate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

func text(s string) i18n.Text { return i18n.Text{"": s} }

// testRegister is a small register with one purpose of each kind the gate
// treats differently.
func testRegister() *register.Register {
	cat := func(id string, lookup bool) register.Category {
		return register.Category{ID: id, Kind: register.KindOrdinary, Title: text(id), Lookup: lookup}
	}
	purpose := func(id, basis string, cats ...string) register.Purpose {
		return register.Purpose{ID: id, Title: text(id), Basis: basis, Categories: cats, Subjects: []string{"user"},
			Operations: []string{"collection", "storage", "use"}, Processing: "automated",
			Retention: register.Retention{Rule: "contract", After: "destroy"}}
	}
	account := purpose("account", register.BasisContract, "contact.phone", "contact.email", "identity")
	marketing := purpose("marketing", register.BasisConsent, "contact.email")
	rectify := purpose("rectification", register.BasisLaw, "contact", "identity")
	rectify.Role = register.RoleRectification
	children := purpose("lessons", register.BasisContract, "identity.name", "contact.phone")
	children.Subjects = []string{"child"}
	return &register.Register{
		Categories: []register.Category{cat("contact.phone", true), cat("contact.email", true), cat("identity.name", false), cat("identity.birth_date", false), cat("tax.inn", true)},
		Subjects:   []register.SubjectCategory{{ID: "user", Title: text("user")}, {ID: "child", Title: text("child"), Categories: []string{"identity"}}},
		Purposes:   []register.Purpose{account, marketing, rectify, children},
	}
}

// consents is a consent decision table standing in for the ledger, which
// has its own tests; it answers exactly what the test put in it.
type consents struct {
	mu sync.Mutex
	ok map[string]bool
}

func (c *consents) set(subject, purpose string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok[subject+"|"+purpose] = ok
}

func (c *consents) decide(subject, purpose string, _ time.Time) (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok[subject+"|"+purpose] {
		return true, ""
	}
	return false, "no_consent"
}

type fixture struct {
	db, keys *sqldb.DB
	kr       *vault.Keyring
	vault    *vault.Vault
	log      *audit.Log
	pub      ed25519.PublicKey
	gate     *gate.Gate
	consents *consents
	reg      *register.Register
}

var (
	user   = audit.Actor{Kind: audit.ActorAccount, ID: "acc-1"}
	system = audit.Actor{Kind: audit.ActorSystem, ID: "test"}
)

// newFixture wires a gate over db with a key store at keysURL, all real.
func newFixture(t testing.TB, db *sqldb.DB, keysURL string, kr *vault.Keyring) *fixture {
	t.Helper()
	ctx := context.Background()
	keys, err := sqldb.Open(ctx, keysURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	if kr == nil {
		if kr, err = vault.CreateKeyringFile(filepath.Join(t.TempDir(), "master.keys")); err != nil {
			t.Fatal(err)
		}
	}
	v, err := vault.Open(ctx, keys, kr, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	log, err := audit.Open(ctx, db, audit.Options{Signer: priv, KeyID: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	f := &fixture{db: db, keys: keys, kr: kr, vault: v, log: log, pub: pub, consents: &consents{ok: map[string]bool{}}, reg: testRegister()}
	f.gate, err = gate.New(db, f.reg, v, log, gate.Options{Consent: f.consents.decide})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// each runs fn on both engines with a fresh main database and key store.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, newFixture(t, sqldbtest.SQLite(t), sqldbtest.SQLiteURL(t), nil))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, newFixture(t, sqldbtest.Postgres(t), sqldbtest.PostgresURL(t), nil))
	})
}

func (f *fixture) newUser(t testing.TB) string {
	t.Helper()
	id, err := f.gate.NewSubject(context.Background(), system, "user", "req-new")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func req(subject, purpose string, cats ...string) gate.Request {
	return gate.Request{Actor: user, Subject: subject, Purpose: purpose, Categories: cats, RequestID: "req-1"}
}

const (
	phone = "+79161234567"
	email = "ivan.petrov@example.ru"
	name  = "Петров Иван Сергеевич"
)

func (f *fixture) populate(t testing.TB, subject string) {
	t.Helper()
	err := f.gate.Write(context.Background(), req(subject, "account"), gate.Values{
		"contact.phone": []byte(phone), "contact.email": []byte(email), "identity.name": []byte(name)})
	if err != nil {
		t.Fatal(err)
	}
}

// entries returns the audit log as exported JSON lines.
func (f *fixture) entries(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), f.db, audit.Filter{}, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestWriteReadAuditedAndSealed(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		s := f.newUser(t)
		f.populate(t, s)
		got, err := f.gate.Read(ctx, req(s, "account", "contact.phone", "identity.name", "identity.birth_date"))
		if err != nil {
			t.Fatal(err)
		}
		if got.String("contact.phone") != phone || got.String("identity.name") != name {
			t.Errorf("read %q %q", got.String("contact.phone"), got.String("identity.name"))
		}
		if _, ok := got["identity.birth_date"]; ok {
			t.Error("a category never written came back")
		}
		// What is stored is ciphertext.
		var sealed []byte
		if err := f.db.Reader().QueryRow("SELECT sealed FROM pd_values WHERE subject_id = $1 AND category = 'identity.name'", s).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(name)) || bytes.Contains(sealed, []byte("Петров")) {
			t.Error("pd_values holds the name in plain text")
		}
		// The audit log names actor, subject, purpose and categories of the
		// write and the read, and no value.
		log := f.entries(t)
		for _, want := range []string{`"action":"pd.write"`, `"action":"pd.read"`, `"purpose":"account"`, `"identity.name"`, s, `"acc-1"`} {
			if !strings.Contains(log, want) {
				t.Errorf("audit log lacks %s", want)
			}
		}
		for _, value := range []string{phone, email, "Петров", "79161234567"} {
			if strings.Contains(log, value) {
				t.Errorf("audit log contains the value %q", value)
			}
		}
		rep, err := audit.Verify(ctx, f.db, map[string]ed25519.PublicKey{"test": f.pub}, nil)
		if err != nil || !rep.OK {
			t.Errorf("audit chain: %v %v", rep, err)
		}
	})
}

func TestRefusals(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		s := f.newUser(t)
		f.populate(t, s)
		child, err := f.gate.NewSubject(ctx, system, "child", "r")
		if err != nil {
			t.Fatal(err)
		}
		expect := func(name string, err, want error, kind fault.Kind) {
			t.Helper()
			if !errors.Is(err, want) {
				t.Errorf("%s: err %v, want %v", name, err, want)
			}
			if fault.KindOf(err) != kind {
				t.Errorf("%s: kind %v, want %v", name, fault.KindOf(err), kind)
			}
		}
		_, err = f.gate.Read(ctx, req(s, "account", "tax.inn"))
		expect("category outside the purpose", err, gate.ErrNotCovered, fault.Forbidden)
		_, err = f.gate.Read(ctx, req(s, "nonsense", "contact.phone"))
		expect("unknown purpose", err, gate.ErrUnknownPurpose, fault.Invalid)
		_, err = f.gate.Read(ctx, req(child, "account", "identity.name"))
		expect("purpose not for this kind of subject", err, gate.ErrWrongSubjectKind, fault.Forbidden)
		err = f.gate.Write(ctx, req(child, "lessons"), gate.Values{"contact.phone": []byte(phone)})
		expect("category outside the data set of this kind of subject", err, gate.ErrWrongSubjectKind, fault.Forbidden)
		if err := f.gate.Write(ctx, req(child, "lessons"), gate.Values{"identity.name": []byte("Петров Миша")}); err != nil {
			t.Errorf("child's name for lessons: %v", err)
		}

		// Consent-based purpose: refused until consent, allowed with it,
		// refused again after withdrawal.
		_, err = f.gate.Read(ctx, req(s, "marketing", "contact.email"))
		expect("no consent", err, gate.ErrNoConsent, fault.Forbidden)
		f.consents.set(s, "marketing", true)
		if v, err := f.gate.Read(ctx, req(s, "marketing", "contact.email")); err != nil || v.String("contact.email") != email {
			t.Errorf("with consent: %v %q", err, v.String("contact.email"))
		}
		f.consents.set(s, "marketing", false)
		_, err = f.gate.Read(ctx, req(s, "marketing", "contact.email"))
		expect("withdrawn consent", err, gate.ErrNoConsent, fault.Forbidden)

		// Blocked: refused for every purpose but rectification.
		if _, err := f.gate.Block(ctx, system, s, []string{"identity.name"}, gate.BlockInaccuracyCheck, time.Time{}, "r"); err != nil {
			t.Fatal(err)
		}
		_, err = f.gate.Read(ctx, req(s, "account", "identity.name"))
		expect("blocked category", err, gate.ErrBlocked, fault.Forbidden)
		err = f.gate.Write(ctx, req(s, "account"), gate.Values{"identity.name": []byte("x")})
		expect("write to blocked category", err, gate.ErrBlocked, fault.Forbidden)
		if _, err := f.gate.Read(ctx, req(s, "account", "contact.phone")); err != nil {
			t.Errorf("another category of a partly blocked subject: %v", err)
		}
		if err := f.gate.Write(ctx, req(s, "rectification"), gate.Values{"identity.name": []byte("Петров Иван Семёнович")}); err != nil {
			t.Errorf("rectification of blocked data: %v", err)
		}
		if n, err := f.gate.Unblock(ctx, system, s, gate.BlockInaccuracyCheck, "r"); err != nil || n != 1 {
			t.Fatalf("unblock: %d %v", n, err)
		}
		if v, err := f.gate.Read(ctx, req(s, "account", "identity.name")); err != nil || v.String("identity.name") != "Петров Иван Семёнович" {
			t.Errorf("after unblock: %v %q", err, v.String("identity.name"))
		}
		// A whole-subject block with a term ends by itself.
		clockBlock, err := f.gate.Block(ctx, system, s, []string{"*"}, gate.BlockUnlawfulCheck, time.Now().Add(-time.Second), "r")
		if err != nil || clockBlock == 0 {
			t.Fatal(err)
		}
		if _, err := f.gate.Read(ctx, req(s, "account", "contact.phone")); err != nil {
			t.Errorf("a block whose term passed still applies: %v", err)
		}

		// Destroyed.
		if err := f.gate.Destroy(ctx, system, s, "account_deleted", "r"); err != nil {
			t.Fatal(err)
		}
		_, err = f.gate.Read(ctx, req(s, "account", "contact.phone"))
		expect("destroyed subject", err, gate.ErrDestroyed, fault.NotFound)
		err = f.gate.Write(ctx, req(s, "account"), gate.Values{"contact.phone": []byte(phone)})
		expect("write to destroyed subject", err, gate.ErrDestroyed, fault.NotFound)
		if err := f.gate.Destroy(ctx, system, s, "account_deleted", "r"); err != nil {
			t.Errorf("second destroy: %v", err)
		}

		// Every refusal is in the audit log with its reason.
		log := f.entries(t)
		for _, reason := range []string{gate.ReasonNotCovered, gate.ReasonUnknownPurpose, gate.ReasonWrongSubjectKind, gate.ReasonNoConsent, gate.ReasonBlocked, gate.ReasonDestroyed} {
			if !strings.Contains(log, `"outcome":"refused","reason":"`+reason+`"`) {
				t.Errorf("no refused audit entry with reason %s", reason)
			}
		}
		if !strings.Contains(log, `"action":"subject.destroyed"`) {
			t.Error("destruction not audited")
		}
	})
}

func TestLookupByBlindIndex(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, b := f.newUser(t), f.newUser(t)
		f.populate(t, a)
		if err := f.gate.Write(ctx, req(b, "account"), gate.Values{"contact.phone": []byte("+77011234567")}); err != nil {
			t.Fatal(err)
		}
		got, err := f.gate.Lookup(ctx, system, "account", "contact.phone", phone, "r")
		if err != nil || len(got) != 1 || got[0] != a {
			t.Errorf("lookup by phone: %v %v, want [%s]", got, err, a)
		}
		if got, err := f.gate.Lookup(ctx, system, "account", "contact.phone", "+70000000000", "r"); err != nil || len(got) != 0 {
			t.Errorf("lookup of an unknown phone: %v %v", got, err)
		}
		if _, err := f.gate.Lookup(ctx, system, "account", "identity.name", name, "r"); fault.KindOf(err) != fault.Invalid {
			t.Errorf("lookup on a category without index: %v", err)
		}
		if _, err := f.gate.Lookup(ctx, system, "marketing", "contact.phone", phone, "r"); !errors.Is(err, gate.ErrNotCovered) {
			t.Errorf("lookup for a purpose without the category: %v", err)
		}
		if _, err := f.gate.Block(ctx, system, a, []string{"*"}, gate.BlockUnlawfulCheck, time.Time{}, "r"); err != nil {
			t.Fatal(err)
		}
		if got, err := f.gate.Lookup(ctx, system, "account", "contact.phone", phone, "r"); err != nil || len(got) != 0 {
			t.Errorf("a blocked subject is found: %v %v", got, err)
		}
		if got, err := f.gate.Lookup(ctx, system, "rectification", "contact.phone", phone, "r"); len(got) != 1 {
			t.Errorf("rectification does not find a blocked subject: %v %v", got, err)
		}
	})
}

func TestSealedRecordsForOtherPackages(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		s := f.newUser(t)
		sealed, err := f.gate.Seal(ctx, req(s, "account"), "contact.email", []byte(email))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(email)) {
			t.Fatal("sealed record holds the plain value")
		}
		if got, err := f.gate.Open(ctx, req(s, "account"), "contact.email", sealed); err != nil || string(got) != email {
			t.Errorf("open: %q %v", got, err)
		}
		if _, err := f.gate.Open(ctx, req(s, "marketing"), "contact.email", sealed); !errors.Is(err, gate.ErrNoConsent) {
			t.Errorf("open for a purpose without consent: %v", err)
		}
		f.gate.Destroy(ctx, system, s, "test", "r")
		if _, err := f.gate.Open(ctx, req(s, "account"), "contact.email", sealed); !errors.Is(err, gate.ErrDestroyed) {
			t.Errorf("open after destruction: %v", err)
		}
	})
}

// TestCryptoShreddingDefeatsRestoredBackup takes a copy of the main
// database before a subject is destroyed, destroys the subject, restores
// the copy and shows the subject's data in it can no longer be decrypted,
// while another subject's data in the same copy still can. On SQLite the
// copy is VACUUM INTO; on PostgreSQL a pg_dump restored with psql.
func TestCryptoShreddingDefeatsRestoredBackup(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		keysURL := "sqlite:" + filepath.Join(dir, "keys.db")
		f := newFixture(t, sqldbtest.Open(t, "sqlite:"+filepath.Join(dir, "kabinet.db")), keysURL, nil)
		backup := filepath.Join(dir, "backup.db")
		shredAfterBackup(t, f, keysURL, func() {
			if _, err := f.db.Writer().Exec("VACUUM INTO '" + backup + "'"); err != nil {
				t.Fatal(err)
			}
		}, func() *sqldb.DB { return sqldbtest.Open(t, "sqlite:"+backup) })
		// The backup holds no key material at all: the key store is apart.
		raw, _ := os.ReadFile(backup)
		if bytes.Contains(raw, []byte("subject_keys")) {
			t.Error("the main database backup contains the subject key table")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		mainURL, keysURL := sqldbtest.PostgresURL(t), sqldbtest.PostgresURL(t)
		f := newFixture(t, sqldbtest.Open(t, mainURL), keysURL, nil)
		var dump []byte
		shredAfterBackup(t, f, keysURL, func() { dump = pgDump(t, mainURL) },
			func() *sqldb.DB { return sqldbtest.Open(t, pgRestore(t, mainURL, dump)) })
		if bytes.Contains(dump, []byte("subject_keys")) {
			t.Error("the main database dump contains the subject key table")
		}
	})
}

// shredAfterBackup populates two subjects, takes a backup, destroys one,
// restores the backup and checks what can be read from it.
func shredAfterBackup(t *testing.T, f *fixture, keysURL string, backup func(), restore func() *sqldb.DB) {
	t.Helper()
	ctx := context.Background()
	gone, kept := f.newUser(t), f.newUser(t)
	f.populate(t, gone)
	f.populate(t, kept)
	backup()
	if err := f.gate.Destroy(ctx, system, gone, "account_deleted", "r"); err != nil {
		t.Fatal(err)
	}
	// "Restore" the backup: a kabinet started on the copy, with the live
	// key store and master keys.
	restored := newFixture(t, restore(), keysURL, f.kr)
	var state string
	restored.db.Reader().QueryRow("SELECT state FROM subjects WHERE id = $1", gone).Scan(&state)
	if state != gate.StateActive {
		t.Fatalf("the backup should predate the destruction, state %q", state)
	}
	if _, err := restored.gate.Read(ctx, req(gone, "account", "contact.phone", "identity.name")); !errors.Is(err, gate.ErrDestroyed) {
		t.Errorf("restored backup: read of the destroyed subject: %v, want ErrDestroyed", err)
	}
	// Not only the gate refuses: the ciphertexts in the copy cannot be
	// opened with anything the live system has.
	var sealed []byte
	restored.db.Reader().QueryRow("SELECT sealed FROM pd_values WHERE subject_id = $1 AND category = 'identity.name'", gone).Scan(&sealed)
	if len(sealed) == 0 {
		t.Fatal("backup lacks the ciphertext")
	}
	if _, err := restored.vault.Open(ctx, gone, "identity.name", sealed); err == nil {
		t.Error("a ciphertext from the backup opened after destruction")
	}
	if v, err := restored.gate.Read(ctx, req(kept, "account", "identity.name")); err != nil || v.String("identity.name") != name {
		t.Errorf("restored backup: the other subject: %v %q", err, v.String("identity.name"))
	}
}

// pgRestore loads a pg_dump of the schema behind fromURL into a new
// schema and returns a URL for it.
func pgRestore(t *testing.T, fromURL string, dump []byte) string {
	t.Helper()
	to := sqldbtest.PostgresURL(t) // creates the new, empty schema
	from, _ := url.Parse(fromURL)
	dst, _ := url.Parse(to)
	oldSchema, newSchema := from.Query().Get("search_path"), dst.Query().Get("search_path")
	body := strings.ReplaceAll(string(dump), oldSchema, newSchema)
	body = strings.Replace(body, "CREATE SCHEMA "+newSchema+";", "", 1) // it exists already
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql not found (it comes with the postgresql package that KABINET_TEST_POSTGRES needs)")
	}
	q := dst.Query()
	q.Del("search_path")
	dst.RawQuery = q.Encode()
	cmd := exec.Command(psql, "-q", "-v", "ON_ERROR_STOP=1", dst.String())
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql restore: %v\n%s", err, out)
	}
	return to
}

// TestNoPersonalDataInPlainText populates an instance through the gate and
// searches the raw database files (SQLite) and a pg_dump (PostgreSQL) for
// the values.
func TestNoPersonalDataInPlainText(t *testing.T) {
	needles := []string{phone, "79161234567", email, "ivan.petrov", name, "Петров"}
	check := func(t *testing.T, what string, raw []byte) {
		t.Helper()
		if len(raw) == 0 {
			t.Fatalf("%s is empty: the search would prove nothing", what)
		}
		for _, n := range needles {
			if bytes.Contains(raw, []byte(n)) {
				t.Errorf("%s contains %q in plain text", what, n)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		f := newFixture(t, sqldbtest.Open(t, "sqlite:"+filepath.Join(dir, "kabinet.db")), "sqlite:"+filepath.Join(dir, "keys.db"), nil)
		for range 3 {
			s := f.newUser(t)
			f.populate(t, s)
			f.gate.Read(context.Background(), req(s, "account", "contact.phone", "identity.name"))
		}
		// Control: the search finds a value that is there.
		if _, err := f.db.Writer().Exec("CREATE TABLE control (v TEXT)"); err != nil {
			t.Fatal(err)
		}
		f.db.Writer().Exec("INSERT INTO control VALUES ('control-needle-42')")
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		var all []byte
		for _, p := range files {
			b, _ := os.ReadFile(p)
			check(t, filepath.Base(p), b)
			all = append(all, b...)
		}
		if !bytes.Contains(all, []byte("control-needle-42")) {
			t.Error("the control value is not found: the search is blind")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		u := sqldbtest.PostgresURL(t)
		f := newFixture(t, sqldbtest.Open(t, u), sqldbtest.PostgresURL(t), nil)
		for range 3 {
			s := f.newUser(t)
			f.populate(t, s)
		}
		f.db.Writer().Exec("CREATE TABLE control (v TEXT); INSERT INTO control VALUES ('control-needle-42')")
		dump := pgDump(t, u)
		check(t, "pg_dump", dump)
		if !bytes.Contains(dump, []byte("control-needle-42")) {
			t.Error("the control value is not in the dump: the search is blind")
		}
	})
}

// pgDump dumps the schema a sqldbtest URL points at.
func pgDump(t *testing.T, rawURL string) []byte {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(matches) == 0 {
			t.Fatal("pg_dump not found (it comes with the postgresql package that KABINET_TEST_POSTGRES needs)")
		}
		bin = matches[len(matches)-1]
	}
	u, _ := url.Parse(rawURL)
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	out, err := exec.Command(bin, "--schema="+schema, "--inserts", u.String()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

func TestRetainKeepsOnlyWhatTheLawRequires(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		s := f.newUser(t)
		f.populate(t, s)
		until := time.Now().Add(24 * time.Hour)
		if err := f.gate.Retain(ctx, system, s, []string{"identity.name"}, until, "account_deleted", "r"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.gate.Read(ctx, req(s, "account", "identity.name")); !errors.Is(err, gate.ErrBlocked) {
			t.Errorf("kept data must be blocked: %v", err)
		}
		v, err := f.gate.Read(ctx, req(s, "rectification", "identity.name", "contact.phone"))
		if err != nil || v.String("identity.name") != name {
			t.Errorf("kept value: %v %q", err, v.String("identity.name"))
		}
		if _, ok := v["contact.phone"]; ok {
			t.Error("a value not kept survived")
		}
		info, _ := f.gate.Subject(ctx, s)
		if len(info.Blocks) != 1 || info.Blocks[0].Reason != gate.BlockRetention || info.Blocks[0].Until.IsZero() {
			t.Errorf("blocks %+v", info.Blocks)
		}
		// With nothing to keep, retention is destruction.
		other := f.newUser(t)
		f.populate(t, other)
		if err := f.gate.Retain(ctx, system, other, nil, time.Time{}, "account_deleted", "r"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.gate.Read(ctx, req(other, "account", "contact.phone")); !errors.Is(err, gate.ErrDestroyed) {
			t.Errorf("nothing kept: %v", err)
		}
	})
}
