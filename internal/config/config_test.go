package config_test

import (
	"errors"
	"kabinet/internal/i18n/i18ntest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kabinet/internal/config"
	"kabinet/internal/i18n"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDemoLoadsWithDefaults(t *testing.T) {
	cfg, err := config.Load("", noEnv, nil)
	if err != nil {
		t.Fatalf("demo config: %v", err)
	}
	if !cfg.Demo {
		t.Error("Demo = false for the built-in operator")
	}
	if got := cfg.Server.Listen; got != "127.0.0.1:8080" {
		t.Errorf("listen = %q, want 127.0.0.1:8080", got)
	}
	if got := cfg.Database.URL; got != "sqlite:kabinet-data/kabinet.db" {
		t.Errorf("database url = %q", got)
	}
	if got := cfg.Operator.Name.In("ru", "ru"); !strings.Contains(got, "Демонстрационной области") {
		t.Errorf("operator name = %q", got)
	}
	if cfg.DefaultLanguage() != "ru" {
		t.Errorf("default language = %q, want ru", cfg.DefaultLanguage())
	}
}

func TestEnvironmentOverridesFileAndMovesDerivedPaths(t *testing.T) {
	cfg, err := config.Load("", envOf(map[string]string{
		"KABINET_LISTEN":          "127.0.0.1:9999",
		"KABINET_DATA_DIR":        "/srv/k",
		"KABINET_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
		"KABINET_LOG_FORMAT":      "json",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:9999" || cfg.Server.BaseURL != "http://127.0.0.1:9999" {
		t.Errorf("listen/base = %q %q", cfg.Server.Listen, cfg.Server.BaseURL)
	}
	if cfg.Database.URL != "sqlite:/srv/k/kabinet.db" || cfg.Database.KeystoreURL != "sqlite:/srv/k/keys.db" {
		t.Errorf("database urls = %q %q", cfg.Database.URL, cfg.Database.KeystoreURL)
	}
	if got := len(cfg.TrustedProxyPrefixes()); got != 2 {
		t.Errorf("trusted proxies = %d, want 2", got)
	}
}

func TestBadEnvironmentNamesTheVariable(t *testing.T) {
	for _, c := range []struct{ env, value string }{
		{"KABINET_JOBS_WORKERS", "many"},
		{"KABINET_TRUSTED_PROXIES", "not-an-ip"},
		{"KABINET_DATABASE_URL", "mysql://x"},
		{"KABINET_LOG_FORMAT", "xml"},
	} {
		_, err := config.Load("", envOf(map[string]string{c.env: c.value}), nil)
		var ps config.Problems
		if !errors.As(err, &ps) {
			t.Errorf("%s=%s: err %v, want Problems", c.env, c.value, err)
			continue
		}
		if !strings.Contains(ps[0].Where(), c.env) {
			t.Errorf("%s=%s: problem %q does not name the variable", c.env, c.value, ps[0].Where())
		}
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "operator.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const validFile = `operator:
  name: ООО «Пример»
  legal_address: г. Москва
  jurisdiction: ru
  registration:
    inn: "7707083893"
    ogrn: "1027700132195"
  contacts:
    email: dpo@example.ru
portal:
  title: Пример
register:
  storage: {primary: RU}
  categories:
    - {id: contact.email, kind: ordinary, title: E-mail}
  subjects:
    - {id: user, title: Пользователи}
  purposes:
    - id: account
      title: Учётная запись
      basis: contract
      categories: [contact.email]
      subjects: [user]
      operations: [collection, storage]
      processing: automated
      retention: {rule: contract, after: destroy}
  documents:
    - {id: policy, kind: policy, version: "1", acceptance: continued_use, title: Политика}
`

// after is the line number of the first line appended to validFile.
var after = strings.Count(validFile, "\n") + 1

func TestFileProblemsNameLineAndField(t *testing.T) {
	if _, err := config.Load(writeFile(t, validFile), noEnv, nil); err != nil {
		t.Fatalf("valid file rejected: %v", err)
	}
	cases := []struct {
		name, body, path string
		line             int
	}{
		{"bad INN check digit", strings.Replace(validFile, "7707083893", "7707083894", 1), "operator.registration.inn", 6},
		{"unknown jurisdiction", strings.Replace(validFile, "jurisdiction: ru", "jurisdiction: de", 1), "operator.jurisdiction", 4},
		{"unknown field", strings.Replace(validFile, "portal:", "portl:", 1), "portl", 10},
		{"wrong type", validFile + "jobs:\n  workers: lots\n", "yaml", after + 1},
		{"missing email", strings.Replace(validFile, "    email: dpo@example.ru\n", "    phone: '1'\n", 1), "operator.contacts.email", 8},
		{"bad proxy", validFile + "server:\n  trusted_proxies: [10.0.0.0/8, nonsense]\n", "server.trusted_proxies[1]", after + 1},
		{"purpose names an undefined category", strings.Replace(validFile, "categories: [contact.email]", "categories: [contact.phone]", 1), "register.purposes[0].categories[0]", 22},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := writeFile(t, c.body)
			_, err := config.Load(file, noEnv, nil)
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			p := ps[0]
			if p.File != file || p.Line != c.line || p.Path != c.path {
				t.Errorf("problem at %s:%d %s, want %s:%d %s (%v)", p.File, p.Line, p.Path, file, c.line, c.path, ps)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := &config.Config{}
	cfg.Defaults()
	cfg.Operator.Jurisdiction = "kz"
	err := cfg.Validate()
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	want := map[string]bool{"operator.name": false, "operator.legal_address": false, "operator.contacts.email": false, "operator.registration.bin": false, "portal.title": false}
	for _, p := range ps {
		if _, ok := want[p.Path]; ok {
			want[p.Path] = true
		}
	}
	for path, seen := range want {
		if !seen {
			t.Errorf("no problem reported for %s (got %v)", path, ps)
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	env := envOf(map[string]string{"KABINET_LISTEN": "127.0.0.1:1111"})
	cfg, err := config.Load("", env, map[string]config.Flag{"KABINET_LISTEN": {Name: "listen", Value: "127.0.0.1:2222"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:2222" {
		t.Errorf("listen = %q, want the flag's value", cfg.Server.Listen)
	}
	_, err = config.Load("", env, map[string]config.Flag{"KABINET_LISTEN": {Name: "listen", Value: "nonsense"}})
	var ps config.Problems
	if !errors.As(err, &ps) || !strings.Contains(ps[0].Where(), "--listen") {
		t.Errorf("bad flag: err %v does not name --listen", err)
	}
}

// Every message key this package can emit has a text in every language.
func TestEveryProblemKeyIsTranslated(t *testing.T) { i18ntest.KeysTranslated(t, "config", 10) }

// The languages an operator may choose are those kabinet has catalogues for.
func TestSupportedLanguagesHaveCatalogues(t *testing.T) {
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(b.Languages(), ","), strings.Join(config.SupportedLanguages, ","); got != want {
		t.Errorf("catalogues %s, config.SupportedLanguages %s", got, want)
	}
}
