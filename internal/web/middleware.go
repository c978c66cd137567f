package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"kabinet/internal/fault"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyClientAddr
	keyHTTPS
)

func requestID(ctx context.Context) string { s, _ := ctx.Value(keyRequestID).(string); return s }

// RequestID is the id the middleware gave the request, for other surfaces
// (the API) that share the middleware.
func RequestID(ctx context.Context) string { return requestID(ctx) }

// ClientAddr is the address of the person's device: the peer, or — when the
// peer is a trusted proxy — the nearest untrusted address it reports.
func ClientAddr(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(keyClientAddr).(netip.Addr)
	return a
}

func isHTTPS(ctx context.Context) bool { b, _ := ctx.Value(keyHTTPS).(bool); return b }

// middleware wraps the mux with what every response needs. The order
// matters: the request context is set up first so that logs and error
// pages can name the request id; the cross-origin check runs last, next to
// the routes it guards.
func (s *Server) middleware(mux http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern(unsubscribePattern)
	cop.SetDenyHandler(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return fault.New(fault.Forbidden, "error.forbidden_cross_site")
	}))
	var h http.Handler = cop.Handler(mux)
	h = s.securityHeaders(h)
	h = s.recoverPanics(h)
	h = s.observe(h)
	return s.requestContext(h)
}

// requestContext assigns the request id and works out the client address
// and scheme, believing X-Forwarded-* only from trusted proxies.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := peerAddr(r.RemoteAddr)
		fromProxy := s.trustedAddr(peer)
		client, https := peer, r.TLS != nil
		id := ""
		if fromProxy {
			client = s.forwardedClient(r.Header.Values("X-Forwarded-For"), peer)
			https = https || strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
			id = r.Header.Get("X-Request-Id")
		}
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ctx = context.WithValue(ctx, keyClientAddr, client)
		ctx = context.WithValue(ctx, keyHTTPS, https)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func (s *Server) trustedAddr(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient walks X-Forwarded-For from the right (the hop nearest to
// us) and returns the first address that is not a trusted proxy: addresses
// further left were written by the client and may be forged.
func (s *Server) forwardedClient(headers []string, peer netip.Addr) netip.Addr {
	var hops []string
	for _, h := range headers {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !s.trustedAddr(client) {
			break
		}
	}
	return client
}

func newRequestID() string {
	var b [10]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// contentSecurityPolicy allows nothing inline and nothing from elsewhere:
// pages work without JavaScript, and styles come from our own stylesheet.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if isHTTPS(r.Context()) {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a logged internal error and a 500 page.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.fail(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs every request and records its metrics by route pattern.
// Neither carries the path, query, client address or user agent: those
// can be personal data, and the log is no place for them.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.metrics.observe(r.Method, route, sw.status, d)
		s.log.LogAttrs(r.Context(), levelFor(sw.status), "request",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes), slog.Duration("duration", d), slog.String("request_id", requestID(r.Context())))
	})
}
