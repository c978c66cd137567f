package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"kabinet/internal/fault"
)

// form is a submitted form as a page shows it again: what the person
// typed, a translated message per field in error, and the order of those
// fields for the error summary (GOV.UK pattern: summary at the top linking
// to each field, the message again beside the field).
type form struct {
	Page   *Page
	Values map[string]string
	Errors map[string]string
	Order  []string
	Data   any // page-specific extras

	errArgs []errArg
	limited bool // a limit refused the request: the page answers 429
}

func newForm(r *http.Request, fields ...string) *form {
	f := &form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, name := range fields {
		f.Values[name] = strings.TrimSpace(r.PostFormValue(name))
	}
	return f
}

// fail records a message key for a field; the page translates it.
func (f *form) fail(field, key string, args ...any) {
	if _, dup := f.Errors[field]; !dup {
		f.Order = append(f.Order, field)
	}
	f.Errors[field] = key // translated in render, once the language is known
	f.errArgs = append(f.errArgs, errArg{field, key, args})
}

type errArg struct {
	field, key string
	args       []any
}

// translate turns recorded keys into messages in the page's language.
func (f *form) translate(p *Page) {
	f.Page = p
	for _, e := range f.errArgs {
		f.Errors[e.field] = p.T(e.key, e.args...)
	}
}

// failWith records a service error against the field it concerns. Errors a
// person can act on (invalid, conflict, rate-limited, unauthorized) are
// shown; anything else is returned for the error page.
func (f *form) failWith(err error, fieldOf func(key string) string) error {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return err
	}
	if fault.KindOf(err) == fault.RateLimited {
		f.limited = true
	}
	switch fault.KindOf(err) {
	case fault.Invalid, fault.Conflict, fault.RateLimited, fault.Unauthorized, fault.NotFound, fault.Forbidden:
		key, args := fault.Message(err)
		f.fail(fieldOf(key), key, args...)
		return nil
	}
	return fmt.Errorf("form: %w", err)
}
