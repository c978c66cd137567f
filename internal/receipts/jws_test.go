package receipts_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/receipts"
)

// sampleInput is the input and receipt of a consent of the demo operator
// from a ledger record value (the ledger tests build them from real
// events); the bundle is loaded once.
func sampleInput(t testing.TB) (receipts.Input, receipts.Receipt) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", func(k string) string {
		if k == "KABINET_DATA_DIR" {
			return dir
		}
		return ""
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	in := receipts.Input{Config: cfg, Purpose: cfg.Register.Purpose("informing"), Subject: "s-1", Bundle: bundle,
		Records: []consent.Record{{ID: 7, Subject: "s-1", Purpose: "informing", Event: consent.Given, At: at, Method: "checkbox",
			ExpressedBy: consent.BySubject, Doc: consent.Doc{ID: "consent-informing", Version: "2025-09-01", Hash: strings.Repeat("ab", 32)}}}}
	r, err := receipts.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	return in, r
}

func sampleReceipt(t testing.TB) receipts.Receipt {
	_, r := sampleInput(t)
	return r
}

func newSigner(t *testing.T) *receipts.Signer {
	t.Helper()
	s, created, err := receipts.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "keys", receipts.KeyFileName))
	if err != nil || !created {
		t.Fatalf("create key file: created %v, %v", created, err)
	}
	return s
}

func enc(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	r := sampleReceipt(t)
	s := newSigner(t)
	jws, err := s.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jws)
	}
	var h map[string]string
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &h); err != nil || h["alg"] != "EdDSA" || h["typ"] != "kabinet-consent-receipt+jws" || h["kid"] != s.KeyID() || len(h) != 3 {
		t.Errorf("header %s: %v", hb, err)
	}
	again, _ := s.Sign(r)
	if again != jws {
		t.Error("signing the same receipt twice gave two JWS")
	}
	got, err := receipts.Verify(jws+"\n", s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	r.PublicKey = s.JWKS().Keys[0].X
	if got.ConsentReceiptID != r.ConsentReceiptID || got.PublicKey != r.PublicKey {
		t.Errorf("verified receipt %+v", got)
	}
	want, _ := json.Marshal(r)
	have, _ := json.Marshal(got)
	if string(want) != string(have) {
		t.Errorf("round trip changed the receipt:\n%s\n%s", want, have)
	}
	if fp := receipts.Fingerprint(jws + "\n"); len(fp) != 64 || fp != receipts.Fingerprint(jws) {
		t.Errorf("fingerprint %q", fp)
	}
}

// TestVerifyRejects: every way a receipt can be forged or broken is
// refused with its own error, a fault.Invalid with a receipts.* key.
func TestVerifyRejects(t *testing.T) {
	r := sampleReceipt(t)
	// A key file of a known seed, so the test can also sign payloads the
	// Signer never would.
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	path := filepath.Join(t.TempDir(), receipts.KeyFileName)
	if err := os.WriteFile(path, []byte("ed25519 k1 "+base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := receipts.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	sign := func(header, payload string) string {
		return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(header+"."+payload)))
	}
	jws, _ := s.Sign(r)
	parts := strings.Split(jws, ".")
	keys := s.JWKS()

	var m map[string]any
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(pb, &m)
	m["piiPrincipalId"] = "someone-else"
	changedPayload := parts[0] + "." + enc(m) + "." + parts[2]

	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[10] ^= 1
	changedSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	none := enc(map[string]string{"alg": "none", "typ": receipts.Type, "kid": s.KeyID()}) + "." + parts[1] + "."
	hs256 := enc(map[string]string{"alg": "HS256", "typ": receipts.Type, "kid": s.KeyID()}) + "." + parts[1] + "." + parts[2]
	otherKid := enc(map[string]string{"alg": "EdDSA", "typ": receipts.Type, "kid": "someone-elses-key"}) + "." + parts[1] + "." + parts[2]
	otherTyp := sign(enc(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": s.KeyID()}), parts[1])
	crit := sign(enc(map[string]any{"alg": "EdDSA", "typ": receipts.Type, "kid": s.KeyID(), "crit": []string{"exp"}}), parts[1])

	// The same kid with another key: a forger who copied the header.
	forger := newSigner(t)
	forged, _ := forger.Sign(r)
	fp := strings.Split(forged, ".")
	forgedSameKid := parts[0] + "." + fp[1] + "." + fp[2]

	// Signed by the key, but claiming another publicKey, another version,
	// or no receipt at all.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	m2 := map[string]any{}
	json.Unmarshal(pb, &m2)
	m2["publicKey"] = base64.RawURLEncoding.EncodeToString(other.Public().(ed25519.PublicKey))
	badClaim := sign(parts[0], enc(m2))
	m2["publicKey"], m2["version"] = nil, "KI-CR-v1.0.0"
	oldVersion := sign(parts[0], enc(m2))
	notJSON := sign(parts[0], base64.RawURLEncoding.EncodeToString([]byte("hello")))

	for _, c := range []struct {
		name, jws string
		want      error
		key       string
	}{
		{"payload changed", changedPayload, receipts.ErrTampered, "receipts.tampered"},
		{"signature changed", changedSig, receipts.ErrTampered, "receipts.tampered"},
		{"signed by another key under the same kid", forgedSameKid, receipts.ErrTampered, "receipts.tampered"},
		{"publicKey not the signer's", badClaim, receipts.ErrTampered, "receipts.tampered"},
		{"alg none", none, receipts.ErrAlgorithm, "receipts.algorithm"},
		{"alg HS256", hs256, receipts.ErrAlgorithm, "receipts.algorithm"},
		{"unknown kid", otherKid, receipts.ErrUnknownKey, "receipts.unknown_key"},
		{"typ JWT", otherTyp, receipts.ErrMalformed, "receipts.malformed"},
		{"crit", crit, receipts.ErrMalformed, "receipts.malformed"},
		{"another version", oldVersion, receipts.ErrMalformed, "receipts.malformed"},
		{"payload not JSON", notJSON, receipts.ErrMalformed, "receipts.malformed"},
		{"two parts", parts[0] + "." + parts[1], receipts.ErrMalformed, "receipts.malformed"},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], receipts.ErrMalformed, "receipts.malformed"},
		{"not base64", "%%%." + parts[1] + "." + parts[2], receipts.ErrMalformed, "receipts.malformed"},
		{"JSON instead of JWS", `{"version":"KI-CR-v1.1.0"}`, receipts.ErrMalformed, "receipts.malformed"},
		{"empty", "", receipts.ErrMalformed, "receipts.malformed"},
		{"too big", strings.Repeat("a", receipts.MaxJWS+1), receipts.ErrMalformed, "receipts.malformed"},
	} {
		_, err := receipts.Verify(c.jws, keys)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
			continue
		}
		for _, other := range []error{receipts.ErrTampered, receipts.ErrAlgorithm, receipts.ErrUnknownKey, receipts.ErrMalformed} {
			if other != c.want && errors.Is(err, other) {
				t.Errorf("%s: %v also matches %v", c.name, err, other)
			}
		}
		var ve *receipts.VerifyError
		if !errors.As(err, &ve) || !errors.Is(err, fault.ErrInvalid) || !hasKey(err, c.key) {
			t.Errorf("%s: %v: want a *VerifyError, fault.Invalid, key %s", c.name, err, c.key)
		}
	}
	_, err = receipts.Verify(otherKid, keys)
	if _, args := fault.Message(err); fmt.Sprint(args) != "[kid someone-elses-key]" {
		t.Errorf("unknown key message args %v", args)
	}
	// The forger's own key set accepts the forger's receipt, not ours.
	if _, err := receipts.Verify(forged, keys); !errors.Is(err, receipts.ErrUnknownKey) {
		t.Errorf("forger's receipt against the operator's keys: %v", err)
	}
}

func TestKeyFileRotationAndRace(t *testing.T) {
	r := sampleReceipt(t)
	dir := t.TempDir()
	path := filepath.Join(dir, receipts.KeyFileName)

	// Several processes starting at once agree on one key.
	var wg sync.WaitGroup
	kids := make([]string, 8)
	made := make([]bool, 8)
	for i := range kids {
		wg.Go(func() {
			s, created, err := receipts.LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i], made[i] = s.KeyID(), created
		})
	}
	wg.Wait()
	n := 0
	for i := range kids {
		if kids[i] != kids[0] {
			t.Errorf("process %d signs with %s, process 0 with %s", i, kids[i], kids[0])
		}
		if made[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d processes say they created the key file", n)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", fi.Mode(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".receipt-keys-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	old, _, _ := receipts.LoadOrCreateKeyFile(path)
	oldJWS, _ := old.Sign(r)

	// Rotation: a new line; the newest signs, all verify.
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "ed25519 r2 %s\n", base64.StdEncoding.EncodeToString(seed))
	f.Close()
	s, created, err := receipts.LoadOrCreateKeyFile(path)
	if err != nil || created || s.KeyID() != "r2" || len(s.JWKS().Keys) != 2 {
		t.Fatalf("after rotation: kid %s, created %v, %v", s.KeyID(), created, err)
	}
	newJWS, _ := s.Sign(r)
	for _, j := range []string{oldJWS, newJWS} {
		if _, err := receipts.Verify(j, s.JWKS()); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	if _, err := receipts.Verify(newJWS, old.JWKS()); !errors.Is(err, receipts.ErrUnknownKey) {
		t.Errorf("new receipt against the old key set: %v", err)
	}

	for _, bad := range []string{
		"ed25519 a1\n",
		"rsa a1 " + base64.StdEncoding.EncodeToString(seed) + "\n",
		"ed25519 a1 c2hvcnQ=\n",
		"ed25519 a1 " + base64.StdEncoding.EncodeToString(seed) + "\ned25519 a1 " + base64.StdEncoding.EncodeToString(seed) + "\n",
		"# only a comment\n",
	} {
		p := filepath.Join(t.TempDir(), "bad.keys")
		os.WriteFile(p, []byte(bad), 0o600)
		if _, err := receipts.LoadKeyFile(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("key file %q: %v", bad, err)
		}
	}
	if _, err := receipts.LoadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key file: %v", err)
	}
}

func TestJWKS(t *testing.T) {
	s := newSigner(t)
	set := s.JWKS()
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":%q,"x":%q,"use":"sig","alg":"EdDSA"}]}`, s.KeyID(), set.Keys[0].X)
	if string(data) != want {
		t.Errorf("JWKS\n got %s\nwant %s", data, want)
	}
	if x, err := base64.RawURLEncoding.DecodeString(set.Keys[0].X); err != nil || len(x) != ed25519.PublicKeySize ||
		s.KeyID() != receipts.Thumbprint(x) {
		t.Errorf("x %q decodes to %d bytes (%v); kid %s is not its RFC 7638 thumbprint", set.Keys[0].X, len(x), err, s.KeyID())
	}
	parsed, err := receipts.ParseJWKS(data)
	if err != nil || len(parsed.Keys) != 1 || parsed.Keys[0] != set.Keys[0] {
		t.Errorf("round trip: %+v %v", parsed, err)
	}
	// Keys of other types are ignored (RFC 7517 §5), a receipt still verifies.
	mixed := `{"keys":[{"kty":"RSA","kid":"rsa1","n":"AQAB","e":"AQAB"},` + string(data[9:len(data)-2]) + `]}`
	parsed, err = receipts.ParseJWKS([]byte(mixed))
	if err != nil || len(parsed.Keys) != 1 {
		t.Errorf("mixed set: %+v %v", parsed, err)
	}
	jws, _ := s.Sign(sampleReceipt(t))
	if _, err := receipts.Verify(jws, parsed); err != nil {
		t.Errorf("verify against the parsed set: %v", err)
	}
	for _, bad := range []string{`{"keys":[]}`, `[]`, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"c2hvcnQ"}]}`, `not json`} {
		if _, err := receipts.ParseJWKS([]byte(bad)); !errors.Is(err, fault.ErrInvalid) || !hasKey(err, "receipts.jwks_invalid") {
			t.Errorf("ParseJWKS(%s): %v", bad, err)
		}
	}
	// A key published for encryption does not verify signatures.
	enc := set
	enc.Keys = []receipts.JWK{set.Keys[0]}
	enc.Keys[0].Use = "enc"
	if _, err := receipts.Verify(jws, enc); !errors.Is(err, receipts.ErrUnknownKey) {
		t.Errorf("key with use enc: %v", err)
	}
}
