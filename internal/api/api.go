// Package api is kabinet's JSON API for a mobile app: the same sign-up,
// sign-in, session and deletion flows as the portal's pages, with bearer
// tokens instead of cookies. Its routes are one table (routes.go) from
// which the mux is built; the OpenAPI 3.1 document served at
// /api/openapi.json is checked against that table by a test.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/identity"
)

//go:embed openapi.json
var openAPIDocument []byte

// Deps is what the API needs.
type Deps struct {
	Identity *identity.Service
	Bundle   *i18n.Bundle
	Logger   *slog.Logger
	// ClientAddr and RequestID read what the shared middleware put in the
	// request context (package web owns that middleware).
	ClientAddr func(*http.Request) netip.Addr
	RequestID  func(*http.Request) string
}

// API serves /api/.
type API struct {
	d   Deps
	mux *http.ServeMux
}

// New builds the API handler.
func New(d Deps) (*API, error) {
	if d.Identity == nil || d.Bundle == nil || d.Logger == nil || d.ClientAddr == nil || d.RequestID == nil {
		return nil, errors.New("api: every dependency is required")
	}
	a := &API{d: d, mux: http.NewServeMux()}
	for _, rt := range a.routes() {
		a.mux.Handle(rt.Method+" "+rt.Path, a.handle(rt))
	}
	a.mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDocument)
	})
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, fault.New(fault.NotFound, "api.no_such_endpoint"))
	})
	return a, nil
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// route is one endpoint: its handler decodes the request body into In
// (when not nil), and returns the value to send as JSON.
type route struct {
	Method, Path string
	Auth         bool // needs a bearer token
	Handler      func(r *http.Request, c call) (any, error)
}

// call is what a handler gets besides the request.
type call struct {
	client  identity.Client
	session identity.Session // when the route needs Auth
	token   string
}

const maxBody = 64 << 10

func (a *API) handle(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := call{client: identity.Client{IP: a.d.ClientAddr(r), UserAgent: r.UserAgent(), Lang: a.lang(r), RequestID: a.d.RequestID(r)}}
		if rt.Auth {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || tok == "" {
				a.fail(w, r, fault.New(fault.Unauthorized, "api.token_missing"))
				return
			}
			sess, err := a.d.Identity.Authenticate(r.Context(), tok)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			c.session, c.token = sess, tok
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		out, err := rt.Handler(r, c)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if out == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		json.NewEncoder(w).Encode(out)
	})
}

// decode reads a JSON body into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.Wrap(fault.Invalid, fmt.Errorf("decode body: %w", err), "api.body_invalid")
	}
	return nil
}

func (a *API) lang(r *http.Request) string {
	return a.d.Bundle.Negotiate("", r.Header.Get("Accept-Language"))
}

// Error is the body of every error response.
type Error struct {
	Error struct {
		Code    string `json:"code"`    // the fault kind: invalid, unauthorized, rate_limited, …
		Key     string `json:"key"`     // the message key, stable, for the app's own translations
		Message string `json:"message"` // the message in the request's language
		Request string `json:"request_id"`
	} `json:"error"`
}

var statusOf = map[fault.Kind]int{
	fault.Internal: 500, fault.NotFound: 404, fault.Conflict: 409, fault.Invalid: 400,
	fault.Unauthorized: 401, fault.Forbidden: 403, fault.RateLimited: 429, fault.Unavailable: 503,
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := fault.KindOf(err)
	level := slog.LevelInfo
	if kind == fault.Internal || kind == fault.Unavailable {
		level = slog.LevelError
	}
	a.d.Logger.Log(r.Context(), level, "api request failed", "kind", kind.String(), "err", err, "request_id", a.d.RequestID(r))
	key, args := fault.Message(err)
	var body Error
	body.Error.Code, body.Error.Key = kind.String(), key
	body.Error.Message = a.d.Bundle.Localizer(a.lang(r)).T(key, args...)
	body.Error.Request = a.d.RequestID(r)
	if kind == fault.RateLimited {
		w.Header().Set("Retry-After", "60")
	}
	if kind == fault.Unauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kabinet"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(statusOf[kind])
	json.NewEncoder(w).Encode(body)
}
