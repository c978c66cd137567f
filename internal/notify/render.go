package notify

import (
	"html"
	"maps"
	"slices"
	"strings"
	"time"
)

// templateKeys returns the catalogue keys a template needs on a channel.
func templateKeys(ch Channel, template string) []string {
	base := "notify." + string(ch) + "." + template
	if ch == Email {
		return []string{base + ".subject", base + ".body"}
	}
	return []string{base}
}

// hasTemplate reports whether the catalogues have the template for the
// channel (the completeness test guarantees every language has what the
// default one has).
func (o *Outbox) hasTemplate(ch Channel, template string) bool {
	if template == "" || strings.ContainsAny(template, ". ") {
		return false
	}
	l := o.bundle.Localizer("")
	for _, k := range templateKeys(ch, template) {
		if !l.Has(k) {
			return false
		}
	}
	return true
}

// render fills the template in lang with params; remaining, when
// positive, is offered as {valid_for} ("5 минут").
func (o *Outbox) render(ch Channel, template, lang string, params map[string]string, remaining time.Duration) Outgoing {
	l := o.bundle.Localizer(lang)
	args := make([]any, 0, 2*len(params)+2)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		args = append(args, k, params[k])
	}
	if remaining > 0 {
		minutes := int((remaining + time.Minute - 1) / time.Minute) // rounded up: "1 minute" until it is over
		args = append(args, "valid_for", l.N("notify.minutes", minutes))
	}
	keys := templateKeys(ch, template)
	out := Outgoing{Lang: l.Lang(), Text: l.T(keys[0], args...)}
	if ch == Email {
		out.Subject, out.Text = out.Text, l.T(keys[1], args...)
		out.HTML = htmlBody(l.Lang(), out.Subject, out.Text)
	}
	return out
}

// htmlBody renders a plain-text body as a minimal HTML document: blank
// lines separate paragraphs, single line breaks stay breaks. Catalogue
// texts are plain text, so everything is escaped.
func htmlBody(lang, subject, text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"" + html.EscapeString(lang) + "\">\n<head><meta charset=\"utf-8\"><title>")
	b.WriteString(html.EscapeString(subject))
	b.WriteString("</title></head>\n<body style=\"font-family: sans-serif; line-height: 1.5\">\n")
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		lines := strings.Split(p, "\n")
		for i := range lines {
			lines[i] = html.EscapeString(lines[i])
		}
		b.WriteString("<p>" + strings.Join(lines, "<br>\n") + "</p>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}
