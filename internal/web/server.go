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

	"github.com/prometheus/client_golang/prometheus"

	"kabinet/internal/config"
	"kabinet/internal/i18n"
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
}

// Server is the portal's http.Handler.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	bundle  *i18n.Bundle
	db      Pinger
	docs    Documents
	views   *views
	metrics *httpMetrics
	trusted []netip.Prefix
	handler http.Handler
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
		cfg:     d.Config,
		log:     d.Logger,
		bundle:  d.Bundle,
		db:      d.DB,
		docs:    d.Documents,
		views:   v,
		metrics: m,
		trusted: d.Config.TrustedProxyPrefixes(),
	}
	mux := http.NewServeMux()
	s.routes(mux, d.Registry)
	s.handler = s.middleware(mux)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
