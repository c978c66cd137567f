package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"kabinet/internal/audit"
)

// History reads a subject's entries from the audit log (audit.Timeline
// bound to the database).
type History func(ctx context.Context, subject string, actions []string, before int64, limit int) ([]audit.Entry, error)

// historyKinds are the filters of the history page and the audit actions
// each shows.
var historyKinds = []struct {
	Kind    string
	Actions []string
}{
	{"signins", []string{"session.created"}},
	{"data", []string{"pd.write", "pd.erase", "subject"}},
	{"consents", []string{"consent"}},
	{"documents", []string{"document.accepted", "files"}},
	{"sessions", []string{"session.revoked", "session.ended", "access.reported"}},
	{"account", []string{"account"}},
}

// historyPage is the data of the history template.
type historyPageData struct {
	Kind  string
	Kinds []string
	Rows  []historyEntry
	More  string // the link to older entries
}

type historyEntry struct {
	When, Action, Detail string
	Categories           []string
}

const historyPageSize = 25

// history shows the person's own timeline of operations (seed 000
// §1.2.4): sign-ins with device and address, data changes by category
// (never values), consents, documents, sessions.
func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	kind := r.URL.Query().Get("kind")
	var actions []string
	p := historyPageData{Kind: kind}
	for _, k := range historyKinds {
		p.Kinds = append(p.Kinds, k.Kind)
		if k.Kind == kind {
			actions = k.Actions
		}
	}
	if actions == nil {
		p.Kind = ""
		for _, k := range historyKinds {
			actions = append(actions, k.Actions...)
		}
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	entries, err := s.timeline(r.Context(), sess.SubjectID, actions, before, historyPageSize+1)
	if err != nil {
		return err
	}
	more := len(entries) > historyPageSize
	if more {
		entries = entries[:historyPageSize]
	}
	var sessionIDs []string
	for _, e := range entries {
		if e.Action == "session.created" && e.Attrs["session"] != "" {
			sessionIDs = append(sessionIDs, e.Attrs["session"])
		}
	}
	signIns, err := s.ids.SignIns(r.Context(), sess.AccountID, sessionIDs)
	if err != nil {
		return err
	}
	lang := s.lang(r)
	l := s.bundle.Localizer(lang)
	for _, e := range entries {
		row := historyEntry{When: e.Time.In(s.loc).Format("02.01.2006 15:04"), Action: l.T("history.action." + strings.ReplaceAll(e.Action, ".", "_"))}
		if !l.Has("history.action." + strings.ReplaceAll(e.Action, ".", "_")) {
			row.Action = l.T("history.action.other")
		}
		for _, c := range e.Categories {
			if cat := s.cfg.Register.Category(c); cat != nil {
				row.Categories = append(row.Categories, cat.Title.In(lang, s.cfg.DefaultLanguage()))
			}
		}
		switch {
		case e.Action == "session.created":
			if si, ok := signIns[e.Attrs["session"]]; ok {
				row.Detail = strings.TrimSpace(si.Device + " · " + si.IP)
			}
		case strings.HasPrefix(e.Action, "consent.") || e.Action == "pd.write":
			if pu := s.cfg.Register.Purpose(e.Purpose); pu != nil {
				row.Detail = pu.Title.In(lang, s.cfg.DefaultLanguage())
			}
		}
		if e.Outcome == audit.OutcomeRefused {
			row.Detail = strings.TrimSpace(row.Detail + " " + l.T("history.refused"))
		}
		p.Rows = append(p.Rows, row)
	}
	if more {
		p.More = "/cabinet/history?before=" + strconv.FormatInt(entries[len(entries)-1].Seq, 10)
		if p.Kind != "" {
			p.More += "&kind=" + p.Kind
		}
	}
	return s.render(w, r, http.StatusOK, "history", p)
}
