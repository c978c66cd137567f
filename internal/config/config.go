// Package config turns the operator's file, KABINET_* environment variables
// and command-line flags into one typed Config, in that order of precedence
// (defaults < file < environment < flags), and validates it.
//
// The operator file is YAML. Errors name the file, line and field — or the
// environment variable — so an operator can fix them without reading code.
// Without a file, kabinet runs the built-in demo operator: the example
// examples/000_regional_services.yaml, modelled on seed 000.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"kabinet/internal/i18n"
	"kabinet/internal/register"
)

// DemoFile is the name under which the built-in demo operator is reported.
const DemoFile = "examples/000_regional_services.yaml (built in)"

// Config is everything kabinet needs to run one operator's portal.
type Config struct {
	Operator  Operator          `yaml:"operator"`
	Portal    Portal            `yaml:"portal"`
	Languages []string          `yaml:"languages"` // the first is the default
	Server    Server            `yaml:"server"`
	Database  Database          `yaml:"database"`
	DataDir   string            `yaml:"data_dir"`
	Log       Log               `yaml:"log"`
	Jobs      Jobs              `yaml:"jobs"`
	Keys      Keys              `yaml:"keys"`
	Identity  Identity          `yaml:"identity"`
	Messages  Messages          `yaml:"messages"`
	Providers Providers         `yaml:"providers"`
	Uploads   Uploads           `yaml:"uploads"`
	Register  register.Register `yaml:"register"`

	// Demo is true when the built-in demo operator is in use: kabinet then
	// creates missing keys itself and says so loudly.
	Demo bool `yaml:"-"`
	// Source names where the operator came from, for messages.
	Source string `yaml:"-"`

	envPaths map[string]string // field path → variable that set it
}

// Operator is the legal person that runs the portal and is the personal-data
// operator in the sense of 152-FZ art. 3 (or its KZ/KG equivalents).
type Operator struct {
	Name         i18n.Text    `yaml:"name"`
	ShortName    i18n.Text    `yaml:"short_name"`
	LegalAddress i18n.Text    `yaml:"legal_address"`
	Jurisdiction string       `yaml:"jurisdiction"` // ru, kz or kg
	Timezone     string       `yaml:"timezone"`     // IANA name; default by jurisdiction (Europe/Moscow, Asia/Almaty, Asia/Bishkek)
	Registration Registration `yaml:"registration"`
	Contacts     Contacts     `yaml:"contacts"`
}

// Registration holds state registration numbers; which are required
// depends on the jurisdiction.
type Registration struct {
	INN    string `yaml:"inn"`    // ru: 10 digits (legal person) or 12 (entrepreneur); kg: 14 digits
	OGRN   string `yaml:"ogrn"`   // ru: 13 digits
	OGRNIP string `yaml:"ogrnip"` // ru: 15 digits, for an individual entrepreneur
	KPP    string `yaml:"kpp"`    // ru: 9 characters, optional
	BIN    string `yaml:"bin"`    // kz: 12 digits (legal person)
	IIN    string `yaml:"iin"`    // kz: 12 digits (individual entrepreneur)
}

// Contacts are where subjects send requests and claims.
type Contacts struct {
	Email         string    `yaml:"email"`
	Phone         string    `yaml:"phone"`
	PostalAddress i18n.Text `yaml:"postal_address"`
	DPO           i18n.Text `yaml:"dpo"` // person responsible for organising processing (152-FZ art. 22.1)
}

// Portal describes what the portal offers, for its home page.
type Portal struct {
	Title   i18n.Text `yaml:"title"`
	Tagline i18n.Text `yaml:"tagline"`
	Offers  []Offer   `yaml:"offers"`
}

// Offer is one thing a person can do on the portal.
type Offer struct {
	Title i18n.Text `yaml:"title"`
	Text  i18n.Text `yaml:"text"`
	// Level is the trust level the function needs (seed 000 §3.6–3.8):
	// simplified (phone only), standard (password or unverified federated
	// account) or verified (identity confirmed by the provider).
	Level string `yaml:"level"`
}

// Server is how kabinet listens.
type Server struct {
	Listen          string        `yaml:"listen"`
	BaseURL         string        `yaml:"base_url"`
	TrustedProxies  []string      `yaml:"trusted_proxies"` // CIDRs or addresses whose X-Forwarded-For is believed
	TLSCertFile     string        `yaml:"tls_cert_file"`
	TLSKeyFile      string        `yaml:"tls_key_file"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Database names the main database and the separate key store (see
// package vault: keys live apart from data so that destroying a key also
// makes backups of the data unreadable).
type Database struct {
	URL         string `yaml:"url"`          // sqlite:PATH or postgres://…
	KeystoreURL string `yaml:"keystore_url"` // sqlite:PATH or postgres://… (another database)
}

// Keys names the files holding kabinet's secrets. The master keys may
// instead come from the KABINET_MASTER_KEYS variable (see package vault).
type Keys struct {
	MasterFile string `yaml:"master_file"` // master and blind-index keys (default DATA_DIR/master.keys)
	AuditFile  string `yaml:"audit_file"`  // Ed25519 keys signing audit checkpoints (default DATA_DIR/audit.keys)
}

// Log configures the process log. It never carries personal data.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Jobs configures background workers.
type Jobs struct {
	Workers int `yaml:"workers"`
}

// Defaults applies defaults to fields the file and environment left empty.
// Paths derived from DataDir are filled in here, after overrides, so that
// KABINET_DATA_DIR moves the databases too.
func (c *Config) Defaults() {
	if len(c.Languages) == 0 {
		c.Languages = []string{"ru", "en"}
	}
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.Server.BaseURL == "" {
		scheme := "http"
		if c.Server.TLSCertFile != "" {
			scheme = "https"
		}
		c.Server.BaseURL = scheme + "://" + c.Server.Listen
	}
	if c.Server.ShutdownTimeout == 0 {
		c.Server.ShutdownTimeout = 30 * time.Second
	}
	if c.DataDir == "" {
		c.DataDir = "kabinet-data"
	}
	if c.Database.URL == "" {
		c.Database.URL = "sqlite:" + filepath.Join(c.DataDir, "kabinet.db")
	}
	if c.Database.KeystoreURL == "" {
		c.Database.KeystoreURL = "sqlite:" + filepath.Join(c.DataDir, "keys.db")
	}
	if c.Keys.MasterFile == "" {
		c.Keys.MasterFile = filepath.Join(c.DataDir, "master.keys")
	}
	if c.Keys.AuditFile == "" {
		c.Keys.AuditFile = filepath.Join(c.DataDir, "audit.keys")
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Operator.Timezone == "" {
		c.Operator.Timezone = map[string]string{"ru": "Europe/Moscow", "kz": "Asia/Almaty", "kg": "Asia/Bishkek"}[c.Operator.Jurisdiction]
	}
	for i := range c.Portal.Offers {
		if c.Portal.Offers[i].Level == "" {
			c.Portal.Offers[i].Level = "simplified"
		}
	}
	if c.Jobs.Workers == 0 {
		c.Jobs.Workers = 2
	}
	c.Identity.defaults()
	c.Messages.defaults()
	c.Providers.defaults()
	c.Uploads.defaults(c)
}

// Location is the operator's time zone, for dates shown to people.
func (c *Config) Location() *time.Location {
	if loc, err := time.LoadLocation(c.Operator.Timezone); err == nil {
		return loc
	}
	return time.UTC
}

// DefaultLanguage is the language pages use when the person has no
// preference kabinet can serve.
func (c *Config) DefaultLanguage() string { return c.Languages[0] }

// TrustedProxyPrefixes parses Server.TrustedProxies; Validate has already
// rejected bad entries.
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.Server.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate checks the whole configuration and returns every problem found
// (as Problems), not just the first.
func (c *Config) Validate() error {
	var ps Problems
	add := func(path, key string, args ...any) { ps = append(ps, Problem{Path: path, Key: key, Args: args}) }

	o := c.Operator
	if o.Name.Empty() {
		add("operator.name", "config.required")
	}
	if o.LegalAddress.Empty() {
		add("operator.legal_address", "config.required")
	}
	if o.Contacts.Email == "" {
		add("operator.contacts.email", "config.required")
	} else if !plausibleEmail(o.Contacts.Email) {
		add("operator.contacts.email", "config.email_invalid")
	}
	switch o.Jurisdiction {
	case "ru", "kz", "kg":
		ps = append(ps, validateRegistration(o.Jurisdiction, o.Registration)...)
	case "":
		add("operator.jurisdiction", "config.required")
	default:
		add("operator.jurisdiction", "config.one_of", "values", "ru, kz, kg")
	}
	if c.Portal.Title.Empty() {
		add("portal.title", "config.required")
	}
	for i, off := range c.Portal.Offers {
		if off.Title.Empty() {
			add(fmt.Sprintf("portal.offers[%d].title", i), "config.required")
		}
		if !slices.Contains([]string{"simplified", "standard", "verified"}, off.Level) {
			add(fmt.Sprintf("portal.offers[%d].level", i), "config.one_of", "values", "simplified, standard, verified")
		}
	}
	if c.Operator.Timezone != "" {
		if _, err := time.LoadLocation(c.Operator.Timezone); err != nil {
			add("operator.timezone", "config.timezone_invalid")
		}
	}
	if len(c.Languages) == 0 {
		add("languages", "config.required")
	}
	for i, l := range c.Languages {
		if !slices.Contains(SupportedLanguages, l) {
			add(fmt.Sprintf("languages[%d]", i), "config.one_of", "values", strings.Join(SupportedLanguages, ", "))
		}
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		add("server.listen", "config.listen_invalid")
	}
	if u, err := url.Parse(c.Server.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("server.base_url", "config.url_invalid")
	}
	for i, p := range c.Server.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			add(fmt.Sprintf("server.trusted_proxies[%d]", i), "config.cidr_invalid")
		}
	}
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") {
		add("server.tls_key_file", "config.tls_pair")
	}
	if c.Server.ShutdownTimeout < 0 {
		add("server.shutdown_timeout", "config.positive")
	}
	for path, u := range map[string]string{"database.url": c.Database.URL, "database.keystore_url": c.Database.KeystoreURL} {
		if !strings.HasPrefix(u, "sqlite:") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			add(path, "config.database_url")
		}
	}
	if c.Database.URL == c.Database.KeystoreURL {
		add("database.keystore_url", "config.keystore_separate")
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "config.one_of", "values", "text, json")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "config.one_of", "values", "debug, info, warn, error")
	}
	if c.Jobs.Workers < 0 || c.Jobs.Workers > 64 {
		add("jobs.workers", "config.range", "min", 0, "max", 64)
	}
	c.Identity.validate(c, add)
	c.Messages.validate(c, add)
	c.Providers.validate(c, add)
	c.Uploads.validate(c, add)
	if c.Operator.Jurisdiction != "" {
		for _, p := range c.Register.Validate(c.Operator.Jurisdiction) {
			ps = append(ps, Problem{Path: "register." + p.Path, Key: p.Key, Args: p.Args})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
	return ps
}

// SupportedLanguages are the languages kabinet ships catalogues for.
var SupportedLanguages = []string{"ru", "en"}

func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t<>,;")
}
