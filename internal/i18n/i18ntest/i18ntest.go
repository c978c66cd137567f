// Package i18ntest checks, from a package's own tests, that every message
// key the package can emit has a text in every catalogue.
package i18ntest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"kabinet/internal/i18n"
)

// KeysTranslated scans the non-test .go files of the current directory
// (the package under test) for string literals "PREFIX.xxx" and fails the
// test for each one missing from a catalogue. except lists literals with
// the prefix that are not message keys (a job kind, say). It fails when it
// finds fewer than min keys, so that a broken scan cannot pass.
func KeysTranslated(t *testing.T, prefix string, min int, except ...string) {
	t.Helper()
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`"(` + regexp.QuoteMeta(prefix) + `\.[a-z_]+(?:\.[a-z_]+)*)"`)
	files, _ := filepath.Glob("*.go")
	keys := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			// A literal ending in "_" or "." is the prefix of a key built
			// at run time ("profile.sex_" + value); its keys are checked by
			// the package's own tests.
			if !slices.Contains(except, m[1]) && !strings.HasSuffix(m[1], "_") {
				keys[m[1]] = true
			}
		}
	}
	if len(keys) < min {
		t.Fatalf("found only %d %s.* keys, want at least %d: the scan is broken", len(keys), prefix, min)
	}
	for key := range keys {
		for _, lang := range b.Languages() {
			if !b.Localizer(lang).Has(key) {
				t.Errorf("%s has no %s text", key, lang)
			}
		}
	}
}
