package web

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"kabinet/internal/audit"
	"kabinet/internal/files"
)

// Files is what the cabinet needs of package files.
type Files interface {
	Upload(ctx context.Context, actor audit.Actor, subject, name string, r io.Reader, requestID string) (files.File, error)
	List(ctx context.Context, actor audit.Actor, subject, requestID string) ([]files.File, error)
	Download(ctx context.Context, actor audit.Actor, subject, fileID, requestID string) (string, string, []byte, error)
	Delete(ctx context.Context, actor audit.Actor, subject, fileID, requestID string) error
	MaxSize() int64
	Accept() string
}

type filesPage struct {
	Notice string
	Files  []fileRow
	Accept string
	MaxMB  int64
}

type fileRow struct {
	ID, Name, Type, Size, Uploaded, DeleteAfter string
}

func (s *Server) actor(r *http.Request) (audit.Actor, string) {
	sess, _ := sessionFrom(r.Context())
	return audit.Actor{Kind: audit.ActorAccount, ID: sess.AccountID}, sess.SubjectID
}

func (s *Server) filesData(r *http.Request) (filesPage, error) {
	actor, subject := s.actor(r)
	list, err := s.files.List(r.Context(), actor, subject, requestID(r.Context()))
	if err != nil {
		return filesPage{}, err
	}
	p := filesPage{Accept: s.files.Accept(), MaxMB: s.files.MaxSize() >> 20}
	for _, f := range list {
		p.Files = append(p.Files, fileRow{ID: f.ID, Name: f.Name, Type: f.Type, Size: humanSize(f.Size),
			Uploaded: f.CreatedAt.In(s.loc).Format("02.01.2006 15:04"), DeleteAfter: f.DeleteAfter.In(s.loc).Format("02.01.2006")})
	}
	return p, nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func (s *Server) documentsPage(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r)
	p, err := s.filesData(r)
	if err != nil {
		return err
	}
	switch {
	case r.URL.Query().Get("uploaded") != "":
		p.Notice = "files.uploaded_notice"
	case r.URL.Query().Get("deleted") != "":
		p.Notice = "files.deleted_notice"
	}
	f.Data = p
	return s.render(w, r, http.StatusOK, "files", f)
}

// documentUpload stores one file; a refused file (too large, wrong type,
// infected) is reported next to the field and nothing is stored.
func (s *Server) documentUpload(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.files.MaxSize()+1<<20)
	f := newForm(r)
	file, header, err := r.FormFile("file")
	if err == nil {
		defer file.Close()
		actor, subject := s.actor(r)
		_, err = s.files.Upload(r.Context(), actor, subject, header.Filename, file, requestID(r.Context()))
		if err == nil {
			http.Redirect(w, r, "/cabinet/documents?uploaded=1", http.StatusSeeOther)
			return nil
		}
		if ferr := f.failWith(err, func(string) string { return "file" }); ferr != nil {
			return ferr
		}
	} else {
		f.fail("file", "files.choose")
	}
	p, err := s.filesData(r)
	if err != nil {
		return err
	}
	f.Data = p
	return s.render(w, r, statusFor(f), "files", f)
}

func (s *Server) documentDownload(w http.ResponseWriter, r *http.Request) error {
	actor, subject := s.actor(r)
	name, ctype, data, err := s.files.Download(r.Context(), actor, subject, r.PathValue("id"), requestID(r.Context()))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": strings.ToValidUTF8(name, "_")}))
	h.Set("Cache-Control", "no-store")
	_, err = w.Write(data)
	return err
}

func (s *Server) documentDelete(w http.ResponseWriter, r *http.Request) error {
	actor, subject := s.actor(r)
	if err := s.files.Delete(r.Context(), actor, subject, r.PathValue("id"), requestID(r.Context())); err != nil {
		return err
	}
	http.Redirect(w, r, "/cabinet/documents?deleted=1", http.StatusSeeOther)
	return nil
}
