package identity

import (
	"testing"
	"time"

	"kabinet/internal/fault"
)

// Sessions end after 30 minutes unused or 12 hours after sign-in; use
// keeps one alive, written at most once a minute.
func TestSessionExpiry(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		_, tok := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		f.clock.Add(29 * time.Minute)
		s1, err := f.s.Authenticate(ctx, tok)
		if err != nil || !s1.LastSeen.Equal(start.Add(29*time.Minute)) || !s1.ExpiresAt.Equal(start.Add(59*time.Minute)) {
			t.Fatalf("after 29 min: %+v, %v", s1, err)
		}
		f.clock.Add(30 * time.Second)
		if s2, _ := f.s.Authenticate(ctx, tok); !s2.LastSeen.Equal(s1.LastSeen) {
			t.Errorf("last use written again within a minute: %s", s2.LastSeen)
		}
		f.clock.Add(29*time.Minute + 29*time.Second) // 29m59s after the recorded use
		if _, err := f.s.Authenticate(ctx, tok); err != nil {
			t.Fatalf("within idle: %v", err)
		}
		f.clock.Add(30*time.Minute + time.Second)
		_, err = f.s.Authenticate(ctx, tok)
		wantFault(t, err, fault.Unauthorized, "identity.session_expired")

		// Absolute: used every 20 minutes, it still ends 12 hours in.
		sess, tok, err := f.s.SignInPassword(ctx, clientA, phone, goodPass)
		if err != nil {
			t.Fatal(err)
		}
		for f.clock.Now().Before(sess.CreatedAt.Add(12*time.Hour - 20*time.Minute)) {
			f.clock.Add(20 * time.Minute)
			if _, err := f.s.Authenticate(ctx, tok); err != nil {
				t.Fatalf("%s after sign-in: %v", f.clock.Now().Sub(sess.CreatedAt), err)
			}
		}
		f.clock.Add(sess.CreatedAt.Add(12 * time.Hour).Sub(f.clock.Now()))
		_, err = f.s.Authenticate(ctx, tok)
		wantFault(t, err, fault.Unauthorized, "identity.session_expired")
		other := "A"
		if tok[0] == 'A' {
			other = "B"
		}
		for _, bad := range []string{"", "x", other + tok[1:], tok + "A", tok[:len(tok)-1] + "_"} {
			_, err := f.s.Authenticate(ctx, bad)
			wantFault(t, err, fault.Unauthorized, "identity.session_invalid")
		}
		// Expired sessions are cleared by the expiry job.
		if _, err := f.s.ExpireFlows(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM sessions"); n != 0 {
			t.Errorf("%d expired sessions left", n)
		}
	})
}

// The cabinet lists sessions with device and address (opened through the
// gate) and revokes any of its own; not another account's. Signing out
// ends the session on the server; a report of unauthorised access ends
// them all and is kept for the operator.
func TestSessionListRevokeSignOutReport(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		a1, tokA1 := f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass)
		f.clock.Add(time.Minute)
		a2, tokA2, err := f.s.SignInPassword(ctx, clientB, phone, goodPass)
		if err != nil {
			t.Fatal(err)
		}
		b, tokB := f.signup(t, clientB, MethodEmail, email, ChannelEmail, goodPass)

		list, err := f.s.Sessions(ctx, a1.AccountID, a1.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("list: %+v, %v", list, err)
		}
		if l := list[0]; l.ID != a2.ID || l.Device != "Safari, iOS" || l.IP != "198.51.100.20" || l.Current {
			t.Errorf("newest session: %+v", l)
		}
		if l := list[1]; l.ID != a1.ID || l.Device != "Firefox, Linux" || l.IP != "203.0.113.7" || !l.Current || !l.CreatedAt.Equal(start) {
			t.Errorf("this session: %+v", l)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM audit_log WHERE action = 'pd.open' AND subject = $1", a1.SubjectID); n != 2 {
			t.Errorf("%d audited opens of session records", n)
		}

		wantFault(t, f.s.Revoke(ctx, b.AccountID, a2.ID), fault.NotFound, "identity.session_unknown")
		if _, err := f.s.Authenticate(ctx, tokA2); err != nil {
			t.Fatal("another account revoked the session")
		}
		if err := f.s.Revoke(ctx, a1.AccountID, a2.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.s.Authenticate(ctx, tokA2)
		wantFault(t, err, fault.Unauthorized, "identity.session_invalid")
		wantFault(t, f.s.Revoke(ctx, a1.AccountID, a2.ID), fault.NotFound, "identity.session_unknown")

		if err := f.s.SignOut(ctx, tokB); err != nil {
			t.Fatal(err)
		}
		_, err = f.s.Authenticate(ctx, tokB)
		wantFault(t, err, fault.Unauthorized, "identity.session_invalid")
		if err := f.s.SignOut(ctx, tokB); err != nil {
			t.Errorf("signing out twice: %v", err)
		}

		if _, _, err := f.s.SignInPassword(ctx, clientB, phone, goodPass); err != nil {
			t.Fatal(err)
		}
		if err := f.s.ReportUnauthorised(ctx, clientA, a1.AccountID); err != nil {
			t.Fatal(err)
		}
		_, err = f.s.Authenticate(ctx, tokA1)
		wantFault(t, err, fault.Unauthorized, "identity.session_invalid")
		if n := f.count(t, "SELECT COUNT(*) FROM sessions WHERE account_id = $1", a1.AccountID); n != 0 {
			t.Errorf("%d sessions after the report", n)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM access_reports WHERE account_id = $1 AND sessions_ended = 2 AND handled_at IS NULL", a1.AccountID); n != 1 {
			t.Errorf("%d reports", n)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM audit_log WHERE action = 'access.reported' AND subject = $1", a1.SubjectID); n != 1 {
			t.Errorf("%d audit entries of the report", n)
		}
	})
}

func TestDeviceOf(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36":           "Chrome, Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0": "Edge, Windows",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36":         "Chrome, Android",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15":        "Safari, macOS",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 YaBrowser/24.4 Safari/537.36":          "Yandex Browser, Linux",
		"okhttp/4.12.0": "Android app",
		"":              "",
		"something":     "?",
	} {
		if got := deviceOf(ua); got != want {
			t.Errorf("%q: %q, want %q", ua, got, want)
		}
	}
}

func TestLevels(t *testing.T) {
	if !(LevelSimplified < LevelStandard && LevelStandard < LevelVerified) {
		t.Fatal("levels out of order")
	}
	for _, tc := range []struct {
		have, need Level
		ok         bool
	}{
		{LevelVerified, LevelStandard, true}, {LevelStandard, LevelStandard, true}, {LevelSimplified, LevelStandard, false},
		{LevelStandard, LevelVerified, false}, {LevelSimplified, LevelSimplified, true}, {0, LevelSimplified, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q allows %q: %v", tc.have, tc.need, got)
		}
	}
	for s, want := range map[string]Level{"": LevelSimplified, "simplified": LevelSimplified, "standard": LevelStandard,
		"verified": LevelVerified, "verifed": LevelVerified} {
		if got := ParseLevel(s); got != want {
			t.Errorf("ParseLevel(%q) = %s", s, got)
		}
	}
}
