package web

import (
	"context"
	"io"
	"net/http"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/profile"
	"kabinet/internal/register"
)

// PersonalData is the gate, as the cabinet's data page uses it.
type PersonalData interface {
	Read(ctx context.Context, req gate.Request) (gate.Values, error)
	Write(ctx context.Context, req gate.Request, values gate.Values) error
	Erase(ctx context.Context, req gate.Request) error
}

// dataRow is one category on the "Личные данные" page.
type dataRow struct {
	Name, Title, Value, Format, Hint string
	Editable, Verified               bool
	Change                           string // for a sign-in contact: the page that changes it with a code
	Image                            string // for a picture: its address, when one is stored
}

// dataCategories are the categories the accounts' purpose keeps about the
// person, in the register's order.
func (s *Server) dataCategories() []*register.Category {
	pu := s.cfg.Register.Purpose(s.cfg.Identity.Purpose)
	sc := s.cfg.Register.Subject(s.cfg.Identity.SubjectKind)
	if pu == nil {
		return nil
	}
	var out []*register.Category
	for i := range s.cfg.Register.Categories {
		c := &s.cfg.Register.Categories[i]
		if len(pu.Covers(c.ID)) == 0 && (sc == nil || sc.Allows(c.ID)) && !(len(c.ID) > 10 && c.ID[:10] == "technical.") {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) dataRequest(r *http.Request, cats []string) gate.Request {
	sess, _ := sessionFrom(r.Context())
	return gate.Request{Actor: audit.Actor{Kind: audit.ActorAccount, ID: sess.AccountID}, Subject: sess.SubjectID,
		Purpose: s.cfg.Identity.Purpose, Categories: cats, RequestID: requestID(r.Context())}
}

// dataPage shows the person's data by category as the register declares
// it; verified values from an identity provider are marked and locked.
func (s *Server) dataPage(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r)
	rows, _, err := s.dataRows(r, f, nil)
	if err != nil {
		return err
	}
	f.Data = rows
	if r.URL.Query().Get("saved") != "" {
		f.Values["notice"] = "data.saved"
	}
	return s.render(w, r, http.StatusOK, "data", f)
}

// dataRows reads the stored values (through the gate, once) and fills the
// form: typed values (when given) win, so a form shown again keeps them.
// It also returns the stored values as shown, by field name, for telling
// what changed.
func (s *Server) dataRows(r *http.Request, f *form, typed map[string]string) ([]dataRow, map[string]string, error) {
	sess, _ := sessionFrom(r.Context())
	cats := s.dataCategories()
	ids := make([]string, len(cats))
	for i, c := range cats {
		ids[i] = c.ID
	}
	stored, err := s.pd.Read(r.Context(), s.dataRequest(r, ids))
	if err != nil {
		return nil, nil, err
	}
	verified, err := s.ids.VerifiedCategories(r.Context(), sess.SubjectID)
	if err != nil {
		return nil, nil, err
	}
	was := map[string]string{}
	l := s.bundle.Localizer(s.lang(r))
	var rows []dataRow
	for _, c := range cats {
		name := "v." + c.ID
		_, isVerified := verified[c.ID]
		row := dataRow{Name: name, Title: c.Title.In(s.lang(r), s.cfg.DefaultLanguage()), Format: c.Format, Verified: isVerified,
			Editable: !isVerified && profile.Editable(c, s.cfg.Identity.Categories.Phone, s.cfg.Identity.Categories.Email)}
		row.Value = profile.Display(c, stored.String(c.ID), l.T)
		switch c.Format {
		case "sex":
			row.Value = stored.String(c.ID)
		case "image":
			// A picture is shown, not typed: its bytes stay out of the form.
			row.Value = ""
			if len(stored[c.ID]) > 0 {
				row.Image = "/cabinet/data/image/" + c.ID
			}
		}
		switch c.ID {
		case s.cfg.Identity.Categories.Phone:
			row.Change = "/cabinet/contact/phone"
		case s.cfg.Identity.Categories.Email:
			row.Change = "/cabinet/contact/email"
		}
		was[name] = row.Value
		if v, ok := typed[name]; ok {
			row.Value = v
		}
		if l.Has("data.hint." + c.Format) {
			row.Hint = l.T("data.hint." + c.Format)
		}
		f.Values[name] = row.Value
		rows = append(rows, row)
	}
	return rows, was, nil
}

// dataSave validates every changed field; with any error nothing is
// stored and the form comes back with what was typed. Otherwise changed
// values are written and cleared ones erased (seed 002 §7.1.3), each
// through the gate, which audits them by category.
func (s *Server) dataSave(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 4*profile.MaxImage)
	f := newForm(r)
	typed := map[string]string{}
	for _, c := range s.dataCategories() {
		typed["v."+c.ID] = r.PostFormValue("v." + c.ID)
	}
	rows, was, err := s.dataRows(r, f, typed)
	if err != nil {
		return err
	}
	writes, erase := gate.Values{}, []string{}
	for _, row := range rows {
		c := s.cfg.Register.Category(row.Name[2:])
		if row.Editable && c.Format == "image" {
			if r.PostFormValue("erase."+row.Name) == "yes" {
				erase = append(erase, c.ID)
				continue
			}
			file, _, err := r.FormFile(row.Name)
			if err != nil {
				continue // no new picture: keep the stored one
			}
			data, err := io.ReadAll(io.LimitReader(file, profile.MaxImage+1))
			file.Close()
			if err != nil {
				return err
			}
			if _, err := profile.Image(data); err != nil {
				key, args := fault.Message(err)
				f.fail(row.Name, key, args...)
				continue
			}
			writes[c.ID] = data
			continue
		}
		if !row.Editable || row.Value == was[row.Name] {
			continue
		}
		if row.Value == "" {
			erase = append(erase, c.ID)
			continue
		}
		v, err := profile.Normalize(c, row.Value, time.Now().In(s.loc))
		if err != nil {
			key, args := fault.Message(err)
			f.fail(row.Name, key, args...)
			continue
		}
		writes[c.ID] = []byte(v)
	}
	f.Data = rows
	if len(f.Order) > 0 {
		return s.render(w, r, statusFor(f), "data", f)
	}
	if len(writes) > 0 {
		if err := s.pd.Write(r.Context(), s.dataRequest(r, nil), writes); err != nil {
			return err
		}
	}
	if len(erase) > 0 {
		if err := s.pd.Erase(r.Context(), s.dataRequest(r, erase)); err != nil {
			return err
		}
	}
	http.Redirect(w, r, "/cabinet/data?saved=1", http.StatusSeeOther)
	return nil
}

// dataImage serves a stored picture (a profile photo) of the person,
// through the gate.
func (s *Server) dataImage(w http.ResponseWriter, r *http.Request) error {
	c := s.cfg.Register.Category(r.PathValue("category"))
	if c == nil || c.Format != "image" {
		return s.notFound(w, r)
	}
	v, err := s.pd.Read(r.Context(), s.dataRequest(r, []string{c.ID}))
	if err != nil {
		return err
	}
	data := v[c.ID]
	typ, err := profile.Image(data)
	if err != nil {
		return s.notFound(w, r)
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(data)
	return err
}
