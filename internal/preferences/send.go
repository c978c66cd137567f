package preferences

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/notify"
	"kabinet/internal/sqldb"
)

// Templates kabinet ships for notices; each has texts for the inbox,
// e-mail and SMS and takes the parameters "title" and "text". The texts of
// informational and marketing ones say how to unsubscribe and carry
// {unsubscribe_url}, which Notify fills in.
const (
	TemplateNotice      = "notice"      // a service notice
	TemplateInformation = "information" // an informational notice (seed 000 policy §4.6)
	TemplateMarketing   = "marketing"   // an advertisement
)

// ParamUnsubscribeURL is the parameter Notify sets, on e-mail and SMS of
// informational and marketing notices, to the one-click unsubscribe link.
const ParamUnsubscribeURL = "unsubscribe_url"

// Notice is something to tell a subject, by topic.
type Notice struct {
	Subject string // the data subject's opaque id
	Topic   Topic
	// Template names the catalogue texts: notify.inbox.NAME.subject and
	// .body for the cabinet, notify.email.NAME.subject and .body,
	// notify.sms.NAME. A channel without its text is skipped. E-mail and
	// SMS texts of informational and marketing templates must contain
	// {unsubscribe_url} in every language.
	Template string
	// Params fill the template's placeholders. They must NOT be personal
	// data: the inbox stores them in plain text (the outbox seals its
	// copy). ParamUnsubscribeURL is set by Notify.
	Params map[string]string
	// Lang is the person's language for e-mail and SMS (the inbox renders
	// in the reader's language when shown); empty: the default.
	Lang string
	// Actor is who causes the notice, for the audit trail of sealing its
	// parameters; zero: kabinet itself.
	Actor     audit.Actor
	RequestID string
}

// Notify sends n to every channel its subject has turned on for its topic
// and that can deliver (Available), and returns those it was handed to, in
// the order cabinet, e-mail, SMS; push is never sent (no transport yet).
// A marketing notice is sent only when a marketing purpose is configured
// and the subject holds a valid consent to it now; an informational one
// also needs a consent to Config.InformingPurpose when that is set.
// Without them Notify sends nothing and returns no error.
//
// E-mail and SMS go through the outbox, which delivers them later; e-mail
// of informational and marketing notices carries List-Unsubscribe and
// List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058) with a link
// for that topic and channel, and so does its body.
//
// Channels are independent: when one fails the others are still tried,
// and the first error is returned with the channels that did succeed (a
// caller that retries may repeat a notice on those). Errors: fault.Invalid
// for a missing subject, an unknown topic, a template no channel has
// ("preferences.unknown_template") or one without its unsubscribe link
// ("preferences.no_unsubscribe_link"); the outbox's and the gate's
// refusals (a destroyed or blocked subject).
func (n *Notifications) Notify(ctx context.Context, nt Notice) ([]Channel, error) {
	switch {
	case nt.Subject == "":
		return nil, fault.New(fault.Invalid, "preferences.no_subject")
	case !nt.Topic.Valid():
		return nil, fault.New(fault.Invalid, "preferences.unknown_topic")
	}
	has := map[Channel]bool{}
	for _, ch := range []Channel{Cabinet, Email, SMS} {
		has[ch] = n.hasTemplate(ch, nt.Template)
	}
	if !has[Cabinet] && !has[Email] && !has[SMS] {
		return nil, fault.Wrap(fault.Invalid, fmt.Errorf("preferences: no template %q", nt.Template), "preferences.unknown_template")
	}
	if nt.Topic != Service {
		for _, ch := range []Channel{Email, SMS} {
			if has[ch] && !n.linksUnsubscribe(ch, nt.Template) {
				return nil, fault.Wrap(fault.Invalid, fmt.Errorf("preferences: the %s text of %q has no {%s}", ch, nt.Template, ParamUnsubscribeURL),
					"preferences.no_unsubscribe_link")
			}
		}
	}
	if !n.consented(nt.Subject, nt.Topic) {
		return nil, nil
	}
	m, err := n.Settings(ctx, nt.Subject)
	if err != nil {
		return nil, err
	}
	var (
		sent  []Channel
		first error
	)
	for _, ch := range []Channel{Cabinet, Email, SMS} {
		if !m.On(ch, nt.Topic) || !has[ch] || !n.Available(ch) {
			continue
		}
		var err error
		if ch == Cabinet {
			err = n.store(ctx, nt)
		} else {
			err = n.send(ctx, ch, nt)
		}
		if err != nil {
			if first == nil {
				first = fmt.Errorf("preferences: notify by %s: %w", ch, err)
			}
			continue
		}
		sent = append(sent, ch)
	}
	return sent, first
}

// consented reports whether the topic's purpose, if any, has the
// subject's consent now. Marketing without a configured purpose never
// has.
func (n *Notifications) consented(subject string, topic Topic) bool {
	switch topic {
	case Marketing:
		return n.marketing != "" && n.consent(subject, n.marketing, n.now())
	case Informational:
		return n.informing == "" || n.consent(subject, n.informing, n.now())
	}
	return true
}

// templateKeys returns the catalogue keys a template needs on a channel;
// the last is the one that must carry the unsubscribe link.
func templateKeys(ch Channel, template string) []string {
	switch ch {
	case Cabinet:
		return []string{"notify.inbox." + template + ".subject", "notify.inbox." + template + ".body"}
	case Email:
		return []string{"notify.email." + template + ".subject", "notify.email." + template + ".body"}
	case SMS:
		return []string{"notify.sms." + template}
	}
	return nil
}

// validTemplate accepts [a-z0-9_]+, the shape of a key segment.
func validTemplate(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' })
}

// hasTemplate reports whether the catalogues have the template for ch
// (the completeness test guarantees every language has what the default
// one has).
func (n *Notifications) hasTemplate(ch Channel, template string) bool {
	if !validTemplate(template) {
		return false
	}
	l := n.bundle.Localizer("")
	for _, k := range templateKeys(ch, template) {
		if !l.Has(k) {
			return false
		}
	}
	return true
}

// linksUnsubscribe reports whether the template's body on ch contains the
// unsubscribe link in every language (an unfilled placeholder renders as
// written).
func (n *Notifications) linksUnsubscribe(ch Channel, template string) bool {
	keys := templateKeys(ch, template)
	body := keys[len(keys)-1]
	for _, lang := range n.bundle.Languages() {
		if !strings.Contains(n.bundle.Localizer(lang).T(body), "{"+ParamUnsubscribeURL+"}") {
			return false
		}
	}
	return true
}

// send hands the notice to the outbox for ch (e-mail or SMS).
func (n *Notifications) send(ctx context.Context, ch Channel, nt Notice) error {
	params := maps.Clone(nt.Params)
	if params == nil {
		params = map[string]string{}
	}
	delete(params, ParamUnsubscribeURL)
	msg := notify.Message{Subject: nt.Subject, Channel: notify.Channel(ch), Template: nt.Template, Params: params,
		Lang: nt.Lang, Actor: nt.Actor, RequestID: nt.RequestID}
	if nt.Topic != Service {
		link := n.UnsubscribeURL(nt.Subject, nt.Topic, ch)
		if link == "" {
			return fault.New(fault.Invalid, "preferences.no_subject")
		}
		params[ParamUnsubscribeURL] = link
		if ch == Email {
			msg.Headers = map[string]string{
				"List-Unsubscribe":      "<" + link + ">",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			}
		}
	}
	_, err := n.out.Send(ctx, msg)
	return err
}

// store puts the notice in the subject's inbox.
func (n *Notifications) store(ctx context.Context, nt Notice) error {
	params := maps.Clone(nt.Params)
	if params == nil {
		params = map[string]string{}
	}
	delete(params, ParamUnsubscribeURL) // a credential, and the cabinet has the settings page
	js, err := json.Marshal(params)
	if err != nil {
		return err
	}
	_, err = n.db.Writer().ExecContext(ctx, "INSERT INTO inbox (subject_id, topic, template, params, created_at) VALUES ($1, $2, $3, $4, $5)",
		nt.Subject, string(nt.Topic), nt.Template, string(js), sqldb.Micros(n.now()))
	if err != nil {
		return sqldb.Map(err)
	}
	return nil
}
