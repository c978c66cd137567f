package files_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/files"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// s3Install runs `npm ci` in testdata/s3 once per test binary when the
// pinned server is not installed yet (.ci/run may do it beforehand).
var s3Install struct {
	once sync.Once
	skip string
}

// s3Peer is a real, independent S3 implementation on 127.0.0.1: 20
// Minutes' fork of s3rver, which verifies AWS Signature V4 (unlike the
// original s3rver 3.x, which accepts any V4 signature).
type s3Peer struct {
	endpoint, dir string
}

const (
	s3Bucket = "kabinet"
	s3Key    = "S3RVER" // s3rver's built-in account: access key and secret
)

// startS3 starts the peer for the test, or skips the test saying why when
// node or npm is missing or the package cannot be installed.
func startS3(t *testing.T) *s3Peer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("S3 tests skipped: node is not installed (Debian: apt-get install nodejs npm)")
	}
	pkg, err := filepath.Abs(filepath.Join("testdata", "s3"))
	if err != nil {
		t.Fatal(err)
	}
	s3Install.once.Do(func() {
		if _, err := os.Stat(filepath.Join(pkg, "node_modules", "@20minutes", "s3rver", "package.json")); err == nil {
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			s3Install.skip = "S3 tests skipped: npm is not installed"
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = pkg
		if out, err := cmd.CombinedOutput(); err != nil {
			s3Install.skip = fmt.Sprintf("S3 tests skipped: npm ci in %s failed (no network?): %v\n%s", pkg, err, out)
		}
	})
	if s3Install.skip != "" {
		t.Skip(s3Install.skip)
	}
	p := &s3Peer{dir: t.TempDir()}
	cmd := exec.Command(node, "server.js", "0", p.dir, s3Bucket)
	cmd.Dir = pkg
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The server exits when this pipe closes, so it never outlives the test binary.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- port
			}
		}
		close(ready)
	}()
	select {
	case port, ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("S3 server exited: %s", stderr.String())
		}
		p.endpoint = "http://127.0.0.1:" + port
	case <-time.After(30 * time.Second):
		t.Fatal("S3 server did not start in 30 s")
	}
	return p
}

func (p *s3Peer) store(t *testing.T, secret string) *files.S3Store {
	t.Helper()
	s, err := files.NewS3Store(files.S3Config{Endpoint: p.endpoint, Bucket: s3Bucket, Prefix: "docs/", AccessKey: s3Key, SecretKey: secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Both stores keep the same contract.
func TestStoreContract(t *testing.T) {
	run := func(t *testing.T, st files.Store) {
		ctx := context.Background()
		if _, err := st.Get(ctx, "fmissing"); fault.KindOf(err) != fault.NotFound {
			t.Errorf("get missing: %v", err)
		}
		if err := st.Delete(ctx, "fmissing"); err != nil {
			t.Errorf("delete missing: %v", err)
		}
		blob := bytes.Repeat([]byte{0, 1, 2, 0xff}, 300<<10)
		if err := st.Put(ctx, "fone", blob); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Get(ctx, "fone"); err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("get: %d bytes, %v", len(got), err)
		}
		if err := st.Put(ctx, "fone", []byte("second")); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Get(ctx, "fone"); err != nil || string(got) != "second" {
			t.Fatalf("get after overwrite: %q, %v", got, err)
		}
		if err := st.Put(ctx, "fempty", []byte{}); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Get(ctx, "fempty"); err != nil || len(got) != 0 {
			t.Fatalf("get empty: %q, %v", got, err)
		}
		if err := st.Delete(ctx, "fone"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, "fone"); fault.KindOf(err) != fault.NotFound {
			t.Errorf("get deleted: %v", err)
		}
		for _, bad := range []string{"", "../etc/passwd", "f/x", "F00", "f.x"} {
			if err := st.Put(ctx, bad, []byte("x")); err == nil {
				t.Errorf("put under key %q: no error", bad)
			}
		}
	}
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir()
		st, err := files.NewDirStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		run(t, st)
		if st, _ := os.Stat(filepath.Join(dir, "em", "fempty")); st == nil || st.Mode().Perm() != 0o600 {
			t.Errorf("blob file: %v", st)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".tmp-*")); len(leftovers) != 0 {
			t.Errorf("temporary files left: %v", leftovers)
		}
	})
	t.Run("s3", func(t *testing.T) {
		run(t, startS3(t).store(t, s3Key))
	})
}

// The peer checks signatures: a wrong secret or access key is refused,
// so the successes above prove the Signature V4 implementation.
func TestS3WrongCredentialsRefused(t *testing.T) {
	p := startS3(t)
	ctx := context.Background()
	err := p.store(t, "not-the-secret").Put(ctx, "fxyz", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: %v", err)
	}
	st, _ := files.NewS3Store(files.S3Config{Endpoint: p.endpoint, Bucket: s3Bucket, AccessKey: "NOBODY", SecretKey: s3Key}, nil)
	if _, err := st.Get(ctx, "fxyz"); err == nil || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		t.Errorf("wrong access key: %v", err)
	}
	st, _ = files.NewS3Store(files.S3Config{Endpoint: p.endpoint, Bucket: "nosuchbucket", AccessKey: s3Key, SecretKey: s3Key}, nil)
	if err := st.Put(ctx, "fxyz", []byte("x")); err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("missing bucket: %v", err)
	}
}

func TestNewS3StoreRejectsBadConfig(t *testing.T) {
	for _, c := range []files.S3Config{
		{Endpoint: "ftp://x", Bucket: "b", AccessKey: "a", SecretKey: "s"},
		{Endpoint: "https://x/path", Bucket: "b", AccessKey: "a", SecretKey: "s"},
		{Endpoint: "https://x", Bucket: "", AccessKey: "a", SecretKey: "s"},
		{Endpoint: "https://x", Bucket: "b", AccessKey: "a"},
	} {
		if _, err := files.NewS3Store(c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// The service on S3: upload, download, delete; the peer's storage holds
// neither content nor name in plain text; a store that refuses the write
// leaves nothing behind.
func TestServiceOnS3(t *testing.T) {
	p := startS3(t)
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, nil, files.Config{})
		// The S3 store built by New from the configuration.
		svc, err := files.New(db, f.gate, f.log, nil, nil, files.Config{Purpose: purpose, Category: category, RetentionDays: 1,
			S3: files.S3Config{Endpoint: p.endpoint, Bucket: s3Bucket, Prefix: "docs/", AccessKey: s3Key, SecretKey: s3Key}}, files.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := f.newSubject(t)
		marker := "S3-CONTENT-MARKER-" + random(t)
		name := "Полис " + random(t) + ".pdf"
		pdf := tinyPDF(marker, nil, 100<<10)
		up, err := svc.Upload(ctx, owner, s, name, bytes.NewReader(pdf), "req")
		if err != nil {
			t.Fatal(err)
		}
		gotName, _, data, err := svc.Download(ctx, owner, s, up.ID, "req")
		if err != nil || gotName != name || !bytes.Equal(data, pdf) {
			t.Fatalf("download: %q, identical %v, %v", gotName, bytes.Equal(data, pdf), err)
		}
		found := 0
		filepath.WalkDir(p.dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(path)
			found += len(b)
			if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte(name)) {
				t.Errorf("%s holds the document in plain text", path)
			}
			return nil
		})
		if found < len(pdf) {
			t.Errorf("the S3 server's directory holds %d bytes, less than the document", found)
		}
		if err := svc.Delete(ctx, owner, s, up.ID, "req"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.store(t, s3Key).Get(ctx, up.ID); fault.KindOf(err) != fault.NotFound { // the same prefix
			t.Errorf("object after delete: %v", err)
		}

		bad, err := files.New(db, f.gate, f.log, p.store(t, "wrong"), nil, files.Config{Purpose: purpose, Category: category, RetentionDays: 1}, files.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Upload(ctx, owner, s, "a.pdf", bytes.NewReader(tinyPDF("a", nil, 0)), "req")
		wantFault(t, err, fault.Unavailable, "files.storage_unavailable")
		if list, err := svc.List(ctx, owner, s, "req"); err != nil || len(list) != 0 {
			t.Errorf("list after a refused write: %v, %v", list, err)
		}
		// The same store refuses the clean-up too, so the upload's row
		// stays pending — invisible — until the expiry job, with working
		// credentials, removes it.
		if n := f.rows(t); n != 1 {
			t.Errorf("%d rows after a refused write, want the pending one", n)
		}
		if n, err := svc.ExpireDue(ctx, time.Now().Add(2*time.Hour)); n != 1 || err != nil {
			t.Errorf("expiry of the pending upload: %d, %v", n, err)
		}
		if n := f.rows(t); n != 0 {
			t.Errorf("%d rows after expiry", n)
		}
	})
}
