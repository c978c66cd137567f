package gate

import (
	"strings"

	"kabinet/internal/fault"
)

// Refusal reasons: stable codes, also written to the audit log.
const (
	ReasonUnknownPurpose   = "unknown_purpose"
	ReasonNotCovered       = "category_not_covered"
	ReasonNoConsent        = "no_consent"
	ReasonBlocked          = "blocked"
	ReasonDestroyed        = "subject_destroyed"
	ReasonUnknownSubject   = "unknown_subject"
	ReasonWrongSubjectKind = "subject_kind_not_covered"
)

// Refusal is the gate's answer when a request may not be served. It is a
// *fault.Error underneath, so surfaces map it like any other error, and it
// matches its sentinel with errors.Is: errors.Is(err, gate.ErrNoConsent).
type Refusal struct {
	Reason     string
	Purpose    string
	Categories []string
	// Detail is a further code, e.g. the consent decision's reason
	// ("withdrawn", "expired").
	Detail string
}

func (r *Refusal) Error() string {
	s := "personal data refused: " + r.Reason
	if r.Purpose != "" {
		s += " (purpose " + r.Purpose
		if len(r.Categories) > 0 {
			s += ", categories " + strings.Join(r.Categories, ",")
		}
		s += ")"
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// Is matches a sentinel Refusal with the same reason.
func (r *Refusal) Is(target error) bool {
	t, ok := target.(*Refusal)
	return ok && t.Purpose == "" && t.Reason == r.Reason
}

// Unwrap classifies the refusal: a destroyed or unknown subject is not
// found; everything else is forbidden.
func (r *Refusal) Unwrap() error {
	kind := fault.Forbidden
	switch r.Reason {
	case ReasonDestroyed, ReasonUnknownSubject:
		kind = fault.NotFound
	case ReasonUnknownPurpose:
		kind = fault.Invalid
	}
	return fault.New(kind, "gate.refused."+r.Reason)
}

// Sentinels for errors.Is.
var (
	ErrUnknownPurpose   = &Refusal{Reason: ReasonUnknownPurpose}
	ErrNotCovered       = &Refusal{Reason: ReasonNotCovered}
	ErrNoConsent        = &Refusal{Reason: ReasonNoConsent}
	ErrBlocked          = &Refusal{Reason: ReasonBlocked}
	ErrDestroyed        = &Refusal{Reason: ReasonDestroyed}
	ErrUnknownSubject   = &Refusal{Reason: ReasonUnknownSubject}
	ErrWrongSubjectKind = &Refusal{Reason: ReasonWrongSubjectKind}
)
