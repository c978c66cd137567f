package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kabinet/internal/register"
)

// routes is the one place that lists the portal's URLs.
func (s *Server) routes(mux *http.ServeMux, reg *prometheus.Registry) {
	mux.Handle("GET /{$}", s.handle(s.home))
	mux.Handle("GET /signin", s.handle(s.comingSoon("nav.sign_in")))
	mux.Handle("GET /signup", s.handle(s.comingSoon("nav.sign_up")))
	mux.Handle("POST /lang", s.handle(s.setLanguage))
	mux.Handle("GET /policy", s.handle(s.currentDocument(register.DocPolicy)))
	mux.Handle("GET /agreement", s.handle(s.currentDocument(register.DocAgreement)))
	mux.Handle("GET /documents/{doc}", s.handle(s.documentHistory))
	mux.Handle("GET /documents/{doc}/{version}", s.handle(s.documentVersion))
	mux.Handle("GET /static/", s.static())
	mux.HandleFunc("GET /favicon.ico", s.favicon)

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	mux.Handle("/", s.handle(s.notFound))
}
