package federation

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/examples"
	"kabinet/internal/config"
)

// The tests run against a real OpenID provider: panva's oidc-provider
// (testdata/op), started once for the package with node on 127.0.0.1.

// base is the portal's address in the tests. Nothing listens there: the
// person's browser (signIn) stops at the redirect to it.
const base = "http://kabinet.test"

// Client secrets of the test provider's clients, handed to kabinet through
// the environment as in production.
var testEnv = map[string]string{
	"KABINET_TEST_OP_SECRET":    "basic-secret-for-tests-only-0123456789",
	"KABINET_TEST_POST_SECRET":  "post-secret-for-tests-only-0123456789",
	"KABINET_TEST_OTHER_SECRET": "other-secret-for-tests-only-0123456789",
}

func testGetenv(k string) string { return testEnv[k] }

// esiaSecret is the harness's own secret for the ESIA-style client; kabinet
// never sees it (it signs instead).
const esiaSecret = "esia-harness-secret-0123456789-0123456789"

type testOP struct {
	issuer  string
	dir     string // temp dir with the provider's config and our key
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	waitErr chan error
	cfg     *config.Config // the demo operator with the test providers
}

var shared struct {
	once sync.Once
	op   *testOP
	skip string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if op := shared.op; op != nil {
		op.cmd.Process.Kill()
		<-op.waitErr
		os.RemoveAll(op.dir)
	}
	os.Exit(code)
}

// startOP returns the package's provider, starting it on first use; it
// skips the test when node or npm is missing or the package cannot be
// installed (no network), like the PostgreSQL tests without a server.
func startOP(t *testing.T) *testOP {
	t.Helper()
	shared.once.Do(func() { shared.op, shared.skip, shared.err = launchOP() })
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.op
}

func launchOP() (*testOP, string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, "OpenID provider tests skipped: node is not installed (Debian: apt-get install nodejs npm)", nil
	}
	opDir, err := filepath.Abs(filepath.Join("testdata", "op"))
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(filepath.Join(opDir, "node_modules", "oidc-provider", "package.json")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return nil, "OpenID provider tests skipped: npm is not installed", nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = opDir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Sprintf("OpenID provider tests skipped: npm ci in %s failed (no network?): %v\n%s", opDir, err, tail(out)), nil
		}
	}
	dir, err := os.MkdirTemp("", "kabinet-op-")
	if err != nil {
		return nil, "", err
	}
	op, err := runOP(node, opDir, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return op, "", nil
}

func runOP(node, opDir, dir string) (*testOP, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "client.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	client := func(id, method, secret string, paths ...string) map[string]any {
		c := map[string]any{
			"client_id": id, "token_endpoint_auth_method": method,
			"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		}
		var uris []string
		for _, p := range paths {
			uris = append(uris, base+p)
		}
		c["redirect_uris"] = uris
		if secret != "" {
			c["client_secret"] = secret
		}
		return c
	}
	jwtClient := client("kabinet-jwt", "private_key_jwt", "", "/auth/op-jwt/callback")
	jwtClient["jwks"] = map[string]any{"keys": []any{map[string]string{
		"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
		"x": b64(raw[1:33]), "y": b64(raw[33:]),
	}}}
	opCfg := map[string]any{
		"clients": []any{
			client("kabinet", "client_secret_basic", testEnv["KABINET_TEST_OP_SECRET"], "/auth/op/callback", "/auth/op-keys/callback"),
			client("kabinet-post", "client_secret_post", testEnv["KABINET_TEST_POST_SECRET"], "/auth/op-post/callback"),
			jwtClient,
			client("kabinet-esia", "client_secret_post", esiaSecret, "/auth/op-esia/callback", "/auth/op-esia-bad/callback"),
			client("other", "client_secret_basic", testEnv["KABINET_TEST_OTHER_SECRET"], "/auth/other/callback"),
		},
		"esia": map[string]string{"client_id": "kabinet-esia", "client_secret": esiaSecret},
	}
	cfgFile := filepath.Join(dir, "op.json")
	data, _ := json.Marshal(opCfg)
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	op := &testOP{issuer: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, stderr: &bytes.Buffer{}, waitErr: make(chan error, 1)}
	op.cmd = exec.Command(node, "provider.js", fmt.Sprint(port), cfgFile)
	op.cmd.Dir = opDir
	op.cmd.Stderr = op.stderr
	stdout, err := op.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The provider exits when this pipe closes, so it does not outlive a
	// test binary that crashes before TestMain can stop it.
	if _, err := op.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := op.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the OpenID provider: %w", err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { op.waitErr <- op.cmd.Wait() }()
	select {
	case <-ready:
	case err := <-op.waitErr:
		op.waitErr <- err
		return nil, fmt.Errorf("the OpenID provider exited: %v\n%s", err, op.stderr)
	case <-time.After(30 * time.Second):
		op.cmd.Process.Kill()
		return nil, fmt.Errorf("the OpenID provider did not start in 30 s\n%s", op.stderr)
	}
	cfg, err := loadConfig(filepath.Join(dir, "operator.yaml"), providersYAML(op.issuer, keyFile), testGetenv)
	if err != nil {
		op.cmd.Process.Kill()
		return nil, err
	}
	op.cfg = cfg
	return op, nil
}

// providersYAML configures one provider per client of the test provider,
// plus one whose discovery fails (nothing listens on its port).
func providersYAML(issuer, keyFile string) string {
	return strings.NewReplacer("ISSUER", issuer, "KEYFILE", keyFile).Replace(`
providers:
  - id: op
    title: {ru: Тестовый поставщик, en: Test provider}
    issuer: ISSUER
    client_id: kabinet
    client_secret_env: KABINET_TEST_OP_SECRET
    scopes: [openid, profile, email, phone, citizen]
    claims: &claims
      family_name: identity.name
      given_name: identity.name
      middle_name: identity.name
      birthdate: identity.birth_date
      email: contact.email
      phone_number: contact.phone
      snils: social.snils
      inn: tax.inn
      id_doc: identity.document
      organizations: identity.organisations
    verified: {claim: trusted, equals: true}
    organisations: identity.organisations
  - id: op-keys
    title: Test provider, signatures checked by a KeySet
    issuer: ISSUER
    client_id: kabinet
    client_secret_env: KABINET_TEST_OP_SECRET
    scopes: [openid, profile, citizen]
    claims: *claims
    verified: {claim: trusted}
  - id: op-post
    title: Test provider, client_secret_post
    issuer: ISSUER
    client_id: kabinet-post
    client_secret_env: KABINET_TEST_POST_SECRET
    auth_method: client_secret_post
    scopes: [openid, profile]
    claims: *claims
  - id: op-jwt
    title: Test provider, private_key_jwt
    issuer: ISSUER
    client_id: kabinet-jwt
    auth_method: private_key_jwt
    private_key_file: KEYFILE
    key_id: k1
    scopes: [openid, profile]
    claims: *claims
  - id: op-esia
    title: Test provider, ESIA-style signed client_secret
    issuer: ISSUER
    client_id: kabinet-esia
    auth_method: signer
    signer_command: [openssl, dgst, -sha256, -binary]
    endpoints: {authorization: ISSUER/auth, token: ISSUER/token, userinfo: ISSUER/me, jwks: ISSUER/jwks}
    scopes: [openid, profile, citizen]
    claims: *claims
    verified: {claim: trusted, equals: true}
  - id: op-esia-bad
    title: Test provider, ESIA-style client with the wrong signer
    issuer: ISSUER
    client_id: kabinet-esia
    auth_method: signer
    signer_command: [openssl, dgst, -sha512, -binary]
    scopes: [openid]
  - id: other
    title: Test provider, another client
    issuer: ISSUER
    client_id: other
    client_secret_env: KABINET_TEST_OTHER_SECRET
    scopes: [openid]
  - id: down
    title: A provider that is down
    issuer: http://127.0.0.1:1
    client_id: kabinet
    client_secret_env: KABINET_TEST_OP_SECRET
`)
}

// loadConfig loads the demo operator with extra YAML appended, through
// config.Load as kabinet does.
func loadConfig(path, extra string, getenv func(string) string) (*config.Config, error) {
	data := append(append([]byte{}, examples.Demo()...), extra...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	return config.Load(path, getenv, nil)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// browser is a person's browser at the provider: it keeps the provider's
// cookies and stops at the redirect back to the portal.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 15 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == "kabinet.test" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	formPrompt = regexp.MustCompile(`name="prompt" value="([a-z]+)"`)
)

// signIn plays the person: opens authURL, signs in at the provider's
// login form as account, confirms the consent form, and returns the query
// of the redirect back to the portal's callback.
func signIn(t *testing.T, authURL, account string) url.Values {
	t.Helper()
	c := browser()
	resp, err := c.Get(authURL)
	for range 6 {
		if err != nil {
			t.Fatalf("at the provider: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if q, ok := callbackQuery(resp); ok {
			return q
		}
		action, prompt := formAction.FindSubmatch(body), formPrompt.FindSubmatch(body)
		if resp.StatusCode != http.StatusOK || action == nil || prompt == nil {
			t.Fatalf("at the provider: %s %s\n%s", resp.Request.URL, resp.Status, tail(body))
		}
		target, _ := resp.Request.URL.Parse(html.UnescapeString(string(action[1])))
		form := url.Values{"prompt": {string(prompt[1])}}
		if string(prompt[1]) == "login" {
			form.Set("login", account)
			form.Set("password", "any")
		}
		resp, err = c.PostForm(target.String(), form)
	}
	t.Fatal("at the provider: no redirect back after 6 steps")
	return nil
}

// cancelAt plays a person who opens authURL and cancels at the provider.
func cancelAt(t *testing.T, authURL string) url.Values {
	t.Helper()
	c := browser()
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(resp.Request.URL.String() + "/abort")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q, ok := callbackQuery(resp)
	if !ok {
		t.Fatalf("abort: %s %s", resp.Request.URL, resp.Status)
	}
	return q
}

func callbackQuery(resp *http.Response) (url.Values, bool) {
	loc, err := resp.Location()
	if err != nil || loc.Host != "kabinet.test" {
		return nil, false
	}
	return loc.Query(), true
}
