package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"kabinet/examples"
)

// Flag is a command-line override of the KABINET_* variable it is keyed
// by in the map given to Load; Name is the flag's name, for messages.
type Flag struct{ Name, Value string }

// Load reads the operator file at path (the built-in demo when path is
// ""), applies overrides from the environment (getenv) and then from flags
// (keyed by the variable they override), then defaults, and validates.
// Every problem names the file and line, the variable, or the flag.
func Load(path string, getenv func(string) string, flags map[string]Flag) (*Config, error) {
	var (
		data []byte
		name = path
		err  error
	)
	if path == "" {
		data, name = examples.Demo(), DemoFile
	} else if data, err = os.ReadFile(path); err != nil {
		return nil, fmt.Errorf("read operator file: %w", err)
	}
	cfg, lines, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	cfg.Demo = path == ""
	cfg.Source = name
	lookup := func(env string) (string, string) {
		if f, ok := flags[env]; ok && f.Value != "" {
			return f.Value, "--" + f.Name
		}
		return getenv(env), env
	}
	if err := cfg.applyOverrides(lookup); err != nil {
		return nil, err
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		var ps Problems
		if errors.As(err, &ps) {
			for i := range ps {
				if origin := cfg.envFor(ps[i].Path); origin != "" {
					ps[i].Path = origin + " (" + ps[i].Path + ")"
				} else {
					ps[i].File = name
					ps[i].Line = lines.find(ps[i].Path)
				}
			}
			return nil, ps
		}
		return nil, err
	}
	cfg.Register.AddBuiltins(cfg.Operator.Jurisdiction)
	return cfg, nil
}

// parse decodes data strictly (unknown fields are errors) and records the
// line of every field path for later messages.
func parse(name string, data []byte) (*Config, lineIndex, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, yamlProblems(name, err)
	}
	var cfg Config
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, yamlProblems(name, err)
		}
	}
	lines := lineIndex{}
	if len(root.Content) > 0 {
		lines.walk("", root.Content[0])
	}
	return &cfg, lines, nil
}

var (
	yamlLine         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownField = regexp.MustCompile(`field (\S+) not found`)
)

// yamlProblems turns the YAML library's errors into Problems with lines.
func yamlProblems(name string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var ps Problems
	for _, m := range msgs {
		p := Problem{File: name, Path: "yaml", Key: "config.syntax", Args: []any{"detail", m}}
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			p.Line, _ = strconv.Atoi(sub[1])
			p.Args = []any{"detail", sub[2]}
			if f := yamlUnknownField.FindStringSubmatch(sub[2]); f != nil {
				p.Path, p.Key, p.Args = f[1], "config.unknown_field", nil
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// lineIndex maps a field path ("server.trusted_proxies[1]") to its line.
type lineIndex map[string]int

func (li lineIndex) walk(prefix string, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			li[p] = k.Line
			li.walk(p, v)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			li[p] = c.Line
			li.walk(p, c)
		}
	}
}

// find returns the line of path, or of its nearest written ancestor (a
// missing field is reported where its parent section is), or 0.
func (li lineIndex) find(path string) int {
	for p := path; p != ""; {
		if l, ok := li[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// applyOverrides overrides fields from KABINET_* variables, or the flags
// standing for them; lookup returns the value and where it came from.
func (c *Config) applyOverrides(lookup func(env string) (value, origin string)) error {
	var ps Problems
	for _, o := range []struct {
		env, path string
		dst       *string
	}{
		{"KABINET_LISTEN", "server.listen", &c.Server.Listen},
		{"KABINET_BASE_URL", "server.base_url", &c.Server.BaseURL},
		{"KABINET_TLS_CERT_FILE", "server.tls_cert_file", &c.Server.TLSCertFile},
		{"KABINET_TLS_KEY_FILE", "server.tls_key_file", &c.Server.TLSKeyFile},
		{"KABINET_DATA_DIR", "data_dir", &c.DataDir},
		{"KABINET_DATABASE_URL", "database.url", &c.Database.URL},
		{"KABINET_KEYSTORE_URL", "database.keystore_url", &c.Database.KeystoreURL},
		{"KABINET_LOG_FORMAT", "log.format", &c.Log.Format},
		{"KABINET_LOG_LEVEL", "log.level", &c.Log.Level},
	} {
		if v, origin := lookup(o.env); v != "" {
			*o.dst = v
			c.fromEnv(o.path, origin)
		}
	}
	if v, origin := lookup("KABINET_TRUSTED_PROXIES"); v != "" {
		c.Server.TrustedProxies = splitList(v)
		c.fromEnv("server.trusted_proxies", origin)
		for _, p := range c.Server.TrustedProxies {
			if _, err := parsePrefix(p); err != nil {
				ps = append(ps, Problem{Path: origin, Key: "config.cidr_invalid"})
			}
		}
	}
	if v, origin := lookup("KABINET_LANGUAGES"); v != "" {
		c.Languages = splitList(v)
		c.fromEnv("languages", origin)
	}
	if v, origin := lookup("KABINET_JOBS_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			ps = append(ps, Problem{Path: origin, Key: "config.integer"})
		}
		c.Jobs.Workers = n
		c.fromEnv("jobs.workers", origin)
	}
	if v, origin := lookup("KABINET_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			ps = append(ps, Problem{Path: origin, Key: "config.duration"})
		}
		c.Server.ShutdownTimeout = d
		c.fromEnv("server.shutdown_timeout", origin)
	}
	if len(ps) > 0 {
		return ps
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// fromEnv records that the field at path was set by a variable or flag,
// so that a problem with it names that rather than a file line.
func (c *Config) fromEnv(path, env string) {
	if c.envPaths == nil {
		c.envPaths = map[string]string{}
	}
	c.envPaths[path] = env
}

// envFor returns the variable that set path or one of its parents, or "".
func (c *Config) envFor(path string) string {
	for p, env := range c.envPaths {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return env
		}
	}
	return ""
}
