package main

import (
	"bufio"
	"context"
	"encoding/json"
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
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/gate"
)

// opDir holds the pinned oidc-provider (npm) used as a real, independent
// OpenID provider on 127.0.0.1 (see internal/federation/testdata/op).
const opDir = "../../internal/federation/testdata/op"

// startProvider runs the provider with one client whose redirect URI is
// kabinet's callback on port, or skips the test saying why.
func startProvider(t *testing.T, callback, secret string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("OpenID provider test skipped: node is not installed (.ci/run installs the provider with npm)")
	}
	if _, err := os.Stat(filepath.Join(opDir, "node_modules", "oidc-provider")); err != nil {
		t.Skipf("OpenID provider test skipped: run `npm ci` in %s (.ci/run does)", opDir)
	}
	cfg, _ := json.Marshal(map[string]any{"clients": []any{map[string]any{
		"client_id": "kabinet", "client_secret": secret, "token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"}, "redirect_uris": []string{callback},
	}}})
	cfgFile := filepath.Join(t.TempDir(), "op.json")
	os.WriteFile(cfgFile, cfg, 0o600)
	port := freePort(t)
	cmd := exec.Command(node, "provider.js", fmt.Sprint(port), cfgFile)
	cmd.Dir = opDir
	stdout, _ := cmd.StdoutPipe()
	cmd.StdinPipe() // the provider exits when this closes
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the OpenID provider did not start")
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	opFormAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	opFormPrompt = regexp.MustCompile(`name="prompt" value="([a-z]+)"`)
)

// federatedSignIn plays a person with a browser: opens kabinet's
// /auth/op, signs in at the provider as account, confirms consent, and
// follows the redirects back into kabinet. It returns the final page.
func federatedSignIn(t *testing.T, base, account string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := c.Get(base + "/auth/op")
	for range 6 {
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(resp.Request.URL.String(), base) {
			return c, string(body)
		}
		action, prompt := opFormAction.FindSubmatch(body), opFormPrompt.FindSubmatch(body)
		if action == nil || prompt == nil {
			t.Fatalf("at the provider: %s %s", resp.Request.URL, resp.Status)
		}
		target, _ := resp.Request.URL.Parse(html.UnescapeString(string(action[1])))
		form := url.Values{"prompt": {string(prompt[1])}}
		if string(prompt[1]) == "login" {
			form.Set("login", account)
			form.Set("password", "any")
		}
		resp, err = c.PostForm(target.String(), form)
	}
	t.Fatal("no way back from the provider after 6 steps")
	return nil, ""
}

// TestFederatedSignIn signs in through a real OpenID provider: a verified
// person lands on a verified account with the mapped data; an unverified
// one gets the standard level and sees what a verified-only function needs.
func TestFederatedSignIn(t *testing.T) {
	const secret = "op-test-secret-0123456789"
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	issuer := startProvider(t, base+"/auth/op/callback", secret)

	demo, err := os.ReadFile("../../examples/000_regional_services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "operator.yaml")
	os.WriteFile(file, append(demo, []byte(`
providers:
  - id: op
    title: {ru: ЕСИА (тестовый поставщик), en: ESIA (test provider)}
    issuer: `+issuer+`
    client_id: kabinet
    client_secret_env: KABINET_TEST_OP_SECRET
    scopes: [openid, profile, email, phone, citizen]
    claims:
      family_name: identity.name
      given_name: identity.name
      middle_name: identity.name
      birthdate: identity.birth_date
      email: contact.email
      snils: social.snils
      inn: tax.inn
    verified: {claim: trusted, equals: true}
`)...), 0o600)
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"KABINET_TEST_OP_SECRET": secret}
	if _, errOut, err := runCmd(t, dir, "keys", "init", "--config", file); err != nil {
		t.Fatalf("keys init: %v %s", err, errOut)
	}
	s := startServeEnv(t, env, "--config", file, "--data-dir", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port))

	_, page := federatedSignIn(t, s.url, "verified-user")
	if !strings.Contains(page, "Личный кабинет") || !strings.Contains(page, "подтверждённая") {
		t.Fatalf("verified person's page:\n%s", page)
	}
	_, page = federatedSignIn(t, s.url, "unverified-user")
	if !strings.Contains(page, "стандартная") || !strings.Contains(page, "Нужна учётная запись уровня") || !strings.Contains(page, "ЕСИА") {
		t.Errorf("unverified person's page does not say what is needed:\n%s", page)
	}
	s.stop(t)

	// The verified person's data came from the provider, through the gate.
	cfg, err := config.Load(file, testEnv(map[string]string{"KABINET_DATA_DIR": dir}), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, discardLogger(), testEnv(map[string]string{"KABINET_DATA_DIR": dir, "KABINET_TEST_OP_SECRET": secret}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ids, err := a.gate.Lookup(context.Background(), audit.Actor{Kind: audit.ActorSystem, ID: "test"}, "portal", "contact.email", "ivan.petrov@example.org", "t")
	if err != nil || len(ids) != 1 {
		t.Fatalf("lookup of the provider's e-mail: %v %v", ids, err)
	}
	v, err := a.gate.Read(context.Background(), gate.Request{Actor: audit.Actor{Kind: audit.ActorSystem, ID: "test"}, Subject: ids[0], Purpose: "portal",
		Categories: []string{"identity.name", "identity.birth_date", "social.snils"}, RequestID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if name := v.String("identity.name"); !strings.Contains(name, "Петров") || !strings.Contains(name, "Иван") {
		t.Errorf("mapped name %q", name)
	}
	if v.String("identity.birth_date") == "" || v.String("social.snils") == "" {
		t.Errorf("mapped birth date %q, SNILS %q", v.String("identity.birth_date"), v.String("social.snils"))
	}
}
