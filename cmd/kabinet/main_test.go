package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kabinet/internal/browsertest"
)

func testEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// started is a kabinet serve running in this test process through run().
type started struct {
	url    string
	done   chan error
	cancel context.CancelFunc
	stderr *bytes.Buffer
}

// startServe runs `kabinet serve` through run() on port 0 and waits for
// the line that gives its address.
func startServe(t *testing.T, args ...string) *started {
	t.Helper()
	return startServeEnv(t, nil, args...)
}

// startServeEnv is startServe with extra environment variables.
func startServeEnv(t *testing.T, env map[string]string, args ...string) *started {
	t.Helper()
	vars := map[string]string{"LANG": "ru_RU.UTF-8"}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &started{done: make(chan error, 1), cancel: cancel, stderr: &bytes.Buffer{}}
	dataDir := filepath.Join(t.TempDir(), "data")
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, args...)
	go func() {
		err := run(ctx, all, testEnv(vars), strings.NewReader(""), pw, syncWriter{s.stderr})
		pw.Close()
		s.done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "kabinet: serving "); ok {
			s.url = strings.TrimSuffix(u, "/")
			break
		}
	}
	if s.url == "" {
		cancel()
		t.Fatalf("serve did not report its address: %v\n%s", <-s.done, s.stderr)
	}
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *started) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve returned %v after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("serve did not stop within 20 s of cancel")
	}
}

// syncWriter lets the server's logger and the test share a buffer safely
// enough for reading it after the server stopped.
type syncWriter struct{ b *bytes.Buffer }

func (w syncWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeDemoZeroConfig(t *testing.T) {
	s := startServe(t)
	code, body := get(t, s.url+"/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{"Портал государственных и муниципальных услуг Демонстрационной области", "Войти", "Зарегистрироваться"} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	if code, body := get(t, s.url+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, s.url+"/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Errorf("/readyz = %d %q", code, body)
	}
	code, body = get(t, s.url+"/metrics")
	if code != 200 || !strings.Contains(body, `kabinet_http_requests_total{code="200",method="GET",route="GET /{$}"}`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, lacks request counter or Go runtime metrics", code)
	}
	s.stop(t)
	if log := s.stderr.String(); !strings.Contains(log, "DEMO operator") || !strings.Contains(log, "stopped cleanly") {
		t.Errorf("log lacks the demo warning or the clean stop:\n%s", log)
	}
}

func TestHomePageInChromium(t *testing.T) {
	b := browsertest.New(t)
	s := startServe(t)
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(s.url+"/")); err != nil {
		t.Fatal(err)
	}
	h1, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h1, "Демонстрационной области") {
		t.Errorf("h1 = %q, want the Russian portal title", h1)
	}
	lang, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string]("document.documentElement.lang"))
	if err != nil || lang != "ru" {
		t.Errorf("html lang = %q (%v), want ru", lang, err)
	}
	// The stylesheet loaded (CSP allows it): the header has the brand colour.
	bg, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string]("getComputedStyle(document.querySelector('.site-header')).backgroundColor"))
	if err != nil || bg != "rgb(11, 79, 156)" {
		t.Errorf("header background = %q (%v): stylesheet not applied", bg, err)
	}
	// Switch to English with the no-JavaScript form, and back.
	if err := chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`button[name="lang"][value="en"]`)), chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`))); err != nil {
		t.Fatal(err)
	}
	signIn, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(`a[href="/signin"]`)))
	if err != nil || signIn != "Sign in" {
		t.Errorf("English sign-in link = %q (%v)", signIn, err)
	}
	if err := chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`button[name="lang"][value="ru"]`)), chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`))); err != nil {
		t.Fatal(err)
	}
	shot := b.Screenshot(t, t.TempDir(), "home")
	t.Logf("screenshot: %s", shot)
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestCheckConfigNamesLineAndField(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	minimal, err := os.ReadFile("../../internal/config/testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body := string(minimal)
	os.WriteFile(good, []byte(body), 0o600)
	os.WriteFile(bad, []byte(strings.Replace(body, "7707083893", "7707083890", 1)), 0o600)

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"check-config", good}, testEnv(nil), nil, &out, &errOut); err != nil {
		t.Fatalf("good file: %v\n%s", err, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	err = run(context.Background(), []string{"check-config", bad}, testEnv(map[string]string{"LANG": "ru_RU.UTF-8"}), nil, &out, &errOut)
	if exitCode(err) == 0 {
		t.Fatal("check-config accepted a wrong INN check digit")
	}
	if got := errOut.String(); !strings.Contains(got, bad+":6: operator.registration.inn") || !strings.Contains(got, "ИНН") {
		t.Errorf("stderr %q does not name line 6, the field and the problem in Russian", got)
	}
	errOut.Reset()
	run(context.Background(), []string{"check-config", bad}, testEnv(map[string]string{"LANG": "en_GB.UTF-8"}), nil, &out, &errOut)
	if got := errOut.String(); !strings.Contains(got, "INN") || strings.Contains(got, "ИНН") {
		t.Errorf("with LANG=en_GB stderr %q is not in English", got)
	}
}

func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	args := []string{"migrate", "--data-dir", dir}
	if err := run(context.Background(), args, testEnv(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 0001_jobs_queue") {
		t.Errorf("first migrate printed %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), args, testEnv(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Errorf("second migrate printed %q", out.String())
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		var out bytes.Buffer
		if err := run(context.Background(), []string{c.name, "--help"}, testEnv(nil), nil, &out, io.Discard); err != nil {
			t.Errorf("%s --help: %v", c.name, err)
		}
		if !strings.Contains(out.String(), "Usage: kabinet "+c.name) {
			t.Errorf("%s --help printed %q", c.name, out.String())
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, testEnv(nil), nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "kabinet ") {
		t.Errorf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, testEnv(nil), nil, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: err %v, want usage error", err)
	}
}

// TestSIGTERMLetsSlowRequestFinish builds the real binary, starts it, begins
// a request whose body is still arriving, sends SIGTERM, then completes the
// body: the request must get its answer and the process must exit 0.
func TestSIGTERMLetsSlowRequestFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kabinet")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"))
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	var base string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "kabinet: serving "); ok {
			base = strings.TrimSuffix(u, "/")
			break
		}
	}
	if base == "" {
		t.Fatalf("no address printed; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	body := "lang=en&back=%2F"
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/lang", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type result struct {
		code int
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		resp.Body.Close()
		got <- result{code: resp.StatusCode}
	}()
	pw.Write([]byte(body[:5])) // the request is now in flight
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	pw.Write([]byte(body[5:]))
	pw.Close()
	r := <-got
	if r.err != nil || r.code != http.StatusSeeOther {
		t.Errorf("in-flight request: code %d, err %v; want 303", r.code, r.err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped cleanly") {
		t.Errorf("log lacks the clean stop:\n%s", stderr.String())
	}
}

// TestServeTLS serves over TLS from certificate files and sends HSTS.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	env := testEnv(map[string]string{"KABINET_TLS_CERT_FILE": certFile, "KABINET_TLS_KEY_FILE": keyFile})
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")}, env, nil, pw, syncWriter{&stderr})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "kabinet: serving "); ok {
			base = u
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serving %q, want https; %v\n%s", base, <-done, stderr.String())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("TLS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// TestExamplesServeTheirPolicy starts kabinet with each example operator
// file (after `keys init`) and reads its policy in Russian.
func TestExamplesServeTheirPolicy(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) != 5 {
		t.Fatalf("found %d example files, want 5", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if _, errOut, err := runCmd(t, dir, "keys", "init", "--config", file); err != nil {
				t.Fatalf("keys init: %v\n%s", err, errOut)
			}
			s := startServe(t, "--config", file, "--data-dir", dir)
			req, _ := http.NewRequest("GET", s.url+"/policy", nil)
			req.Header.Set("Accept-Language", "ru")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Language") != "ru" {
				t.Fatalf("GET /policy: %d %q", resp.StatusCode, resp.Header.Get("Content-Language"))
			}
			for _, want := range []string{"Цели обработки", "Права субъекта", "Отзыв согласия"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("the policy lacks %q", want)
				}
			}
		})
	}
}
