package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"kabinet/internal/config"
	"kabinet/internal/i18n"
	"kabinet/internal/sqldb"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errUsage reports bad arguments; the usage has already been printed.
var errUsage = errors.New("usage")

// errInvalid reports a check that found problems and has printed them.
var errInvalid = errors.New("invalid")

func exitCode(err error) int {
	switch {
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		return 1
	}
	return 0
}

// env is what a command sees of the world.
type env struct {
	args           []string
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "serve the portal (default: the built-in demo operator on embedded SQLite)", serve},
		{"migrate", "apply database migrations and exit", migrate},
		{"check-config", "check an operator file and report every problem with its line", checkConfig},
		{"audit", "verify the audit log's chain and signatures, or export entries (audit verify|export)", auditCommand},
		{"receipt", "verify a consent receipt (receipt verify FILE)", receiptCommand},
		{"keys", "create keys, or rotate master keys while serving (keys init|rotate)", keysCommand},
		{"version", "print the version", printVersion},
	}
}

func dispatch(ctx context.Context, e *env) error {
	if len(e.args) == 0 || e.args[0] == "help" || e.args[0] == "-h" || e.args[0] == "--help" {
		usage(e.stdout)
		if len(e.args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == e.args[0] {
			return c.run(ctx, e, e.args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "kabinet: unknown command %q\n\n", e.args[0])
	usage(e.stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kabinet — a personal cabinet portal that keeps its personal-data promises.")
	fmt.Fprintln(w, "\nUsage: kabinet COMMAND [flags]   (kabinet COMMAND --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
}

// flags makes a flag set whose --help prints to stdout and returns nil.
func flags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kabinet %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; --help prints usage to stdout and ends the command
// successfully (errHelp is turned into nil by the caller via done).
func parse(e *env, fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return true, nil
		}
		return true, errUsage
	}
	return false, nil
}

// configFlags are the flags shared by commands that load the operator file.
type configFlags struct {
	path, listen, databaseURL, dataDir *string
}

func addConfigFlags(fs *flag.FlagSet, e *env, server bool) configFlags {
	cf := configFlags{
		path:        fs.String("config", e.getenv("KABINET_CONFIG"), "operator `file` (YAML); empty: the built-in demo operator (env KABINET_CONFIG)"),
		databaseURL: fs.String("database-url", "", "database `URL`: sqlite:PATH or postgres://… (env KABINET_DATABASE_URL)"),
		dataDir:     fs.String("data-dir", "", "`directory` for the embedded database and keys (env KABINET_DATA_DIR; default ./kabinet-data)"),
	}
	if server {
		cf.listen = fs.String("listen", "", "`address` to listen on (env KABINET_LISTEN; default 127.0.0.1:8080)")
	} else {
		cf.listen = new(string)
	}
	return cf
}

func (cf configFlags) load(e *env) (*config.Config, error) {
	return config.Load(*cf.path, e.getenv, map[string]config.Flag{
		"KABINET_LISTEN":       {Name: "listen", Value: *cf.listen},
		"KABINET_DATABASE_URL": {Name: "database-url", Value: *cf.databaseURL},
		"KABINET_DATA_DIR":     {Name: "data-dir", Value: *cf.dataDir},
	})
}

// openDatabase loads the configuration and opens (without migrating) the
// main database, for commands that work on an existing installation.
func (cf configFlags) openDatabase(ctx context.Context, e *env) (*config.Config, *sqldb.DB, error) {
	cfg, err := cf.load(e)
	if err != nil {
		return nil, nil, reportConfig(e, err)
	}
	db, err := sqldb.Open(ctx, cfg.Database.URL)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

// reportConfig prints configuration problems translated for the person at
// the terminal (LANG), one per line with file, line and field.
func reportConfig(e *env, err error) error {
	var ps config.Problems
	if !errors.As(err, &ps) {
		return err
	}
	l := cliLocalizer(e)
	for _, p := range ps {
		fmt.Fprintf(e.stderr, "%s: %s\n", p.Where(), l.T(p.Key, p.Args...))
	}
	return errInvalid
}

// cliLocalizer picks the language of command-line messages from LANG
// (en_US.UTF-8 → en), Russian by default.
func cliLocalizer(e *env) *i18n.Localizer {
	b, err := i18n.Load()
	if err != nil {
		panic(err) // the catalogues are embedded and checked by tests
	}
	lang := e.getenv("LC_ALL")
	if lang == "" {
		lang = e.getenv("LANG")
	}
	lang, _, _ = strings.Cut(lang, ".")
	return b.Localizer(b.Negotiate("", strings.ReplaceAll(lang, "_", "-")))
}

func checkConfig(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "check-config", "check-config FILE\n\nChecks an operator file and the KABINET_* environment; prints every problem\nwith its file, line and field, and exits 1 if there is any.")
	if done, err := parse(e, fs, args); done {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(fs.Arg(0), e.getenv, nil)
	if err != nil {
		return reportConfig(e, err)
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", fs.Arg(0), cliLocalizer(e).T("config.ok", "operator", cfg.Operator.Name.In(cfg.DefaultLanguage(), "")))
	return nil
}

func migrate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "migrate", "migrate [flags]\n\nApplies the embedded database migrations and exits.")
	cf := addConfigFlags(fs, e, false)
	if done, err := parse(e, fs, args); done {
		return err
	}
	_, db, err := cf.openDatabase(ctx, e)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintln(e.stdout, "applied", name)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(e.stdout, "database is up to date")
	}
	return nil
}

func printVersion(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "version", "version")
	if done, err := parse(e, fs, args); done {
		return err
	}
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	fmt.Fprintf(e.stdout, "kabinet %s%s (%s %s/%s)\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
