package web

import (
	"context"
	"net/http"
	"slices"

	"kabinet/internal/audit"
	"kabinet/internal/consent"
	"kabinet/internal/register"
)

// Consents is what the cabinet needs of the consent ledger.
type Consents interface {
	States(ctx context.Context, subject string) ([]consent.State, error)
	Give(ctx context.Context, e consent.Event) (consent.Record, error)
	Withdraw(ctx context.Context, e consent.Event) (consent.Record, error)
}

// consentsPage lists every purpose that concerns the person: its legal
// basis, the data it uses and for how long; consent-based ones with their
// state and a separate give/withdraw form each (each consent is its own
// document, as Russian law requires since 01.09.2025).
type consentsPage struct {
	Notice   string
	Purposes []purposeRow
}

type purposeRow struct {
	ID, Title, Description, Basis, Retention string
	Categories                               []string
	ConsentBased                             bool
	Active                                   bool
	Status, Since, Expires, Term, TextPath   string
	Receipt                                  bool
}

func (s *Server) consentsList(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	states, err := s.consents.States(r.Context(), sess.SubjectID)
	if err != nil {
		return err
	}
	byPurpose := map[string]consent.State{}
	for _, st := range states {
		byPurpose[st.Purpose] = st
	}
	lang, def := s.lang(r), s.cfg.DefaultLanguage()
	l := s.bundle.Localizer(lang)
	p := consentsPage{}
	switch {
	case r.URL.Query().Get("given") != "":
		p.Notice = "consents.given_notice"
	case r.URL.Query().Get("withdrawn") != "":
		p.Notice = "consents.withdrawn_notice"
	}
	kind := s.cfg.Identity.SubjectKind
	for i := range s.cfg.Register.Purposes {
		pu := &s.cfg.Register.Purposes[i]
		if !slices.Contains(pu.Subjects, kind) {
			continue
		}
		row := purposeRow{ID: pu.ID, Title: pu.Title.In(lang, def), Description: pu.Description.In(lang, def),
			Basis: l.T("doc.basis." + pu.Basis), Retention: retentionText(l.T, pu, lang), ConsentBased: pu.ConsentBased()}
		// A purpose may name a group ("identity"): list what it holds.
		for _, cat := range s.cfg.Register.Categories {
			if len(pu.Covers(cat.ID)) == 0 {
				row.Categories = append(row.Categories, cat.Title.In(lang, def))
			}
		}
		if pu.ConsentBased() && pu.Consent != nil {
			st := byPurpose[pu.ID]
			row.Active = st.Status == consent.Given || st.Status == consent.Renewed
			row.Status = l.T("consents.status." + statusCode(st.Status))
			if !st.Since.IsZero() {
				row.Since = st.Since.In(s.loc).Format("02.01.2006")
			}
			if !st.ExpiresAt.IsZero() {
				row.Expires = st.ExpiresAt.In(s.loc).Format("02.01.2006")
			}
			row.Term = l.T("doc.consent_term.until_withdrawn")
			if !pu.Consent.Term.IsZero() {
				row.Term = l.T("doc.consent_term.term", "term", pu.Consent.Term.Text(lang))
			}
			if v, err := s.docs.Current(r.Context(), pu.Consent.Document, lang); err == nil {
				row.TextPath = v.Path()
			}
			row.Receipt = st.LastEventID > 0 && s.receipts != nil
		}
		p.Purposes = append(p.Purposes, row)
	}
	return s.render(w, r, http.StatusOK, "consents", p)
}

func statusCode(st consent.Status) string {
	if st == consent.None {
		return "none"
	}
	return string(st)
}

// retentionText says for how long a purpose keeps data, in words.
func retentionText(t func(string, ...any) string, pu *register.Purpose, lang string) string {
	rt := pu.Retention
	term := rt.Term.Text(lang)
	switch {
	case rt.Rule == "until_withdrawn" && pu.Consent != nil && !pu.Consent.Term.IsZero():
		return t("doc.retention.until_withdrawn_term", "term", pu.Consent.Term.Text(lang))
	case rt.Rule == "contract" && term != "":
		return t("doc.retention.contract_term", "term", term)
	case rt.Rule == "term" || rt.Rule == "law":
		return t("doc.retention."+rt.Rule, "term", term)
	}
	return t("doc.retention." + rt.Rule)
}

// consentAction gives or withdraws one consent, as its own act, with the
// evidence of the request (address and browser, sealed by the ledger).
func (s *Server) consentAction(give bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, _ := sessionFrom(r.Context())
		pu := s.cfg.Register.Purpose(r.PathValue("purpose"))
		if pu == nil || !pu.ConsentBased() || pu.Consent == nil {
			return s.notFound(w, r)
		}
		method := "checkbox"
		if !slices.Contains(pu.Consent.Methods, method) && len(pu.Consent.Methods) > 0 {
			method = pu.Consent.Methods[0]
		}
		ev := consent.Event{Subject: sess.SubjectID, Purpose: pu.ID, Method: method,
			Evidence: consent.Evidence{IP: ClientAddr(r.Context()).String(), UserAgent: r.UserAgent()},
			Actor:    audit.Actor{Kind: audit.ActorSubject, ID: sess.SubjectID}, RequestID: requestID(r.Context())}
		if give {
			if r.PostFormValue("agree") != "yes" {
				return s.renderConsentError(w, r, "consents.tick_to_give")
			}
			v, err := s.docs.Current(r.Context(), pu.Consent.Document, s.cfg.DefaultLanguage())
			if err != nil {
				return err
			}
			ev.Doc = consent.Doc{ID: v.DocID, Version: v.Label, Hash: v.Hash}
			if _, err := s.consents.Give(r.Context(), ev); err != nil {
				return err
			}
			http.Redirect(w, r, "/cabinet/consents?given=1#p-"+pu.ID, http.StatusSeeOther)
			return nil
		}
		if _, err := s.consents.Withdraw(r.Context(), ev); err != nil {
			return err
		}
		http.Redirect(w, r, "/cabinet/consents?withdrawn=1#p-"+pu.ID, http.StatusSeeOther)
		return nil
	}
}

func (s *Server) renderConsentError(w http.ResponseWriter, r *http.Request, key string) error {
	return s.render(w, r, http.StatusOK, "message", messagePage{TitleKey: "consents.title", TextKey: key, Next: "/cabinet/consents", NextKey: "consents.back"})
}

// receipt serves the subject's consent receipt for a purpose: the signed
// JSON (JWS, checked by `kabinet receipt verify` against the keys at
// /.well-known/jwks.json) or the printable PDF.
func (s *Server) receipt(pdf bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, _ := sessionFrom(r.Context())
		purpose := r.PathValue("purpose")
		if pdf {
			b, err := s.receipts.PDF(r.Context(), sess.SubjectID, purpose, s.lang(r))
			if err != nil {
				return err
			}
			w.Header().Set("Content-Type", "application/pdf")
			w.Header().Set("Content-Disposition", `attachment; filename="consent-receipt-`+purpose+`.pdf"`)
			_, err = w.Write(b)
			return err
		}
		jws, err := s.receipts.JWS(r.Context(), sess.SubjectID, purpose, s.lang(r))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/jose")
		w.Header().Set("Content-Disposition", `attachment; filename="consent-receipt-`+purpose+`.jws"`)
		w.Header().Set("Cache-Control", "no-store")
		_, err = w.Write([]byte(jws))
		return err
	}
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	b, err := s.receipts.JWKS()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, err = w.Write(b)
	return err
}
