// Package fault defines the closed set of error kinds every kabinet package
// reports, so that surfaces (web, API, CLI) can map any failure to a status
// and a localised message without knowing where it came from.
//
// An *Error carries two faces: Key (a message key a person may see,
// translated at the edge) and Err (the detail that goes to the log only).
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error. The set is closed on purpose: new failure
// modes map onto one of these rather than growing the list.
type Kind int

const (
	Internal     Kind = iota // a bug or an unexpected failure: shown as "internal error" only
	NotFound                 // the thing asked for does not exist (or is not yours to see)
	Conflict                 // the request clashes with stored state (duplicate, stale lease, …)
	Invalid                  // the input is malformed or breaks a rule
	Unauthorized             // the caller is not signed in or the credentials are wrong
	Forbidden                // the caller is known but may not do this
	RateLimited              // too many attempts; try later
	Unavailable              // a dependency (database, gateway) is down or busy; retrying may help
)

var kindNames = [...]string{"internal", "not_found", "conflict", "invalid", "unauthorized", "forbidden", "rate_limited", "unavailable"}

// String returns the stable, lower-case name of the kind, used in logs and
// API error codes.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error of a known kind. Key is a message key (see package
// i18n) for the person; Args fill its placeholders; Err is the cause and is
// never shown to a person.
type Error struct {
	Kind Kind
	Key  string
	Args []any
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Key != "":
		return e.Key + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	case e.Key != "":
		return e.Key
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports a match against a bare kind sentinel made by New(kind), so
// callers can write errors.Is(err, fault.ErrNotFound).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Key == "" && t.Err == nil && t.Kind == e.Kind
}

// Sentinels for errors.Is checks by kind.
var (
	ErrNotFound     = &Error{Kind: NotFound}
	ErrConflict     = &Error{Kind: Conflict}
	ErrInvalid      = &Error{Kind: Invalid}
	ErrUnauthorized = &Error{Kind: Unauthorized}
	ErrForbidden    = &Error{Kind: Forbidden}
	ErrRateLimited  = &Error{Kind: RateLimited}
	ErrUnavailable  = &Error{Kind: Unavailable}
)

// New returns an error of the given kind with a message key for the person.
func New(kind Kind, key string, args ...any) *Error {
	return &Error{Kind: kind, Key: key, Args: args}
}

// Wrap returns an error of the given kind around cause, with a message key
// for the person (may be empty: a generic message for the kind is shown).
func Wrap(kind Kind, cause error, key string, args ...any) *Error {
	return &Error{Kind: kind, Key: key, Args: args, Err: cause}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Message returns the message key and arguments a person may see for err:
// the first *Error in the chain with a key, else a generic key for its kind.
// Internal errors never expose a key from deeper in the chain.
func Message(err error) (key string, args []any) {
	kind := KindOf(err)
	if kind != Internal {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if fe, ok := e.(*Error); ok && fe.Key != "" {
				return fe.Key, fe.Args
			}
		}
	}
	return "error." + kind.String(), nil
}
