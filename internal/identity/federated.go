package identity

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/sqldb"
)

// FederatedIdentity is what an external identity provider (package
// federation) said about the person who signed in there.
type FederatedIdentity struct {
	Provider string // the provider's id in the configuration
	Subject  string // the provider's stable identifier of the person ("sub")
	// Verified: the provider vouches that the person's identity was
	// established — the verified trust level (seed 000 §3.6).
	Verified bool
	// Values are personal data by register category, mapped from the
	// provider's claims; they are written only through the gate.
	Values map[string]string
	// Confirmed lists the categories of Values the provider says it
	// checked (a verified e-mail, a verified phone): only those may match
	// an existing account for linking.
	Confirmed []string
}

// SignInFederated signs in with an identity from a provider:
//
//   - an identity already linked to an account signs that account in; the
//     provider's values of categories other than the phone number and
//     e-mail address (which are the account's sign-in identifiers and
//     stay as they are) are written again, and a verified identity raises
//     the account to the verified level;
//   - else, when the identity's confirmed phone number or e-mail address is
//     that of an existing account, nothing is signed in: linkFlowID names
//     a link the person must confirm (ConfirmLink) as the owner of that
//     account, within Codes.FinishWithin;
//   - else a new account is created with the values written through the
//     gate (those of categories the accounts' purpose does not cover are
//     left out and logged by category; a phone number or address that
//     another account already uses is left out too), verified when the
//     provider verified the person, standard otherwise.
//
// Errors: fault.Invalid "identity.federated_invalid" for an identity
// without provider or subject.
func (s *Service) SignInFederated(ctx context.Context, c Client, id FederatedIdentity) (sess Session, token, linkFlowID string, err error) {
	if !codeLike(id.Provider) || id.Subject == "" || len(id.Subject) > 1024 {
		return Session{}, "", "", fault.New(fault.Invalid, "identity.federated_invalid")
	}
	provSub := s.providerSubject(id)
	level := LevelStandard
	if id.Verified {
		level = LevelVerified
	}
	// An existing link.
	var accountID string
	err = s.db.Reader().QueryRowContext(ctx, "SELECT account_id FROM federated_identities WHERE provider = $1 AND provider_subject = $2",
		id.Provider, provSub).Scan(&accountID)
	switch {
	case err == nil:
		a, err := s.accountByID(ctx, accountID)
		if err != nil {
			return Session{}, "", "", err
		}
		if err := s.writeValues(ctx, c, a.id, a.subject, id, false); err != nil {
			return Session{}, "", "", err
		}
		if level > parseStoredLevel(a.level) {
			if err := s.raiseLevel(ctx, a, level, id.Provider, c.RequestID); err != nil {
				return Session{}, "", "", err
			}
			a.level = level.String()
		}
		sess, token, err := s.signIn(ctx, c, a)
		return sess, token, "", err
	case !errors.Is(err, sql.ErrNoRows):
		return Session{}, "", "", sqldb.Map(fmt.Errorf("identity: read link: %w", err))
	}

	// A confirmed phone number or address of an existing account: offer a
	// link. Unconfirmed ones that clash are dropped from the new account.
	values := map[string]string{}
	for cat, v := range id.Values {
		values[cat] = v
	}
	for _, cat := range []string{s.cfg.Categories.Phone, s.cfg.Categories.Email} {
		raw, ok := values[cat]
		if !ok {
			continue
		}
		ident, err := s.normalizeAs(cat, raw)
		if err != nil {
			delete(values, cat) // not a usable number or address
			continue
		}
		values[cat] = ident.value
		a, err := s.findAccount(ctx, ident, c.RequestID)
		if err != nil {
			return Session{}, "", "", err
		}
		if a == nil {
			continue
		}
		if !slices.Contains(id.Confirmed, cat) {
			delete(values, cat)
			continue
		}
		f := &flow{kind: FlowFederatedLink, subject: a.subject, account: a.id, provider: id.Provider, providerSub: provSub,
			verified: id.Verified, expires: s.now().Add(s.cfg.Codes.FinishWithin)}
		linkFlowID, _, err := s.createFlow(ctx, f, false)
		return Session{}, "", linkFlowID, err
	}

	// A new account.
	subject, err := s.gate.NewSubject(ctx, systemActor, s.cfg.SubjectKind, c.RequestID)
	if err != nil {
		return Session{}, "", "", fmt.Errorf("identity: federated sign-up: %w", err)
	}
	defer func() {
		if err != nil {
			s.abandon(ctx, subject)
		}
	}()
	accountID = newAccountID()
	if err := s.writeValues(ctx, c, accountID, subject, FederatedIdentity{Provider: id.Provider, Verified: id.Verified, Values: values}, true); err != nil {
		return Session{}, "", "", err
	}
	ns, err := s.prepareSession(ctx, c, accountID, subject)
	if err != nil {
		return Session{}, "", "", err
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertAccount(ctx, tx, accountID, subject, "", level, now, c.RequestID, "account.created", "provider"); err != nil {
			return err
		}
		if err := s.insertLink(ctx, tx, accountID, subject, id.Provider, provSub, c.RequestID); err != nil {
			return err
		}
		return s.insertSession(ctx, tx, ns, level, now)
	})
	if err != nil {
		return Session{}, "", "", fmt.Errorf("identity: federated sign-up: %w", err)
	}
	return ns.session(level), ns.token, "", nil
}

// LinkProof is how the person shows they own the account a federated
// identity is to be linked to: being signed in to it (AccountID, from
// Authenticate), or its password.
type LinkProof struct {
	AccountID string
	Password  string
}

// ConfirmLink links the provider identity of a SignInFederated link flow
// to its account, once the person proves they own it, and signs the
// account in (raised to verified when the provider verified the person).
// The provider's values are written at the next SignInFederated, which
// may be called at once. Errors: fault.Invalid "identity.code_expired"
// for an unknown, expired or used flow; fault.Forbidden
// "identity.link_wrong_account" when signed in to another account;
// fault.Unauthorized "identity.credentials_wrong" for a wrong password
// (Codes.MaxAttempts of them kill the flow).
func (s *Service) ConfirmLink(ctx context.Context, c Client, linkFlowID string, proof LinkProof) (Session, string, error) {
	f, err := s.loadFlow(ctx, linkFlowID, FlowFederatedLink)
	if err != nil {
		return Session{}, "", err
	}
	a, err := s.accountByID(ctx, f.account)
	if err != nil {
		return Session{}, "", errExpired()
	}
	switch {
	case proof.AccountID != "":
		if proof.AccountID != a.id {
			return Session{}, "", fault.New(fault.Forbidden, "identity.link_wrong_account")
		}
	case f.attempts >= f.maxAttempts:
		return Session{}, "", errExpired()
	default:
		phc := s.dummy
		if a.hash.Valid && a.hash.String != "" {
			phc = a.hash.String
		}
		ok, _, err := s.hasher.verify(phc, proof.Password)
		if err != nil {
			return Session{}, "", fmt.Errorf("identity: account %s: %w", a.id, err)
		}
		if !ok || phc == s.dummy {
			err := s.db.InTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE auth_flows SET attempts = attempts + 1 WHERE id = $1", f.hash)
				return err
			})
			if err != nil {
				return Session{}, "", fmt.Errorf("identity: count attempt: %w", err)
			}
			return Session{}, "", errCredentials()
		}
	}
	level := parseStoredLevel(a.level)
	if f.verified && level < LevelVerified {
		level = LevelVerified
	}
	ns, err := s.prepareSession(ctx, c, a.id, a.subject)
	if err != nil {
		return Session{}, "", err
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := finishFlow(ctx, tx, f, now); err != nil {
			return err
		}
		if err := s.insertLink(ctx, tx, a.id, a.subject, f.provider, f.providerSub, c.RequestID); err != nil {
			return err
		}
		if level.String() != a.level {
			if _, err := tx.ExecContext(ctx, "UPDATE accounts SET trust_level = $1, updated_at = $2 WHERE id = $3",
				level.String(), sqldb.Micros(now), a.id); err != nil {
				return fmt.Errorf("raise level: %w", err)
			}
		}
		return s.insertSession(ctx, tx, ns, level, now)
	})
	if err != nil {
		return Session{}, "", fmt.Errorf("identity: confirm link: %w", err)
	}
	return ns.session(level), ns.token, nil
}

// providerSubject is the keyed hash under which a provider's subject
// identifier is stored: it names a person at the provider.
func (s *Service) providerSubject(id FederatedIdentity) string {
	return hex.EncodeToString(s.index("identity.federated", id.Provider+"\x00"+id.Subject))
}

func (s *Service) insertLink(ctx context.Context, tx *sql.Tx, accountID, subject, provider, provSub, requestID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO federated_identities (provider, provider_subject, account_id, created_at)
		VALUES ($1, $2, $3, $4)`, provider, provSub, accountID, sqldb.Micros(s.now()))
	if err != nil {
		return fmt.Errorf("link provider: %w", err)
	}
	_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(accountID), Subject: subject, Action: "account.linked",
		Outcome: audit.OutcomeOK, RequestID: requestID, Attrs: map[string]string{"provider": provider}})
	return err
}

func (s *Service) raiseLevel(ctx context.Context, a *accountRef, level Level, provider, requestID string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET trust_level = $1, updated_at = $2 WHERE id = $3",
			level.String(), sqldb.Micros(s.now()), a.id); err != nil {
			return fmt.Errorf("identity: raise level: %w", err)
		}
		_, err := s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(a.id), Subject: a.subject, Action: "account.level",
			Outcome: audit.OutcomeOK, RequestID: requestID, Attrs: map[string]string{"level": level.String(), "provider": provider}})
		return err
	})
}

// writeValues writes a provider's values through the gate: those of
// categories the accounts' purpose covers, the sign-in identifiers only
// when withContacts (a new account).
func (s *Service) writeValues(ctx context.Context, c Client, accountID, subject string, id FederatedIdentity, withContacts bool) error {
	vals := gate.Values{}
	for cat, v := range id.Values {
		if v == "" {
			continue
		}
		if !withContacts && (cat == s.cfg.Categories.Phone || cat == s.cfg.Categories.Email) {
			continue
		}
		if s.reg.Category(cat) == nil || len(s.purpose.Covers(cat)) > 0 {
			s.log.Warn("identity: a provider's value is outside the accounts' purpose and was not stored", "category", auditSafe(cat))
			continue
		}
		vals[cat] = []byte(v)
	}
	if len(vals) == 0 {
		return nil
	}
	if err := s.gate.Write(ctx, s.request(accountActor(accountID), subject, c.RequestID), vals); err != nil {
		return fmt.Errorf("identity: write provider's values: %w", err)
	}
	verified := 0
	if id.Verified {
		verified = 1
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for cat := range vals {
			if _, err := tx.ExecContext(ctx, `INSERT INTO value_sources (subject_id, category, provider, verified, updated_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (subject_id, category) DO UPDATE SET provider = excluded.provider, verified = excluded.verified, updated_at = excluded.updated_at`,
				subject, cat, id.Provider, verified, sqldb.Micros(s.now())); err != nil {
				return fmt.Errorf("identity: record value source: %w", err)
			}
		}
		return nil
	})
}

// VerifiedCategories returns the categories of the subject's data that an
// identity provider verified, with the provider's id: the cabinet shows
// them as confirmed and does not let the person edit them.
func (s *Service) VerifiedCategories(ctx context.Context, subject string) (map[string]string, error) {
	rows, err := s.db.Reader().QueryContext(ctx, "SELECT category, provider FROM value_sources WHERE subject_id = $1 AND verified = 1", subject)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: value sources: %w", err))
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c, p string
		if err := rows.Scan(&c, &p); err != nil {
			return nil, sqldb.Map(fmt.Errorf("identity: value sources: %w", err))
		}
		out[c] = p
	}
	return out, sqldb.Map(rows.Err())
}

// normalizeAs normalises a value of the phone or e-mail category.
func (s *Service) normalizeAs(category, raw string) (identifier, error) {
	if category == s.cfg.Categories.Email {
		v, err := normalizeEmail(raw)
		return identifier{MethodEmail, category, v}, err
	}
	v, err := s.normalizePhone(raw)
	return identifier{MethodPhone, category, v}, err
}

// codeLike accepts short identifier codes: provider ids.
func codeLike(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
}

// auditSafe keeps a category code fit for a log line.
func auditSafe(s string) string {
	if !codeLike(s) {
		return "invalid"
	}
	return s
}
