package web

import (
	"context"
	"net/http"
	"strings"

	"kabinet/internal/identity"
)

// Pages of sign-up, sign-in and reset (seed 000 §3.2, seed 001 §2). The
// flows themselves live in package identity; these handlers parse, call,
// and render or redirect. A flow in progress is named by a short-lived
// cookie, never by the URL, so codes and flow ids stay out of logs and
// Referer headers.

const flowCookie = "flow"

// sessionCookie is "__Host-session" under TLS: the prefix makes the browser
// refuse it from any other origin or path, but browsers accept it only
// with Secure, so plain HTTP (a developer's machine) uses "session".
func sessionCookie(r *http.Request) string {
	if isHTTPS(r.Context()) {
		return "__Host-session"
	}
	return "session"
}

func (s *Server) client(r *http.Request) identity.Client {
	return identity.Client{IP: ClientAddr(r.Context()), UserAgent: r.UserAgent(), Lang: s.lang(r), RequestID: requestID(r.Context())}
}

func (s *Server) setFlow(w http.ResponseWriter, r *http.Request, kind, id string) {
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: kind + "." + id, Path: "/", MaxAge: 900,
		HttpOnly: true, Secure: isHTTPS(r.Context()), SameSite: http.SameSiteLaxMode})
}

// flow returns the id of the flow of kind in progress, or "".
func (s *Server) flow(r *http.Request, kind string) string {
	c, err := r.Cookie(flowCookie)
	if err != nil {
		return ""
	}
	k, id, ok := strings.Cut(c.Value, ".")
	if !ok || k != kind {
		return ""
	}
	return id
}

// endSessionCookie tells the browser to forget the session cookie.
func endSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: isHTTPS(r.Context()), SameSite: http.SameSiteLaxMode})
}

func clearFlow(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: isHTTPS(r.Context()), SameSite: http.SameSiteLaxMode})
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, token string, sess identity.Session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie(r), Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: isHTTPS(r.Context()), SameSite: http.SameSiteLaxMode})
}

// fieldOf maps an identity message key to the form field it concerns.
func fieldOf(key string) string {
	switch {
	case strings.HasPrefix(key, "identity.too_many"), key == "identity.locked":
		return "identifier"
	case strings.Contains(key, "code"):
		return "code"
	case strings.Contains(key, "password"):
		return "password"
	case strings.Contains(key, "terms"), strings.Contains(key, "agreement"), strings.Contains(key, "policy"):
		return "terms"
	}
	return "identifier"
}

// --- sign-up ---------------------------------------------------------------

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "signup", newForm(r))
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "method", "identifier", "channel")
	method, channel := f.Values["method"], f.Values["channel"]
	if method != "email" {
		method = "phone"
	}
	if method == "email" {
		channel = "email"
	} else if channel != "call" {
		channel = "sms"
	}
	if f.Values["identifier"] == "" {
		f.fail("identifier", "signup.identifier_missing")
		return s.render(w, r, statusFor(f), "signup", f)
	}
	id, err := s.ids.StartSignup(r.Context(), s.client(r), identity.SignupStart{Method: method, Identifier: f.Values["identifier"], Channel: channel})
	if err != nil {
		if err := f.failWith(err, fieldOf); err != nil {
			return err
		}
		return s.render(w, r, statusFor(f), "signup", f)
	}
	s.setFlow(w, r, "signup", id)
	http.Redirect(w, r, "/signup/code?channel="+channel, http.StatusSeeOther)
	return nil
}

// codeForm shows the code entry of any flow; action is where it posts.
func (s *Server) codeForm(action string, withPassword bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		f := newForm(r)
		f.Values["action"] = action
		f.Values["channel"] = r.URL.Query().Get("channel")
		if withPassword {
			f.Values["with_password"] = "yes"
		}
		if s.cfg.Demo {
			f.Values["demo"] = "yes"
		}
		return s.render(w, r, http.StatusOK, "code", f)
	}
}

func (s *Server) signupCode(w http.ResponseWriter, r *http.Request) error {
	return s.confirmWithCode(w, r, "signup", "/signup/code", "/signup", false, func(id, code string) error {
		return s.ids.ConfirmCode(r.Context(), s.client(r), id, code)
	}, func() error {
		http.Redirect(w, r, "/signup/finish", http.StatusSeeOther)
		return nil
	})
}

// finishPage is the data of the last sign-up step: the documents to
// accept and one tick-box per consent-based purpose.
type finishPage struct {
	AgreementTitle, AgreementPath string
	PolicyTitle, PolicyPath       string
	Consents                      []consentOffer
}

type consentOffer struct {
	Purpose, Title, Path string
	Checked              bool
}

func (s *Server) finishData(r *http.Request, f *form) (*finishPage, error) {
	terms, err := s.ids.SignupTerms(r.Context(), s.lang(r))
	if err != nil {
		return nil, err
	}
	p := &finishPage{PolicyTitle: terms.Policy.Title, PolicyPath: "/policy"}
	if terms.Agreement != nil {
		p.AgreementTitle, p.AgreementPath = terms.Agreement.Title, "/agreement"
	}
	ticked := map[string]bool{}
	for _, c := range r.PostForm["consent"] {
		ticked[c] = true
	}
	for _, c := range terms.Consents {
		p.Consents = append(p.Consents, consentOffer{Purpose: c.Purpose, Title: c.Title, Path: c.Document.Path(), Checked: ticked[c.Purpose]})
	}
	return p, nil
}

func (s *Server) signupFinishForm(w http.ResponseWriter, r *http.Request) error {
	if s.flow(r, "signup") == "" {
		http.Redirect(w, r, "/signup", http.StatusSeeOther)
		return nil
	}
	f := newForm(r)
	var err error
	if f.Data, err = s.finishData(r, f); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "signup_finish", f)
}

func (s *Server) signupFinish(w http.ResponseWriter, r *http.Request) error {
	id := s.flow(r, "signup")
	if id == "" {
		http.Redirect(w, r, "/signup", http.StatusSeeOther)
		return nil
	}
	f := newForm(r, "accept_agreement", "accept_policy")
	data, err := s.finishData(r, f)
	if err != nil {
		return err
	}
	f.Data = data
	sess, token, err := s.ids.FinishSignup(r.Context(), s.client(r), id, identity.SignupFinish{
		Password:        r.PostFormValue("password"),
		AcceptAgreement: f.Values["accept_agreement"] == "yes",
		AcceptPolicy:    f.Values["accept_policy"] == "yes",
		Consents:        r.PostForm["consent"],
	})
	if err != nil {
		if err := f.failWith(err, fieldOf); err != nil {
			return err
		}
		return s.render(w, r, statusFor(f), "signup_finish", f)
	}
	clearFlow(w, r)
	s.startSession(w, r, token, sess)
	http.Redirect(w, r, "/cabinet?welcome=1", http.StatusSeeOther)
	return nil
}

// --- sign-in ---------------------------------------------------------------

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r)
	f.Data = s.providerButtons(r)
	return s.render(w, r, http.StatusOK, "signin", f)
}

// providerButton offers sign-in through an identity provider.
type providerButton struct{ ID, Title string }

func (s *Server) providerButtons(r *http.Request) []providerButton {
	var out []providerButton
	for _, p := range s.cfg.Providers {
		out = append(out, providerButton{p.ID, p.Title.In(s.lang(r), s.cfg.DefaultLanguage())})
	}
	return out
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "identifier")
	f.Data = s.providerButtons(r)
	sess, token, err := s.ids.SignInPassword(r.Context(), s.client(r), f.Values["identifier"], r.PostFormValue("password"))
	if err != nil {
		if err := f.failWith(err, func(key string) string {
			if strings.Contains(key, "credentials") {
				return "password"
			}
			return "identifier"
		}); err != nil {
			return err
		}
		return s.render(w, r, statusFor(f), "signin", f)
	}
	s.startSession(w, r, token, sess)
	http.Redirect(w, r, "/cabinet", http.StatusSeeOther)
	return nil
}

// identifyForm asks for the phone or e-mail and the channel of a code:
// sign-in by code, and password reset.
func (s *Server) identifyForm(kind string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		f := newForm(r)
		s.identifyValues(f, kind)
		return s.render(w, r, http.StatusOK, "identify", f)
	}
}

func (s *Server) identifyValues(f *form, kind string) {
	switch kind {
	case "signin_code":
		f.Values["title"], f.Values["lead"], f.Values["action"] = "signin.code_title", "signin.code_lead", "/signin/code"
	case "reset":
		f.Values["title"], f.Values["lead"], f.Values["action"] = "reset.title", "reset.lead", "/reset"
	}
}

func (s *Server) identify(kind string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		f := newForm(r, "identifier", "channel")
		s.identifyValues(f, kind)
		start := s.ids.StartCodeSignIn
		next := "/signin/code/confirm"
		if kind == "reset" {
			start, next = s.ids.StartReset, "/reset/confirm"
		}
		id, err := start(r.Context(), s.client(r), f.Values["identifier"], f.Values["channel"])
		if err != nil {
			if err := f.failWith(err, func(string) string { return "identifier" }); err != nil {
				return err
			}
			return s.render(w, r, statusFor(f), "identify", f)
		}
		s.setFlow(w, r, kind, id)
		http.Redirect(w, r, next+"?channel="+f.Values["channel"], http.StatusSeeOther)
		return nil
	}
}

func (s *Server) signinCode(w http.ResponseWriter, r *http.Request) error {
	var sess identity.Session
	var token string
	return s.confirmWithCode(w, r, "signin_code", "/signin/code/confirm", "/signin/code", false, func(id, code string) (err error) {
		sess, token, err = s.ids.FinishCodeSignIn(r.Context(), s.client(r), id, code)
		return err
	}, func() error {
		clearFlow(w, r)
		s.startSession(w, r, token, sess)
		http.Redirect(w, r, "/cabinet", http.StatusSeeOther)
		return nil
	})
}

func (s *Server) resetConfirm(w http.ResponseWriter, r *http.Request) error {
	return s.confirmWithCode(w, r, "reset", "/reset/confirm", "/reset", true, func(id, code string) error {
		return s.ids.FinishReset(r.Context(), s.client(r), id, code, r.PostFormValue("password"))
	}, func() error {
		clearFlow(w, r)
		return s.render(w, r, http.StatusOK, "message", messagePage{TitleKey: "reset.done_title", TextKey: "reset.done_text", Next: "/signin", NextKey: "nav.sign_in"})
	})
}

// confirmWithCode is the step every flow ending in a one-time code shares:
// it takes the flow of kind the cookie names (or sends the person back to
// restart), calls finish with the code typed, shows the code page again
// with the error when it is refused, and lets done answer when it is not.
// withPassword asks for a new password beside the code (reset).
func (s *Server) confirmWithCode(w http.ResponseWriter, r *http.Request, kind, action, restart string, withPassword bool,
	finish func(flowID, code string) error, done func() error) error {
	id := s.flow(r, kind)
	if id == "" {
		http.Redirect(w, r, restart, http.StatusSeeOther)
		return nil
	}
	f := newForm(r, "code")
	f.Values["action"] = action
	field := func(string) string { return "code" }
	if withPassword {
		f.Values["with_password"], field = "yes", fieldOf
	}
	if err := finish(id, f.Values["code"]); err != nil {
		if err := f.failWith(err, field); err != nil {
			return err
		}
		return s.render(w, r, statusFor(f), "code", f)
	}
	return done()
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie(r)); err == nil {
		if err := s.ids.SignOut(r.Context(), c.Value); err != nil {
			return err
		}
	}
	endSessionCookie(w, r)
	return s.render(w, r, http.StatusOK, "message", messagePage{TitleKey: "signout.title", TextKey: "signout.text", Next: "/signin", NextKey: "nav.sign_in"})
}

// messagePage is the data of a confirmation page.
type messagePage struct {
	TitleKey, TextKey string
	Next, NextKey     string
}

// statusFor is the status of a form shown again: 429 when the person must
// wait; else 200, as a page that asks to correct the form is a normal
// answer to a person (browsers log any 4xx page as an error).
func statusFor(f *form) int {
	if f.limited {
		return http.StatusTooManyRequests
	}
	return http.StatusOK
}

// --- sessions ----------------------------------------------------------------

type sessionKey struct{}

func sessionFrom(ctx context.Context) (identity.Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(identity.Session)
	return s, ok
}

// signedIn runs h with the request's session, or sends the person to sign
// in. Session checks are the hottest path: one indexed query.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		c, err := r.Cookie(sessionCookie(r))
		if err != nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return nil
		}
		sess, err := s.ids.Authenticate(r.Context(), c.Value)
		if err != nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return nil
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	})
}
