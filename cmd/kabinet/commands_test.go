package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/gate"
)

// demoApp opens the demo operator's app in dir and creates n subjects
// with a phone number each, through the gate.
func demoApp(t *testing.T, dir string, n int) (*app, []string) {
	t.Helper()
	env := testEnv(map[string]string{"KABINET_DATA_DIR": dir})
	cfg, err := config.Load("", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, slog.New(slog.DiscardHandler), env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sys := audit.Actor{Kind: audit.ActorSystem, ID: "test"}
	var ids []string
	for i := range n {
		id, err := a.gate.NewSubject(context.Background(), sys, "user", "t")
		if err != nil {
			t.Fatal(err)
		}
		err = a.gate.Write(context.Background(), gate.Request{Actor: sys, Subject: id, Purpose: "portal"},
			gate.Values{"contact.phone": []byte("+7916000000" + string(rune('0'+i)))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return a, ids
}

func runCmd(t *testing.T, dir string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, testEnv(map[string]string{"KABINET_DATA_DIR": dir}), nil, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestAuditVerifyAndExportCommands(t *testing.T) {
	dir := t.TempDir()
	a, ids := demoApp(t, dir, 3)
	a.close()

	out, _, err := runCmd(t, dir, "audit", "verify")
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify of an untouched log: %v\n%s", err, out)
	}
	out, errOut, err := runCmd(t, dir, "audit", "export", "--subject", ids[1], "--from", "2000-01-01")
	if err != nil {
		t.Fatal(err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"subject.created"`) || !strings.Contains(lines[1], `"pd.write"`) {
		t.Errorf("export of one subject: %d lines:\n%s", len(lines), out)
	}
	if strings.Contains(out, ids[0]) || strings.Contains(out, "+7916") {
		t.Error("export carries another subject or a value")
	}

	// Tamper with entry 2 directly in the database.
	a, _ = demoApp(t, dir, 0)
	if _, err := a.db.Writer().Exec("UPDATE audit_log SET purpose = 'services' WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	a.close()
	out, _, err = runCmd(t, dir, "audit", "verify")
	if exitCode(err) == 0 || !strings.Contains(out, "2") {
		t.Errorf("verify of a tampered log: exit %d\n%s", exitCode(err), out)
	}
}

func TestKeysRotateWhileDataStayReadable(t *testing.T) {
	dir := t.TempDir()
	a, ids := demoApp(t, dir, 5)
	a.close()
	out, errOut, err := runCmd(t, dir, "keys", "rotate", "--new")
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "added master key version k2") || !strings.Contains(out, "rewrapped 5 subject keys") || !strings.Contains(out, "map[k2:5]") {
		t.Errorf("rotate printed:\n%s", out)
	}
	a, _ = demoApp(t, dir, 0)
	defer a.close()
	sys := audit.Actor{Kind: audit.ActorSystem, ID: "test"}
	for _, id := range ids {
		v, err := a.gate.Read(context.Background(), gate.Request{Actor: sys, Subject: id, Purpose: "portal", Categories: []string{"contact.phone"}})
		if err != nil || !strings.HasPrefix(v.String("contact.phone"), "+7916") {
			t.Errorf("after rotation subject %s: %v", id, err)
		}
	}
}

func TestKeysInitAndMissingKeys(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "operator.yaml")
	// A real (non-demo) operator without keys must not start.
	minimal, err := os.ReadFile("../../internal/config/testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, minimal, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, dir, "keys", "rotate", "--config", cfgFile)
	if err == nil {
		t.Fatal("rotate without key files succeeded")
	}
	out, _, err := runCmd(t, dir, "keys", "init", "--config", cfgFile)
	if err != nil || strings.Count(out, "created") != 2 {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	out, _, _ = runCmd(t, dir, "keys", "init", "--config", cfgFile)
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("second keys init: %s", out)
	}
}

// TestConsentGovernsTheGate wires the real ledger, documents and gate of
// the demo operator: a consent-based purpose is refused until the subject
// consents to the current consent text, allowed then, refused again after
// withdrawal; the evidence is sealed through the gate and dies with the
// subject.
func TestConsentGovernsTheGate(t *testing.T) {
	dir := t.TempDir()
	a, ids := demoApp(t, dir, 1)
	defer a.close()
	ctx := context.Background()
	s := ids[0]
	sys := audit.Actor{Kind: audit.ActorSystem, ID: "test"}
	read := func() error {
		_, err := a.gate.Read(ctx, gate.Request{Actor: sys, Subject: s, Purpose: "informing", Categories: []string{"contact.phone"}})
		return err
	}
	if err := read(); !errors.Is(err, gate.ErrNoConsent) {
		t.Fatalf("before consent: %v", err)
	}
	text, err := a.docs.Current(ctx, "consent-informing", "ru")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := a.ledger.Give(ctx, consent.Event{Subject: s, Purpose: "informing",
		Doc:    consent.Doc{ID: text.DocID, Version: text.Label, Hash: text.Hash},
		Method: "checkbox", Evidence: consent.Evidence{IP: "203.0.113.9", UserAgent: "Mozilla/5.0 test"},
		Actor: audit.Actor{Kind: audit.ActorSubject, ID: s}, RequestID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := read(); err != nil {
		t.Errorf("with consent: %v", err)
	}
	if ev, err := a.ledger.Evidence(ctx, rec.ID); err != nil || ev.IP != "203.0.113.9" {
		t.Errorf("evidence: %+v %v", ev, err)
	}
	if _, err := a.ledger.Withdraw(ctx, consent.Event{Subject: s, Purpose: "informing", Method: "checkbox",
		Actor: audit.Actor{Kind: audit.ActorSubject, ID: s}, RequestID: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := read(); !errors.Is(err, gate.ErrNoConsent) {
		t.Errorf("after withdrawal: %v", err)
	}
	if err := a.gate.Destroy(ctx, sys, s, "test", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ledger.Evidence(ctx, rec.ID); err == nil {
		t.Error("evidence still opens after the subject was destroyed")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
