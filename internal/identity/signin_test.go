package identity

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"kabinet/examples"
	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb/sqldbtest"
)

// Sign-in by password in any written form of the number; an unknown
// number and a wrong password give exactly the same error.
func TestSignInPasswordSameErrorForUnknownAccount(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		owner, _ := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		for _, typed := range []string{phone, "8 916 123 45 67", "+7 (916) 123-45-67"} {
			sess, tok, err := f.s.SignInPassword(ctx, clientB, typed, goodPass)
			if err != nil || sess.AccountID != owner.AccountID || tok == "" || sess.Level != LevelStandard {
				t.Fatalf("sign in as %q: %+v, %v", typed, sess, err)
			}
		}
		_, _, wrong := f.s.SignInPassword(ctx, clientB, phone, anotherPass)
		_, _, unknown := f.s.SignInPassword(ctx, clientB, "+79160000001", goodPass)
		_, _, unknownMail := f.s.SignInPassword(ctx, clientB, "nobody@example.ru", goodPass)
		for _, err := range []error{wrong, unknown, unknownMail} {
			wantFault(t, err, fault.Unauthorized, "identity.credentials_wrong")
		}
		k1, a1 := fault.Message(wrong)
		k2, a2 := fault.Message(unknown)
		if k1 != k2 || !reflect.DeepEqual(a1, a2) || wrong.Error() != unknown.Error() {
			t.Errorf("wrong password %q %v vs unknown account %q %v", k1, a1, k2, a2)
		}
		_, _, err := f.s.SignInPassword(ctx, clientB, "12", goodPass)
		wantFault(t, err, fault.Invalid, "identity.phone_invalid")
	})
}

// Sign-in by code; for an unknown number the flow looks the same and a
// code "fails" the same way.
func TestCodeSignIn(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		owner, _ := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		id, err := f.s.StartCodeSignIn(ctx, clientB, phone, ChannelSMS)
		if err != nil {
			t.Fatal(err)
		}
		m := f.msgs.last(t)
		if m.Template != "notify.sms.signin_code" || m.Subject != owner.SubjectID {
			t.Fatalf("message %+v", m)
		}
		sess, tok, err := f.s.FinishCodeSignIn(ctx, clientB, id, m.Params["code"])
		if err != nil || sess.AccountID != owner.AccountID {
			t.Fatalf("finish: %+v, %v", sess, err)
		}
		if _, err := f.s.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.s.FinishCodeSignIn(ctx, clientB, id, m.Params["code"])
		wantFault(t, err, fault.Invalid, "identity.code_expired") // single use

		sent := f.msgs.count()
		decoy, err := f.s.StartCodeSignIn(ctx, clientB, "+79160000002", ChannelSMS)
		if err != nil || decoy == "" {
			t.Fatalf("unknown number: %q, %v", decoy, err)
		}
		if f.msgs.count() != sent {
			t.Error("a code was sent for an unknown number")
		}
		real, _ := f.s.StartCodeSignIn(ctx, clientB, phone, ChannelSMS)
		code := f.code(t)
		wrong := "999999"
		if code == wrong {
			wrong = "888888"
		}
		_, _, e1 := f.s.FinishCodeSignIn(ctx, clientB, decoy, wrong)
		_, _, e2 := f.s.FinishCodeSignIn(ctx, clientB, real, wrong)
		if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
			t.Errorf("decoy %v vs real %v", e1, e2)
		}
		_, err = f.s.StartCodeSignIn(ctx, clientB, phone, ChannelEmail)
		wantFault(t, err, fault.Invalid, "identity.channel_invalid")
	})
}

// Reset by code: the rules apply, every session ends, the new password
// works and the old one does not.
func TestPasswordReset(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		_, tok := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		_, tok2, err := f.s.SignInPassword(ctx, clientB, phone, goodPass)
		if err != nil {
			t.Fatal(err)
		}
		id, err := f.s.StartReset(ctx, clientB, phoneTyped, ChannelCall)
		if err != nil {
			t.Fatal(err)
		}
		m := f.msgs.last(t)
		if m.Template != "notify.call.reset_code" || len(m.Params["code"]) != 5 {
			t.Fatalf("message %+v", m)
		}
		wantFault(t, f.s.FinishReset(ctx, clientB, id, m.Params["code"], "1234567"), fault.Invalid, "identity.password_short")
		wantFault(t, f.s.FinishReset(ctx, clientB, id, m.Params["code"], "89161234567"), fault.Invalid, "identity.password_identifier")
		if err := f.s.FinishReset(ctx, clientB, id, m.Params["code"], anotherPass); err != nil {
			t.Fatal(err)
		}
		for _, tk := range []string{tok, tok2} {
			_, err := f.s.Authenticate(ctx, tk)
			wantFault(t, err, fault.Unauthorized, "identity.session_invalid")
		}
		_, _, err = f.s.SignInPassword(ctx, clientB, phone, goodPass)
		wantFault(t, err, fault.Unauthorized, "identity.credentials_wrong")
		if _, _, err := f.s.SignInPassword(ctx, clientB, phone, anotherPass); err != nil {
			t.Fatal(err)
		}
		wantFault(t, f.s.FinishReset(ctx, clientB, id, m.Params["code"], goodPass), fault.Invalid, "identity.code_expired")
	})
}

// Codes per number per hour (3) and per day (10), and per address per
// hour (20): each refusal is RateLimited with the time until the window
// ends, and counts nothing.
func TestCodeLimits(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		start := func(c Client, number string) error {
			_, err := f.s.StartSignup(ctx, c, SignupStart{Method: MethodPhone, Identifier: number, Channel: ChannelSMS})
			return err
		}
		for hour := 0; hour < 3; hour++ {
			for i := 0; i < 3; i++ {
				if err := start(clientA, phone); err != nil {
					t.Fatalf("hour %d code %d: %v", hour, i+1, err)
				}
			}
			// Other ways in to the same number count too.
			_, err := f.s.StartCodeSignIn(ctx, clientB, phone, ChannelCall)
			args := wantFault(t, err, fault.RateLimited, "identity.too_many_codes")
			if ra := args["retry_after"].(int); ra != 3600 && hour == 0 || ra <= 0 || ra > 3600 {
				t.Errorf("hour %d: retry after %d s", hour, ra)
			}
			f.clock.Add(time.Hour)
		}
		// 9 codes today; the 10th is allowed, the 11th waits for the day.
		if err := start(clientA, phone); err != nil {
			t.Fatal(err)
		}
		args := wantFault(t, start(clientA, phone), fault.RateLimited, "identity.too_many_codes")
		if ra := args["retry_after"].(int); ra != 13*3600 { // 11:00 → midnight UTC
			t.Errorf("day limit: retry after %d s, want %d", ra, 13*3600)
		}
		// Per address: 20 codes an hour to any numbers.
		ip := Client{IP: netip.MustParseAddr("2001:db8:1:2::7"), Lang: "ru"}
		for i := 0; i < 20; i++ {
			if err := start(ip, fmt.Sprintf("+7916100%04d", i)); err != nil {
				t.Fatalf("code %d from one address: %v", i+1, err)
			}
		}
		wantFault(t, start(ip, "+79162000000"), fault.RateLimited, "identity.too_many_codes")
		// Another address in the same /64 is the same machine…
		wantFault(t, start(Client{IP: netip.MustParseAddr("2001:db8:1:2::8")}, "+79162000000"), fault.RateLimited, "identity.too_many_codes")
		// …one elsewhere is not.
		if err := start(Client{IP: netip.MustParseAddr("2001:db8:1:3::7")}, "+79162000000"); err != nil {
			t.Error(err)
		}
	})
}

// A code takes 5 attempts, then it is dead; it expires after 5 minutes.
func TestCodeAttemptsAndExpiry(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		id, err := f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS})
		if err != nil {
			t.Fatal(err)
		}
		code := f.code(t)
		wrong := "000000"
		if code == wrong {
			wrong = "000001"
		}
		for left := 4; left >= 1; left-- {
			args := wantFault(t, f.s.ConfirmCode(ctx, clientA, id, wrong), fault.Invalid, "identity.code_wrong")
			if args["n"] != left {
				t.Errorf("attempts left %v, want %d", args["n"], left)
			}
		}
		wantFault(t, f.s.ConfirmCode(ctx, clientA, id, wrong), fault.Invalid, "identity.code_attempts")
		wantFault(t, f.s.ConfirmCode(ctx, clientA, id, code), fault.Invalid, "identity.code_attempts")

		id, err = f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS})
		if err != nil {
			t.Fatal(err)
		}
		code = f.code(t)
		f.clock.Add(5 * time.Minute)
		wantFault(t, f.s.ConfirmCode(ctx, clientA, id, code), fault.Invalid, "identity.code_expired")

		id, _ = f.s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS})
		code = f.code(t)
		f.clock.Add(5*time.Minute - time.Second)
		if err := f.s.ConfirmCode(ctx, clientA, id, code); err != nil {
			t.Fatalf("a code 4m59s old: %v", err)
		}
		// Confirmed, the flow may be finished within 30 minutes.
		f.clock.Add(30 * time.Minute)
		_, _, err = f.s.FinishSignup(ctx, clientA, id, SignupFinish{Password: goodPass, AcceptAgreement: true, AcceptPolicy: true})
		wantFault(t, err, fault.Invalid, "identity.code_expired")
		wantFault(t, f.s.ConfirmCode(ctx, clientA, "no-such-flow", code), fault.Invalid, "identity.code_expired")
	})
}

// Failed sign-ins of one identifier: after 3, each attempt waits a
// doubling delay; after 10 the identifier is locked for 15 minutes, right
// password or not. The same holds for an identifier without an account.
func TestFailedSignInDelayAndLock(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		for _, ident := range []string{phone, "+79160000003"} {
			try := func(pw string) error { _, _, err := f.s.SignInPassword(ctx, clientB, ident, pw); return err }
			for i := 0; i < 3; i++ {
				wantFault(t, try(anotherPass), fault.Unauthorized, "identity.credentials_wrong")
			}
			for n, delay := 3, 1; n < 10; n, delay = n+1, delay*2 {
				args := wantFault(t, try(goodPass), fault.RateLimited, "identity.too_many_failures")
				if args["retry_after"] != delay {
					t.Fatalf("%s after %d failures: retry after %v s, want %d", ident, n, args["retry_after"], delay)
				}
				f.clock.Add(time.Duration(delay)*time.Second - time.Millisecond)
				wantFault(t, try(goodPass), fault.RateLimited, "identity.too_many_failures")
				f.clock.Add(time.Millisecond)
				wantFault(t, try(anotherPass), fault.Unauthorized, "identity.credentials_wrong")
			}
			args := wantFault(t, try(goodPass), fault.RateLimited, "identity.locked")
			if args["retry_after"] != 900 || args["n"] != 15 {
				t.Fatalf("%s locked: %v", ident, args)
			}
			f.clock.Add(14 * time.Minute)
			wantFault(t, try(goodPass), fault.RateLimited, "identity.locked")
			f.clock.Add(time.Minute)
			if ident == phone {
				if err := try(goodPass); err != nil {
					t.Fatalf("after the lock: %v", err)
				}
				// Success ends the run: three free failures again.
				for i := 0; i < 3; i++ {
					wantFault(t, try(anotherPass), fault.Unauthorized, "identity.credentials_wrong")
				}
				wantFault(t, try(goodPass), fault.RateLimited, "identity.too_many_failures")
				f.clock.Add(time.Second)
			} else {
				// A further failure locks again at once.
				wantFault(t, try(goodPass), fault.Unauthorized, "identity.credentials_wrong")
				wantFault(t, try(goodPass), fault.RateLimited, "identity.locked")
			}
		}
		// The run is forgotten after a day without failures.
		f.clock.Add(24 * time.Hour)
		if _, _, err := f.s.SignInPassword(ctx, clientB, "+79160000003", goodPass); fault.KindOf(err) != fault.Unauthorized {
			t.Errorf("a day later: %v", err)
		}
	})
}

// Failed sign-ins from one address in an hour lock the address until the
// hour ends (the limit is lowered to 10 here; the default 100 is checked
// by TestConfigDefaults).
func TestFailedSignInsPerAddress(t *testing.T) {
	each(t, func(c *config.Config) { c.Identity.Limits.FailuresPerIPHour = 10 }, func(t *testing.T, f *fixture) {
		f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		for i := 0; i < 10; i++ {
			_, _, err := f.s.SignInPassword(ctx, clientB, fmt.Sprintf("+7916300%04d", i), goodPass)
			wantFault(t, err, fault.Unauthorized, "identity.credentials_wrong")
		}
		_, _, err := f.s.SignInPassword(ctx, clientB, phone, goodPass)
		args := wantFault(t, err, fault.RateLimited, "identity.too_many_attempts")
		if args["retry_after"] != 3600 || args["n"] != 60 {
			t.Errorf("retry after %v", args)
		}
		if _, _, err := f.s.SignInPassword(ctx, clientA, phone, goodPass); err != nil {
			t.Errorf("from another address: %v", err)
		}
		f.clock.Add(time.Hour)
		if _, _, err := f.s.SignInPassword(ctx, clientB, phone, goodPass); err != nil {
			t.Errorf("the next hour: %v", err)
		}
	})
}

// A hash made with other argon2id parameters is replaced at sign-in.
func TestRehashOnSignIn(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		sess, _ := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		var before string
		f.db.Reader().QueryRowContext(ctx, "SELECT password_hash FROM accounts WHERE id = $1", sess.AccountID).Scan(&before)
		if want := "$argon2id$v=19$m=64,t=1,p=1$"; before[:len(want)] != want {
			t.Fatalf("stored hash %q", before[:30])
		}
		f.s.hasher = newHasher(config.Argon2{MemoryKiB: 128, Time: 2, Threads: 1}, 2)
		if _, _, err := f.s.SignInPassword(ctx, clientA, phone, goodPass); err != nil {
			t.Fatal(err)
		}
		var after string
		f.db.Reader().QueryRowContext(ctx, "SELECT password_hash FROM accounts WHERE id = $1", sess.AccountID).Scan(&after)
		if want := "$argon2id$v=19$m=128,t=2,p=1$"; after[:len(want)] != want {
			t.Fatalf("after sign-in: %q", after[:30])
		}
		if _, _, err := f.s.SignInPassword(ctx, clientA, phone, goodPass); err != nil {
			t.Fatalf("with the new hash: %v", err)
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("", func(k string) string {
		if k == "KABINET_DATA_DIR" {
			return dir
		}
		return ""
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Identity{
		Purpose: "portal", SubjectKind: "user",
		Categories: config.IdentityCategories{Phone: "contact.phone", Email: "contact.email", Name: "identity.name", Session: "technical.session"},
		Password:   config.PasswordPolicy{MinLength: 8, MaxLength: 256, Argon2: config.Argon2{MemoryKiB: 19456, Time: 2, Threads: 1}},
		Codes:      config.CodePolicy{Length: 6, FlashDigits: 5, TTL: 5 * time.Minute, MaxAttempts: 5, FinishWithin: 30 * time.Minute, MinResponse: 300 * time.Millisecond},
		Limits: config.SignInLimits{CodesPerNumberHour: 3, CodesPerNumberDay: 10, CodesPerIPHour: 20, DelayAfter: 3, DelayBase: time.Second,
			LockAfter: 10, LockFor: 15 * time.Minute, FailuresForget: 24 * time.Hour, FailuresPerIPHour: 100},
		Sessions: config.SessionPolicy{Idle: 30 * time.Minute, Absolute: 12 * time.Hour, TouchEvery: time.Minute},
	}
	got := cfg.Identity
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"purpose", got.Purpose, want.Purpose}, {"subject kind", got.SubjectKind, want.SubjectKind}, {"categories", got.Categories, want.Categories},
		{"password", got.Password, want.Password}, {"codes", got.Codes, want.Codes}, {"limits", got.Limits, want.Limits}, {"sessions", got.Sessions, want.Sessions},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("default %s:\n got %+v\nwant %+v", c.name, c.got, c.want)
		}
	}
	if !cfg.AccountsConfigured() {
		t.Error("the demo has no accounts")
	}
}

// An identity section is checked against the register, with the line.
func TestConfigValidation(t *testing.T) {
	for section, want := range map[string][]string{
		"identity:\n  purpose: nosuch\n":                                                   {"identity.purpose config.identity_purpose_unknown"},
		"identity:\n  categories:\n    phone: identity.name\n":                             {"identity.categories.phone config.identity_lookup_required"},
		"identity:\n  categories:\n    email: vehicle.registration\n":                      {"identity.categories.email config.identity_lookup_required", "identity.categories.email config.identity_category_not_covered"},
		"identity:\n  subject_kind: child\n":                                               {"identity.subject_kind config.identity_subject_not_covered", "identity.subject_kind config.identity_subject_unknown"},
		"identity:\n  sessions:\n    idle: 2h\n    absolute: 1h\n":                         {"identity.sessions.absolute config.range"},
		"identity:\n  password:\n    min_length: 6\n    argon2:\n      memory_kib: 1024\n": {"identity.password.min_length config.range", "identity.password.argon2.memory_kib config.range"},
	} {
		path := filepath.Join(t.TempDir(), "operator.yaml")
		if err := os.WriteFile(path, append(append(examples.Demo(), '\n'), section...), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path, func(string) string { return "" }, nil)
		var ps config.Problems
		if !errors.As(err, &ps) {
			t.Fatalf("%q: %v", section, err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Path+" "+p.Key)
			if p.Line == 0 {
				t.Errorf("%q: %s has no line", section, p.Path)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q:\n got %v\nwant %v", section, got, want)
		}
	}
}

// Counters live in the database: two kabinet processes (two handles on
// one database) share the code limit and a code's attempts, and parallel
// guesses cannot exceed them.
func TestLimitsSharedAcrossProcesses(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		other := *f.s
		other.db = sqldbtest.Open(t, f.dbURL)
		s1, s2 := f.s, &other
		for i, s := range []*Service{s1, s2, s1} {
			if _, err := s.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS}); err != nil {
				t.Fatalf("code %d: %v", i+1, err)
			}
		}
		_, err := s2.StartSignup(ctx, clientA, SignupStart{Method: MethodPhone, Identifier: phone, Channel: ChannelSMS})
		wantFault(t, err, fault.RateLimited, "identity.too_many_codes")

		id, err := s1.StartCodeSignIn(ctx, clientB, email, ChannelEmail) // a decoy: no such account
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		results := make(chan string, 20)
		for i := range 20 {
			wg.Go(func() {
				s := []*Service{s1, s2}[i%2]
				key, _ := fault.Message(s.ConfirmCode(ctx, clientB, id, "123456"))
				results <- key
			})
		}
		wg.Wait()
		close(results)
		counts := map[string]int{}
		for k := range results {
			counts[k]++
		}
		if counts["identity.code_wrong"] != 4 || counts["identity.code_attempts"] != 16 {
			t.Errorf("20 parallel guesses: %v", counts)
		}
		if n := f.count(t, "SELECT attempts FROM auth_flows WHERE id = $1", flowHash(id)); n != 5 {
			t.Errorf("attempts recorded: %d", n)
		}
	})
}
