package identity

import (
	"testing"
	"time"

	"kabinet/internal/consent"
	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/i18n/i18ntest"
)

func TestKeysTranslated(t *testing.T) {
	i18ntest.KeysTranslated(t, "identity", 25, JobExpireFlows, JobDestroyRetained, "identity.limit", "identity.limit.ip", "identity.federated")
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct {
		region, in, want string
	}{
		{"RU", "8 916 123-45-67", "+79161234567"},
		{"RU", "+7 (916) 123 45 67", "+79161234567"},
		{"RU", "9161234567", "+79161234567"},
		{"KZ", "8 701 123 45 67", "+77011234567"},
		{"RU", "+7 701 123 45 67", "+77011234567"}, // a Kazakh number from Russia
		{"KG", "0555 123 456", "+996555123456"},
		{"RU", "+996 555 123 456", "+996555123456"},
		{"RU", "+44 20 7946 0958", "+442079460958"},
		{"RU", "12345", ""},
		{"RU", "8 916 123", ""},
		{"RU", "ivan@example.ru", ""},
		{"RU", "", ""},
	} {
		s := &Service{region: tc.region}
		got, err := s.normalizePhone(tc.in)
		if tc.want == "" {
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("%s %q: got %q, %v; want identity.phone_invalid", tc.region, tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q: got %q, %v; want %q", tc.region, tc.in, got, err, tc.want)
		}
	}
	for in, want := range map[string]string{" Ivan.Petrov+tag@Example.RU ": "ivan.petrov+tag@example.ru", "a@b": "", "a b@c.ru": "",
		"Ivan <ivan@example.ru>": "", "ivan@example..ru": "", "@example.ru": ""} {
		got, err := normalizeEmail(in)
		if want == "" && err == nil || want != "" && got != want {
			t.Errorf("e-mail %q: got %q, %v; want %q", in, got, err, want)
		}
	}
}

// A phone sign-up with an SMS code: the number is normalised and stored
// only through the gate, the code is checked with attempts counted, the
// documents are accepted and the ticked consent given, and the account is
// standard (phone and password, seed 000 §3.7).
func TestPhoneSignupBySMS(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		terms, err := f.s.SignupTerms(ctx, "ru")
		if err != nil {
			t.Fatal(err)
		}
		if terms.Agreement == nil || terms.Policy.DocID != "policy" || len(terms.Consents) != 1 || terms.Consents[0].Purpose != "informing" ||
			terms.Consents[0].Document.DocID != "consent-informing" || terms.Consents[0].Title == "" {
			t.Fatalf("terms: %+v", terms)
		}
		id, err := f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phoneTyped, Channel: ChannelSMS})
		if err != nil {
			t.Fatal(err)
		}
		m := f.msgs.last(t)
		if m.Template != "notify.sms.signup_code" || m.Channel != ChannelSMS || len(m.Params["code"]) != 6 || m.Lang != "ru" ||
			!m.ExpiresAt.Equal(start.Add(5*time.Minute)) || m.RequestID != "req-a" {
			t.Fatalf("message: %+v", m)
		}
		vals, err := f.gate.Read(ctx, gate.Request{Actor: systemActor, Subject: m.Subject, Purpose: "portal", Categories: []string{"contact.phone"}})
		if err != nil || vals.String("contact.phone") != phone {
			t.Fatalf("the number behind the gate: %q, %v", vals.String("contact.phone"), err)
		}
		code := m.Params["code"]
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		if n := wantFault(t, f.s.ConfirmCode(ctx, clientA, id, wrong), fault.Invalid, "identity.code_wrong")["n"]; n != 4 {
			t.Errorf("attempts left after one wrong code: %v", n)
		}
		// Finishing before the code is confirmed is refused.
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: goodPass, AcceptAgreement: true, AcceptPolicy: true})
		wantFault(t, err, fault.Invalid, "identity.code_required")
		if err := f.s.ConfirmCode(ctx, clientA, id, code); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: goodPass, AcceptPolicy: true})
		wantFault(t, err, fault.Invalid, "identity.terms_required")
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: goodPass, AcceptAgreement: true, AcceptPolicy: true, Consents: []string{"services"}})
		wantFault(t, err, fault.Invalid, "identity.consent_unknown")
		for pw, key := range map[string]string{"short": "identity.password_short", "qwertyuiop": "identity.password_common",
			"Password123": "identity.password_common", "8 916 123 45 67": "identity.password_identifier", "+79161234567": "identity.password_identifier"} {
			_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: pw, AcceptAgreement: true, AcceptPolicy: true})
			wantFault(t, err, fault.Invalid, key)
		}
		sess, tok, err := f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: goodPass, AcceptAgreement: true, AcceptPolicy: true, Consents: []string{"informing"}})
		if err != nil {
			t.Fatal(err)
		}
		if sess.Level != LevelStandard || sess.SubjectID != m.Subject || !sess.ExpiresAt.Equal(start.Add(30*time.Minute)) {
			t.Errorf("session: %+v", sess)
		}
		got, err := f.s.Authenticate(ctx, tok)
		if err != nil || got.ID != sess.ID || got.AccountID != sess.AccountID || got.Level != LevelStandard {
			t.Fatalf("authenticate: %+v, %v", got, err)
		}
		acc, err := f.s.Account(ctx, sess.AccountID)
		if err != nil || !acc.HasPassword || acc.Level != LevelStandard || acc.SubjectID != m.Subject {
			t.Errorf("account: %+v, %v", acc, err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM document_acceptances WHERE subject_id = $1 AND method = 'registration'", sess.SubjectID); n != 2 {
			t.Errorf("%d documents accepted at registration, want 2", n)
		}
		states, err := f.ledger.States(ctx, sess.SubjectID)
		if err != nil || len(states) != 1 || states[0].Purpose != "informing" || states[0].Status != consent.Given {
			t.Errorf("consents: %+v, %v", states, err)
		}
		// The flow is used up.
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: goodPass, AcceptAgreement: true, AcceptPolicy: true})
		wantFault(t, err, fault.Invalid, "identity.code_expired")
		if n := f.count(t, "SELECT COUNT(*) FROM audit_log WHERE action = 'account.created' AND subject = $1", sess.SubjectID); n != 1 {
			t.Errorf("%d account.created entries", n)
		}
	})
}

// A flash call: the code is the last 5 digits of the calling number. A
// sign-up finished without a password is simplified and signs in by code.
func TestPhoneSignupByFlashCall(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		id, err := f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: "+7 916 555 44 33", Channel: ChannelCall})
		if err != nil {
			t.Fatal(err)
		}
		m := f.msgs.last(t)
		if m.Template != "notify.call.signup_code" || m.Channel != ChannelCall || len(m.Params["code"]) != 5 {
			t.Fatalf("message: %+v", m)
		}
		// The code may be given with the last step.
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{AcceptAgreement: true, AcceptPolicy: true})
		wantFault(t, err, fault.Invalid, "identity.code_required")
		if err := f.s.ConfirmCode(ctx, clientA, id, m.Params["code"]); err != nil {
			t.Fatal(err)
		}
		sess, tok, err := f.s.FinishSignup(ctx, clientA, id, SignupFinish{AcceptAgreement: true, AcceptPolicy: true})
		if err != nil {
			t.Fatal(err)
		}
		if sess.Level != LevelSimplified {
			t.Errorf("level %s, want simplified", sess.Level)
		}
		if acc, _ := f.s.Account(ctx, sess.AccountID); acc.HasPassword {
			t.Error("a code-only account has a password")
		}
		if _, err := f.s.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.s.SignInPassword(ctx, clientA, "+79165554433", "")
		wantFault(t, err, fault.Unauthorized, "identity.credentials_wrong")
		fid, err := f.s.StartCodeSignIn(ctx, clientA, "89165554433", ChannelCall)
		if err != nil {
			t.Fatal(err)
		}
		if s2, _, err := f.s.FinishCodeSignIn(ctx, clientA, fid, f.code(t)); err != nil || s2.AccountID != sess.AccountID || s2.Level != LevelSimplified {
			t.Fatalf("code sign-in: %+v, %v", s2, err)
		}
	})
}

// E-mail sign-up (seed 002): the address is normalised, needs a password,
// and the password may not be the address.
func TestEmailSignup(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		_, err := f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodEmail, Identifier: email, Channel: ChannelSMS})
		wantFault(t, err, fault.Invalid, "identity.channel_invalid")
		_, err = f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodEmail, Identifier: "not an address", Channel: ChannelEmail})
		wantFault(t, err, fault.Invalid, "identity.email_invalid")
		_, err = f.s.StartSignup(ctx, clientA, SignupStart{Method: "pigeon", Identifier: email, Channel: ChannelEmail})
		wantFault(t, err, fault.Invalid, "identity.method_invalid")
		id, err := f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodEmail, Identifier: "  Ivan.Petrov@Example.RU ", Channel: ChannelEmail})
		if err != nil {
			t.Fatal(err)
		}
		m := f.msgs.last(t)
		if m.Template != "notify.email.signup_code" || len(m.Params["code"]) != 6 {
			t.Fatalf("message %+v", m)
		}
		if err := f.s.ConfirmCode(ctx, clientA, id, m.Params["code"]); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{AcceptAgreement: true, AcceptPolicy: true})
		wantFault(t, err, fault.Invalid, "identity.password_required")
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: " IVAN.PETROV@example.ru", AcceptAgreement: true, AcceptPolicy: true})
		wantFault(t, err, fault.Invalid, "identity.password_identifier")
		sess, _, err := f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: goodPass, AcceptAgreement: true, AcceptPolicy: true})
		if err != nil || sess.Level != LevelStandard {
			t.Fatalf("finish: %+v, %v", sess, err)
		}
		if _, _, err := f.s.SignInPassword(ctx, clientB, "IVAN.petrov@example.ru", goodPass); err != nil {
			t.Errorf("sign in by e-mail: %v", err)
		}
	})
}

// A sign-up for a number that has an account creates nothing and sends
// the owner a notice instead of a code (nothing by flash call); the caller
// sees a flow like any other, in as much time.
func TestSignupForExistingAccountRevealsNothing(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		owner, _ := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		f.s.cfg.Codes.MinResponse = 40 * time.Millisecond
		sent := f.msgs.count()
		began := time.Now()
		id, err := f.s.StartSignup(ctx, clientB, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS})
		if err != nil || id == "" {
			t.Fatalf("start: %q, %v", id, err)
		}
		if took := time.Since(began); took < 40*time.Millisecond {
			t.Errorf("the answer for an existing account took %s, less than the floor", took)
		}
		m := f.msgs.last(t)
		if f.msgs.count() != sent+1 || m.Template != "notify.sms.signup_exists" || m.Subject != owner.SubjectID || len(m.Params) != 0 {
			t.Fatalf("notice: %+v", m)
		}
		wantFault(t, f.s.ConfirmCode(ctx, clientB, id, "123456"), fault.Invalid, "identity.code_wrong")
		// By call nothing can be said, so nothing is sent.
		if _, err := f.s.StartSignup(ctx, clientB, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelCall}); err != nil {
			t.Fatal(err)
		}
		if f.msgs.count() != sent+1 {
			t.Error("a flash call went to an existing account's owner")
		}
		if n := f.count(t, "SELECT COUNT(*) FROM accounts"); n != 1 {
			t.Errorf("%d accounts", n)
		}
		// The decoy's expiry leaves the owner's subject alone.
		f.clock.Add(10 * time.Minute)
		if _, err := f.s.ExpireFlows(ctx); err != nil {
			t.Fatal(err)
		}
		if info, err := f.gate.Subject(ctx, owner.SubjectID); err != nil || info.State != gate.StateActive {
			t.Errorf("owner's subject after expiry: %+v, %v", info, err)
		}
	})
}

// An abandoned sign-up's subject (and so the number typed) is destroyed
// when its flow expires.
func TestAbandonedSignupIsDestroyed(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		if _, err := f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS}); err != nil {
			t.Fatal(err)
		}
		subject := f.msgs.last(t).Subject
		f.clock.Add(5*time.Minute + 30*time.Second) // expired, but within the grace minute
		if n, err := f.s.ExpireFlows(ctx); err != nil || n != 0 {
			t.Fatalf("expire within grace: %d, %v", n, err)
		}
		f.clock.Add(time.Minute)
		if n, err := f.s.ExpireFlows(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d, %v", n, err)
		}
		if info, err := f.gate.Subject(ctx, subject); err != nil || info.State != gate.StateDestroyed {
			t.Fatalf("abandoned subject: %+v, %v", info, err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM auth_flows"); n != 0 {
			t.Errorf("%d flows left", n)
		}
	})
}
