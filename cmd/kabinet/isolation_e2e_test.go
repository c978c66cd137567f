package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"kabinet/internal/files/filestest"
)

// person is an account made through the API, with a web session too.
type person struct {
	email, password, token string
	web                    *http.Client
}

func newPerson(t *testing.T, s *started, email, masked, password string) *person {
	t.Helper()
	api := s.url + "/api/v1"
	var flow struct {
		FlowID string `json:"flow_id"`
	}
	jsonCall(t, "POST", api+"/signup/start", "", map[string]string{"method": "email", "identifier": email, "channel": "email"}, &flow)
	code := waitForCode(t, s, masked)
	if st := jsonCall(t, "POST", api+"/signup/confirm", "", map[string]string{"flow_id": flow.FlowID, "code": code}, nil); st != 204 {
		t.Fatalf("confirm %s: %d", email, st)
	}
	var signed struct{ Token string }
	jsonCall(t, "POST", api+"/signup/finish", "", map[string]any{"flow_id": flow.FlowID, "password": password,
		"accept_agreement": true, "accept_policy": true, "consents": []string{"informing"}}, &signed)
	jar, _ := cookiejar.New(nil)
	p := &person{email: email, password: password, token: signed.Token, web: &http.Client{Jar: jar}}
	if body := p.post(t, s, "/signin", url.Values{"identifier": {email}, "password": {password}}); !strings.Contains(body, "Личный кабинет") {
		t.Fatalf("web sign-in of %s failed", email)
	}
	return p
}

func (p *person) get(t *testing.T, s *started, path string) (int, string) {
	t.Helper()
	resp, err := p.web.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *person) post(t *testing.T, s *started, path string, form url.Values) string {
	t.Helper()
	resp, err := p.web.PostForm(s.url+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (p *person) status(t *testing.T, s *started, method, path string, form url.Values) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.web.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUserCannotReachAnotherUsersData: user A tries every cabinet route
// and API endpoint that names something of user B's, and everything that
// shows "my" data, and finds nothing of B's.
func TestUserCannotReachAnotherUsersData(t *testing.T) {
	s := startServe(t)
	a := newPerson(t, s, "alla@example.ru", "a***@example.ru", "Alla-Strong-Pass-1")
	b := newPerson(t, s, "boris@example.ru", "b***@example.ru", "Boris-Strong-Pass-2")

	// B has data and a second session.
	b.post(t, s, "/cabinet/data", url.Values{"v.identity.name": {"Борисов Борис"}, "v.tax.inn": {"500100732259"}})
	var bSessions []struct{ ID string }
	if st := jsonCall(t, "GET", s.url+"/api/v1/sessions", b.token, nil, &bSessions); st != 200 || len(bSessions) != 2 {
		t.Fatalf("B's sessions: %d %d", st, len(bSessions))
	}

	// A revokes B's sessions through the cabinet and the API: not found.
	for _, bs := range bSessions {
		if st := a.status(t, s, "POST", "/cabinet/sessions/"+bs.ID+"/revoke", nil); st != http.StatusNotFound {
			t.Errorf("A revoking B's session %s in the cabinet: %d, want 404", bs.ID, st)
		}
		if st := jsonCall(t, "DELETE", s.url+"/api/v1/sessions/"+bs.ID, a.token, nil, nil); st != http.StatusNotFound {
			t.Errorf("A revoking B's session %s through the API: %d, want 404", bs.ID, st)
		}
	}
	if st := jsonCall(t, "GET", s.url+"/api/v1/account", b.token, nil, nil); st != 200 {
		t.Errorf("B's session stopped working after A's attempts: %d", st)
	}

	// Everything A sees as "mine" holds nothing of B's.
	for _, path := range []string{"/cabinet", "/cabinet/data", "/cabinet/history", "/cabinet/consents"} {
		_, body := a.get(t, s, path)
		body = mainOf(body)
		for _, bs := range bSessions {
			if strings.Contains(body, bs.ID) {
				t.Errorf("%s shows B's session id", path)
			}
		}
		for _, value := range []string{"Борисов", "500100732259", "boris@", "b***@"} {
			if strings.Contains(body, value) {
				t.Errorf("%s shows B's %q", path, value)
			}
		}
	}
	var aSessions []struct{ ID string }
	jsonCall(t, "GET", s.url+"/api/v1/sessions", a.token, nil, &aSessions)
	for _, as := range aSessions {
		for _, bs := range bSessions {
			if as.ID == bs.ID {
				t.Error("the API lists B's session to A")
			}
		}
	}
	if _, hist := a.get(t, s, "/cabinet/history"); strings.Contains(mainOf(hist), "ИНН") {
		t.Error("A's history shows B's data change")
	}

	// B's uploaded document: A can neither download nor delete it.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "boris.pdf")
	fw.Write(filestest.TinyPDF("Boris", nil, 0))
	mw.Close()
	req, _ := http.NewRequest("POST", s.url+"/cabinet/documents", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := b.web.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, list := b.get(t, s, "/cabinet/documents")
	m := regexp.MustCompile(`href="/cabinet/documents/([A-Za-z0-9_-]+)"`).FindStringSubmatch(list)
	if m == nil {
		t.Fatal("B's upload is not listed")
	}
	if st, _ := a.get(t, s, "/cabinet/documents/"+m[1]); st != http.StatusNotFound {
		t.Errorf("A downloading B's document: %d, want 404", st)
	}
	if st := a.status(t, s, "POST", "/cabinet/documents/"+m[1]+"/delete", nil); st != http.StatusNotFound {
		t.Errorf("A deleting B's document: %d, want 404", st)
	}
	if st, body := b.get(t, s, "/cabinet/documents/"+m[1]); st != 200 || !strings.HasPrefix(body, "%PDF-") {
		t.Errorf("B's own download after A's attempts: %d", st)
	}
	if _, aList := a.get(t, s, "/cabinet/documents"); strings.Contains(aList, "boris.pdf") {
		t.Error("A's document list shows B's file")
	}

	// A's consent withdrawal does not touch B's consent.
	a.post(t, s, "/cabinet/consents/informing/withdraw", nil)
	if _, body := b.get(t, s, "/cabinet/consents"); !strings.Contains(body, `action="/cabinet/consents/informing/withdraw"`) {
		t.Error("B's consent changed when A withdrew theirs")
	}
	// A deleting their account needs A's own code; B's account stays.
	if st := a.status(t, s, "POST", "/cabinet/delete/confirm", url.Values{"code": {"00000"}}); st != http.StatusOK && st != http.StatusSeeOther {
		t.Logf("A confirming a deletion never started: %d", st)
	}
	if st := jsonCall(t, "GET", s.url+"/api/v1/account", b.token, nil, nil); st != 200 {
		t.Errorf("B's account is gone: %d", st)
	}
}

// mainOf is the page's <main> element: the footer carries the operator's
// own INN, which is not a person's data.
func mainOf(page string) string {
	if i := strings.Index(page, "<main"); i >= 0 {
		page = page[i:]
	}
	if j := strings.Index(page, "</main>"); j >= 0 {
		page = page[:j]
	}
	return page
}
