package identity

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/jobs"
	"kabinet/internal/register"
)

// noLawRetention makes the demo's one purpose with a legal retention duty
// an ordinary one, so that nothing must outlive a deletion.
func noLawRetention(c *config.Config) {
	p := c.Register.Purpose("services")
	p.Retention = register.Retention{Rule: "until_achieved", After: "destroy"}
}

// Deletion confirmed by the last digits of an incoming call (seed 000
// §3.15): every session ends, the account is gone, and the subject is
// destroyed by crypto-shredding when no legal duty keeps anything.
func TestDeletionDestroysTheSubject(t *testing.T) {
	each(t, noLawRetention, func(t *testing.T, f *fixture) {
		sess, tok := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		_, tok2, err := f.s.SignInPassword(ctx, clientB, phone, goodPass)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.s.StartDeletion(ctx, clientA, sess.AccountID, ChannelEmail)
		wantFault(t, err, fault.Invalid, "identity.channel_unavailable") // a phone account has no address
		id, err := f.s.StartDeletion(ctx, clientA, sess.AccountID, ChannelCall)
		if err != nil {
			t.Fatal(err)
		}
		m := f.msgs.last(t)
		if m.Template != "notify.call.deletion_code" || m.Subject != sess.SubjectID || len(m.Params["code"]) != 5 {
			t.Fatalf("message %+v", m)
		}
		wrong := "00000"
		if m.Params["code"] == wrong {
			wrong = "11111"
		}
		wantFault(t, f.s.FinishDeletion(ctx, clientA, id, wrong), fault.Invalid, "identity.code_wrong")
		if err := f.s.FinishDeletion(ctx, clientA, id, m.Params["code"]); err != nil {
			t.Fatal(err)
		}
		for _, tk := range []string{tok, tok2} {
			_, err := f.s.Authenticate(ctx, tk)
			wantFault(t, err, fault.Unauthorized, "identity.session_invalid")
		}
		if n := f.count(t, "SELECT COUNT(*) FROM sessions"); n != 0 {
			t.Errorf("%d sessions left", n)
		}
		_, err = f.s.Account(ctx, sess.AccountID)
		wantFault(t, err, fault.NotFound, "identity.account_unknown")
		info, err := f.gate.Subject(ctx, sess.SubjectID)
		if err != nil || info.State != gate.StateDestroyed {
			t.Fatalf("subject: %+v, %v", info, err)
		}
		_, err = f.gate.Read(ctx, gate.Request{Actor: systemActor, Subject: sess.SubjectID, Purpose: "portal", Categories: []string{"contact.phone"}})
		if !isRefusal(err, gate.ErrDestroyed) {
			t.Errorf("reading the destroyed number: %v", err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM audit_log WHERE action = 'account.deleted' AND subject = $1", sess.SubjectID); n != 1 {
			t.Errorf("%d account.deleted entries", n)
		}
		_, _, err = f.s.SignInPassword(ctx, clientA, phone, goodPass)
		wantFault(t, err, fault.Unauthorized, "identity.credentials_wrong")
		// The number is free: a new sign-up gets a code, not a notice.
		if _, err := f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS}); err != nil {
			t.Fatal(err)
		}
		if f.msgs.last(t).Template != "notify.sms.signup_code" {
			t.Errorf("after deletion a sign-up got %s", f.msgs.last(t).Template)
		}
		// The completing job finds nothing left to do.
		if err := f.s.DestroyRetained(ctx, sess.AccountID); err != nil {
			t.Error(err)
		}
		wantFault(t, f.s.FinishDeletion(ctx, clientA, id, m.Params["code"]), fault.Invalid, "identity.code_expired")
	})
}

// When a purpose with a legal retention duty covers the subject (the
// demo's "services": 5 years), deletion keeps only its categories (and
// the proof of the consent given), blocked for everything else, and a job
// destroys them when the term ends.
func TestDeletionKeepsWhatTheLawRequires(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		sess, _ := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass, "informing")
		id, err := f.s.StartDeletion(ctx, clientA, sess.AccountID, ChannelSMS)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.FinishDeletion(ctx, clientA, id, f.code(t)); err != nil {
			t.Fatal(err)
		}
		until := register.Duration{N: 5, Unit: 'y'}.AddTo(start)
		info, err := f.gate.Subject(ctx, sess.SubjectID)
		if err != nil || info.State != gate.StateActive || !slices.ContainsFunc(info.Blocks, func(b gate.BlockInfo) bool {
			return b.Reason == gate.BlockRetention && b.Category == "*" && b.Until.Equal(until)
		}) {
			t.Fatalf("subject after deletion: %+v, %v", info, err)
		}
		_, err = f.gate.Read(ctx, gate.Request{Actor: systemActor, Subject: sess.SubjectID, Purpose: "portal", Categories: []string{"contact.phone"}})
		if !isRefusal(err, gate.ErrBlocked) {
			t.Errorf("reading a kept number for the portal: %v", err)
		}
		var retained string
		f.db.Reader().QueryRowContext(ctx, "SELECT retained FROM accounts WHERE id = $1", sess.AccountID).Scan(&retained)
		if !contains([]string{retained}, "contact.phone") || !contains([]string{retained}, "technical.consent_evidence") ||
			contains([]string{retained}, "technical.session") {
			t.Errorf("kept categories: %s", retained)
		}
		_, err = f.s.Account(ctx, sess.AccountID)
		wantFault(t, err, fault.NotFound, "identity.account_unknown")

		// The job destroys what was kept when the term ends.
		runner := jobs.NewRunner(f.queue, jobs.Config{PollInterval: 20 * time.Millisecond, Lease: 5 * time.Second})
		f.s.Register(runner)
		rctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { runner.Run(rctx) })
		defer func() { stop(); wg.Wait() }()
		time.Sleep(100 * time.Millisecond) // the immediate job runs and finds the data kept
		if info, _ := f.gate.Subject(ctx, sess.SubjectID); info.State != gate.StateActive {
			t.Fatal("destroyed before the term")
		}
		f.clock.Add(until.Sub(start) + time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := f.gate.Subject(ctx, sess.SubjectID)
			if err == nil && info.State == gate.StateDestroyed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not destroyed after the term: %+v, %v", info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
