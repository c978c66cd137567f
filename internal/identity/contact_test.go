package identity

import (
	"net/netip"
	"testing"
	"time"

	"kabinet/internal/fault"
)

func TestContactChange(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		c := Client{IP: netip.MustParseAddr("203.0.113.5"), UserAgent: "test", Lang: "ru", RequestID: "r"}
		sess, _ := f.signup(t, c, MethodPhone, phone, ChannelSMS, goodPass)
		other, _ := f.signup(t, c, MethodPhone, "+79035550000", ChannelSMS, anotherPass)

		// The number of another account cannot be taken; the same one is
		// not a change.
		_, err := f.s.StartContactChange(ctx, c, sess.AccountID, MethodPhone, "+7 903 555-00-00", ChannelSMS)
		wantFault(t, err, fault.Conflict, "identity.contact_taken")
		_, err = f.s.StartContactChange(ctx, c, sess.AccountID, MethodPhone, phoneTyped, ChannelSMS)
		wantFault(t, err, fault.Invalid, "identity.contact_same")

		// The code goes to the new number; a wrong one is refused.
		flow, err := f.s.StartContactChange(ctx, c, sess.AccountID, MethodPhone, "8 926 111-22-33", ChannelSMS)
		if err != nil {
			t.Fatal(err)
		}
		last := f.msgs.last(t)
		if last.Subject == sess.SubjectID {
			t.Fatal("the code went to the old number's subject")
		}
		code := f.code(t)
		wantFault(t, f.s.FinishContactChange(ctx, c, sess.AccountID, flow, "000000"), fault.Invalid, "identity.code_wrong")
		// Another account cannot finish this change.
		if err := f.s.FinishContactChange(ctx, c, other.AccountID, flow, code); err == nil {
			t.Fatal("another account finished the change")
		}
		flow, err = f.s.StartContactChange(ctx, c, sess.AccountID, MethodPhone, "8 926 111-22-33", ChannelSMS)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.FinishContactChange(ctx, c, sess.AccountID, flow, f.code(t)); err != nil {
			t.Fatal(err)
		}
		// The new number signs in; the old one no longer does.
		if _, _, err := f.s.SignInPassword(ctx, c, "+79261112233", goodPass); err != nil {
			t.Errorf("sign-in with the new number: %v", err)
		}
		_, _, err = f.s.SignInPassword(ctx, c, phone, goodPass)
		wantFault(t, err, fault.Unauthorized, "identity.credentials_wrong")
		// The carrier of the finished change is gone; the abandoned
		// change's carrier goes when its flow expires.
		if n := f.count(t, "SELECT COUNT(*) FROM subjects WHERE state = 'active'"); n != 3 {
			t.Errorf("%d active subjects before expiry, want 2 accounts and 1 abandoned carrier", n)
		}
		f.clock.Add(2 * time.Hour) // past the code's TTL and FinishWithin
		if _, err := f.s.ExpireFlows(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM subjects WHERE state = 'active'"); n != 2 {
			t.Errorf("%d active subjects, want the 2 accounts' only", n)
		}
	})
}
