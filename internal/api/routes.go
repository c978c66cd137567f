package api

import (
	"net/http"
	"time"

	"kabinet/internal/identity"
)

// routes is the API's one table of endpoints; openapi.json describes the
// same set (a test compares them).
func (a *API) routes() []route {
	ids := a.d.Identity
	return []route{
		{"POST", "/api/v1/signup/start", false, func(r *http.Request, c call) (any, error) {
			var in struct{ Method, Identifier, Channel string }
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			id, err := ids.StartSignup(r.Context(), c.client, identity.SignupStart{Method: in.Method, Identifier: in.Identifier, Channel: in.Channel})
			return flowOut{id}, err
		}},
		{"POST", "/api/v1/signup/confirm", false, func(r *http.Request, c call) (any, error) {
			var in codeIn
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			return nil, ids.ConfirmCode(r.Context(), c.client, in.FlowID, in.Code)
		}},
		{"GET", "/api/v1/signup/terms", false, func(r *http.Request, c call) (any, error) {
			t, err := ids.SignupTerms(r.Context(), c.client.Lang)
			if err != nil {
				return nil, err
			}
			out := termsOut{Policy: docOut{t.Policy.Title, t.Policy.Path(), t.Policy.Hash}}
			if t.Agreement != nil {
				out.Agreement = &docOut{t.Agreement.Title, t.Agreement.Path(), t.Agreement.Hash}
			}
			for _, o := range t.Consents {
				out.Consents = append(out.Consents, consentOut{o.Purpose, o.Title, docOut{o.Document.Title, o.Document.Path(), o.Document.Hash}})
			}
			return out, nil
		}},
		{"POST", "/api/v1/signup/finish", false, func(r *http.Request, c call) (any, error) {
			var in struct {
				FlowID          string   `json:"flow_id"`
				Password        string   `json:"password"`
				AcceptAgreement bool     `json:"accept_agreement"`
				AcceptPolicy    bool     `json:"accept_policy"`
				Consents        []string `json:"consents"`
			}
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			sess, tok, err := ids.FinishSignup(r.Context(), c.client, in.FlowID, identity.SignupFinish{Password: in.Password,
				AcceptAgreement: in.AcceptAgreement, AcceptPolicy: in.AcceptPolicy, Consents: in.Consents})
			return signedIn(sess, tok), err
		}},
		{"POST", "/api/v1/signin", false, func(r *http.Request, c call) (any, error) {
			var in struct{ Identifier, Password string }
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			sess, tok, err := ids.SignInPassword(r.Context(), c.client, in.Identifier, in.Password)
			return signedIn(sess, tok), err
		}},
		{"POST", "/api/v1/signin/code/start", false, func(r *http.Request, c call) (any, error) {
			var in identifyIn
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			id, err := ids.StartCodeSignIn(r.Context(), c.client, in.Identifier, in.Channel)
			return flowOut{id}, err
		}},
		{"POST", "/api/v1/signin/code/finish", false, func(r *http.Request, c call) (any, error) {
			var in codeIn
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			sess, tok, err := ids.FinishCodeSignIn(r.Context(), c.client, in.FlowID, in.Code)
			return signedIn(sess, tok), err
		}},
		{"POST", "/api/v1/reset/start", false, func(r *http.Request, c call) (any, error) {
			var in identifyIn
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			id, err := ids.StartReset(r.Context(), c.client, in.Identifier, in.Channel)
			return flowOut{id}, err
		}},
		{"POST", "/api/v1/reset/finish", false, func(r *http.Request, c call) (any, error) {
			var in struct {
				FlowID   string `json:"flow_id"`
				Code     string `json:"code"`
				Password string `json:"password"`
			}
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			return nil, ids.FinishReset(r.Context(), c.client, in.FlowID, in.Code, in.Password)
		}},
		{"POST", "/api/v1/signout", true, func(r *http.Request, c call) (any, error) {
			return nil, ids.SignOut(r.Context(), c.token)
		}},
		{"GET", "/api/v1/account", true, func(r *http.Request, c call) (any, error) {
			acc, err := ids.Account(r.Context(), c.session.AccountID)
			if err != nil {
				return nil, err
			}
			return accountOut{acc.ID, acc.Level.String(), acc.HasPassword, acc.CreatedAt}, nil
		}},
		{"GET", "/api/v1/sessions", true, func(r *http.Request, c call) (any, error) {
			list, err := ids.Sessions(r.Context(), c.session.AccountID, c.session.ID)
			if err != nil {
				return nil, err
			}
			out := []sessionOut{}
			for _, s := range list {
				out = append(out, sessionOut{s.ID, s.Device, s.IP, s.CreatedAt, s.LastSeen, s.Current})
			}
			return out, nil
		}},
		{"DELETE", "/api/v1/sessions/{id}", true, func(r *http.Request, c call) (any, error) {
			return nil, ids.Revoke(r.Context(), c.session.AccountID, r.PathValue("id"))
		}},
		{"POST", "/api/v1/report-unauthorised", true, func(r *http.Request, c call) (any, error) {
			return nil, ids.ReportUnauthorised(r.Context(), c.client, c.session.AccountID)
		}},
		{"POST", "/api/v1/account/delete/start", true, func(r *http.Request, c call) (any, error) {
			var in struct{ Channel string }
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			id, err := ids.StartDeletion(r.Context(), c.client, c.session.AccountID, in.Channel)
			return flowOut{id}, err
		}},
		{"POST", "/api/v1/account/delete/finish", true, func(r *http.Request, c call) (any, error) {
			var in codeIn
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			return nil, ids.FinishDeletion(r.Context(), c.client, in.FlowID, in.Code)
		}},
	}
}

type flowOut struct {
	FlowID string `json:"flow_id"`
}

type codeIn struct {
	FlowID string `json:"flow_id"`
	Code   string `json:"code"`
}

type identifyIn struct {
	Identifier string `json:"identifier"`
	Channel    string `json:"channel"`
}

type docOut struct {
	Title string `json:"title"`
	Path  string `json:"path"`
	Hash  string `json:"hash"`
}

type consentOut struct {
	Purpose  string `json:"purpose"`
	Title    string `json:"title"`
	Document docOut `json:"document"`
}

type termsOut struct {
	Agreement *docOut      `json:"agreement,omitempty"`
	Policy    docOut       `json:"policy"`
	Consents  []consentOut `json:"consents"`
}

type sessionOutShort struct {
	ID        string    `json:"id"`
	Level     string    `json:"level"`
	ExpiresAt time.Time `json:"expires_at"`
}

type signedInOut struct {
	Token   string          `json:"token"`
	Session sessionOutShort `json:"session"`
}

func signedIn(s identity.Session, token string) any {
	return signedInOut{Token: token, Session: sessionOutShort{s.ID, s.Level.String(), s.ExpiresAt}}
}

type accountOut struct {
	ID          string    `json:"id"`
	Level       string    `json:"level"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
}

type sessionOut struct {
	ID        string    `json:"id"`
	Device    string    `json:"device"`
	IP        string    `json:"ip"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	Current   bool      `json:"current"`
}
