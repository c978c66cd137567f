package examples_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"kabinet/examples"
	"kabinet/internal/config"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
)

func noEnv(string) string { return "" }

// jurisdictions is every example with the law it is written under.
var jurisdictions = map[string]string{
	"000_regional_services.yaml": "ru",
	"001_kg_eservices_sso.yaml":  "kg",
	"002_language_school.yaml":   "ru",
	"003_edtech_group.yaml":      "ru",
	"004_kz_legal_help.yaml":     "kz",
}

func load(t *testing.T, name string) *config.Config {
	t.Helper()
	cfg, err := config.Load(name, noEnv, nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cfg
}

func TestEveryExampleLoadsWithoutProblems(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := fs.Glob(examples.Files, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, embedded) {
		t.Errorf("embedded %v, on disk %v", embedded, files)
	}
	if len(files) != len(jurisdictions) {
		t.Errorf("files %v, want one per seed: %v", files, jurisdictions)
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			want, ok := jurisdictions[name]
			if !ok {
				t.Fatalf("%s is not a known example", name)
			}
			cfg := load(t, name)
			if cfg.Operator.Jurisdiction != want {
				t.Errorf("jurisdiction %q, want %q", cfg.Operator.Jurisdiction, want)
			}
			if cfg.Register.Storage.Primary != register.HomeCountry(want) {
				t.Errorf("primary storage %q, want %q", cfg.Register.Storage.Primary, register.HomeCountry(want))
			}
			if cfg.Demo {
				t.Error("an operator file loaded as the demo")
			}
		})
	}
}

// Since 01.09.2025 (152-FZ art. 9 p.1) a consent is a separate document:
// every consent-based purpose has a consent text of its own.
func TestEachConsentBasedPurposeHasItsOwnConsentDocument(t *testing.T) {
	for name := range jurisdictions {
		t.Run(name, func(t *testing.T) {
			reg := load(t, name).Register
			owner := map[string]string{}
			consents := 0
			for _, p := range reg.Purposes {
				if !p.ConsentBased() {
					continue
				}
				consents++
				if p.Consent == nil {
					t.Errorf("purpose %s rests on consent but has none", p.ID)
					continue
				}
				d := reg.Document(p.Consent.Document)
				if d == nil || d.Kind != register.DocConsent {
					t.Errorf("purpose %s: consent document %q missing or not a consent", p.ID, p.Consent.Document)
				}
				if other, dup := owner[p.Consent.Document]; dup {
					t.Errorf("purposes %s and %s share consent document %s", other, p.ID, p.Consent.Document)
				}
				owner[p.Consent.Document] = p.ID
			}
			if consents == 0 {
				t.Error("no consent-based purpose: every seed has at least one")
			}
			if reg.DocumentOfKind(register.DocPolicy) == nil {
				t.Error("no policy")
			}
		})
	}
}

func TestDemoIsTheRegionalServicesExample(t *testing.T) {
	disk, err := os.ReadFile(examples.DemoName)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(examples.Demo(), disk) {
		t.Error("Demo() differs from " + examples.DemoName)
	}
	demo, err := config.Load("", noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !demo.Demo || demo.Source != config.DemoFile {
		t.Errorf("demo = %v from %q", demo.Demo, demo.Source)
	}
	if got := demo.Operator.Registration.INN; got != "9901001239" {
		t.Errorf("demo INN %q: the web tests expect 9901001239", got)
	}
}

// Every text is in a language the operator declares. A flow mapping whose
// value holds a comma ({ru: Фамилия, имя}) silently splits into keys; this
// catches it.
func TestTextsAreInDeclaredLanguages(t *testing.T) {
	for name := range jurisdictions {
		t.Run(name, func(t *testing.T) {
			cfg := load(t, name)
			langs := append([]string{""}, cfg.Languages...)
			walkTexts(reflect.ValueOf(cfg).Elem(), "", func(path string, txt i18n.Text) {
				for lang, s := range txt {
					if !slices.Contains(langs, lang) || strings.TrimSpace(s) == "" {
						t.Errorf("%s: text %q: %q (a comma in a flow mapping? quote the text)", path, lang, s)
					}
				}
			})
		})
	}
}

var textType = reflect.TypeFor[i18n.Text]()

func walkTexts(v reflect.Value, path string, fn func(string, i18n.Text)) {
	switch {
	case v.Type() == textType:
		if !v.IsNil() {
			fn(path, v.Interface().(i18n.Text))
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			walkTexts(v.Elem(), path, fn)
		}
	case v.Kind() == reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walkTexts(v.Field(i), path+"."+v.Type().Field(i).Name, fn)
			}
		}
	case v.Kind() == reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkTexts(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

// citation is what a comment citing a clause looks like: "seed 002 §4.1",
// "policy §4.5", "152-FZ art. 21", "ст. 9".
var citation = regexp.MustCompile(`seed 00\d|§\s*\d|\bart\. \d|ст\. \d`)

// Every purpose, category, retention rule and recipient cites the clause
// it expresses in a comment next to it.
func TestEveryEntryCitesItsClause(t *testing.T) {
	for name := range jurisdictions {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var root yaml.Node
			if err := yaml.Unmarshal(data, &root); err != nil {
				t.Fatal(err)
			}
			reg := child(root.Content[0], "register")
			check := func(what string, line int, comments string) {
				if !citation.MatchString(comments) {
					t.Errorf("%s:%d: %s cites no clause", name, line, what)
				}
			}
			for _, c := range child(reg, "categories").Content {
				check("category", c.Line, itemComments(c))
			}
			for _, p := range child(reg, "purposes").Content {
				check("purpose", p.Line, itemComments(p))
				if k, v := pair(p, "retention"); k != nil {
					check("retention", k.Line, allComments(k)+allComments(v))
				}
				if rs := child(p, "recipients"); rs != nil {
					for _, r := range rs.Content {
						check("recipient", r.Line, itemComments(r))
					}
				}
			}
		})
	}
}

// pair returns the key and value nodes of key in mapping n, or nils.
func pair(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

func child(n *yaml.Node, key string) *yaml.Node { _, v := pair(n, key); return v }

// itemComments are the comments of a list item: above it and on its first
// line (the id or name line).
func itemComments(n *yaml.Node) string {
	s := n.HeadComment + n.LineComment
	if n.Kind == yaml.MappingNode && len(n.Content) >= 2 {
		s += allComments(n.Content[0]) + n.Content[1].HeadComment + n.Content[1].LineComment
	}
	return s
}

func allComments(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	s := n.HeadComment + n.LineComment + n.FootComment
	for _, c := range n.Content {
		s += allComments(c)
	}
	return s
}
