// Package web is the portal's HTML surface: routes, handlers, templates,
// static assets, and the middleware every response passes through
// (request ids, logging without personal data, metrics, security headers,
// cross-site form rejection, client address behind trusted proxies).
//
// Handlers return an error; one adapter (handle) logs the detail and shows
// the person a localised page that never reveals internals.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kabinet/internal/config"
	"kabinet/internal/federation"
	"kabinet/internal/i18n"
	"kabinet/internal/identity"
	"kabinet/internal/notify"
)

// Pinger reports whether the database answers; /readyz uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is what the web surface needs from the rest of kabinet.
type Deps struct {
	Config   *config.Config
	Logger   *slog.Logger
	Bundle   *i18n.Bundle
	DB       Pinger
	Registry *prometheus.Registry // metrics are registered here and served at /metrics
	// Documents serves the published agreement, policy and consent texts.
	Documents Documents
	// Identity runs sign-up, sign-in, sessions and deletion; without it
	// (tests of the shell) those routes are absent.
	Identity *identity.Service
	// Federation signs in through external OpenID Connect providers.
	Federation *federation.Federation
	// PersonalData is the gate, for the cabinet's data page.
	PersonalData PersonalData
	// Files are the person's uploaded documents (nil: uploads off).
	Files Files
	// Notifications are the person's message settings and inbox.
	Notifications Notifications
	// Consents is the consent ledger, for the cabinet's consents page.
	Consents Consents
	// Timeline reads the person's own history from the audit log.
	Timeline History
	// Receipts serves consent receipts (nil: not offered).
	Receipts Receipts
	// Console is the demo operator's message log (nil for a real operator).
	Console Console
	// API serves /api/ (package api), behind the same middleware.
	API http.Handler
}

// Receipts makes the signed and the printable consent receipt of a
// subject's consent to a purpose (package receipts, wired in cmd).
type Receipts interface {
	JWS(ctx context.Context, subject, purpose, lang string) (string, error)
	PDF(ctx context.Context, subject, purpose, lang string) ([]byte, error)
	JWKS() ([]byte, error)
}

// Console lists the messages the demo "sent" (package notify's console
// sender), with recipients masked.
type Console interface {
	Recent() []notify.ConsoleMessage
}

// Server is the portal's http.Handler.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	bundle   *i18n.Bundle
	db       Pinger
	docs     Documents
	ids      *identity.Service
	consents Consents
	prefs    Notifications
	files    Files
	pd       PersonalData
	timeline History
	receipts Receipts
	fed      *federation.Federation
	console  Console
	api      http.Handler
	loc      *time.Location
	views    *views
	metrics  *httpMetrics
	trusted  []netip.Prefix
	handler  http.Handler
}

// New builds the portal handler. It parses every template and fails if
// any is broken, so a bad template stops start-up rather than a request.
func New(d Deps) (*Server, error) {
	if d.Documents == nil {
		return nil, errors.New("web: Deps.Documents is required")
	}
	v, err := parseViews()
	if err != nil {
		return nil, err
	}
	m, err := newHTTPMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      d.Config,
		log:      d.Logger,
		bundle:   d.Bundle,
		db:       d.DB,
		docs:     d.Documents,
		ids:      d.Identity,
		consents: d.Consents,
		prefs:    d.Notifications,
		files:    d.Files,
		pd:       d.PersonalData,
		timeline: d.Timeline,
		receipts: d.Receipts,
		fed:      d.Federation,
		console:  d.Console,
		api:      d.API,
		loc:      d.Config.Location(),
		views:    v,
		metrics:  m,
		trusted:  d.Config.TrustedProxyPrefixes(),
	}
	mux := http.NewServeMux()
	s.routes(mux, d.Registry)
	s.handler = s.middleware(mux)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
