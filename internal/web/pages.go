package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kabinet/internal/fault"
)

// home is the portal's start page: who runs it, what it offers, and the
// ways in.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "home", nil)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return fault.New(fault.NotFound, "error.not_found.text")
}

// setLanguage stores the chosen language in a cookie and returns to the
// page the form was on (only a local path, never another site).
func (s *Server) setLanguage(w http.ResponseWriter, r *http.Request) error {
	lang := r.PostFormValue("lang")
	if !s.supported(lang) {
		return fault.New(fault.Invalid, "error.invalid")
	}
	http.SetCookie(w, &http.Cookie{
		Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: isHTTPS(r.Context()), SameSite: http.SameSiteLaxMode,
	})
	back := "/"
	if u, err := url.Parse(r.PostFormValue("back")); err == nil && u.Host == "" && u.Scheme == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(u.Path, "//") {
		back = u.RequestURI()
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

func (s *Server) supported(lang string) bool {
	for _, l := range s.cfg.Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// healthz says the process is alive; it checks nothing else, so a slow
// database does not get a healthy process restarted.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz says whether this process can serve: the database answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.db.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err, "request_id", requestID(r.Context()))
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unavailable\n"))
		return
	}
	w.Write([]byte("ready\n"))
}
