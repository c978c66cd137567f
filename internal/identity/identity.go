// Package identity signs people up, in and out: registration by phone
// (a code by SMS or flash call) or by e-mail, passwords, one-time codes,
// password reset, sessions, trust levels, sign-in through an external
// identity provider, and deletion of an account (seed 000 §3, seed 001 §2,
// §4.4). It is the service layer; the web pages and the JSON API call it.
//
// # Personal data
//
// An account is a way to sign in to a data subject. Its phone number,
// e-mail address and name live only behind the gate, written for the
// configured purpose (config.Identity.Purpose); accounts are found by the
// gate's blind index of the normalised value. This package's own tables
// hold no personal data in plain text:
//
//   - one-time codes are kept as HMAC-SHA256 under a random per-flow salt,
//     flow ids and session tokens as SHA-256 hashes;
//   - rate-limit counters are keyed by a keyed hash of the identifier or
//     address (Deps.Index, under domains of this package's own, so they
//     cannot be joined to the gate's blind indexes);
//   - a session's address and device are sealed under the subject's key
//     through the gate (category config.Identity.Categories.Session) and
//     die with it;
//   - a provider's subject identifier is kept as a keyed hash.
//
// # Not telling whether an account exists
//
// Every answer about credentials is the same whether the account exists
// or not: a wrong password and an unknown identifier both give
// "identity.credentials_wrong" after the same argon2id work; starting a
// code flow always returns a flow id and takes at least
// Codes.MinResponse. For an unknown identifier the flow is a decoy whose
// code cannot match and nothing is sent; a sign-up for a number or address
// that already has an account sends, instead of a code, a message saying
// so (by SMS or e-mail; nothing by flash call, which cannot carry text),
// and its flow is a decoy too. Rate limits count unknown identifiers
// exactly like known ones.
//
// # Limits
//
// Codes sent are limited per identifier per hour and per day and per
// address per hour; failed sign-ins are counted per identifier (a run of
// failures: after DelayAfter each attempt must wait a doubling delay,
// after LockAfter the identifier is locked for LockFor) and per address
// per hour. A refusal is fault.RateLimited with "retry_after" (seconds)
// and "n" (minutes, for the message) in its Args, never a sleep. Each code
// takes MaxAttempts wrong entries, then it is dead; it expires after TTL.
package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/documents"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/jobs"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
)

// Client is who is calling: taken from the request by the surface.
type Client struct {
	IP        netip.Addr
	UserAgent string
	Lang      string // the language of messages sent to the person
	RequestID string
}

// Channels a code can travel by.
const (
	ChannelSMS   = "sms"
	ChannelCall  = "call" // a flash call: the last digits of the calling number are the code
	ChannelEmail = "email"
)

// Message is a message to a data subject for the outbox to deliver. The
// outbox reads the recipient (phone number or e-mail address, by Channel)
// through the gate; Params carry the one-time code, which the outbox must
// keep sealed and never log.
type Message struct {
	Subject   string            // the recipient's subject id
	Channel   string            // sms, call or email
	Template  string            // message key, e.g. "notify.sms.signup_code"
	Params    map[string]string // e.g. "code"
	Lang      string
	ExpiresAt time.Time // after this the message is pointless (the code has expired)
	RequestID string
}

// Messenger hands messages to the outbox (package notify), which returns
// the message's id.
type Messenger interface {
	Send(ctx context.Context, m Message) (int64, error)
}

// Documents is what identity needs of the legal documents (package
// documents): the current texts and the record of their acceptance.
type Documents interface {
	Current(ctx context.Context, docID, lang string) (documents.Version, error)
	Accept(ctx context.Context, subject string, versionID int64, method string, actor audit.Actor, requestID string) error
	RecordContinuedUse(ctx context.Context, subject string, actor audit.Actor, requestID string) (int, error)
}

// Consents is what identity needs of the consent ledger: consents ticked
// at sign-up, and whether a subject has any consent on record (whose
// evidence the law makes the operator keep after deletion).
type Consents interface {
	Give(ctx context.Context, e consent.Event) (consent.Record, error)
	States(ctx context.Context, subject string) ([]consent.State, error)
}

// Auditor appends audit entries inside the caller's transaction;
// *audit.Log is one.
type Auditor interface {
	AppendTx(ctx context.Context, tx *sql.Tx, e audit.Entry) (audit.Entry, error)
}

// Deps is what a Service is built from.
type Deps struct {
	DB       *sqldb.DB
	Gate     *gate.Gate
	Register *register.Register
	Config   config.Identity
	// Jurisdiction (ru, kz or kg) gives the default region of phone
	// numbers written without a country code.
	Jurisdiction string
	Messenger    Messenger
	Documents    Documents
	Consents     Consents
	Audit        Auditor
	// Jobs stores the jobs that finish a deletion and destroy what was
	// kept for a legal duty when its term ends.
	Jobs *jobs.Queue
	// Index is a keyed hash (the vault's blind-index function,
	// (*vault.Vault).Index). identity calls it only with domains of its
	// own, never with a register category, so its hashes cannot be joined
	// to the gate's blind indexes.
	Index  func(domain, value string) []byte
	Clock  func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Service is the sign-up and sign-in service. It is safe for concurrent
// use, and several kabinet processes may share its database.
type Service struct {
	db       *sqldb.DB
	gate     *gate.Gate
	reg      *register.Register
	cfg      config.Identity
	region   string
	msg      Messenger
	docs     Documents
	consents Consents
	audit    Auditor
	jobs     *jobs.Queue
	index    func(domain, value string) []byte
	now      func() time.Time
	log      *slog.Logger

	hasher  *hasher
	common  map[string]bool // the most common passwords, lower-cased
	dummy   string          // a hash verified for unknown accounts, so they cost the same
	purpose *register.Purpose
}

// New checks deps and returns a Service. The configuration is expected to
// have passed config validation; New refuses what would make the service
// misbehave (a missing dependency, a purpose that does not cover the
// categories, non-positive limits).
func New(d Deps) (*Service, error) {
	switch {
	case d.DB == nil || d.Gate == nil || d.Register == nil || d.Messenger == nil || d.Documents == nil ||
		d.Consents == nil || d.Audit == nil || d.Jobs == nil || d.Index == nil:
		return nil, errors.New("identity: New needs DB, Gate, Register, Messenger, Documents, Consents, Audit, Jobs and Index")
	}
	c := d.Config
	p := d.Register.Purpose(c.Purpose)
	if p == nil {
		return nil, fmt.Errorf("identity: the register has no purpose %q", c.Purpose)
	}
	cats := []string{c.Categories.Phone, c.Categories.Email, c.Categories.Name, c.Categories.Session}
	for _, cat := range cats {
		if d.Register.Category(cat) == nil {
			return nil, fmt.Errorf("identity: the register has no category %q", cat)
		}
	}
	if missing := p.Covers(cats...); len(missing) > 0 {
		return nil, fmt.Errorf("identity: purpose %s does not cover %v", p.ID, missing)
	}
	for _, v := range []int{c.Password.MinLength, c.Password.MaxLength, int(c.Password.Argon2.MemoryKiB), int(c.Password.Argon2.Time),
		int(c.Password.Argon2.Threads), c.Codes.Length, c.Codes.FlashDigits, c.Codes.MaxAttempts, c.Limits.CodesPerNumberHour,
		c.Limits.CodesPerNumberDay, c.Limits.CodesPerIPHour, c.Limits.DelayAfter, c.Limits.LockAfter, c.Limits.FailuresPerIPHour} {
		if v <= 0 {
			return nil, errors.New("identity: the configuration has a zero limit: apply config defaults")
		}
	}
	for _, v := range []time.Duration{c.Codes.TTL, c.Codes.FinishWithin, c.Codes.MinResponse, c.Limits.DelayBase, c.Limits.LockFor,
		c.Limits.FailuresForget, c.Sessions.Idle, c.Sessions.Absolute, c.Sessions.TouchEvery} {
		if v <= 0 {
			return nil, errors.New("identity: the configuration has a zero duration: apply config defaults")
		}
	}
	s := &Service{
		db: d.DB, gate: d.Gate, reg: d.Register, cfg: c, region: register.HomeCountry(d.Jurisdiction),
		msg: d.Messenger, docs: d.Documents, consents: d.Consents, audit: d.Audit, jobs: d.Jobs, index: d.Index,
		now: d.Clock, log: d.Logger, purpose: p,
		hasher: newHasher(c.Password.Argon2, runtime.NumCPU()),
		common: commonPasswords(),
	}
	if s.region == "" {
		s.region = "RU"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.dummy, err = s.hasher.hash(randomToken(16)); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return s, nil
}

// Level is an account's trust level (seed 000 §3.6–3.8). Levels are
// ordered: LevelSimplified < LevelStandard < LevelVerified. The zero
// Level is no level (not signed in) and allows nothing.
type Level int

const (
	LevelSimplified Level = iota + 1 // a phone number confirmed by a code, no password
	LevelStandard                    // a password account, or an unverified federated one
	LevelVerified                    // identity confirmed by the identity provider
)

var levelNames = map[Level]string{LevelSimplified: "simplified", LevelStandard: "standard", LevelVerified: "verified"}

// String returns the level's stable code ("" for the zero Level).
func (l Level) String() string { return levelNames[l] }

// Allows reports whether an account of level l may use a function that
// requires the level required.
func (l Level) Allows(required Level) bool { return l > 0 && l >= required }

// ParseLevel reads a level code. "" (a function that requires nothing
// more than being signed in) is LevelSimplified; an unknown code is
// LevelVerified, so that a typo in a requirement fails closed.
func ParseLevel(s string) Level {
	switch s {
	case "", "simplified":
		return LevelSimplified
	case "standard":
		return LevelStandard
	}
	return LevelVerified
}

func parseStoredLevel(s string) Level {
	for l, n := range levelNames {
		if n == s {
			return l
		}
	}
	return 0
}

// Account is what a surface may know about an account.
type Account struct {
	ID          string
	SubjectID   string
	Level       Level
	HasPassword bool
	CreatedAt   time.Time
}

// Account returns the active account accountID; fault.NotFound when there
// is none (or it was deleted).
func (s *Service) Account(ctx context.Context, accountID string) (Account, error) {
	var a Account
	var level string
	var hash sql.NullString
	var created int64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT id, subject_id, trust_level, password_hash, created_at
		FROM accounts WHERE id = $1 AND state = 'active'`, accountID).Scan(&a.ID, &a.SubjectID, &level, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fault.New(fault.NotFound, "identity.account_unknown")
	}
	if err != nil {
		return Account{}, sqldb.Map(fmt.Errorf("identity: read account: %w", err))
	}
	a.Level, a.HasPassword, a.CreatedAt = parseStoredLevel(level), hash.Valid && hash.String != "", sqldb.FromMicros(created)
	return a, nil
}

// Actors of audit entries and gate calls.
var systemActor = audit.Actor{Kind: audit.ActorSystem, ID: "identity"}

func accountActor(id string) audit.Actor { return audit.Actor{Kind: audit.ActorAccount, ID: id} }

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newAccountID returns an opaque account id: "a" and 24 hex digits.
func newAccountID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "a" + hex.EncodeToString(b)
}

// request names a gate call for the identity purpose.
func (s *Service) request(actor audit.Actor, subject, requestID string, categories ...string) gate.Request {
	return gate.Request{Actor: actor, Subject: subject, Purpose: s.cfg.Purpose, Categories: categories, RequestID: requestID}
}

// retryAfter makes the fault of a refusal that lifts after d.
func retryAfter(key string, d time.Duration) error {
	secs := int((d + time.Second - 1) / time.Second)
	mins := max((secs+59)/60, 1)
	return fault.New(fault.RateLimited, key, "retry_after", max(secs, 1), "n", mins)
}

// pad waits until at least Codes.MinResponse has passed since start, so
// that the work done for a known identifier and for an unknown one take
// the same time from outside.
func (s *Service) pad(ctx context.Context, start time.Time) {
	left := s.cfg.Codes.MinResponse - time.Since(start)
	if left <= 0 {
		return
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
