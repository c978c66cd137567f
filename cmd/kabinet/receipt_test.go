package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/consent"
	"kabinet/internal/receipts"
)

// TestReceiptVerifyCommand: a receipt of a real consent of the demo
// operator verifies against the operator's key file and against its
// published key set (file and URL); a tampered copy and a receipt of
// another operator's key do not, and say why.
func TestReceiptVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, ids := demoApp(t, dir, 1)
	subject := ids[0]
	text, err := a.docs.Current(ctx, "consent-informing", "ru")
	if err != nil {
		t.Fatal(err)
	}
	given, err := a.ledger.Give(ctx, consent.Event{Subject: subject, Purpose: "informing",
		Doc: consent.Doc{ID: text.DocID, Version: text.Label, Hash: text.Hash}, Method: "checkbox",
		Actor: audit.Actor{Kind: audit.ActorSubject, ID: subject}, RequestID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := a.ledger.History(ctx, subject, "informing")
	if err != nil {
		t.Fatal(err)
	}
	r, err := receipts.Build(receipts.Input{Config: a.cfg, Purpose: a.cfg.Register.Purpose("informing"), Records: hist, Subject: subject})
	a.close()
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := receipts.LoadOrCreateKeyFile(filepath.Join(dir, receipts.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "receipt.jws")
	os.WriteFile(file, []byte(jws+"\n"), 0o600)

	verify := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := receiptCommand(ctx, &env{getenv: testEnv(map[string]string{"KABINET_DATA_DIR": dir}), stdin: strings.NewReader(jws),
			stdout: &out, stderr: &errOut}, append([]string{"verify"}, args...))
		return out.String() + errOut.String(), err
	}
	want := "valid: consent receipt " + r.ConsentReceiptID + " for purpose informing, given " + given.At.UTC().Format(time.RFC3339) + "\n"
	out, err := verify(file)
	if err != nil || out != want {
		t.Fatalf("verify against the key file: %v\n got %q\nwant %q", err, out, want)
	}
	if out, err := verify("-"); err != nil || out != want {
		t.Errorf("verify from standard input: %v %q", err, out)
	}

	// Against the published key set: a file, and the well-known URL.
	set, _ := json.Marshal(signer.JWKS())
	setFile := filepath.Join(dir, "jwks.json")
	os.WriteFile(setFile, set, 0o600)
	if out, err := verify("--jwks", setFile, file); err != nil || out != want {
		t.Errorf("--jwks FILE: %v %q", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(set)
	}))
	defer srv.Close()
	if out, err := verify(file, "--jwks", srv.URL+"/.well-known/jwks.json"); err != nil || out != want {
		t.Errorf("FILE --jwks URL: %v %q", err, out)
	}
	if _, err := verify("--jwks", srv.URL+"/missing", file); err == nil || errors.Is(err, errInvalid) {
		t.Errorf("--jwks at a missing URL: %v", err)
	}

	// A tampered copy: the purpose changed in the signed payload.
	parts := strings.Split(jws, ".")
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	body = bytes.Replace(body, []byte(`"id":"informing"`), []byte(`"id":"marketing"`), 1)
	payload := base64.RawURLEncoding.EncodeToString(body)
	tampered := filepath.Join(dir, "tampered.jws")
	os.WriteFile(tampered, []byte(parts[0]+"."+payload+"."+parts[2]), 0o600)
	out, err = verify(tampered)
	if !errors.Is(err, errInvalid) || exitCode(err) != 1 || !strings.HasPrefix(out, "invalid: Подпись квитанции недействительна") {
		t.Errorf("tampered copy: exit %d, %v\n%s", exitCode(err), err, out)
	}

	// Another operator's key set does not know the key.
	other, _, _ := receipts.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), receipts.KeyFileName))
	otherSet, _ := json.Marshal(other.JWKS())
	otherFile := filepath.Join(dir, "other.json")
	os.WriteFile(otherFile, otherSet, 0o600)
	out, err = verify("--jwks", otherFile, file)
	if !errors.Is(err, errInvalid) || !strings.Contains(out, signer.KeyID()) {
		t.Errorf("other key set: %v %q", err, out)
	}

	// Not a receipt at all; a missing file; no arguments.
	garbage := filepath.Join(dir, "garbage.jws")
	os.WriteFile(garbage, []byte("hello"), 0o600)
	if _, err := verify(garbage); !errors.Is(err, errInvalid) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := verify(filepath.Join(dir, "missing.jws")); err == nil || errors.Is(err, errInvalid) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := verify(); !errors.Is(err, errUsage) {
		t.Errorf("no file: %v", err)
	}
	// Without the operator's key file and without --jwks: an error, and
	// no key file is created.
	empty := t.TempDir()
	var sink bytes.Buffer
	err = receiptCommand(ctx, &env{getenv: testEnv(map[string]string{"KABINET_DATA_DIR": empty}), stdout: &sink, stderr: &sink}, []string{"verify", file})
	if err == nil || errors.Is(err, errInvalid) {
		t.Errorf("no key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, receipts.KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("verify created a key file: %v", err)
	}
}
