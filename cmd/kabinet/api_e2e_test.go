package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// jsonCall sends a JSON request to the running kabinet and decodes the
// answer into out (when not nil); it returns the status.
func jsonCall(t *testing.T, method, url, token string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "ru")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestAPISignUpByEmailAndSessions runs the mobile app's flows over HTTP:
// e-mail sign-up with a code, terms, consents, sessions, sign-out; and
// checks that errors are JSON, localised, and do not reveal accounts.
func TestAPISignUpByEmailAndSessions(t *testing.T) {
	s := startServe(t)
	api := s.url + "/api/v1"
	var flow struct {
		FlowID string `json:"flow_id"`
	}
	if code := jsonCall(t, "POST", api+"/signup/start", "", map[string]string{"method": "email", "identifier": "Anna.Smirnova@Example.RU", "channel": "email"}, &flow); code != 200 || flow.FlowID == "" {
		t.Fatalf("signup/start: %d %+v", code, flow)
	}
	code := waitForCode(t, s, "a***@example.ru")
	if st := jsonCall(t, "POST", api+"/signup/confirm", "", map[string]string{"flow_id": flow.FlowID, "code": code}, nil); st != http.StatusNoContent {
		t.Fatalf("signup/confirm: %d", st)
	}
	var terms struct {
		Policy   struct{ Hash string }
		Consents []struct{ Purpose string }
	}
	if st := jsonCall(t, "GET", api+"/signup/terms", "", nil, &terms); st != 200 || terms.Policy.Hash == "" || len(terms.Consents) == 0 {
		t.Fatalf("signup/terms: %d %+v", st, terms)
	}
	var signed struct {
		Token   string
		Session struct{ Level string }
	}
	finish := map[string]any{"flow_id": flow.FlowID, "password": "Api-Client-Pass-42", "accept_agreement": true, "accept_policy": true, "consents": []string{terms.Consents[0].Purpose}}
	if st := jsonCall(t, "POST", api+"/signup/finish", "", finish, &signed); st != 200 || signed.Token == "" || signed.Session.Level != "standard" {
		t.Fatalf("signup/finish: %d %+v", st, signed)
	}
	var sessions []struct{ Current bool }
	if st := jsonCall(t, "GET", api+"/sessions", signed.Token, nil, &sessions); st != 200 || len(sessions) != 1 || !sessions[0].Current {
		t.Errorf("sessions: %d %+v", st, sessions)
	}
	if st := jsonCall(t, "POST", api+"/signout", signed.Token, nil, nil); st != http.StatusNoContent {
		t.Errorf("signout: %d", st)
	}
	var apiErr struct {
		Error struct{ Code, Key, Message string }
	}
	if st := jsonCall(t, "GET", api+"/account", signed.Token, nil, &apiErr); st != http.StatusUnauthorized || apiErr.Error.Code != "unauthorized" || apiErr.Error.Message == "" {
		t.Errorf("account after sign-out: %d %+v", st, apiErr)
	}

	// A wrong password and an unknown account answer alike.
	var wrong, unknown struct{ Error struct{ Key, Message string } }
	st1 := jsonCall(t, "POST", api+"/signin", "", map[string]string{"identifier": "anna.smirnova@example.ru", "password": "not-the-password"}, &wrong)
	st2 := jsonCall(t, "POST", api+"/signin", "", map[string]string{"identifier": "nobody@example.ru", "password": "not-the-password"}, &unknown)
	if st1 != st2 || wrong.Error.Key != unknown.Error.Key || wrong.Error.Message != unknown.Error.Message {
		t.Errorf("wrong password %d %+v vs unknown account %d %+v", st1, wrong, st2, unknown)
	}
	if !strings.ContainsAny(wrong.Error.Message, "абвгдеёжзийклмнопрстуфхцчшщыэюя") {
		t.Errorf("error message not in Russian: %q", wrong.Error.Message)
	}
	// A body of the wrong shape is a clear 400.
	if st := jsonCall(t, "POST", api+"/signin", "", map[string]any{"login": 1}, &apiErr); st != 400 || apiErr.Error.Key != "api.body_invalid" {
		t.Errorf("bad body: %d %+v", st, apiErr)
	}
	// The OpenAPI document is served.
	var doc struct{ OpenAPI string }
	if st := jsonCall(t, "GET", s.url+"/api/openapi.json", "", nil, &doc); st != 200 || doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi.json: %d %q", st, doc.OpenAPI)
	}
}

// waitForCode reads the newest code sent to the masked recipient from the
// demo's message page (or, for a real operator using the console sender,
// from the process log).
func waitForCode(t *testing.T, s *started, maskedTo string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		status, body := get(t, s.url+"/demo/messages")
		if status == http.StatusNotFound {
			// A real operator with the console sender: the process log.
			body = s.stderr.String()
		}
		if i := strings.Index(body, maskedTo); i >= 0 {
			if code := digits.FindString(body[i:]); code != "" {
				return code
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no code for %s arrived", maskedTo)
	return ""
}
