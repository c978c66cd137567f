package web

import (
	"net/http"

	"kabinet/internal/identity"
)

// cabinetPage is the data of the cabinet's front page (the full cabinet
// grows with the cabinet issue): trust level, functions by level, sessions.
type cabinetPage struct {
	Notice    string
	Documents bool // uploads are offered
	Level     string
	Functions []functionRow
	Sessions  []sessionRow
}

type functionRow struct {
	TitleKey string // unused when Title is set
	Title    string
	Allowed  bool
	Needs    string
}

type sessionRow struct {
	ID, Device, IP, LastSeen string
	Current                  bool
}

func (s *Server) cabinet(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	list, err := s.ids.Sessions(r.Context(), sess.AccountID, sess.ID)
	if err != nil {
		return err
	}
	lang := s.lang(r)
	p := cabinetPage{Level: sess.Level.String(), Documents: s.files != nil}
	switch {
	case r.URL.Query().Get("welcome") != "":
		p.Notice = "cabinet.welcome"
	case r.URL.Query().Get("revoked") != "":
		p.Notice = "cabinet.revoked"
	case r.URL.Query().Get("reported") != "":
		p.Notice = "cabinet.reported"
	}
	// Each function the portal offers declares the trust level it needs
	// (seed 000 §3.6–3.8); below it, the page says what is required.
	for _, o := range s.cfg.Portal.Offers {
		need := identity.ParseLevel(o.Level)
		p.Functions = append(p.Functions, functionRow{Title: o.Title.In(lang, s.cfg.DefaultLanguage()), Allowed: sess.Level.Allows(need), Needs: need.String()})
	}
	for _, si := range list {
		p.Sessions = append(p.Sessions, sessionRow{ID: si.ID, Device: si.Device, IP: si.IP,
			LastSeen: si.LastSeen.In(s.loc).Format("02.01.2006 15:04"), Current: si.Current})
	}
	return s.render(w, r, http.StatusOK, "cabinet", p)
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	if err := s.ids.Revoke(r.Context(), sess.AccountID, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/cabinet?revoked=1#sessions", http.StatusSeeOther)
	return nil
}

// reportUnauthorised ends every session, this one too, and records the
// report for the operator (seed 001 §2.5).
func (s *Server) reportUnauthorised(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	if err := s.ids.ReportUnauthorised(r.Context(), s.client(r), sess.AccountID); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "message", messagePage{TitleKey: "report.title", TextKey: "report.text", Next: "/signin", NextKey: "nav.sign_in"})
}

func (s *Server) deleteForm(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "delete", newForm(r))
}

// deleteStart sends the confirmation code: the last 5 digits of an
// incoming call's number, or an SMS (seed 000 §3.15).
func (s *Server) deleteStart(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	f := newForm(r, "channel")
	channel := f.Values["channel"]
	if channel != "sms" {
		channel = "call"
	}
	id, err := s.ids.StartDeletion(r.Context(), s.client(r), sess.AccountID, channel)
	if err != nil {
		if err := f.failWith(err, func(string) string { return "channel" }); err != nil {
			return err
		}
		return s.render(w, r, statusFor(f), "delete", f)
	}
	s.setFlow(w, r, "deletion", id)
	http.Redirect(w, r, "/cabinet/delete/confirm?channel="+channel, http.StatusSeeOther)
	return nil
}

func (s *Server) deleteConfirm(w http.ResponseWriter, r *http.Request) error {
	return s.confirmWithCode(w, r, "deletion", "/cabinet/delete/confirm", "/cabinet/delete", false, func(id, code string) error {
		return s.ids.FinishDeletion(r.Context(), s.client(r), id, code)
	}, func() error {
		clearFlow(w, r)
		endSessionCookie(w, r)
		return s.render(w, r, http.StatusOK, "message", messagePage{TitleKey: "deleted.title", TextKey: "deleted.text"})
	})
}

// demoMessages shows the demo operator's console outbox, so a newcomer can
// sign up without an SMS gateway. It does not exist for a real operator.
func (s *Server) demoMessages(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Demo || s.console == nil {
		return s.notFound(w, r)
	}
	return s.render(w, r, http.StatusOK, "demo_messages", s.console.Recent())
}
