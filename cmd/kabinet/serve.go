package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"kabinet/internal/api"
	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/documents"
	"kabinet/internal/federation"
	"kabinet/internal/files"
	"kabinet/internal/gate"
	"kabinet/internal/i18n"
	"kabinet/internal/identity"
	"kabinet/internal/jobs"
	"kabinet/internal/notify"
	"kabinet/internal/preferences"
	"kabinet/internal/receipts"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/vault"
	"kabinet/internal/web"
)

func serve(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "serve", "serve [flags]\n\nServes the portal until SIGINT or SIGTERM, then lets requests in flight finish,\nstops background jobs and closes the database. With no flags and no files it\nruns the built-in demo operator on embedded SQLite in ./kabinet-data.")
	cf := addConfigFlags(fs, e, true)
	if done, err := parse(e, fs, args); done {
		return err
	}
	cfg, err := cf.load(e)
	if err != nil {
		return reportConfig(e, err)
	}
	log := newLogger(cfg, e)
	a, err := openApp(ctx, cfg, log, e.getenv, e.stderr)
	if err != nil {
		return err
	}
	defer a.close()
	return a.serve(ctx, e)
}

func newLogger(cfg *config.Config, e *env) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// app is one running kabinet: its stores, capabilities and surfaces,
// wired in the order they depend on each other.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *sqldb.DB
	keys     *sqldb.DB // the key store, apart from the data (see package vault)
	audit    *audit.Log
	gate     *gate.Gate
	ledger   *consent.Ledger
	docs     *documents.Store
	outbox   *notify.Outbox
	ids      *identity.Service
	prefs    *preferences.Notifications
	files    *files.Service
	receipts receiptService
	fed      *federation.Federation
	queue    *jobs.Queue
	runner   *jobs.Runner
	web      *web.Server
}

func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger, getenv func(string) string, stderr io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if cfg.Demo {
		log.Warn("running the built-in DEMO operator: not for real personal data; start with --config FILE for your own")
	}
	if a.db, err = sqldb.Open(ctx, cfg.Database.URL); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	applied, err := a.db.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	if len(applied) > 0 {
		log.Info("database migrated", "engine", a.db.Engine().String(), "applied", len(applied))
	}
	sec, err := loadSecrets(cfg, getenv, false)
	if err != nil {
		return nil, err
	}
	for _, f := range sec.created {
		log.Warn("DEMO: created a secret key file; keep it safe and back it up apart from the database — without it the data cannot be read", "file", f)
	}
	if a.keys, err = sqldb.Open(ctx, cfg.Database.KeystoreURL); err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	v, err := vault.Open(ctx, a.keys, sec.keyring, vault.Options{CacheTTL: vault.DefaultCacheTTL})
	if err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	keyID, signer := sec.audit.signer()
	if a.audit, err = audit.Open(ctx, a.db, audit.Options{Signer: signer, KeyID: keyID, Logger: log.With("component", "audit")}); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	// The gate asks the ledger about consent, and the ledger seals its
	// evidence through the gate: the ledger is made second and handed to
	// the gate's decision function.
	if a.gate, err = gate.New(a.db, &cfg.Register, v, a.audit, gate.Options{Consent: func(subject, purpose string, at time.Time) (bool, string) {
		d := a.ledger.Allowed(subject, purpose, at)
		return d.Allowed, d.Reason
	}}); err != nil {
		return nil, err
	}
	if a.ledger, err = consent.New(ctx, a.db, &cfg.Register, a.audit, evidenceSealer{a.gate}, consent.Options{Logger: log.With("component", "consent")}); err != nil {
		return nil, fmt.Errorf("open consent ledger: %w", err)
	}

	bundle, err := i18n.Load()
	if err != nil {
		return nil, fmt.Errorf("load translations: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	a.queue = jobs.NewQueue(a.db, nil)
	// A short poll: a job enqueued by another process (or inside a
	// transaction) waits at most this long, and codes must arrive at once.
	a.runner = jobs.NewRunner(a.queue, jobs.Config{Concurrency: cfg.Jobs.Workers, PollInterval: 200 * time.Millisecond, Logger: log.With("component", "jobs")})
	a.ledger.Register(a.runner, 10*time.Minute)
	if a.outbox, err = notify.New(a.db, a.queue, a.gate, bundle, cfg.Messages, notify.Options{Demo: cfg.Demo, Logger: log.With("component", "notify"), ConsoleWriter: stderr}); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	a.outbox.Register(a.runner)
	a.docs = documents.NewStore(a.db, cfg, bundle, a.audit, nil)
	published, err := a.docs.Publish(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish documents: %w", err)
	}
	for _, p := range published {
		level := slog.LevelInfo
		if p.LabelKept {
			level = slog.LevelWarn // the text changed under the same label: readers tell versions apart by hash only
		}
		log.Log(ctx, level, "document published", "doc", p.DocID, "lang", p.Lang, "label", p.Label, "hash", p.ShortHash(), "label_kept", p.LabelKept, "restored", p.Restored)
	}
	// People have accounts only where the register names the purpose
	// they are kept for (examples of operators without sign-up yet).
	if cfg.AccountsConfigured() {
		if a.ids, err = identity.New(identity.Deps{DB: a.db, Gate: a.gate, Register: &cfg.Register, Config: cfg.Identity,
			Jurisdiction: cfg.Operator.Jurisdiction, Messenger: messenger{a.outbox}, Documents: a.docs, Consents: a.ledger,
			Audit: a.audit, Jobs: a.queue, Index: v.Index, Logger: log.With("component", "identity")}); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		a.ids.Register(a.runner)
	}
	if a.prefs, err = preferences.New(a.db, a.outbox, a.audit, bundle,
		func(subject, purpose string, at time.Time) bool {
			return a.ledger.Allowed(subject, purpose, at).Allowed
		},
		preferences.Config{MarketingPurpose: cfg.Messages.MarketingPurpose, InformingPurpose: cfg.Messages.InformingPurpose,
			BaseURL: cfg.Server.BaseURL, UnsubscribeKey: v.Index("unsubscribe", "token-key")}); err != nil {
		return nil, fmt.Errorf("notification settings: %w", err)
	}
	a.prefs.Register(a.runner)
	if cfg.Uploads.Enabled() {
		u := cfg.Uploads
		fc := files.Config{MaxSize: int64(u.MaxSizeMB) << 20, AllowedTypes: u.Types, Dir: u.Dir, Clamd: u.Clamd,
			Purpose: u.Purpose, Category: u.Category, RetentionDays: u.RetentionDays,
			S3: files.S3Config{Endpoint: u.S3.Endpoint, Region: u.S3.Region, Bucket: u.S3.Bucket, Prefix: u.S3.Prefix, AccessKey: u.S3.AccessKey}}
		if u.S3.SecretEnv != "" {
			fc.S3.SecretKey = getenv(u.S3.SecretEnv)
		}
		if a.files, err = files.New(a.db, a.gate, a.audit, nil, nil, fc, files.Options{Logger: log.With("component", "files")}); err != nil {
			return nil, fmt.Errorf("uploads: %w", err)
		}
		a.files.Register(a.runner)
	}
	receiptSigner, made, err := receipts.LoadOrCreateKeyFile(filepath.Join(cfg.DataDir, receipts.KeyFileName))
	if err != nil {
		return nil, fmt.Errorf("consent receipt key: %w", err)
	}
	if made {
		log.Warn("created the key that signs consent receipts; back it up — receipts already issued are verified with it", "file", filepath.Join(cfg.DataDir, receipts.KeyFileName))
	}
	a.receipts = receiptService{cfg: cfg, ledger: a.ledger, signer: receiptSigner, bundle: bundle}
	if a.fed, err = federation.New(a.db, cfg.Providers, cfg.Server.BaseURL, federation.Options{Logger: log.With("component", "federation"), Getenv: getenv}); err != nil {
		return nil, fmt.Errorf("identity providers: %w", err)
	}
	a.runner.Every("jobs.prune", time.Hour, func(ctx context.Context, _ jobs.Job) error {
		_, err := a.queue.Prune(ctx, time.Now().Add(-7*24*time.Hour))
		return err
	})

	var apiHandler http.Handler
	if a.ids != nil {
		if apiHandler, err = api.New(api.Deps{Identity: a.ids, Bundle: bundle, Logger: log.With("component", "api"),
			ClientAddr: func(r *http.Request) netip.Addr { return web.ClientAddr(r.Context()) },
			RequestID:  func(r *http.Request) string { return web.RequestID(r.Context()) }}); err != nil {
			return nil, err
		}
	}
	a.web, err = web.New(web.Deps{Config: cfg, Logger: log, Bundle: bundle, DB: a.db, Registry: reg, Documents: a.docs,
		Identity: a.ids, Federation: a.fed, Console: console(a.outbox), API: apiHandler, Consents: a.ledger, PersonalData: a.gate, Notifications: a.prefs, Files: uploads(a.files), Receipts: a.receipts,
		Timeline: func(ctx context.Context, subject string, actions []string, before int64, limit int) ([]audit.Entry, error) {
			return audit.Timeline(ctx, a.db, subject, actions, before, limit)
		}})
	if err != nil {
		return nil, fmt.Errorf("build web surface: %w", err)
	}
	return a, nil
}

// serve listens until ctx is cancelled, then shuts down in order: stop
// accepting, let requests in flight finish, stop the job workers.
func (a *app) serve(ctx context.Context, e *env) error {
	ln, err := net.Listen("tcp", a.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Server.Listen, err)
	}
	srv := &http.Server{
		Handler:           a.web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if a.cfg.Server.TLSCertFile != "" {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s/", scheme, ln.Addr())
	a.log.Info("kabinet is serving", "url", url, "operator", a.cfg.Operator.ShortName.In(a.cfg.DefaultLanguage(), ""), "engine", a.db.Engine().String())
	fmt.Fprintf(e.stdout, "kabinet: serving %s\n", url)

	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.runner.Run(jobsCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("job runner stopped", "err", err)
		}
	})

	served := make(chan error, 1)
	go func() {
		if a.cfg.Server.TLSCertFile != "" {
			served <- srv.ServeTLS(ln, a.cfg.Server.TLSCertFile, a.cfg.Server.TLSKeyFile)
		} else {
			served <- srv.Serve(ln)
		}
	}()

	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
		a.log.Info("shutting down: finishing requests in flight", "timeout", a.cfg.Server.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Server.ShutdownTimeout)
		serveErr = srv.Shutdown(sctx)
		cancel()
		<-served
	}
	stopJobs()
	wg.Wait()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	if serveErr != nil {
		return fmt.Errorf("serve: %w", serveErr)
	}
	a.log.Info("stopped cleanly")
	return nil
}

func (a *app) close() {
	if a.ledger != nil {
		if err := a.ledger.Close(); err != nil {
			a.log.Error("close consent ledger", "err", err)
		}
	}
	if a.audit != nil {
		if err := a.audit.Close(); err != nil {
			a.log.Error("close audit log", "err", err)
		}
	}
	if a.keys != nil {
		a.keys.Close()
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Error("close database", "err", err)
		}
	}
}

// evidenceSealer seals the evidence of consents (time, address, browser)
// through the gate, for the built-in purpose of proving consent.
type evidenceSealer struct{ g *gate.Gate }

var consentActor = audit.Actor{Kind: audit.ActorSystem, ID: "consent-ledger"}

func (s evidenceSealer) SealEvidence(ctx context.Context, subject string, plaintext []byte) ([]byte, error) {
	return s.g.Seal(ctx, gate.Request{Actor: consentActor, Subject: subject, Purpose: register.PurposeConsentProof}, register.CategoryConsentEvidence, plaintext)
}

func (s evidenceSealer) OpenEvidence(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	return s.g.Open(ctx, gate.Request{Actor: consentActor, Subject: subject, Purpose: register.PurposeConsentProof}, register.CategoryConsentEvidence, sealed)
}

// messenger hands identity's messages to the outbox.
type messenger struct{ o *notify.Outbox }

func (m messenger) Send(ctx context.Context, msg identity.Message) (int64, error) {
	return m.o.Send(ctx, notify.Message{Subject: msg.Subject, Channel: notify.Channel(msg.Channel), Template: msg.Template,
		Params: msg.Params, Lang: msg.Lang, ExpiresAt: msg.ExpiresAt, RequestID: msg.RequestID})
}

// console is the demo's message log for the web page, or nil.
func console(o *notify.Outbox) web.Console {
	if c := o.Console(); c != nil {
		return c
	}
	return nil
}

// uploads is the files service for the web, or nil when uploads are off.
func uploads(f *files.Service) web.Files {
	if f == nil {
		return nil
	}
	return f
}
