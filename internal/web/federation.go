package web

import (
	"net/http"

	"kabinet/internal/identity"
)

// Sign-in through an external OpenID Connect provider (seed 000 §3.2.2,
// seed 001 §2.2). The binding cookie ties the callback to the browser that
// began the sign-in, so nobody can be lured into someone else's account.

func fedCookie(r *http.Request) string {
	if isHTTPS(r.Context()) {
		return "__Host-kabinet_fed"
	}
	return "kabinet_fed"
}

func (s *Server) federationStart(w http.ResponseWriter, r *http.Request) error {
	st, err := s.fed.Begin(r.Context(), r.PathValue("provider"), r.URL.Query().Get("next"))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: fedCookie(r), Value: st.Binding, Path: "/", MaxAge: 600,
		HttpOnly: true, Secure: isHTTPS(r.Context()), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, st.URL, http.StatusSeeOther)
	return nil
}

func (s *Server) federationCallback(w http.ResponseWriter, r *http.Request) error {
	binding := ""
	if c, err := r.Cookie(fedCookie(r)); err == nil {
		binding = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: fedCookie(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: isHTTPS(r.Context()), SameSite: http.SameSiteLaxMode})
	id, back, err := s.fed.Complete(r.Context(), r.PathValue("provider"), binding, r.URL.Query())
	if err != nil {
		return err
	}
	sess, token, link, err := s.ids.SignInFederated(r.Context(), s.client(r), identity.FederatedIdentity{
		Provider: id.Provider, Subject: id.Subject, Verified: id.Verified, Values: id.Values, Confirmed: id.Confirmed})
	if err != nil {
		return err
	}
	if link != "" {
		// The provider's confirmed phone or e-mail belongs to an account
		// here: its owner must confirm the link with their password.
		s.setFlow(w, r, "link", link)
		return s.render(w, r, http.StatusOK, "link", newForm(r))
	}
	s.startSession(w, r, token, sess)
	if back == "" || back == "/" {
		back = "/cabinet"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

func (s *Server) federationLink(w http.ResponseWriter, r *http.Request) error {
	id := s.flow(r, "link")
	if id == "" {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	}
	f := newForm(r)
	sess, token, err := s.ids.ConfirmLink(r.Context(), s.client(r), id, identity.LinkProof{Password: r.PostFormValue("password")})
	if err != nil {
		if err := f.failWith(err, func(string) string { return "password" }); err != nil {
			return err
		}
		return s.render(w, r, statusFor(f), "link", f)
	}
	clearFlow(w, r)
	s.startSession(w, r, token, sess)
	http.Redirect(w, r, "/cabinet", http.StatusSeeOther)
	return nil
}
