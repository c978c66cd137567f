package gate_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/i18n/i18ntest"
)

// TestOnlyTheGateTouchesPersonalData enforces the architecture: no package
// but the gate opens the vault (the only way to decrypt) or names the
// tables holding personal data. cmd/kabinet may import the vault to wire
// it and to rotate keys.
func TestOnlyTheGateTouchesPersonalData(t *testing.T) {
	root := filepath.Join("..", "..")
	allowedVault := map[string]bool{"internal/gate": true, "internal/vault": true, "cmd/kabinet": true}
	tables := []string{"pd_values", "pd_blocks", "subject_keys"}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		checked++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			// Test-support packages (…test) build a real stack for tests;
			// they may import the vault, and only test files import them.
			testSupport := strings.HasSuffix(pkg, "test")
			if p == "kabinet/internal/vault" && !allowedVault[pkg] && !testSupport {
				t.Errorf("%s imports the vault: only the gate may decrypt personal data", rel)
			}
			if strings.HasPrefix(p, "kabinet/") && strings.HasSuffix(p, "test") && !testSupport {
				t.Errorf("%s imports the test-support package %s", rel, p)
			}
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, table := range tables {
			if strings.Contains(string(src), table) && pkg != "internal/gate" && pkg != "internal/vault" {
				t.Errorf("%s names the table %s: only the gate reads and writes personal data", rel, table)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files: the walk is broken", checked)
	}
}

// Every message key of the gate has a text in every language.
func TestGateKeysTranslated(t *testing.T) { i18ntest.KeysTranslated(t, "gate", 5) }

// Every refusal has a message a person can be shown, in every language.
func TestRefusalMessagesAreTranslated(t *testing.T) {
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*gate.Refusal{gate.ErrUnknownPurpose, gate.ErrNotCovered, gate.ErrNoConsent, gate.ErrBlocked, gate.ErrDestroyed, gate.ErrUnknownSubject, gate.ErrWrongSubjectKind} {
		key, _ := fault.Message(r)
		for _, lang := range b.Languages() {
			if !b.Localizer(lang).Has(key) {
				t.Errorf("refusal %s: %s has no %s text", r.Reason, key, lang)
			}
		}
	}
}
