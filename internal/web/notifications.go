package web

import (
	"context"
	"net/http"
	"strconv"

	"kabinet/internal/audit"
	"kabinet/internal/i18n"
	"kabinet/internal/preferences"
)

// Notifications is what the cabinet needs of package preferences.
type Notifications interface {
	Settings(ctx context.Context, subject string) (preferences.Matrix, error)
	Set(ctx context.Context, actor audit.Actor, subject string, ch preferences.Channel, topic preferences.Topic, on bool, requestID string) error
	Available(ch preferences.Channel) bool
	MarketingEnabled() bool
	Inbox(ctx context.Context, subject string, page int) ([]preferences.Item, int, error)
	MarkRead(ctx context.Context, subject string, id int64) error
	CheckToken(token string) (preferences.Unsubscription, error)
	Unsubscribe(ctx context.Context, token, requestID string) (preferences.Unsubscription, error)
}

// notificationsPage: per channel and topic, what the person receives
// (seed 000 §3.13: SMS only after opting in; seed 002 §5.9.2), and the
// in-cabinet messages with read/unread.
type notificationsPage struct {
	Notice    string
	Channels  []channelCol
	Topics    []topicRow
	Inbox     []inboxItem
	Unread    int
	Marketing bool
}

type channelCol struct {
	Label     string
	Available bool
}

type topicRow struct {
	Label, Hint string
	Cells       []settingCell
}

type settingCell struct {
	Name            string // form field: channel.topic
	On, Fixed, Last bool
	Label           string
}

type inboxItem struct {
	ID                  int64
	When, Subject, Body string
	Unread              bool
}

func (s *Server) notificationsPageData(r *http.Request) (notificationsPage, error) {
	sess, _ := sessionFrom(r.Context())
	m, err := s.prefs.Settings(r.Context(), sess.SubjectID)
	if err != nil {
		return notificationsPage{}, err
	}
	l := s.bundle.Localizer(s.lang(r))
	p := notificationsPage{Marketing: s.prefs.MarketingEnabled()}
	for _, ch := range preferences.Channels() {
		p.Channels = append(p.Channels, channelCol{Label: l.T(ch.Label()), Available: s.prefs.Available(ch)})
	}
	for _, t := range preferences.Topics() {
		if t == preferences.Marketing && !p.Marketing {
			continue
		}
		row := topicRow{Label: l.T(t.Label()), Hint: l.T(t.Hint())}
		for _, ch := range preferences.Channels() {
			set := m[preferences.Cell{Channel: ch, Topic: t}]
			row.Cells = append(row.Cells, settingCell{Name: string(ch) + "." + string(t), On: set.On, Fixed: set.Fixed,
				Label: l.T("notifications.cell", "topic", l.T(t.Label()), "channel", l.T(ch.Label()))})
		}
		p.Topics = append(p.Topics, row)
	}
	items, unread, err := s.prefs.Inbox(r.Context(), sess.SubjectID, 0)
	if err != nil {
		return p, err
	}
	p.Unread = unread
	for _, it := range items {
		subj, body := it.Text(l)
		p.Inbox = append(p.Inbox, inboxItem{ID: it.ID, When: it.CreatedAt.In(s.loc).Format("02.01.2006 15:04"), Subject: subj, Body: body, Unread: it.Unread()})
	}
	return p, nil
}

func (s *Server) notifications(w http.ResponseWriter, r *http.Request) error {
	p, err := s.notificationsPageData(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("saved") != "" {
		p.Notice = "notifications.saved"
	}
	return s.render(w, r, http.StatusOK, "notifications", p)
}

// notificationsSave stores every cell of the form (only real changes are
// written and audited by package preferences).
func (s *Server) notificationsSave(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	if err := r.ParseForm(); err != nil {
		return err
	}
	m, err := s.prefs.Settings(r.Context(), sess.SubjectID)
	if err != nil {
		return err
	}
	actor := audit.Actor{Kind: audit.ActorAccount, ID: sess.AccountID}
	for _, t := range preferences.Topics() {
		if t == preferences.Marketing && !s.prefs.MarketingEnabled() {
			continue
		}
		for _, ch := range preferences.Channels() {
			set := m[preferences.Cell{Channel: ch, Topic: t}]
			on := r.PostForm.Get(string(ch)+"."+string(t)) == "on"
			if set.Fixed || set.On == on {
				continue
			}
			if err := s.prefs.Set(r.Context(), actor, sess.SubjectID, ch, t, on, requestID(r.Context())); err != nil {
				return err
			}
		}
	}
	http.Redirect(w, r, "/cabinet/notifications?saved=1", http.StatusSeeOther)
	return nil
}

func (s *Server) notificationRead(w http.ResponseWriter, r *http.Request) error {
	sess, _ := sessionFrom(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return s.notFound(w, r)
	}
	if err := s.prefs.MarkRead(r.Context(), sess.SubjectID, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/cabinet/notifications#inbox", http.StatusSeeOther)
	return nil
}

// unsubscribePage confirms before turning anything off: mail scanners
// follow links, so a GET changes nothing.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) error {
	u, err := s.prefs.CheckToken(r.PathValue("token"))
	if err != nil {
		return err
	}
	l := s.bundle.Localizer(s.lang(r))
	return s.render(w, r, http.StatusOK, "unsubscribe", unsubscribeData{Token: r.PathValue("token"), What: describe(l, u)})
}

// unsubscribe turns the topic off for the channel, without a session: the
// RFC 8058 one-click POST comes from the mail provider, cross-site.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.prefs.Unsubscribe(r.Context(), r.PathValue("token"), requestID(r.Context()))
	if err != nil {
		return err
	}
	l := s.bundle.Localizer(s.lang(r))
	return s.render(w, r, http.StatusOK, "unsubscribe", unsubscribeData{Done: true, What: describe(l, u)})
}

type unsubscribeData struct {
	Token, What string
	Done        bool
}

func describe(l *i18n.Localizer, u preferences.Unsubscription) string {
	return l.T("notifications.cell", "topic", l.T(u.Topic.Label()), "channel", l.T(u.Channel.Label()))
}
