package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/jobs"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
)

// JobDestroyRetained is the kind of the job that completes a deletion:
// run at once, it destroys the subject (or, when a legal duty keeps some
// data, blocks and keeps only those); run when the longest such duty ends,
// it destroys what was kept. It is idempotent.
const JobDestroyRetained = "identity.destroy_retained"

// StartDeletion begins the deletion of accountID from its cabinet (seed
// 000 §3.15, seed 001 §4.4): a code goes by flash call (the last
// Codes.FlashDigits digits of the calling number), SMS, or e-mail, to
// confirm with FinishDeletion. Errors: fault.Invalid
// "identity.channel_invalid", "identity.channel_unavailable" (the account
// has no phone number or address for the channel); the code limits.
func (s *Service) StartDeletion(ctx context.Context, c Client, accountID, channel string) (string, error) {
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return "", err
	}
	method, cat := MethodPhone, s.cfg.Categories.Phone
	switch channel {
	case ChannelCall, ChannelSMS:
	case ChannelEmail:
		method, cat = MethodEmail, s.cfg.Categories.Email
	default:
		return "", fault.New(fault.Invalid, "identity.channel_invalid")
	}
	vals, err := s.gate.Read(ctx, s.request(accountActor(a.id), a.subject, c.RequestID, cat))
	if err != nil {
		return "", fmt.Errorf("identity: start deletion: %w", err)
	}
	if len(vals[cat]) == 0 {
		return "", fault.New(fault.Invalid, "identity.channel_unavailable")
	}
	key := s.limitKey("account:" + a.id)
	if err := s.allowCode(ctx, key, c.IP); err != nil {
		return "", err
	}
	f := &flow{kind: FlowDeletion, subject: a.subject, account: a.id, method: method, channel: channel, limitKey: key}
	flowID, code, err := s.createFlow(ctx, f, false)
	if err != nil {
		return "", err
	}
	if err := s.send(ctx, c, a.subject, channel, "deletion_code", map[string]string{"code": code}, f.expires); err != nil {
		return "", err
	}
	return flowID, nil
}

// FinishDeletion deletes the account of a StartDeletion flow with its code
// (or after ConfirmCode, with code ""): every session ends, the account is
// marked deleted, and its subject's data are destroyed by crypto-shredding
// (gate.Destroy) — except what a purpose with a legal retention duty must
// keep (retention rule "law" for the account's kind of subject; the proof
// of consents only when the subject gave any): those categories are kept,
// blocked for every other use, until the longest such term ends, when the
// job JobDestroyRetained destroys them. Audited ("account.deleted").
func (s *Service) FinishDeletion(ctx context.Context, c Client, flowID, code string) error {
	f, err := s.confirmed(ctx, flowID, FlowDeletion, code)
	if err != nil {
		return err
	}
	a, err := s.accountByID(ctx, f.account)
	if err != nil {
		return errExpired()
	}
	now := s.now()
	keep, until, err := s.retention(ctx, a.subject, now)
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(destroyJob{Account: a.id})
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := finishFlow(ctx, tx, f, now); err != nil {
			return err
		}
		var untilArg any
		if len(keep) > 0 {
			untilArg = sqldb.Micros(until)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET state = 'deleted', password_hash = NULL, deleted_at = $1, updated_at = $1,
			retain_until = $2, retained = $3 WHERE id = $4`, sqldb.Micros(now), untilArg, strings.Join(keep, ","), a.id); err != nil {
			return fmt.Errorf("mark deleted: %w", err)
		}
		n, err := endSessions(ctx, tx, a.id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM federated_identities WHERE account_id = $1", a.id); err != nil {
			return fmt.Errorf("unlink providers: %w", err)
		}
		// Completed now below; the job is there should this process stop
		// before it has.
		if _, err := s.jobs.EnqueueTx(ctx, tx, jobs.Spec{Kind: JobDestroyRetained, Payload: payload, DedupeKey: "identity.delete:" + a.id}); err != nil {
			return err
		}
		attrs := map[string]string{"sessions_ended": strconv.Itoa(n), "kept": strconv.Itoa(len(keep))}
		if len(keep) > 0 {
			attrs["until"] = until.UTC().Format(time.DateOnly)
			if _, err := s.jobs.EnqueueTx(ctx, tx, jobs.Spec{Kind: JobDestroyRetained, Payload: payload, RunAt: until,
				DedupeKey: "identity.destroy_retained:" + a.id}); err != nil {
				return err
			}
		}
		_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(a.id), Subject: a.subject, Action: "account.deleted",
			Outcome: audit.OutcomeOK, RequestID: c.RequestID, Attrs: attrs})
		return err
	})
	if err != nil {
		return fmt.Errorf("identity: delete account: %w", err)
	}
	if err := s.DestroyRetained(ctx, a.id); err != nil {
		// The account is gone and its sessions ended; the job finishes
		// the destruction.
		s.log.Warn("identity: destroy deleted account's data; the job will retry", "account", a.id, "err", err)
	}
	return nil
}

type destroyJob struct {
	Account string `json:"account"`
}

// retention returns the categories a deleted account's subject must keep
// for a legal duty, and until when.
func (s *Service) retention(ctx context.Context, subject string, now time.Time) ([]string, time.Time, error) {
	var keep []string
	var until time.Time
	for i := range s.reg.Purposes {
		p := &s.reg.Purposes[i]
		if p.Retention.Rule != "law" || p.Retention.Term.IsZero() || !slices.Contains(p.Subjects, s.cfg.SubjectKind) {
			continue
		}
		if p.ID == register.PurposeConsentProof {
			// The evidence of consents must outlive them (152-FZ art. 9
			// p.3), but only a subject who consented to something has any.
			states, err := s.consents.States(ctx, subject)
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("identity: read consents: %w", err)
			}
			if len(states) == 0 {
				continue
			}
		}
		for _, c := range s.reg.Categories {
			if len(p.Covers(c.ID)) == 0 && !slices.Contains(keep, c.ID) {
				keep = append(keep, c.ID)
			}
		}
		if t := p.Retention.Term.AddTo(now); t.After(until) {
			until = t
		}
	}
	slices.Sort(keep)
	return keep, until, nil
}

// DestroyRetained completes the deletion of accountID: it destroys the
// subject, or, while a legal duty runs, keeps (blocked) only what the duty
// covers. It does nothing for an account that is not deleted or a subject
// already destroyed, so it may run any number of times.
func (s *Service) DestroyRetained(ctx context.Context, accountID string) error {
	var subject, state, retained string
	var until sql.NullInt64
	err := s.db.Reader().QueryRowContext(ctx, "SELECT subject_id, state, retain_until, retained FROM accounts WHERE id = $1", accountID).
		Scan(&subject, &state, &until, &retained)
	if errors.Is(err, sql.ErrNoRows) || err == nil && state != "deleted" {
		return nil
	}
	if err != nil {
		return sqldb.Map(fmt.Errorf("identity: destroy: %w", err))
	}
	info, err := s.gate.Subject(ctx, subject)
	if fault.KindOf(err) == fault.NotFound || err == nil && info.State == gate.StateDestroyed {
		return nil
	}
	if err != nil {
		return fmt.Errorf("identity: destroy: %w", err)
	}
	now := s.now()
	if !until.Valid || retained == "" || !now.Before(sqldb.FromMicros(until.Int64)) {
		reason := "account_deleted"
		if until.Valid {
			reason = "retention_ended"
		}
		return s.gate.Destroy(ctx, systemActor, subject, reason, "")
	}
	if slices.ContainsFunc(info.Blocks, func(b gate.BlockInfo) bool { return b.Reason == gate.BlockRetention }) {
		return nil // kept and blocked already; the job at the term's end destroys it
	}
	return s.gate.Retain(ctx, systemActor, subject, strings.Split(retained, ","), sqldb.FromMicros(until.Int64), "account_deleted", "")
}
