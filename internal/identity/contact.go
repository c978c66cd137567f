package identity

import (
	"context"
	"database/sql"
	"fmt"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
)

// StartContactChange begins changing the account's sign-in phone number
// (method "phone", channel sms or call) or e-mail address (method
// "email"): a code goes to the NEW contact, which proves the person holds
// it. Until confirmed, the new value is kept by a short-lived carrier
// subject (the outbox reads recipients through the gate), destroyed when
// the flow ends either way.
//
// Errors: those of StartSignup's identifiers and limits; fault.Conflict
// "identity.contact_taken" when another account signs in with it;
// fault.Invalid "identity.contact_same" for the current value.
func (s *Service) StartContactChange(ctx context.Context, c Client, accountID, method, value, channel string) (string, error) {
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return "", err
	}
	var id identifier
	switch method {
	case MethodPhone:
		id.method, id.category = MethodPhone, s.cfg.Categories.Phone
		id.value, err = s.normalizePhone(value)
	case MethodEmail:
		id.method, id.category = MethodEmail, s.cfg.Categories.Email
		id.value, err = normalizeEmail(value)
	default:
		return "", fault.New(fault.Invalid, "identity.method_invalid")
	}
	if err != nil {
		return "", err
	}
	if err := channelFits(id.method, channel); err != nil {
		return "", err
	}
	key := s.limitKey(id.value)
	if err := s.allowCode(ctx, key, c.IP); err != nil {
		return "", err
	}
	existing, err := s.findAccount(ctx, id, c.RequestID)
	if err != nil {
		return "", err
	}
	switch {
	case existing != nil && existing.id == a.id:
		return "", fault.New(fault.Invalid, "identity.contact_same")
	case existing != nil:
		return "", fault.New(fault.Conflict, "identity.contact_taken")
	}
	carrier, err := s.gate.NewSubject(ctx, systemActor, s.cfg.SubjectKind, c.RequestID)
	if err != nil {
		return "", fmt.Errorf("identity: contact change: %w", err)
	}
	if err := s.gate.Write(ctx, s.request(systemActor, carrier, c.RequestID), gate.Values{id.category: []byte(id.value)}); err != nil {
		s.abandon(ctx, carrier)
		return "", fmt.Errorf("identity: contact change: %w", err)
	}
	f := &flow{kind: FlowContactChange, subject: carrier, account: a.id, method: id.method, channel: channel, limitKey: key}
	flowID, code, err := s.createFlow(ctx, f, false)
	if err != nil {
		s.abandon(ctx, carrier)
		return "", err
	}
	if err := s.send(ctx, c, carrier, channel, "signup_code", map[string]string{"code": code}, f.expires); err != nil {
		return "", err
	}
	return flowID, nil
}

// FinishContactChange checks the code sent to the new contact and makes
// it the account's sign-in phone number or e-mail address (through the
// gate, audited by category), then destroys the carrier. The old value is
// replaced: it no longer signs in.
func (s *Service) FinishContactChange(ctx context.Context, c Client, accountID, flowID, code string) error {
	f, err := s.confirmed(ctx, flowID, FlowContactChange, code)
	if err != nil {
		if fault.KindOf(err) == fault.Invalid {
			if err := s.failAttempt(ctx, c.IP); err != nil {
				return fmt.Errorf("identity: contact change: %w", err)
			}
		}
		return err
	}
	if f.account != accountID {
		return errExpired()
	}
	a, err := s.accountByID(ctx, f.account)
	if err != nil {
		return errExpired()
	}
	category := s.cfg.Categories.Phone
	if f.method == MethodEmail {
		category = s.cfg.Categories.Email
	}
	got, err := s.gate.Read(ctx, s.request(systemActor, f.subject, c.RequestID, category))
	if err != nil {
		return fmt.Errorf("identity: contact change: %w", err)
	}
	value := got[category]
	if len(value) == 0 {
		return errExpired()
	}
	// Another account may have taken the value meanwhile.
	if other, err := s.findAccount(ctx, identifier{method: f.method, category: category, value: string(value)}, c.RequestID); err != nil {
		return err
	} else if other != nil && other.id != a.id {
		return fault.New(fault.Conflict, "identity.contact_taken")
	}
	now := s.now()
	if err := s.db.InTx(ctx, func(tx *sql.Tx) error { return finishFlow(ctx, tx, f, now) }); err != nil {
		return err
	}
	if err := s.gate.Write(ctx, s.request(accountActor(a.id), a.subject, c.RequestID), gate.Values{category: value}); err != nil {
		return fmt.Errorf("identity: contact change: %w", err)
	}
	s.abandon(ctx, f.subject)
	if err := s.succeed(ctx, f.limitKey); err != nil {
		return fmt.Errorf("identity: contact change: %w", err)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(a.id), Subject: a.subject, Action: "account.contact_changed",
			Categories: []string{category}, Outcome: audit.OutcomeOK, RequestID: c.RequestID})
		return err
	})
}
