package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

const langCookie = "lang"

// pageNames lists every page template; parseViews fails when one is
// missing or broken, and a test renders each.
var pageNames = []string{"home", "error", "document", "document_history",
	"signup", "code", "signup_finish", "signin", "identify", "cabinet", "delete", "message", "demo_messages", "link", "history", "consents", "data", "notifications", "unsubscribe", "files", "contact"}

// views are the parsed templates: each page joined with the layout.
type views struct {
	pages  map[string]*template.Template
	assets map[string]string // file name → URL with a content hash, for caching
}

func parseViews() (*views, error) {
	v := &views{pages: map[string]*template.Template{}, assets: map[string]string{}}
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "static/")
		v.assets[name] = "/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read static assets: %w", err)
	}
	funcs := template.FuncMap{
		// dict passes several named values to a partial template.
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"asset": func(name string) (string, error) {
			if u, ok := v.assets[name]; ok {
				return u, nil
			}
			return "", fmt.Errorf("no static asset %q", name)
		},
	}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/forms.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		v.pages[name] = t
	}
	return v, nil
}

// Page is what every template receives: the request's language and
// translations, the operator, and the page's own data.
type Page struct {
	L         *i18n.Localizer
	Lang      string
	Languages []string
	Operator  config.Operator
	Portal    config.Portal
	Path      string // the current path, for the language switch to return to
	Agreement bool   // the operator publishes a user agreement (footer link)
	RequestID string
	SignedIn  bool   // a session is active: the header offers the cabinet and sign-out
	Level     string // the session's trust level
	Demo      bool   // the built-in demo operator: show where demo codes are
	Data      any
}

// T translates a message key in the page's language.
func (p *Page) T(key string, args ...any) string { return p.L.T(key, args...) }

// N translates a plural message key for count n.
func (p *Page) N(key string, n int, args ...any) string { return p.L.N(key, n, args...) }

// Text picks a configured text in the page's language.
func (p *Page) Text(t i18n.Text) string { return t.In(p.Lang, p.Languages[0]) }

// lang decides the language of a response: cookie, then Accept-Language,
// then the operator's default.
func (s *Server) lang(r *http.Request) string {
	cookie := ""
	if c, err := r.Cookie(langCookie); err == nil {
		cookie = c.Value
	}
	l := s.bundle.Negotiate(cookie, r.Header.Get("Accept-Language"))
	if !s.supported(l) {
		l = s.cfg.DefaultLanguage()
	}
	return l
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 page rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	t, ok := s.views.pages[name]
	if !ok {
		return fmt.Errorf("render: no page %q", name)
	}
	lang := s.lang(r)
	p := &Page{
		L: s.bundle.Localizer(lang), Lang: lang, Languages: s.cfg.Languages,
		Operator: s.cfg.Operator, Portal: s.cfg.Portal,
		Agreement: s.cfg.Register.DocumentOfKind(register.DocAgreement) != nil, Demo: s.cfg.Demo,
		Path: r.URL.Path, RequestID: requestID(r.Context()), Data: data,
	}
	if f, ok := data.(*form); ok {
		f.translate(p)
	}
	if sess, ok := sessionFrom(r.Context()); ok {
		p.SignedIn = true
		p.Level = sess.Level.String()
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang)
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Cookie, Accept-Language")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// handle adapts a handler that returns an error.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

var statusOf = map[fault.Kind]int{
	fault.Internal:     http.StatusInternalServerError,
	fault.NotFound:     http.StatusNotFound,
	fault.Conflict:     http.StatusConflict,
	fault.Invalid:      http.StatusBadRequest,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.RateLimited:  http.StatusTooManyRequests,
	fault.Unavailable:  http.StatusServiceUnavailable,
}

// errorPage is the data of the error template.
type errorPage struct {
	Status   int
	TitleKey string
	Key      string
	Args     []any
}

// fail logs err with the request id and shows a localised error page. An
// internal error shows only a generic message and the request id.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := fault.KindOf(err)
	status := statusOf[kind]
	level := slog.LevelInfo
	if kind == fault.Internal || kind == fault.Unavailable {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "kind", kind.String(), "err", err, "request_id", requestID(r.Context()))
	key, args := fault.Message(err)
	title := "error." + kind.String() + ".title"
	switch kind {
	case fault.NotFound, fault.Internal:
	default:
		title = "error.title"
	}
	if kind == fault.RateLimited {
		w.Header().Set("Retry-After", "60")
	}
	if rerr := s.render(w, r, status, "error", errorPage{Status: status, TitleKey: title, Key: key, Args: args}); rerr != nil {
		s.log.Error("render error page", "err", rerr, "request_id", requestID(r.Context()))
		if !errors.Is(rerr, http.ErrHandlerTimeout) {
			http.Error(w, http.StatusText(status), status)
		}
	}
}

// static serves the embedded assets; URLs carry a content hash, so they
// may be cached for a year.
func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static")
	files := http.FileServerFS(sub)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path.Ext(r.URL.Path) == "" {
			s.fail(w, r, fault.New(fault.NotFound, "error.not_found.text"))
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		files.ServeHTTP(w, r)
	}))
}

// favicon answers browsers that ask for /favicon.ico despite the icon link.
func (s *Server) favicon(w http.ResponseWriter, r *http.Request) {
	b, err := staticFiles.ReadFile("static/favicon.svg")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}
