package federation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/i18n/i18ntest"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// clock is a settable clock for tests, starting at the real time (the
// provider's tokens carry real times).
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func newFederation(t *testing.T, db *sqldb.DB, opts Options) *Federation {
	t.Helper()
	op := startOP(t)
	if opts.Getenv == nil {
		opts.Getenv = testGetenv
	}
	f, err := New(db, op.cfg.Providers, base, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wantFault(t *testing.T, err error, kind fault.Kind, key string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != kind || fe.Key != key {
		t.Fatalf("error = %v, want %s %s", err, kind, key)
	}
}

func flowCount(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRow(`SELECT count(*) FROM federation_flows`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSignInMapsAVerifiedIdentity(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFederation(t, db, Options{})
		start, err := f.Begin(ctx, "op", "/cabinet?tab=services")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(start.URL)
		q := u.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
			!uuidV4.MatchString(q.Get("state")) || q.Get("redirect_uri") != base+"/auth/op/callback" || q.Get("client_id") != "kabinet" {
			t.Fatalf("authorization URL lacks PKCE, nonce, state or redirect: %s", start.URL)
		}
		// The table keeps neither the state nor the nonce nor the binding.
		var stateHash, nonceHash, bindingHash string
		if err := db.Reader().QueryRow(`SELECT state_hash, nonce_hash, binding_hash FROM federation_flows`).Scan(&stateHash, &nonceHash, &bindingHash); err != nil {
			t.Fatal(err)
		}
		if stateHash != hash(q.Get("state")) || nonceHash != hash(q.Get("nonce")) || bindingHash != hash(start.Binding) {
			t.Error("the flow row does not hold the hashes of state, nonce and binding")
		}

		back := signIn(t, start.URL, "verified-user")
		if back.Get("iss") != startOP(t).issuer {
			t.Errorf("callback iss = %q (the provider supports RFC 9207)", back.Get("iss"))
		}
		id, returnTo, err := f.Complete(ctx, "op", start.Binding, back)
		if err != nil {
			t.Fatal(err)
		}
		if returnTo != "/cabinet?tab=services" {
			t.Errorf("returnTo = %q", returnTo)
		}
		want := map[string]string{
			"identity.name":          "Петров Иван Сергеевич",
			"identity.birth_date":    "1980-02-29",
			"contact.email":          "ivan.petrov@example.org",
			"contact.phone":          "+79001234567",
			"social.snils":           "112-233-445 95",
			"tax.inn":                "500100732259",
			"identity.document":      `{"number":"123456","series":"4500","type":"RF_PASSPORT"}`,
			"identity.organisations": `["ООО «Ромашка»","ИП Петров И. С."]`,
		}
		if id.Provider != "op" || id.Subject != "verified-user" || !id.Verified {
			t.Errorf("identity = %s subject %q", id, id.Subject)
		}
		for cat, v := range want {
			if id.Values[cat] != v {
				t.Errorf("%s = %q, want %q", cat, id.Values[cat], v)
			}
		}
		if len(id.Values) != len(want) {
			t.Errorf("values for %d categories, want %d", len(id.Values), len(want))
		}
		if !slices.Equal(id.Confirmed, []string{"contact.email", "contact.phone"}) {
			t.Errorf("confirmed = %v", id.Confirmed)
		}
		if !slices.Equal(id.Organisations, []string{"ООО «Ромашка»", "ИП Петров И. С."}) {
			t.Errorf("organisations = %v", id.Organisations)
		}
		if s := id.String(); strings.Contains(s, "Петров") || strings.Contains(s, "example.org") {
			t.Errorf("String shows personal data: %s", s)
		}
		if n := flowCount(t, db); n != 0 {
			t.Errorf("%d flows left after sign-in", n)
		}

		// The same callback again: the state was used.
		_, _, err = f.Complete(ctx, "op", start.Binding, back)
		wantFault(t, err, fault.Invalid, "federation.state_invalid")
	})
}

func TestUnverifiedAccountIsNotVerified(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFederation(t, db, Options{})
		start, err := f.Begin(ctx, "op", "https://evil.example/steal")
		if err != nil {
			t.Fatal(err)
		}
		id, returnTo, err := f.Complete(ctx, "op", start.Binding, signIn(t, start.URL, "unverified-user"))
		if err != nil {
			t.Fatal(err)
		}
		if id.Verified {
			t.Error("an account with trusted=false is verified")
		}
		if id.Values["identity.name"] != "Сидорова Анна" || id.Values["contact.email"] != "anna@example.org" {
			t.Errorf("values = %v", id.Values)
		}
		if len(id.Confirmed) != 0 {
			t.Errorf("confirmed = %v, but email_verified is false", id.Confirmed)
		}
		if returnTo != "/" {
			t.Errorf("returnTo = %q: a foreign URL must become /", returnTo)
		}
	})
}

func TestExpiredFlowIsRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clk := &clock{}
		f := newFederation(t, db, Options{Clock: clk.now})
		start, err := f.Begin(ctx, "op", "/x")
		if err != nil {
			t.Fatal(err)
		}
		back := signIn(t, start.URL, "verified-user")
		clk.advance(DefaultFlowLifetime + time.Second)
		_, returnTo, err := f.Complete(ctx, "op", start.Binding, back)
		wantFault(t, err, fault.Invalid, "federation.expired")
		if returnTo != "/x" {
			t.Errorf("returnTo = %q", returnTo)
		}
		// A later Begin prunes abandoned flows.
		if _, err := f.Begin(ctx, "op", "/"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Begin(ctx, "op", "/"); err != nil {
			t.Fatal(err)
		}
		clk.advance(DefaultFlowLifetime + time.Second)
		if _, err := f.Begin(ctx, "op", "/"); err != nil {
			t.Fatal(err)
		}
		if n := flowCount(t, db); n != 1 {
			t.Errorf("%d flows, want only the newest", n)
		}
	})
}

func TestTamperedOrMisdirectedCallbacksAreRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFederation(t, db, Options{})
		begin := func() (Start, url.Values) {
			start, err := f.Begin(ctx, "op", "/")
			if err != nil {
				t.Fatal(err)
			}
			return start, signIn(t, start.URL, "verified-user")
		}
		with := func(q url.Values, k, v string) url.Values {
			c := url.Values{}
			for key, vs := range q {
				c[key] = slices.Clone(vs)
			}
			c.Set(k, v)
			return c
		}

		start, back := begin()
		st := back.Get("state")
		flipped := "0"
		if strings.HasSuffix(st, "0") {
			flipped = "1"
		}
		_, _, err := f.Complete(ctx, "op", start.Binding, with(back, "state", st[:len(st)-1]+flipped))
		wantFault(t, err, fault.Invalid, "federation.state_invalid")
		_, _, err = f.Complete(ctx, "op", start.Binding, with(back, "state", ""))
		wantFault(t, err, fault.Invalid, "federation.state_invalid")
		if _, _, err := f.Complete(ctx, "op", start.Binding, back); err != nil {
			t.Errorf("the untampered callback after tampered ones: %v", err)
		}

		// Another browser (a forged link to someone else's callback).
		start, back = begin()
		_, _, err = f.Complete(ctx, "op", "not-the-binding", back)
		wantFault(t, err, fault.Invalid, "federation.state_invalid")
		// … and the flow is gone: the right browser cannot reuse it either.
		_, _, err = f.Complete(ctx, "op", start.Binding, back)
		wantFault(t, err, fault.Invalid, "federation.state_invalid")

		// Another provider's callback.
		start, back = begin()
		_, _, err = f.Complete(ctx, "op-post", start.Binding, back)
		wantFault(t, err, fault.Invalid, "federation.state_invalid")

		// A response naming another issuer (RFC 9207 mix-up).
		start, back = begin()
		_, _, err = f.Complete(ctx, "op", start.Binding, with(back, "iss", "https://evil.example"))
		wantFault(t, err, fault.Unauthorized, "federation.token_invalid")

		// The code of one flow with the state of another: PKCE refuses it.
		_, backA := begin()
		b, err := f.Begin(ctx, "op", "/")
		if err != nil {
			t.Fatal(err)
		}
		bState := mustQuery(t, b.URL).Get("state")
		_, _, err = f.Complete(ctx, "op", b.Binding, with(backA, "state", bState))
		wantFault(t, err, fault.Unauthorized, "federation.token_invalid")

		// The same, but flow B is given A's verifier (as if the attacker
		// knew it): the exchange succeeds, and the nonce refuses the token.
		_, backA = begin()
		b, err = f.Begin(ctx, "op", "/")
		if err != nil {
			t.Fatal(err)
		}
		bState = mustQuery(t, b.URL).Get("state")
		if _, err := db.Writer().Exec(`UPDATE federation_flows SET verifier = (SELECT verifier FROM federation_flows WHERE state_hash = $1) WHERE state_hash = $2`,
			hash(backA.Get("state")), hash(bState)); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Complete(ctx, "op", b.Binding, with(backA, "state", bState))
		wantFault(t, err, fault.Unauthorized, "federation.token_invalid")
		if !strings.Contains(err.Error(), "nonce") {
			t.Errorf("refused for another reason than the nonce: %v", err)
		}
	})
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// TestIDTokenChecks takes real ID tokens from the provider and shows the
// verifier refuses one issued to another client, a tampered one and an
// expired one.
func TestIDTokenChecks(t *testing.T) {
	db := sqldbtest.SQLite(t)
	ctx := context.Background()
	clk := &clock{}
	f := newFederation(t, db, Options{Clock: clk.now})
	token := func(providerID string) (raw, nonceHash string) {
		start, err := f.Begin(ctx, providerID, "/")
		if err != nil {
			t.Fatal(err)
		}
		back := signIn(t, start.URL, "verified-user")
		fl, err := f.take(ctx, back.Get("state"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.exchange(ctx, f.providers[providerID], back.Get("code"), fl.verifier)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = tok.Extra("id_token").(string)
		return raw, fl.nonceHash
	}
	op := f.providers["op"]

	raw, nonceHash := token("op")
	if _, _, err := f.verifyIDToken(ctx, op, raw, nonceHash); err != nil {
		t.Fatalf("a good token refused: %v", err)
	}
	if _, _, err := f.verifyIDToken(ctx, op, raw, hash("another nonce")); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Errorf("another nonce: %v", err)
	}
	parts := strings.Split(raw, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"sub":"verified-user"`, `"sub":"unverified-user"`, 1)
	if forged == string(payload) {
		t.Fatalf("payload without the expected sub: %s", payload)
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	if _, _, err := f.verifyIDToken(ctx, op, tampered, nonceHash); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("tampered token: %v", err)
	}

	otherRaw, otherNonce := token("other")
	if _, _, err := f.verifyIDToken(ctx, op, otherRaw, otherNonce); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Errorf("a token for another client: %v", err)
	}

	clk.advance(2 * time.Hour)
	var expired *oidc.TokenExpiredError
	if _, _, err := f.verifyIDToken(ctx, op, raw, nonceHash); !errors.As(err, &expired) {
		t.Errorf("an expired token: %v", err)
	}
}

func TestClientAuthenticationMethods(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFederation(t, db, Options{})
		for _, providerID := range []string{"op-post", "op-jwt", "op-esia"} {
			t.Run(providerID, func(t *testing.T) {
				start, err := f.Begin(ctx, providerID, "/")
				if err != nil {
					t.Fatal(err)
				}
				id, _, err := f.Complete(ctx, providerID, start.Binding, signIn(t, start.URL, "verified-user"))
				if err != nil {
					t.Fatal(err)
				}
				if id.Subject != "verified-user" || id.Values["identity.name"] != "Петров Иван Сергеевич" {
					t.Errorf("identity %s subject %q name %q", id, id.Subject, id.Values["identity.name"])
				}
				if providerID == "op-esia" && !id.Verified {
					t.Error("not verified through the ESIA-style provider")
				}
			})
		}
	})
}

// TestESIAStyleRequests checks the signed parameters: the harness
// provider recomputes the stand-in signature and refuses a wrong one.
func TestESIAStyleRequests(t *testing.T) {
	db := sqldbtest.SQLite(t)
	ctx := context.Background()
	f := newFederation(t, db, Options{})
	start, err := f.Begin(ctx, "op-esia", "/")
	if err != nil {
		t.Fatal(err)
	}
	q := mustQuery(t, start.URL)
	ts, err := time.Parse(esiaTimestampLayout, q.Get("timestamp"))
	if err != nil || time.Since(ts).Abs() > time.Minute {
		t.Errorf("timestamp %q: %v", q.Get("timestamp"), err)
	}
	sum := sha256.Sum256([]byte(q.Get("scope") + q.Get("timestamp") + q.Get("client_id") + q.Get("state")))
	if q.Get("client_secret") != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("client_secret %q is not the signature of scope+timestamp+client_id+state", q.Get("client_secret"))
	}
	if q.Get("access_type") != "online" || q.Get("scope") != "openid profile citizen" {
		t.Errorf("access_type %q scope %q", q.Get("access_type"), q.Get("scope"))
	}

	// The same client with a signer that signs something else.
	bad, err := f.Begin(ctx, "op-esia-bad", "/")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := browser().Get(bad.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the provider accepted a wrong signature: %s", resp.Status)
	}
}

func TestESIAMessageFormat(t *testing.T) {
	at := time.Date(2026, 11, 22, 15, 4, 5, 0, time.FixedZone("MSK", 3*3600))
	if got := esiaTimestamp(at); got != "2026.11.22 15:04:05 +0300" {
		t.Errorf("timestamp = %q", got)
	}
	msg := esiaMessage("openid fullname", "2026.11.22 15:04:05 +0300", "PORTAL", "0f8fad5b-d9cb-469f-a165-70867728950e")
	if want := "openid fullname2026.11.22 15:04:05 +0300PORTAL0f8fad5b-d9cb-469f-a165-70867728950e"; string(msg) != want {
		t.Errorf("message = %q", msg)
	}
	secret, err := esiaClientSecret(context.Background(), signerFunc(func(m []byte) ([]byte, error) { return []byte{0xfb, 0xff, 0x01}, nil }),
		"s", "t", "c", "x")
	if err != nil || secret != "-_8B" {
		t.Errorf("client_secret = %q, %v; want base64url without padding", secret, err)
	}
	if _, err := esiaClientSecret(context.Background(), signerFunc(func([]byte) ([]byte, error) { return nil, nil }), "s", "t", "c", "x"); err == nil {
		t.Error("an empty signature was accepted")
	}
	for range 100 {
		if s := newUUID(); !uuidV4.MatchString(s) {
			t.Fatalf("state %q is not a version 4 UUID", s)
		}
	}
}

type signerFunc func([]byte) ([]byte, error)

func (s signerFunc) Sign(_ context.Context, m []byte) ([]byte, error) { return s(m) }

func TestCommandSigner(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	ctx := context.Background()
	msg := []byte("openid2026.11.22 15:04:05 +0300PORTAL0f8fad5b-d9cb-469f-a165-70867728950e")
	want := sha256.Sum256(msg)
	// A stand-in that is not GOST: the test is of the plumbing.
	got, err := CommandSigner{Path: "openssl", Args: []string{"dgst", "-sha256", "-binary"}}.Sign(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want[:]) {
		t.Errorf("signature %x, want %x", got, want)
	}
	_, err = CommandSigner{Path: "sh", Args: []string{"-c", "echo 'no key in container' >&2; exit 3"}}.Sign(ctx, msg)
	if err == nil || !strings.Contains(err.Error(), "no key in container") {
		t.Errorf("failing signer: %v", err)
	}
	if _, err := (CommandSigner{Path: "true"}).Sign(ctx, msg); err == nil {
		t.Error("a signer with no output was accepted")
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := (CommandSigner{Path: "sleep", Args: []string{"5"}}).Sign(tctx, msg); err == nil || time.Since(began) > 3*time.Second {
		t.Errorf("a hung signer: %v after %s", err, time.Since(began))
	}
}

func TestProviderAnswersAndFailures(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFederation(t, db, Options{})

		start, err := f.Begin(ctx, "op", "/back")
		if err != nil {
			t.Fatal(err)
		}
		back := cancelAt(t, start.URL)
		if back.Get("error") != "access_denied" {
			t.Fatalf("cancel: %v", back)
		}
		_, returnTo, err := f.Complete(ctx, "op", start.Binding, back)
		wantFault(t, err, fault.Unauthorized, "federation.denied")
		if returnTo != "/back" {
			t.Errorf("returnTo = %q", returnTo)
		}

		start, err = f.Begin(ctx, "op", "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Complete(ctx, "op", start.Binding, url.Values{"state": {mustQuery(t, start.URL).Get("state")}, "error": {"temporarily_unavailable"}})
		wantFault(t, err, fault.Unavailable, "federation.provider_error")

		_, err = f.Begin(ctx, "nope", "/")
		wantFault(t, err, fault.NotFound, "federation.unknown_provider")
		_, _, err = f.Complete(ctx, "nope", "", url.Values{})
		wantFault(t, err, fault.NotFound, "federation.unknown_provider")

		_, err = f.Begin(ctx, "down", "/")
		wantFault(t, err, fault.Unavailable, "federation.unavailable")
	})
}

// countingKeySet checks signatures through the provider's JWKS, as an
// ESIA adapter would through certified crypto, and counts its calls.
type countingKeySet struct {
	inner oidc.KeySet
	calls atomic.Int32
}

func (k *countingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	k.calls.Add(1)
	return k.inner.VerifySignature(ctx, jwt)
}

func TestKeySetReplacesTheJWKS(t *testing.T) {
	db := sqldbtest.SQLite(t)
	ctx := context.Background()
	ks := &countingKeySet{inner: oidc.NewRemoteKeySet(ctx, startOP(t).issuer+"/jwks")}
	f := newFederation(t, db, Options{KeySets: map[string]KeySet{"op-keys": ks}})
	start, err := f.Begin(ctx, "op-keys", "/")
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := f.Complete(ctx, "op-keys", start.Binding, signIn(t, start.URL, "verified-user"))
	if err != nil {
		t.Fatal(err)
	}
	if ks.calls.Load() != 1 {
		t.Errorf("key set called %d times", ks.calls.Load())
	}
	// verified: {claim: trusted} without equals: presence and not false.
	if !id.Verified {
		t.Error("trusted=true with a presence rule is not verified")
	}
	start, err = f.Begin(ctx, "op-keys", "/")
	if err != nil {
		t.Fatal(err)
	}
	if id, _, err = f.Complete(ctx, "op-keys", start.Binding, signIn(t, start.URL, "unverified-user")); err != nil || id.Verified {
		t.Errorf("trusted=false with a presence rule: verified=%t, %v", id.Verified, err)
	}
}

func TestNewNeedsSecretsAndKeys(t *testing.T) {
	op := startOP(t)
	db := sqldbtest.SQLite(t)
	_, err := New(db, op.cfg.Providers, base, Options{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "KABINET_TEST_OP_SECRET") {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := New(db, op.cfg.Providers, "kabinet.test", Options{Getenv: testGetenv}); err == nil {
		t.Error("a relative base URL was accepted")
	}
	f, err := New(db, op.cfg.Providers, base+"/", Options{Getenv: testGetenv})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.RedirectURL("op"); got != base+"/auth/op/callback" {
		t.Errorf("redirect URL = %q", got)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "/",
		"/":                       "/",
		"/cabinet?tab=1#x":        "/cabinet?tab=1#x",
		"https://evil.example/":   "/",
		"//evil.example/":         "/",
		"/\\evil.example":         "/",
		"javascript:alert(1)":     "/",
		"cabinet":                 "/",
		"/a\r\nSet-Cookie: x=1":   "/",
		"/документы/123":          "/документы/123",
		"/%2F%2Fevil.example/x/y": "/%2F%2Fevil.example/x/y",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	op := startOP(t)
	cfg := op.cfg
	p := cfg.Providers.Provider("op")
	if p == nil || p.AuthMethod != "client_secret_basic" || p.RedirectPath != "/auth/op/callback" {
		t.Fatalf("defaults not applied: %+v", p)
	}
	if got := fmt.Sprint(p.Claims[:3]); got != "[{family_name identity.name} {given_name identity.name} {middle_name identity.name}]" {
		t.Errorf("claims order lost: %s", got)
	}
	if p.Confirmed["contact.email"] != "email_verified" || p.Confirmed["contact.phone"] != "phone_number_verified" {
		t.Errorf("confirmed defaults = %v", p.Confirmed)
	}
	if down := cfg.Providers.Provider("down"); !slices.Equal(down.Scopes, []string{"openid", "profile", "email", "phone"}) {
		t.Errorf("default scopes = %v", down.Scopes)
	}

	_, err := loadConfig(t.TempDir()+"/bad.yaml", `
providers:
  - id: Bad Id
    issuer: http://idp.example.com
    client_id: x
    client_secret_env: not-a-variable
    scopes: [profile]
    redirect_path: //evil
    claims: {email: contact.mail}
    organisations: identity.organisations
  - id: dup
    title: A
    issuer: https://idp.example.com
    client_id: x
    auth_method: private_key_jwt
    endpoints: {token: https://idp.example.com/token}
  - id: dup
    title: B
    issuer: https://idp.example.com
    client_id: x
    auth_method: magic
`, testGetenv)
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("bad providers accepted: %v", err)
	}
	got := map[string]string{}
	for _, p := range ps {
		if strings.HasPrefix(p.Path, "providers") {
			got[p.Path] = p.Key
		}
	}
	want := map[string]string{
		"providers[0].id":                      "config.provider_id",
		"providers[0].title":                   "config.required",
		"providers[0].issuer":                  "config.provider_https",
		"providers[0].client_secret_env":       "config.provider_env_name",
		"providers[0].scopes":                  "config.provider_openid_scope",
		"providers[0].claims.email":            "config.provider_category_unknown",
		"providers[0].organisations":           "config.provider_not_mapped",
		"providers[1].private_key_file":        "config.required",
		"providers[1].endpoints.authorization": "config.required",
		"providers[2].id":                      "config.provider_duplicate",
		"providers[2].auth_method":             "config.one_of",
		"providers[0].redirect_path":           "config.provider_path",
	}
	for path, key := range want {
		if got[path] != key {
			t.Errorf("%s: got %q, want %q", path, got[path], key)
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems:\n%s", err)
	}
}

func TestKeysTranslated(t *testing.T) { i18ntest.KeysTranslated(t, "federation", 7) }
