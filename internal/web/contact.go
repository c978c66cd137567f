package web

import "net/http"

// Changing the sign-in phone number or e-mail: the code goes to the new
// contact (package identity), which proves the person holds it.

func (s *Server) contactForm(w http.ResponseWriter, r *http.Request) error {
	method := r.PathValue("method")
	if method != "phone" && method != "email" {
		return s.notFound(w, r)
	}
	f := newForm(r)
	f.Values["method"] = method
	return s.render(w, r, http.StatusOK, "contact", f)
}

func (s *Server) contactStart(w http.ResponseWriter, r *http.Request) error {
	method := r.PathValue("method")
	if method != "phone" && method != "email" {
		return s.notFound(w, r)
	}
	sess, _ := sessionFrom(r.Context())
	f := newForm(r, "value", "channel")
	f.Values["method"] = method
	channel := "email"
	if method == "phone" {
		channel = "sms"
		if f.Values["channel"] == "call" {
			channel = "call"
		}
	}
	id, err := s.ids.StartContactChange(r.Context(), s.client(r), sess.AccountID, method, f.Values["value"], channel)
	if err != nil {
		if err := f.failWith(err, func(string) string { return "value" }); err != nil {
			return err
		}
		return s.render(w, r, statusFor(f), "contact", f)
	}
	s.setFlow(w, r, "contact", id)
	http.Redirect(w, r, "/cabinet/contact/confirm?channel="+channel, http.StatusSeeOther)
	return nil
}

func (s *Server) contactConfirm(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	return s.confirmWithCode(w, r, "contact", "/cabinet/contact/confirm", "/cabinet/data", false, func(id, code string) error {
		return s.ids.FinishContactChange(r.Context(), s.client(r), sess.AccountID, id, code)
	}, func() error {
		clearFlow(w, r)
		http.Redirect(w, r, "/cabinet/data?saved=1", http.StatusSeeOther)
		return nil
	})
}
