package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/files"
	"kabinet/internal/gate"
	"kabinet/internal/i18n/i18ntest"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

func TestKeysTranslated(t *testing.T) {
	i18ntest.KeysTranslated(t, "files", 10, files.JobExpire)
}

func TestNewRejectsBadConfig(t *testing.T) {
	db := sqldbtest.SQLite(t)
	ok := files.Config{Purpose: purpose, Category: category, RetentionDays: 1, Dir: t.TempDir()}
	for name, change := range map[string]func(c *files.Config){
		"unknown type":    func(c *files.Config) { c.AllowedTypes = []string{"text/plain"} },
		"no purpose":      func(c *files.Config) { c.Purpose = "" },
		"no category":     func(c *files.Config) { c.Category = "" },
		"no retention":    func(c *files.Config) { c.RetentionDays = 0 },
		"negative size":   func(c *files.Config) { c.MaxSize = -1 },
		"no storage":      func(c *files.Config) { c.Dir = "" },
		"bad clamd":       func(c *files.Config) { c.Clamd = "localhost:3310" },
		"bad S3 endpoint": func(c *files.Config) { c.S3.Endpoint = "s3.example.com" },
	} {
		c := ok
		change(&c)
		if _, err := files.New(db, nil, nil, nil, nil, c, files.Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := files.New(db, nil, nil, nil, nil, ok, files.Options{}); err != nil {
		t.Errorf("a good configuration: %v", err)
	}
}

// wantFault fails unless err is a fault of kind with key.
func wantFault(t *testing.T, err error, kind fault.Kind, key string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v %s", kind, key)
	}
	if got := fault.KindOf(err); got != kind {
		t.Fatalf("kind %v, want %v: %v", got, kind, err)
	}
	if k, _ := fault.Message(err); k != key {
		t.Fatalf("key %q, want %q: %v", k, key, err)
	}
}

func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pdfOfSize returns a valid PDF of exactly n bytes.
func pdfOfSize(t *testing.T, n int) []byte {
	t.Helper()
	pad := n / 2
	for range 10 {
		pdf := tinyPDF("sized", nil, pad)
		if len(pdf) == n {
			return pdf
		}
		pad += n - len(pdf)
	}
	t.Fatalf("cannot make a PDF of %d bytes", n)
	return nil
}

func random(t *testing.T) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// A clean PDF passes the real clamd, is listed with its name, and comes
// back byte for byte; the upload is audited.
func TestUploadListDownload(t *testing.T) {
	c := startClamd(t, "20M")
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		// The scanner built by New from the configuration.
		f := newFixture(t, db, nil, files.Config{Clamd: c.Unix})
		ctx := context.Background()
		s := f.newSubject(t)
		pdf := tinyPDF("Kabinet test document", nil, 0)
		up, err := f.svc.Upload(ctx, owner, s, `C:\Users\me\Паспорт скан.PDF`, bytes.NewReader(pdf), "req-1")
		if err != nil {
			t.Fatal(err)
		}
		if up.Name != "Паспорт скан.PDF" || up.Size != int64(len(pdf)) || up.Type != "application/pdf" {
			t.Errorf("upload = %+v", up)
		}
		if want := f.clock.now().AddDate(0, 0, 30); !up.DeleteAfter.Equal(want) || !up.CreatedAt.Equal(f.clock.now()) {
			t.Errorf("created %v delete after %v, want %v and %v", up.CreatedAt, up.DeleteAfter, f.clock.now(), want)
		}
		f.clock.add(time.Minute)
		img, err := f.svc.Upload(ctx, owner, s, "photo.png", bytes.NewReader(pngImage(t)), "req-2")
		if err != nil {
			t.Fatal(err)
		}

		list, err := f.svc.List(ctx, owner, s, "req-3")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0] != img || list[1] != up {
			t.Fatalf("list = %+v, want [%+v %+v] (newest first)", list, img, up)
		}
		name, ct, data, err := f.svc.Download(ctx, owner, s, up.ID, "req-4")
		if err != nil {
			t.Fatal(err)
		}
		if name != up.Name || ct != "application/pdf" || !bytes.Equal(data, pdf) {
			t.Errorf("download = %q %q %d bytes, identical %v", name, ct, len(data), bytes.Equal(data, pdf))
		}
		var got []string
		for _, e := range f.actions(t, s) {
			got = append(got, e.Action+" "+e.Attrs["file"])
			if e.Purpose != purpose || !slices.Equal(e.Categories, []string{category}) {
				t.Errorf("entry %s: purpose %q categories %v", e.Action, e.Purpose, e.Categories)
			}
		}
		if want := []string{"file.uploaded " + up.ID, "file.uploaded " + img.ID}; !slices.Equal(got, want) {
			t.Errorf("file entries %v, want %v", got, want)
		}
	})
}

// The EICAR test file, alone or inside a larger PDF, is refused by the
// real clamd as infected, and nothing is stored: no row, no blob, no seal.
func TestInfectedRefusedNothingStored(t *testing.T) {
	c := startClamd(t, "20M")
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, &files.Clamd{Address: c.TCP}, files.Config{})
		ctx := context.Background()
		s := f.newSubject(t)
		big := tinyPDF("Invoice", eicar(t), 300<<10)
		if len(big) < 300<<10 {
			t.Fatalf("the PDF is only %d bytes", len(big))
		}
		for name, content := range map[string][]byte{"eicar.com": eicar(t), "eicar.pdf": eicar(t), "invoice.pdf": big} {
			_, err := f.svc.Upload(ctx, owner, s, name, bytes.NewReader(content), "req-1")
			wantFault(t, err, fault.Invalid, "files.infected")
		}
		if n := f.rows(t); n != 0 {
			t.Errorf("%d rows stored", n)
		}
		if b := blobs(t, f.dir); len(b) != 0 {
			t.Errorf("blobs stored: %v", b)
		}
		es := f.actions(t, s)
		if len(es) != 3 {
			t.Fatalf("%d file entries, want 3 refusals", len(es))
		}
		for _, e := range es {
			if e.Action != "file.refused" || e.Outcome != audit.OutcomeRefused || e.Reason != "infected" {
				t.Errorf("entry %+v", e)
			}
		}
		// Nothing was sealed either.
		all, err := audit.Timeline(ctx, db, s, []string{"pd"}, 0, 10)
		if err != nil || len(all) != 0 {
			t.Errorf("pd entries %v %v", all, err)
		}
	})
}

// Size, type and name checks refuse before anything is stored.
func TestRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil, files.Config{MaxSize: 64 << 10})
		ctx := context.Background()
		s := f.newSubject(t)
		cases := []struct {
			name    string
			content []byte
			kind    fault.Kind
			key     string
		}{
			{"big.pdf", tinyPDF("big", nil, 64<<10), fault.Invalid, "files.too_large"},
			{"photo.pdf", pngImage(t), fault.Invalid, "files.type_mismatch"},
			{"scan.png", tinyPDF("pdf named png", nil, 0), fault.Invalid, "files.type_mismatch"},
			{"scan", tinyPDF("no extension", nil, 0), fault.Invalid, "files.type_mismatch"},
			{"notes.pdf", []byte("just some text, no PDF at all"), fault.Invalid, "files.type_not_allowed"},
			{"half.pdf", []byte("%PDF-1.4\n1 0 obj << >> endobj\n"), fault.Invalid, "files.type_not_allowed"},
			{"page.pdf", []byte("<html><body>hi</body></html>"), fault.Invalid, "files.type_not_allowed"},
			{"empty.pdf", nil, fault.Invalid, "files.empty"},
			{"", tinyPDF("x", nil, 0), fault.Invalid, "files.name_required"},
			{"dir/", tinyPDF("x", nil, 0), fault.Invalid, "files.name_required"},
			{"bad\x00name.pdf", tinyPDF("x", nil, 0), fault.Invalid, "files.bad_name"},
			{strings.Repeat("я", 200) + ".pdf", tinyPDF("x", nil, 0), fault.Invalid, "files.bad_name"},
		}
		for _, c := range cases {
			_, err := f.svc.Upload(ctx, owner, s, c.name, bytes.NewReader(c.content), "req")
			wantFault(t, err, c.kind, c.key)
			if c.key == "files.too_large" {
				if _, args := fault.Message(err); !slices.Equal(args, []any{"max", "0.06"}) {
					t.Errorf("too large args %v", args)
				}
			}
		}
		if n := f.rows(t); n != 0 {
			t.Errorf("%d rows stored", n)
		}
		if b := blobs(t, f.dir); len(b) != 0 {
			t.Errorf("blobs stored: %v", b)
		}
		// Exactly the limit is accepted.
		if _, err := f.svc.Upload(ctx, owner, s, "fits.pdf", bytes.NewReader(pdfOfSize(t, 64<<10)), "req"); err != nil {
			t.Errorf("a file of exactly MaxSize: %v", err)
		}
	})
}

// A scanner that cannot be reached refuses the upload (fail closed) and
// nothing is stored.
func TestScannerUnavailableFailsClosed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		scanner := &files.Clamd{Address: "unix:" + filepath.Join(t.TempDir(), "nobody.sock")}
		f := newFixture(t, db, scanner, files.Config{})
		_, err := f.svc.Upload(context.Background(), owner, f.newSubject(t), "a.pdf", bytes.NewReader(tinyPDF("a", nil, 0)), "req")
		wantFault(t, err, fault.Unavailable, "files.scanner_unavailable")
		if n := f.rows(t); n != 0 {
			t.Errorf("%d rows stored", n)
		}
		if b := blobs(t, f.dir); len(b) != 0 {
			t.Errorf("blobs stored: %v", b)
		}
	})
}

// Another subject can neither see, download nor delete a document, and
// is told exactly what it would be told of a document that does not
// exist.
func TestOtherSubjectCannotTouch(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil, files.Config{})
		ctx := context.Background()
		a, b := f.newSubject(t), f.newSubject(t)
		up, err := f.svc.Upload(ctx, owner, a, "a.pdf", bytes.NewReader(tinyPDF("a", nil, 0)), "req")
		if err != nil {
			t.Fatal(err)
		}
		other := audit.Actor{Kind: audit.ActorAccount, ID: "acc-2"}
		list, err := f.svc.List(ctx, other, b, "req")
		if err != nil || len(list) != 0 {
			t.Errorf("B's list = %v, %v", list, err)
		}
		_, _, _, err = f.svc.Download(ctx, other, b, up.ID, "req")
		wantFault(t, err, fault.NotFound, "files.not_found")
		wantFault(t, f.svc.Delete(ctx, other, b, up.ID, "req"), fault.NotFound, "files.not_found")
		_, _, _, missing := f.svc.Download(ctx, other, b, "fnosuchfile", "req")
		if missing.Error() != err.Error() {
			t.Errorf("another's file %q and a missing one %q differ", err, missing)
		}
		if _, _, _, err := f.svc.Download(ctx, owner, a, up.ID, "req"); err != nil {
			t.Errorf("the owner's download after B's attempts: %v", err)
		}
		if es := f.actions(t, b); len(es) != 0 {
			t.Errorf("B's history has entries about A's file: %v", es)
		}
	})
}

// Deleting removes row and blob, audited; the file is then not found.
func TestDelete(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil, files.Config{})
		ctx := context.Background()
		s := f.newSubject(t)
		up, err := f.svc.Upload(ctx, owner, s, "a.pdf", bytes.NewReader(tinyPDF("a", nil, 0)), "req")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Delete(ctx, owner, s, up.ID, "req-del"); err != nil {
			t.Fatal(err)
		}
		if n, b := f.rows(t), blobs(t, f.dir); n != 0 || len(b) != 0 {
			t.Errorf("after delete: %d rows, blobs %v", n, b)
		}
		_, _, _, err = f.svc.Download(ctx, owner, s, up.ID, "req")
		wantFault(t, err, fault.NotFound, "files.not_found")
		wantFault(t, f.svc.Delete(ctx, owner, s, up.ID, "req"), fault.NotFound, "files.not_found")
		es := f.actions(t, s)
		if last := es[len(es)-1]; last.Action != "file.deleted" || last.Attrs["file"] != up.ID || last.Actor != owner || last.RequestID != "req-del" {
			t.Errorf("last entry %+v", last)
		}
	})
}

// Once the subject is destroyed, its documents cannot be read: the key
// is gone.
func TestDestroyedSubjectCannotDownload(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil, files.Config{})
		ctx := context.Background()
		s := f.newSubject(t)
		up, err := f.svc.Upload(ctx, owner, s, "a.pdf", bytes.NewReader(tinyPDF("a", nil, 0)), "req")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.gate.Destroy(ctx, system, s, "test", "req"); err != nil {
			t.Fatal(err)
		}
		_, _, _, err = f.svc.Download(ctx, owner, s, up.ID, "req")
		if !errors.Is(err, gate.ErrDestroyed) || fault.KindOf(err) != fault.NotFound {
			t.Errorf("download after destruction: %v", err)
		}
		if _, err := f.svc.List(ctx, owner, s, "req"); !errors.Is(err, gate.ErrDestroyed) {
			t.Errorf("list after destruction: %v", err)
		}
		// The blob is still on disk until its term, but it is ciphertext
		// under a key that no longer exists.
		if b := blobs(t, f.dir); len(b) != 1 {
			t.Errorf("blobs %v", b)
		}
	})
}

// A blob altered on disk is detected by its recorded hash.
func TestCorruptBlobDetected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil, files.Config{})
		ctx := context.Background()
		s := f.newSubject(t)
		up, err := f.svc.Upload(ctx, owner, s, "a.pdf", bytes.NewReader(tinyPDF("a", nil, 0)), "req")
		if err != nil {
			t.Fatal(err)
		}
		b := blobs(t, f.dir)
		data, _ := os.ReadFile(b[0])
		data[len(data)/2] ^= 1
		if err := os.WriteFile(b[0], data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := f.svc.Download(ctx, owner, s, up.ID, "req"); fault.KindOf(err) != fault.Internal {
			t.Errorf("corrupt blob: %v", err)
		}
		os.Remove(b[0])
		if _, _, _, err := f.svc.Download(ctx, owner, s, up.ID, "req"); fault.KindOf(err) != fault.Internal {
			t.Errorf("missing blob: %v", err)
		}
	})
}

// ExpireDue deletes documents past their term — row and blob — with an
// audit entry by the system, and cleans up an upload that failed
// half-way; the job registered on a real Runner does the same.
func TestExpireDue(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil, files.Config{RetentionDays: 10})
		ctx := context.Background()
		s := f.newSubject(t)
		old, err := f.svc.Upload(ctx, owner, s, "old.pdf", bytes.NewReader(tinyPDF("old", nil, 0)), "req")
		if err != nil {
			t.Fatal(err)
		}
		f.clock.add(5 * 24 * time.Hour)
		young, err := f.svc.Upload(ctx, owner, s, "young.pdf", bytes.NewReader(tinyPDF("young", nil, 0)), "req")
		if err != nil {
			t.Fatal(err)
		}
		// A crash between the row and the blob leaves a pending row.
		if _, err := db.Writer().Exec(`INSERT INTO files (id, subject_id, state, sealed_name, size, content_type, blob_sha256, created_at, delete_after)
			VALUES ('fpendingcrash', $1, 'pending', $2, 1, 'application/pdf', $2, $3, $4)`,
			s, []byte{1}, sqldb.Micros(f.clock.now()), sqldb.Micros(f.clock.now().AddDate(0, 0, 10))); err != nil {
			t.Fatal(err)
		}

		n, err := f.svc.ExpireDue(ctx, f.clock.now())
		if err != nil || n != 0 {
			t.Fatalf("nothing due yet: %d, %v", n, err)
		}
		f.clock.add(5*24*time.Hour + time.Second) // old is 10 days and 1 s old
		n, err = f.svc.ExpireDue(ctx, f.clock.now())
		if err != nil || n != 2 {
			t.Fatalf("expired %d, %v; want old and the pending leftover", n, err)
		}
		list, err := f.svc.List(ctx, owner, s, "req")
		if err != nil || len(list) != 1 || list[0].ID != young.ID {
			t.Fatalf("left %+v, %v", list, err)
		}
		if n := f.rows(t); n != 1 {
			t.Errorf("%d rows", n)
		}
		if b := blobs(t, f.dir); len(b) != 1 || filepath.Base(b[0]) != young.ID {
			t.Errorf("blobs %v", b)
		}
		var expired, discarded *audit.Entry
		for _, e := range f.actions(t, s) {
			switch e.Action {
			case "file.expired":
				expired = &e
			case "file.discarded":
				discarded = &e
			}
		}
		if expired == nil || expired.Attrs["file"] != old.ID || expired.Actor.Kind != audit.ActorSystem || expired.Reason != files.ReasonRetention {
			t.Errorf("expiry entry %+v", expired)
		}
		if discarded == nil || discarded.Attrs["file"] != "fpendingcrash" || discarded.Reason != files.ReasonIncomplete {
			t.Errorf("discard entry %+v", discarded)
		}

		// The periodic job on a real Runner expires the rest.
		f.clock.add(30 * 24 * time.Hour)
		runner := jobs.NewRunner(jobs.NewQueue(db, nil), jobs.Config{PollInterval: 20 * time.Millisecond, Lease: time.Second})
		f.svc.Register(runner)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runner.Run(runCtx) }()
		deadline := time.Now().Add(10 * time.Second)
		for f.rows(t) != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n, b := f.rows(t), blobs(t, f.dir); n != 0 || len(b) != 0 {
			t.Errorf("the job left %d rows, blobs %v", n, b)
		}
	})
}

// Neither the database nor the blob store holds a document's content or
// its name in plain text: the SQLite files (main and WAL) and every blob
// are searched for both; on PostgreSQL the table's own bytes are.
func TestNoPlaintextAtRest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil, files.Config{})
		ctx := context.Background()
		s := f.newSubject(t)
		marker := "KABINET-CONTENT-MARKER-" + random(t)
		name := "Справка Иванова " + random(t) + ".pdf"
		pdf := tinyPDF(marker, nil, 0)
		up, err := f.svc.Upload(ctx, owner, s, name, bytes.NewReader(pdf), "req")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.List(ctx, owner, s, "req"); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := f.svc.Download(ctx, owner, s, up.ID, "req"); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(pdf, []byte(marker)) {
			t.Fatal("the marker is not in the document: the search below would prove nothing")
		}
		secrets := map[string][]byte{"content marker": []byte(marker), "name": []byte(name),
			"name's random part": []byte(strings.Fields(name)[2]), "content head": pdf[:64]}
		check := func(what string, data []byte) {
			t.Helper()
			for label, secret := range secrets {
				if bytes.Contains(data, secret) {
					t.Errorf("%s contains the document's %s in plain text", what, label)
				}
			}
		}
		if db.Engine() == sqldb.SQLite {
			var path string
			if err := db.Reader().QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
				t.Fatal(err)
			}
			searched := 0
			for _, p := range []string{path, path + "-wal"} {
				data, err := os.ReadFile(p)
				if err != nil {
					continue
				}
				searched += len(data)
				check(filepath.Base(p), data)
			}
			if searched == 0 {
				t.Fatal("no database file found to search")
			}
		} else {
			for _, table := range []string{"files", "audit_log"} {
				var rows string
				if err := db.Reader().QueryRow("SELECT string_agg(t::text, ' ') FROM " + table + " t").Scan(&rows); err != nil {
					t.Fatal(err)
				}
				check("table "+table, []byte(rows))
			}
		}
		b := blobs(t, f.dir)
		if len(b) != 1 {
			t.Fatalf("blobs %v", b)
		}
		for _, p := range b {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			check("blob "+filepath.Base(p), data)
			if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
				t.Errorf("blob mode %v", st.Mode().Perm())
			}
		}
	})
}
