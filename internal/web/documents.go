package web

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"kabinet/internal/documents"
	"kabinet/internal/fault"
	"kabinet/internal/register"
)

// Documents is what the portal needs from the published legal documents
// (package documents' *Store).
type Documents interface {
	Current(ctx context.Context, docID, lang string) (documents.Version, error)
	Version(ctx context.Context, docID, hashPrefix string) (documents.Version, error)
	Versions(ctx context.Context, docID string) ([]documents.Version, error)
}

// documentPage is the data of the document template.
type documentPage struct {
	Version     documents.Version
	Date        string // publication date in the page's language
	Old         bool   // not the current version: say so and link to the current one
	CurrentPath string
	HistoryPath string
	Fallback    string // the language shown, when it is not the reader's
}

// historyPage is the data of the document_history template.
type historyPage struct {
	Title string
	Rows  []historyRow
}

type historyRow struct {
	Date, Label, Lang, LangName, Hash, Path string
	Current                                 bool
}

var docID = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// currentDocument serves the current version of the register's document of
// kind (the policy, the agreement) in the reader's language, or in the
// operator's default language when there is none in it.
func (s *Server) currentDocument(kind string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		d := s.cfg.Register.DocumentOfKind(kind)
		if d == nil {
			return fault.New(fault.NotFound, "error.not_found.text")
		}
		v, err := s.docs.Current(r.Context(), d.ID, s.lang(r))
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, "document", s.documentPage(r, v, ""))
	}
}

// documentVersion serves one version by the hash prefix in its address,
// current or not.
func (s *Server) documentVersion(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("doc")
	if !docID.MatchString(id) {
		return fault.New(fault.NotFound, "error.not_found.text")
	}
	v, err := s.docs.Version(r.Context(), id, r.PathValue("version"))
	if err != nil {
		return err
	}
	cur := ""
	if !v.Current {
		cur = s.currentPath(r, v)
	}
	return s.render(w, r, http.StatusOK, "document", s.documentPage(r, v, cur))
}

// documentHistory lists every publication of a document.
func (s *Server) documentHistory(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("doc")
	if !docID.MatchString(id) {
		return fault.New(fault.NotFound, "error.not_found.text")
	}
	vs, err := s.docs.Versions(r.Context(), id)
	if err != nil {
		return err
	}
	lang := s.lang(r)
	l := s.bundle.Localizer(lang)
	p := historyPage{Title: vs[0].Title}
	for _, v := range vs {
		if v.Lang == lang {
			p.Title = v.Title // the newest title in the reader's language
			break
		}
	}
	for _, v := range vs {
		p.Rows = append(p.Rows, historyRow{
			Date: formatDate(v.PublishedAt, lang), Label: v.Label, Lang: v.Lang, LangName: l.T("lang." + v.Lang),
			Hash: v.ShortHash(), Path: v.Path(), Current: v.Current,
		})
	}
	return s.render(w, r, http.StatusOK, "document_history", p)
}

func (s *Server) documentPage(r *http.Request, v documents.Version, currentPath string) documentPage {
	lang := s.lang(r)
	p := documentPage{
		Version: v, Date: formatDate(v.PublishedAt, lang),
		Old: currentPath != "", CurrentPath: currentPath, HistoryPath: "/documents/" + v.DocID,
	}
	if v.Lang != lang {
		p.Fallback = s.bundle.Localizer(lang).T("lang." + v.Lang)
	}
	return p
}

// currentPath is where the current version of v's document is read: the
// portal's own address for the agreement and the policy, else the current
// version's address in v's language.
func (s *Server) currentPath(r *http.Request, v documents.Version) string {
	for _, kind := range []string{register.DocPolicy, register.DocAgreement} {
		if d := s.cfg.Register.DocumentOfKind(kind); d != nil && d.ID == v.DocID {
			return "/" + kind
		}
	}
	if cur, err := s.docs.Current(r.Context(), v.DocID, v.Lang); err == nil {
		return cur.Path()
	}
	return "/documents/" + v.DocID
}

// formatDate shows a publication instant in UTC, as readers of the
// language write dates.
func formatDate(t time.Time, lang string) string {
	if lang == "en" {
		return t.UTC().Format("2 January 2006, 15:04 UTC")
	}
	return t.UTC().Format("02.01.2006 15:04 UTC")
}
