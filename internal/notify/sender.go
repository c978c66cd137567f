package notify

import (
	"context"
	"time"
)

// Sender hands one rendered message to a delivery service and returns the
// service's id for it ("" when it gives none).
//
// Its errors are stored and logged, so they must never carry the
// recipient, the text or the code (the outbox also cuts them out should one
// slip through). Return a *SendError to say whether a retry can help;
// other errors are retried.
type Sender interface {
	Deliver(ctx context.Context, m Outgoing) (providerID string, err error)
}

// Outgoing is a rendered message. It lives in memory only: To and the
// texts are personal data.
type Outgoing struct {
	// ID is the outbox id as text, the same on every attempt, for services
	// that de-duplicate.
	ID      string
	Channel Channel
	To      string // E.164 phone number, or e-mail address
	Lang    string
	Subject string // e-mail only
	Text    string // SMS text; e-mail plain body; what the console shows for a call
	HTML    string // e-mail only
	Code    string // the one-time code, for flash calls
	// Headers are extra e-mail header fields (e.g. List-Unsubscribe).
	Headers map[string]string
}

// SendError is a delivery failure with the sender's verdict on retrying.
type SendError struct {
	Err error
	// Permanent: retrying cannot help (a rejected recipient, a refused
	// login); the message fails at once.
	Permanent bool
	// RetryAfter, when positive, is when the service asked to retry.
	RetryAfter time.Duration
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }
