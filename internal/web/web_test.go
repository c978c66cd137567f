package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"kabinet/internal/config"
	"kabinet/internal/documents"
	"kabinet/internal/i18n"
	"kabinet/internal/notify"
)

type fakePinger struct{ err error }

func (p fakePinger) Ping(context.Context) error { return p.err }

func newTestServer(t *testing.T, mutate func(*config.Config), db Pinger) (*Server, *httptest.Server) {
	t.Helper()
	return newTestServerDocs(t, mutate, db, nil)
}

// newTestServerDocs is newTestServer serving docs; nil publishes the
// configured operator's documents into a fresh database.
func newTestServerDocs(t *testing.T, mutate func(*config.Config), db Pinger, docs Documents) (*Server, *httptest.Server) {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(cfg)
	}
	bundle, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	if db == nil {
		db = fakePinger{}
	}
	if docs == nil {
		docs = publishedDocuments(t, cfg, bundle)
	}
	s, err := New(Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Bundle: bundle, DB: db, Registry: prometheus.NewRegistry(), Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

type response struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func newReq(t *testing.T, method, u string, body io.Reader, headers ...string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

// missingKey matches how the localizer shows a key it has no text for.
var missingKey = regexp.MustCompile(`\[[a-z_]+(\.[a-z_]+)+\]`)

func TestHomePageLanguagesAndHeaders(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	cases := []struct {
		name    string
		headers []string
		lang    string
		want    []string
	}{
		{"default russian", nil, "ru", []string{"Войти", "Зарегистрироваться", "Портал государственных и муниципальных услуг Демонстрационной области", "4 услуги", "ИНН 9901001239"}},
		{"accept-language english", []string{"Accept-Language", "en-GB,en;q=0.9"}, "en", []string{"Sign in", "Digital Services Centre of the Demo Region"}},
		{"cookie wins over header", []string{"Accept-Language", "en", "Cookie", "lang=ru"}, "ru", []string{"Войти"}},
		{"unsupported falls back to russian", []string{"Accept-Language", "de-DE"}, "ru", []string{"Войти"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, newReq(t, "GET", ts.URL+"/", nil, c.headers...))
			if r.code != 200 {
				t.Fatalf("status %d", r.code)
			}
			if got := r.header.Get("Content-Language"); got != c.lang {
				t.Errorf("Content-Language %q, want %q", got, c.lang)
			}
			for _, w := range c.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if m := missingKey.FindString(r.body); m != "" {
				t.Errorf("page shows an untranslated key %s", m)
			}
		})
	}
	r := do(t, newReq(t, "GET", ts.URL+"/", nil))
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"X-Frame-Options":        "DENY",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(r.body, "<script>") || strings.Contains(r.body, " style=") {
		t.Error("inline script or style present")
	}
	if r.header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP from an untrusted peer")
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
}

func TestEveryPageRendersInEveryLanguage(t *testing.T) {
	s, _ := newTestServer(t, nil, nil)
	// A form with an error on field, and values.
	failed := func(field, key string, values map[string]string) func() *form {
		return func() *form {
			f := &form{Values: map[string]string{}, Errors: map[string]string{}}
			for k, v := range values {
				f.Values[k] = v
			}
			f.fail(field, key)
			return f
		}
	}
	forms := map[string]func() *form{
		"signup":        failed("identifier", "signup.identifier_missing", map[string]string{"method": "phone", "channel": "call"}),
		"code":          failed("code", "signup.identifier_missing", map[string]string{"action": "/signup/code", "channel": "call", "with_password": "yes", "demo": "yes"}),
		"signup_finish": failed("terms", "signup.identifier_missing", nil),
		"signin":        failed("password", "signup.identifier_missing", map[string]string{"identifier": "+79160000000"}),
		"identify":      failed("identifier", "signup.identifier_missing", map[string]string{"title": "reset.title", "lead": "reset.lead", "action": "/reset"}),
		"delete":        failed("channel", "signup.identifier_missing", nil),
		"link":          failed("password", "signup.identifier_missing", nil),
		"files":         failed("file", "files.choose", nil),
		"contact":       failed("value", "identity.contact_taken", map[string]string{"method": "phone", "channel": "call"}),
		"data":          failed("v.tax.inn", "idnum.inn_person.checksum", map[string]string{"notice": "data.saved"}),
	}
	data := map[string]any{
		"home": nil,
		"cabinet": cabinetPage{Notice: "cabinet.welcome", Level: "standard",
			Functions: []functionRow{{Title: "Услуги", Allowed: false, Needs: "verified"}, {Title: "Кабинет", Allowed: true, Needs: "simplified"}},
			Sessions:  []sessionRow{{ID: "a", Device: "Chrome, Linux", IP: "203.0.113.1", LastSeen: "22.11.2026 12:00", Current: true}, {ID: "b", Device: "Safari, iOS", IP: "198.51.100.2", LastSeen: "21.11.2026 09:00"}}},
		"message": messagePage{TitleKey: "deleted.title", TextKey: "deleted.text"},
		"notifications": notificationsPage{Notice: "notifications.saved", Marketing: true, Unread: 2,
			Channels: []channelCol{{Label: "В кабинете", Available: true}, {Label: "Push"}},
			Topics:   []topicRow{{Label: "Служебные", Hint: "о работе", Cells: []settingCell{{Name: "cabinet.service", On: true, Fixed: true, Label: "a"}, {Name: "push.service", Label: "b"}}}},
			Inbox:    []inboxItem{{ID: 1, When: "22.11.2026 12:00", Subject: "Тема", Body: "Текст", Unread: true}}},
		"unsubscribe": unsubscribeData{Token: "abc", What: "Реклама: e-mail"},
		"history": historyPageData{Kind: "signins", Kinds: []string{"signins", "data", "consents", "documents", "sessions", "account"},
			Rows: []historyEntry{{When: "22.11.2026 12:00", Action: "Вход", Detail: "Chrome, Linux · 203.0.113.1"}, {When: "22.11.2026 12:01", Action: "Изменение", Categories: []string{"Номер телефона"}}},
			More: "/cabinet/history?before=10"},
		"consents": consentsPage{Notice: "consents.given_notice", Purposes: []purposeRow{
			{ID: "portal", Title: "Портал", Basis: "закон", Retention: "до", Categories: []string{"Телефон"}},
			{ID: "informing", Title: "Информирование", Basis: "согласие", ConsentBased: true, Active: true, Status: "дано", Since: "01.01.2026", Expires: "01.01.2029", Term: "3 года", TextPath: "/documents/c/ab", Receipt: true},
			{ID: "marketing", Title: "Реклама", Basis: "согласие", ConsentBased: true, Status: "отозвано", Term: "до отзыва"}}},
		"demo_messages": []notify.ConsoleMessage{{Channel: "call", To: "+7 916 ***-**-67", Text: "Код", Code: "12345"}},
		"error":         errorPage{Status: 500, TitleKey: "error.internal.title", Key: "error.internal"},
		"document": documentPage{
			Version: documents.Version{DocID: "policy", Lang: "ru", Label: "1", Title: "Политика", Hash: strings.Repeat("ab", 32), HTML: "<article></article>"},
			Date:    "01.09.2025 09:00 UTC", Old: true, CurrentPath: "/policy", HistoryPath: "/documents/policy", Fallback: "Русский",
		},
		"document_history": historyPage{Title: "Политика", Rows: []historyRow{
			{Date: "01.09.2025 09:00 UTC", Label: "1", Lang: "ru", LangName: "Русский", Hash: "abababababab", Path: "/documents/policy/abababababab", Current: true},
			{Date: "01.08.2025 09:00 UTC", Label: "0", Lang: "en", LangName: "English", Hash: "cdcdcdcdcdcd", Path: "/documents/policy/cdcdcdcdcdcd"},
		}},
	}
	for _, name := range pageNames {
		d, ok := data[name]
		if mk, isForm := forms[name]; isForm {
			ok = true
			if name == "files" {
				d = mk()
				d.(*form).Data = filesPage{Notice: "files.uploaded_notice", Accept: "application/pdf", MaxMB: 10,
					Files: []fileRow{{ID: "f1", Name: "паспорт.pdf", Type: "application/pdf", Size: "12 KB", Uploaded: "22.11.2026 12:00", DeleteAfter: "22.11.2031"}}}
			} else if name == "data" {
				d = mk()
				d.(*form).Data = []dataRow{{Name: "v.identity.name", Title: "ФИО", Value: "Петров", Editable: true},
					{Name: "v.identity.sex", Title: "Пол", Value: "male", Format: "sex", Editable: true},
					{Name: "v.tax.inn", Title: "ИНН", Value: "1", Format: "inn_person", Hint: "12 цифр", Editable: true},
					{Name: "v.social.snils", Title: "СНИЛС", Value: "112-233-445 95", Verified: true},
					{Name: "v.profile.photo", Title: "Фото", Format: "image", Editable: true, Image: "/cabinet/data/image/profile.photo"},
					{Name: "v.contact.phone", Title: "Телефон", Value: "+79160000000", Change: "/cabinet/contact/phone"}}
			} else if name == "signup_finish" {
				d = mk()
				d.(*form).Data = &finishPage{AgreementTitle: "Соглашение", AgreementPath: "/agreement", PolicyTitle: "Политика", PolicyPath: "/policy",
					Consents: []consentOffer{{Purpose: "informing", Title: "Информирование", Path: "/documents/c/ab", Checked: true}}}
			} else {
				d = mk()
			}
		}
		if !ok {
			t.Errorf("page %s has no test data: add it here", name)
			continue
		}
		for _, lang := range s.cfg.Languages {
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(&http.Cookie{Name: langCookie, Value: lang})
			w := httptest.NewRecorder()
			if err := s.render(w, req, 200, name, d); err != nil {
				t.Errorf("render %s/%s: %v", name, lang, err)
				continue
			}
			if m := missingKey.FindString(w.Body.String()); m != "" {
				t.Errorf("%s/%s shows an untranslated key %s", name, lang, m)
			}
		}
	}
}

func TestLanguageSwitch(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post := func(form url.Values) response {
		return do(t, newReq(t, "POST", ts.URL+"/lang", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"))
	}
	r := post(url.Values{"lang": {"en"}, "back": {"/signin"}})
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/signin" {
		t.Errorf("switch: %d → %q", r.code, r.header.Get("Location"))
	}
	if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "lang=en") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
		t.Errorf("cookie %q", c)
	}
	for _, evil := range []string{"//evil.example/", "https://evil.example/", "javascript:alert(1)"} {
		r = post(url.Values{"lang": {"en"}, "back": {evil}})
		if r.header.Get("Location") != "/" {
			t.Errorf("back=%q redirected to %q, want /", evil, r.header.Get("Location"))
		}
	}
	if r = post(url.Values{"lang": {"xx"}}); r.code != http.StatusBadRequest {
		t.Errorf("unknown language: %d, want 400", r.code)
	}
}

func TestCrossSiteFormPostIsRejected(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	form := strings.NewReader("lang=en")
	r := do(t, newReq(t, "POST", ts.URL+"/lang", form, "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"))
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "форма отправлена с другого сайта") {
		t.Errorf("cross-site post: %d, body lacks the localised refusal", r.code)
	}
	r = do(t, newReq(t, "POST", ts.URL+"/lang", strings.NewReader("lang=en"), "Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example"))
	if r.code != http.StatusForbidden {
		t.Errorf("post with a foreign Origin: %d, want 403", r.code)
	}
	r = do(t, newReq(t, "POST", ts.URL+"/lang", strings.NewReader("lang=en"), "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin"))
	if r.code != http.StatusSeeOther {
		t.Errorf("same-origin post: %d, want 303", r.code)
	}
}

func TestErrorPagesAreLocalisedAndHideInternals(t *testing.T) {
	s, ts := newTestServer(t, nil, nil)
	r := do(t, newReq(t, "GET", ts.URL+"/no/such/page", nil))
	if r.code != 404 || !strings.Contains(r.body, "Страница не найдена") {
		t.Errorf("404: %d", r.code)
	}
	r = do(t, newReq(t, "GET", ts.URL+"/no/such/page", nil, "Accept-Language", "en"))
	if !strings.Contains(r.body, "Page not found") {
		t.Error("404 not in English for an English reader")
	}

	// A handler that panics with a secret, and one that fails with one.
	secret := "SECRET-DETAIL-42 /home/operator/db.sqlite"
	for name, h := range map[string]http.Handler{
		"panic": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(secret) }),
		"error": s.handle(func(http.ResponseWriter, *http.Request) error { return errors.New(secret) }),
	} {
		srv := httptest.NewServer(s.requestContext(s.observe(s.recoverPanics(s.securityHeaders(h)))))
		r := do(t, newReq(t, "GET", srv.URL+"/", nil))
		srv.Close()
		if r.code != 500 {
			t.Errorf("%s: status %d, want 500", name, r.code)
		}
		if strings.Contains(r.body, "SECRET") || strings.Contains(r.body, "sqlite") {
			t.Errorf("%s: the 500 page shows internals", name)
		}
		if id := r.header.Get("X-Request-Id"); id == "" || !strings.Contains(r.body, id) {
			t.Errorf("%s: the 500 page does not show the request id %q", name, id)
		}
	}
}

func TestClientAddressAndHTTPSFromTrustedProxyOnly(t *testing.T) {
	var seen netip.Addr
	var https bool
	probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, https = ClientAddr(r.Context()), isHTTPS(r.Context())
	})
	for _, c := range []struct {
		name    string
		trusted []string
		want    string
		https   bool
	}{
		{"untrusted peer: headers ignored", nil, "127.0.0.1", false},
		{"trusted proxy: nearest untrusted hop", []string{"127.0.0.0/8", "10.0.0.0/8"}, "203.0.113.7", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newTestServer(t, func(cfg *config.Config) { cfg.Server.TrustedProxies = c.trusted }, nil)
			srv := httptest.NewServer(s.requestContext(s.securityHeaders(probe)))
			defer srv.Close()
			r := do(t, newReq(t, "GET", srv.URL+"/", nil, "X-Forwarded-For", "198.51.100.1, 203.0.113.7, 10.1.2.3", "X-Forwarded-Proto", "https"))
			if seen.String() != c.want || https != c.https {
				t.Errorf("client %s https %v, want %s %v", seen, https, c.want, c.https)
			}
			if hsts := r.header.Get("Strict-Transport-Security") != ""; hsts != c.https {
				t.Errorf("HSTS sent = %v, want %v", hsts, c.https)
			}
		})
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	_, ts := newTestServer(t, nil, fakePinger{err: errors.New("connection refused")})
	if r := do(t, newReq(t, "GET", ts.URL+"/healthz", nil)); r.code != 200 {
		t.Errorf("/healthz %d", r.code)
	}
	if r := do(t, newReq(t, "GET", ts.URL+"/readyz", nil)); r.code != 503 || strings.Contains(r.body, "refused") {
		t.Errorf("/readyz with a dead database: %d %q", r.code, r.body)
	}
	do(t, newReq(t, "GET", ts.URL+"/", nil))
	do(t, newReq(t, "GET", ts.URL+"/nowhere/12345", nil))
	r := do(t, newReq(t, "GET", ts.URL+"/metrics", nil))
	for _, want := range []string{
		`kabinet_http_requests_total{code="200",method="GET",route="GET /{$}"} 1`,
		`kabinet_http_requests_total{code="404",method="GET",route="/"} 1`,
		`kabinet_http_request_duration_seconds_bucket{method="GET",route="GET /{$}"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(r.body, "12345") {
		t.Error("/metrics carries a raw path")
	}
}

func TestStaticAssetsAreHashedAndCached(t *testing.T) {
	s, ts := newTestServer(t, nil, nil)
	u := s.views.assets["kabinet.css"]
	if !strings.Contains(u, "?v=") {
		t.Fatalf("asset URL %q has no content hash", u)
	}
	r := do(t, newReq(t, "GET", ts.URL+u, nil))
	if r.code != 200 || !strings.Contains(r.header.Get("Content-Type"), "text/css") || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
		t.Errorf("css: %d %q %q", r.code, r.header.Get("Content-Type"), r.header.Get("Cache-Control"))
	}
}
