package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/template"
	"time"

	"kabinet/internal/config"
)

// Gateway delivers SMS or flash calls through a provider's HTTP API, as
// config.HTTPGateway describes: a request built from templates, success on
// a 2xx answer (and, if configured, a JSON field with the expected value),
// the provider's message id taken from a JSON field.
//
// For a flash call the template gets the code in .Code; the provider rings
// the number from a caller number ending in those digits.
type Gateway struct {
	cfg     config.HTTPGateway
	url     *template.Template
	body    *template.Template
	headers map[string]*template.Template
	token   string
	client  *http.Client
}

// NewGateway returns a Gateway for cfg (defaults applied and validated by
// package config), reading its token with getenv. A missing token or a
// template that does not parse is an error.
func NewGateway(cfg config.HTTPGateway, getenv func(string) string, client *http.Client) (*Gateway, error) {
	g := &Gateway{cfg: cfg, client: client, headers: map[string]*template.Template{}}
	if cfg.TokenEnv != "" {
		if g.token = getenv(cfg.TokenEnv); g.token == "" {
			return nil, fmt.Errorf("gateway: the token variable %s is not set", cfg.TokenEnv)
		}
	}
	parse := func(name, text string) (*template.Template, error) {
		t, err := template.New(name).Funcs(config.GatewayFuncs()).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("gateway %s template: %w", name, err)
		}
		return t, nil
	}
	var err error
	if g.url, err = parse("url", cfg.URL); err != nil {
		return nil, err
	}
	if g.body, err = parse("body", cfg.Body); err != nil {
		return nil, err
	}
	for name, v := range cfg.Headers {
		if g.headers[name], err = parse("header "+name, v); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// maxAnswer bounds how much of a provider's answer is read.
const maxAnswer = 64 << 10

// Deliver sends one request. 408, 425, 429 and 5xx answers and network
// errors are retried (after Retry-After when the provider sends one); other
// 4xx answers are permanent. Errors carry the status only: providers echo
// numbers in their answers.
func (g *Gateway) Deliver(ctx context.Context, m Outgoing) (string, error) {
	data := map[string]string{"To": m.To, "Text": m.Text, "Code": m.Code, "ID": m.ID, "Token": g.token}
	exec := func(t *template.Template) (string, error) {
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			// The template's error names the template, not the data.
			return "", &SendError{Err: fmt.Errorf("gateway: %s template failed", t.Name()), Permanent: true}
		}
		return b.String(), nil
	}
	u, err := exec(g.url)
	if err != nil {
		return "", err
	}
	var body io.Reader
	if g.cfg.Method != http.MethodGet {
		b, err := exec(g.body)
		if err != nil {
			return "", err
		}
		body = strings.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, g.cfg.Method, u, body)
	if err != nil {
		return "", &SendError{Err: errors.New("gateway: the url template does not render a valid URL"), Permanent: true}
	}
	if body != nil {
		req.Header.Set("Content-Type", g.cfg.ContentType)
	}
	req.Header.Set("User-Agent", "kabinet")
	switch g.cfg.Auth {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+g.token)
	case "basic":
		req.SetBasicAuth(g.cfg.Username, g.token)
	}
	for name, t := range g.headers {
		v, err := exec(t)
		if err != nil {
			return "", err
		}
		req.Header.Set(name, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, which may hold the number or the
		// token: keep only the cause.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return "", fmt.Errorf("gateway: %s request: %w", g.cfg.Method, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("gateway: read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &SendError{Err: fmt.Errorf("gateway answered %d", resp.StatusCode)}
		switch code := resp.StatusCode; {
		case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests || code >= 500:
			se.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		default:
			se.Permanent = true
		}
		return "", se
	}
	if g.cfg.SuccessPath == "" && g.cfg.ProviderIDPath == "" {
		return "", nil
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		if g.cfg.SuccessPath != "" {
			return "", fmt.Errorf("gateway answered %d without JSON", resp.StatusCode)
		}
		return "", nil // delivered; the id is only a convenience
	}
	if g.cfg.SuccessPath != "" {
		if v, ok := jsonAt(doc, g.cfg.SuccessPath); !ok || v != g.cfg.SuccessValue {
			// Providers that answer 200 with an error status say nothing
			// reliable about whether a retry helps: retry, within limits.
			return "", fmt.Errorf("gateway answered %d but %s is not %q", resp.StatusCode, g.cfg.SuccessPath, g.cfg.SuccessValue)
		}
	}
	id, _ := jsonAt(doc, g.cfg.ProviderIDPath)
	return id, nil
}

// jsonAt returns the scalar at path ("data.id", "messages.0.id") in doc
// as text.
func jsonAt(doc any, path string) (string, bool) {
	if path == "" {
		return "", false
	}
	for seg := range strings.SplitSeq(path, ".") {
		switch v := doc.(type) {
		case map[string]any:
			doc = v[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return "", false
			}
			doc = v[i]
		default:
			return "", false
		}
	}
	switch v := doc.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0
// when absent or unparsable. It is capped at an hour.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(h); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}
