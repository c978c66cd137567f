package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/config"
	"kabinet/internal/notify"
)

// gatewayServer is a real HTTP server on 127.0.0.1 standing for a
// provider: it records requests and answers what answer says.
type gatewayServer struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(n int, w http.ResponseWriter)
}

type recorded struct {
	method, path, query, contentType, auth string
	body                                   string
}

func startGateway(t *testing.T, answer func(n int, w http.ResponseWriter)) *gatewayServer {
	g := &gatewayServer{answer: answer}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, recorded{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
			contentType: r.Header.Get("Content-Type"), auth: r.Header.Get("Authorization"), body: string(body)})
		n := len(g.reqs)
		g.mu.Unlock()
		g.answer(n, w)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gatewayServer) requests() []recorded {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]recorded(nil), g.reqs...)
}

func tokenEnv(name string) string {
	if name == "KABINET_SMS_TOKEN" {
		return "tok-123"
	}
	return ""
}

// The SMS gateway fails the first time, and the retry succeeds.
func TestHTTPGatewayRetriesThenSucceeds(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		gw := startGateway(t, func(n int, w http.ResponseWriter) {
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error": "busy, try again"}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status": "OK", "messages": [{"id": 987654, "to": "`+phone+`"}]}`)
		})
		cfg := messages(t)
		cfg.SMS.Sender = config.SenderHTTP
		cfg.SMS.HTTP.URL = gw.URL + "/v1/sms"
		cfg.SMS.HTTP.Auth, cfg.SMS.HTTP.TokenEnv = "bearer", "KABINET_SMS_TOKEN"
		cfg.SMS.HTTP.ProviderIDPath = "messages.0.id"
		cfg.SMS.HTTP.SuccessPath, cfg.SMS.HTTP.SuccessValue = "status", "OK"
		o := f.outbox(t, cfg, notify.Options{Getenv: tokenEnv})
		id := send(t, o, f, f.subject(t), notify.SMS, code)
		f.run(t, o)
		d := wait(t, o, id)
		if d.State != notify.Sent || d.Attempts != 2 || d.ProviderID != "987654" || d.LastError != "gateway answered 503" {
			t.Errorf("delivery = %+v, want sent on attempt 2 with provider id 987654", d)
		}
		reqs := gw.requests()
		if len(reqs) != 2 {
			t.Fatalf("gateway got %d requests, want 2", len(reqs))
		}
		r := reqs[1]
		var body struct{ To, Text, ID string }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("body %q: %v", r.body, err)
		}
		if r.method != "POST" || r.path != "/v1/sms" || r.contentType != "application/json" || r.auth != "Bearer tok-123" {
			t.Errorf("request %+v", r)
		}
		if body.To != phone || body.Text != "Код подтверждения: "+code+". Никому его не сообщайте." || body.ID != reqs[0].bodyID(t) {
			t.Errorf("body %+v; the id must be the same on every attempt", body)
		}
	})
}

func (r recorded) bodyID(t *testing.T) string {
	var b struct{ ID string }
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		t.Fatal(err)
	}
	return b.ID
}

// A flash-call gateway with a GET URL template and basic auth gets the
// number and the code; a rejected request (4xx) is not retried.
func TestFlashCallSendsTheCode(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		gw := startGateway(t, func(n int, w http.ResponseWriter) {
			if n == 2 {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"call_id": "c-1"}`)
		})
		cfg := messages(t)
		cfg.Call.Sender = config.SenderHTTP
		cfg.Call.HTTP = config.HTTPGateway{Method: "GET", URL: gw.URL + "/call?phone={{urlquery .To}}&pin={{.Code}}&key={{.Token}}",
			Auth: "basic", Username: "portal", TokenEnv: "KABINET_SMS_TOKEN", ProviderIDPath: "call_id", Timeout: 5 * time.Second}
		o := f.outbox(t, cfg, notify.Options{Getenv: tokenEnv})
		s := f.subject(t)
		f.run(t, o)
		d := wait(t, o, send(t, o, f, s, notify.Call, "48291"))
		if d.State != notify.Sent || d.ProviderID != "c-1" {
			t.Errorf("delivery = %+v", d)
		}
		r := gw.requests()[0]
		q, _ := url.ParseQuery(r.query)
		if r.method != "GET" || q.Get("phone") != phone || q.Get("pin") != "48291" || q.Get("key") != "tok-123" || r.body != "" {
			t.Errorf("request %+v", r)
		}
		if !strings.HasPrefix(r.auth, "Basic ") {
			t.Errorf("authorization %q, want basic", r.auth)
		}
		// The gateway rejects the next one: failed at once.
		d = wait(t, o, send(t, o, f, s, notify.Call, "11111"))
		if d.State != notify.Failed || d.Attempts != 1 || d.LastError != "gateway answered 400" {
			t.Errorf("rejected call = %+v", d)
		}
	})
}

// A 429 with Retry-After is retried after the time the provider asked for.
func TestGatewayRetryAfter(t *testing.T) {
	gw := startGateway(t, func(n int, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	cfg := messages(t).SMS.HTTP
	cfg.URL = gw.URL
	g, err := notify.NewGateway(cfg, func(string) string { return "" }, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Deliver(context.Background(), notify.Outgoing{To: phone, Text: "x", ID: "1"})
	se, ok := err.(*notify.SendError)
	if !ok || se.Permanent || se.RetryAfter != 2*time.Minute {
		t.Errorf("err = %#v, want a retry after 2m", err)
	}
	if strings.Contains(err.Error(), phone) {
		t.Errorf("error %q names the recipient", err)
	}
}
