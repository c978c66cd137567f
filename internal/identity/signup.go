package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/consent"
	"kabinet/internal/documents"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
)

// SignupStart is the first step of a sign-up.
type SignupStart struct {
	Method     string // "phone" or "email"
	Identifier string // the phone number or e-mail address as typed
	Channel    string // "sms" or "call" for a phone, "email" for an address
}

// StartSignup begins a sign-up by phone (seed 000 §3.2.1) or e-mail (seed
// 002): it creates the data subject, writes the normalised number or
// address through the gate (so the outbox can read the recipient), and
// sends a code — by SMS, by flash call (the last Codes.FlashDigits digits
// of the calling number), or by e-mail. It returns the flow id to confirm
// with ConfirmCode and finish with FinishSignup.
//
// When the number or address already has an account, nothing is created:
// a message saying so goes to it instead of a code (nothing at all by
// flash call), and the returned flow is a decoy no code confirms. The
// answer and its timing are the same either way.
//
// Errors: fault.Invalid "identity.method_invalid", "identity.channel_invalid",
// "identity.phone_invalid", "identity.email_invalid"; fault.RateLimited
// "identity.too_many_codes" (Args retry_after, n); fault.Unavailable
// "identity.send_failed" when the outbox refused the message.
func (s *Service) StartSignup(ctx context.Context, c Client, in SignupStart) (string, error) {
	start := time.Now()
	var id identifier
	var err error
	switch in.Method {
	case MethodPhone:
		id.method, id.category = MethodPhone, s.cfg.Categories.Phone
		id.value, err = s.normalizePhone(in.Identifier)
	case MethodEmail:
		id.method, id.category = MethodEmail, s.cfg.Categories.Email
		id.value, err = normalizeEmail(in.Identifier)
	default:
		return "", fault.New(fault.Invalid, "identity.method_invalid")
	}
	if err != nil {
		return "", err
	}
	if err := channelFits(id.method, in.Channel); err != nil {
		return "", err
	}
	key := s.limitKey(id.value)
	if err := s.allowCode(ctx, key, c.IP); err != nil {
		return "", err
	}
	defer s.pad(ctx, start)
	existing, err := s.findAccount(ctx, id, c.RequestID)
	if err != nil {
		return "", err
	}
	f := &flow{kind: FlowSignup, method: id.method, channel: in.Channel, limitKey: key}
	if existing != nil {
		// Tell the owner rather than the caller. A flash call cannot say
		// anything, so by call nothing is sent.
		f.subject, f.account = existing.subject, existing.id
		flowID, _, err := s.createFlow(ctx, f, true)
		if err != nil {
			return "", err
		}
		if in.Channel != ChannelCall {
			if err := s.send(ctx, c, existing.subject, in.Channel, "signup_exists", nil, time.Time{}); err != nil {
				return "", err
			}
		}
		return flowID, nil
	}
	subject, err := s.gate.NewSubject(ctx, systemActor, s.cfg.SubjectKind, c.RequestID)
	if err != nil {
		return "", fmt.Errorf("identity: sign-up: %w", err)
	}
	if err := s.gate.Write(ctx, s.request(systemActor, subject, c.RequestID), gate.Values{id.category: []byte(id.value)}); err != nil {
		s.abandon(ctx, subject)
		return "", fmt.Errorf("identity: sign-up: %w", err)
	}
	f.subject = subject
	flowID, code, err := s.createFlow(ctx, f, false)
	if err != nil {
		s.abandon(ctx, subject)
		return "", err
	}
	if err := s.send(ctx, c, subject, in.Channel, "signup_code", map[string]string{"code": code}, f.expires); err != nil {
		return "", err
	}
	return flowID, nil
}

// accountRef names an active account.
type accountRef struct {
	id, subject, level string
	hash               sql.NullString
}

// findAccount returns the active account whose phone number or e-mail
// address is id, or nil, through the gate's blind index.
func (s *Service) findAccount(ctx context.Context, id identifier, requestID string) (*accountRef, error) {
	subjects, err := s.gate.Lookup(ctx, systemActor, s.cfg.Purpose, id.category, id.value, requestID)
	if err != nil {
		return nil, fmt.Errorf("identity: find account: %w", err)
	}
	for _, subj := range subjects {
		// Subjects of sign-ups in progress carry the value too; only one
		// with an active account counts.
		a, err := s.accountBySubject(ctx, subj)
		if err != nil || a != nil {
			return a, err
		}
	}
	return nil, nil
}

func (s *Service) accountBySubject(ctx context.Context, subject string) (*accountRef, error) {
	var a accountRef
	err := s.db.Reader().QueryRowContext(ctx, `SELECT id, subject_id, trust_level, password_hash FROM accounts
		WHERE subject_id = $1 AND state = 'active'`, subject).Scan(&a.id, &a.subject, &a.level, &a.hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: read account: %w", err))
	}
	return &a, nil
}

func (s *Service) accountByID(ctx context.Context, id string) (*accountRef, error) {
	var a accountRef
	err := s.db.Reader().QueryRowContext(ctx, `SELECT id, subject_id, trust_level, password_hash FROM accounts
		WHERE id = $1 AND state = 'active'`, id).Scan(&a.id, &a.subject, &a.level, &a.hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.New(fault.NotFound, "identity.account_unknown")
	}
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: read account: %w", err))
	}
	return &a, nil
}

// Terms is what a person accepts when signing up: the agreement (nil when
// the operator has none), the policy, and one consent per consent-based
// purpose, each for its own tick-box (152-FZ art. 9 p.1: a consent is a
// separate document).
type Terms struct {
	Agreement *documents.Version
	Policy    documents.Version
	Consents  []ConsentOffer
}

// ConsentOffer is one consent a person may give at sign-up.
type ConsentOffer struct {
	Purpose  string            // the register's purpose id: what SignupFinish.Consents lists
	Title    string            // the purpose's title in the language asked for
	Document documents.Version // the consent text, with its version and hash
}

// SignupTerms returns the current agreement, policy and consent offers in
// lang (the operator's default language where lang has none). A consent
// is offered for each consent-based purpose that covers the account's
// kind of subject and may be given by a tick-box; not the accounts' own
// purpose, whose processing cannot wait for a tick.
func (s *Service) SignupTerms(ctx context.Context, lang string) (Terms, error) {
	var t Terms
	if d := s.reg.DocumentOfKind(register.DocAgreement); d != nil {
		v, err := s.docs.Current(ctx, d.ID, lang)
		if err != nil {
			return Terms{}, fmt.Errorf("identity: terms: %w", err)
		}
		t.Agreement = &v
	}
	d := s.reg.DocumentOfKind(register.DocPolicy)
	if d == nil {
		return Terms{}, errors.New("identity: the register has no policy")
	}
	var err error
	if t.Policy, err = s.docs.Current(ctx, d.ID, lang); err != nil {
		return Terms{}, fmt.Errorf("identity: terms: %w", err)
	}
	for _, p := range s.offered() {
		v, err := s.docs.Current(ctx, p.Consent.Document, lang)
		if err != nil {
			return Terms{}, fmt.Errorf("identity: terms: consent of %s: %w", p.ID, err)
		}
		t.Consents = append(t.Consents, ConsentOffer{Purpose: p.ID, Title: p.Title.In(lang, ""), Document: v})
	}
	return t, nil
}

// offered lists the purposes whose consent sign-up offers.
func (s *Service) offered() []*register.Purpose {
	var out []*register.Purpose
	for i := range s.reg.Purposes {
		p := &s.reg.Purposes[i]
		if p.ConsentBased() && p.Consent != nil && p.ID != s.cfg.Purpose && slices.Contains(p.Subjects, s.cfg.SubjectKind) &&
			slices.Contains(p.Consent.Methods, "checkbox") {
			out = append(out, p)
		}
	}
	return out
}

// SignupFinish is the last step of a sign-up.
type SignupFinish struct {
	// Password is the new account's password; "" finishes a phone
	// sign-up without one (the simplified level, sign-in by code only).
	Password string
	// AcceptAgreement and AcceptPolicy are the two tick-boxes; both are
	// required (the agreement's only when the operator has one).
	AcceptAgreement, AcceptPolicy bool
	// AgreementVersion and PolicyVersion are the ids of the texts shown,
	// if the surface knows them (Terms); 0 means the current ones. A text
	// replaced since it was shown is fault.Conflict "documents.not_current".
	AgreementVersion, PolicyVersion int64
	// Consents lists the purposes (ConsentOffer.Purpose) ticked.
	Consents []string
}

// Session is a signed-in session.
type Session struct {
	ID        string // public id, for listing and revoking; not a credential
	AccountID string
	SubjectID string
	Level     Level
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // idle or absolute expiry, whichever comes first
}

// FinishSignup finishes a sign-up confirmed by ConfirmCode within
// Codes.FinishWithin: it checks the password rules (length,
// not common, not the phone number or address), records the acceptance
// of the agreement and policy versions (method "registration"), gives
// each ticked consent through the ledger (method "checkbox", evidence the
// client's address and browser), creates the account — standard with a
// password (seed 000 §3.7), simplified without — and signs it in.
//
// Errors: those of ConfirmCode ("identity.code_required" when the flow
// was not confirmed); fault.Invalid "identity.password_*",
// "identity.password_required" (an e-mail sign-up without a password),
// "identity.terms_required", "identity.consent_unknown"; fault.Conflict
// "identity.account_exists" when an account with the same number was
// finished meanwhile.
func (s *Service) FinishSignup(ctx context.Context, c Client, flowID string, in SignupFinish) (Session, string, error) {
	f, err := s.loadFlow(ctx, flowID, FlowSignup)
	if err != nil {
		return Session{}, "", err
	}
	if f.confirmed.IsZero() {
		return Session{}, "", fault.New(fault.Invalid, "identity.code_required")
	}
	if f.subject == "" || f.account != "" {
		return Session{}, "", errExpired() // a decoy cannot be confirmed; defensive
	}
	level := LevelStandard
	switch {
	case in.Password == "" && f.method == MethodPhone:
		level = LevelSimplified
	case in.Password == "":
		return Session{}, "", fault.New(fault.Invalid, "identity.password_required")
	default:
		if err := s.checkPassword(in.Password, s.sameAs(f)); err != nil {
			return Session{}, "", err
		}
	}
	terms, err := s.SignupTerms(ctx, c.Lang)
	if err != nil {
		return Session{}, "", err
	}
	if (terms.Agreement != nil && !in.AcceptAgreement) || !in.AcceptPolicy {
		return Session{}, "", fault.New(fault.Invalid, "identity.terms_required")
	}
	var gives []ConsentOffer
	for _, p := range in.Consents {
		i := slices.IndexFunc(terms.Consents, func(o ConsentOffer) bool { return o.Purpose == p })
		if i < 0 {
			return Session{}, "", fault.New(fault.Invalid, "identity.consent_unknown")
		}
		if !slices.ContainsFunc(gives, func(o ConsentOffer) bool { return o.Purpose == p }) {
			gives = append(gives, terms.Consents[i])
		}
	}
	// Two sign-ups of one number may race to here: the first wins.
	if dup, err := s.otherAccount(ctx, f, c.RequestID); err != nil || dup {
		if err == nil {
			err = fault.New(fault.Conflict, "identity.account_exists")
		}
		return Session{}, "", err
	}
	var hash string
	if in.Password != "" {
		if hash, err = s.hasher.hash(in.Password); err != nil {
			return Session{}, "", fmt.Errorf("identity: %w", err)
		}
	}
	// The subject accepts and consents before the account exists; should
	// the account not be created, the subject is destroyed with its flow.
	subjectActor := audit.Actor{Kind: audit.ActorSubject, ID: f.subject}
	accept := func(v *documents.Version, shown int64) error {
		if v == nil {
			return nil
		}
		if shown == 0 {
			shown = v.ID
		}
		return s.docs.Accept(ctx, f.subject, shown, documents.MethodRegistration, subjectActor, c.RequestID)
	}
	if err := accept(terms.Agreement, in.AgreementVersion); err != nil {
		return Session{}, "", fmt.Errorf("identity: accept agreement: %w", err)
	}
	if err := accept(&terms.Policy, in.PolicyVersion); err != nil {
		return Session{}, "", fmt.Errorf("identity: accept policy: %w", err)
	}
	for _, o := range gives {
		_, err := s.consents.Give(ctx, consent.Event{Subject: f.subject, Purpose: o.Purpose,
			Doc:    consent.Doc{ID: o.Document.DocID, Version: o.Document.Label, Hash: o.Document.Hash},
			Method: "checkbox", Evidence: consent.Evidence{IP: ipString(c), UserAgent: c.UserAgent},
			Actor: subjectActor, RequestID: c.RequestID})
		if err != nil {
			return Session{}, "", fmt.Errorf("identity: consent to %s: %w", o.Purpose, err)
		}
	}
	accountID := newAccountID()
	ns, err := s.prepareSession(ctx, c, accountID, f.subject)
	if err != nil {
		return Session{}, "", err
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := finishFlow(ctx, tx, f, now); err != nil {
			return err
		}
		if err := s.insertAccount(ctx, tx, accountID, f.subject, hash, level, now, c.RequestID, "account.created", f.method); err != nil {
			return err
		}
		return s.insertSession(ctx, tx, ns, level, now)
	})
	if err != nil {
		return Session{}, "", fmt.Errorf("identity: finish sign-up: %w", err)
	}
	return ns.session(level), ns.token, nil
}

// insertAccount creates an account and audits it in tx.
func (s *Service) insertAccount(ctx context.Context, tx *sql.Tx, id, subject, hash string, level Level, now time.Time, requestID, action, via string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, subject_id, password_hash, trust_level, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'active', $5, $5)`, id, subject, nullString(hash), level.String(), sqldb.Micros(now))
	if err != nil {
		return fmt.Errorf("insert account: %w", err)
	}
	_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(id), Subject: subject, Action: action,
		Outcome: audit.OutcomeOK, RequestID: requestID, Attrs: map[string]string{"level": level.String(), "via": via}})
	return err
}

// sameAs returns the check that a password is not the flow's identifier
// (the number in any of the forms people write it, or the address): the
// password read as one is compared by keyed hash, so the identifier need
// not be read back.
func (s *Service) sameAs(f *flow) func(string) bool {
	return func(pw string) bool {
		var v string
		var err error
		if f.method == MethodEmail {
			v, err = normalizeEmail(pw)
		} else {
			v, err = s.normalizePhone(pw)
		}
		return err == nil && s.limitKey(v) == f.limitKey
	}
}

// otherAccount reports whether another active account already has the
// sign-up's number or address.
func (s *Service) otherAccount(ctx context.Context, f *flow, requestID string) (bool, error) {
	cat := s.cfg.Categories.Phone
	if f.method == MethodEmail {
		cat = s.cfg.Categories.Email
	}
	vals, err := s.gate.Read(ctx, s.request(systemActor, f.subject, requestID, cat))
	if err != nil {
		return false, fmt.Errorf("identity: finish sign-up: %w", err)
	}
	v := vals.String(cat)
	if v == "" {
		return false, nil
	}
	a, err := s.findAccount(ctx, identifier{method: f.method, category: cat, value: v}, requestID)
	return a != nil, err
}

func ipString(c Client) string {
	if !c.IP.IsValid() {
		return ""
	}
	return c.IP.Unmap().String()
}
