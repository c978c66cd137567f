package identity

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"kabinet/internal/fault"
	"kabinet/internal/gate"
	"kabinet/internal/sqldb/sqldbtest"
)

const fullName = "Иванов Иван Иванович"

// Trust levels by route (seed 000 §3.6–3.8): a verified identity from the
// provider is verified, an unverified one standard; a second sign-in finds
// the same account; a confirmed address of an existing account is linked
// only once its owner confirms.
func TestFederatedSignIn(t *testing.T) {
	each(t, nil, func(t *testing.T, f *fixture) {
		esia := FederatedIdentity{Provider: "esia", Subject: "1000123456", Verified: true,
			Values:    map[string]string{"identity.name": fullName, "contact.phone": "+7 903 111-22-33", "tax.inn": "500100732259", "vehicle.registration": "А123ВС77"},
			Confirmed: []string{"contact.phone"}}
		sess, tok, link, err := f.s.SignInFederated(ctx, clientA, esia)
		if err != nil || link != "" || tok == "" || sess.Level != LevelVerified {
			t.Fatalf("new verified account: %+v %q, %v", sess, link, err)
		}
		vals, err := f.gate.Read(ctx, gate.Request{Actor: systemActor, Subject: sess.SubjectID, Purpose: "portal",
			Categories: []string{"identity.name", "contact.phone", "tax.inn"}})
		if err != nil || vals.String("identity.name") != fullName || vals.String("contact.phone") != "+79031112233" || vals.String("tax.inn") != "500100732259" {
			t.Fatalf("values behind the gate: %v, %v", vals, err)
		}
		// vehicle.registration is not the accounts' purpose's: not stored.
		if v, err := f.gate.Read(ctx, gate.Request{Actor: systemActor, Subject: sess.SubjectID, Purpose: "services",
			Categories: []string{"vehicle.registration"}}); err != nil || len(v) != 0 {
			t.Errorf("a value outside the purpose was stored: %v, %v", v, err)
		}
		again, _, _, err := f.s.SignInFederated(ctx, clientB, esia)
		if err != nil || again.AccountID != sess.AccountID || again.Level != LevelVerified {
			t.Fatalf("second sign-in: %+v, %v", again, err)
		}
		// The phone number the provider confirmed signs in by code too.
		if _, err := f.s.StartCodeSignIn(ctx, clientA, "+79031112233", ChannelSMS); err != nil || f.msgs.last(t).Subject != sess.SubjectID {
			t.Errorf("code to the provider's number: %v", err)
		}

		// An unverified identity is standard.
		plain, _, _, err := f.s.SignInFederated(ctx, clientA, FederatedIdentity{Provider: "esia", Subject: "2000", Values: map[string]string{"identity.name": "Петров Пётр"}})
		if err != nil || plain.Level != LevelStandard || !plain.Level.Allows(LevelStandard) || plain.Level.Allows(LevelVerified) {
			t.Fatalf("unverified: %+v, %v", plain, err)
		}

		// A confirmed address of a password account: a link to confirm.
		owner, _ := f.signup(t, clientA, MethodEmail, email, ChannelEmail, goodPass)
		other := FederatedIdentity{Provider: "esia", Subject: "3000", Verified: true,
			Values: map[string]string{"contact.email": "Ivan.Petrov@example.ru"}, Confirmed: []string{"contact.email"}}
		_, tok, link, err = f.s.SignInFederated(ctx, clientA, other)
		if err != nil || link == "" || tok != "" {
			t.Fatalf("link offered: %q %q, %v", tok, link, err)
		}
		_, _, err = f.s.ConfirmLink(ctx, clientA, link, LinkProof{AccountID: plain.AccountID})
		wantFault(t, err, fault.Forbidden, "identity.link_wrong_account")
		_, _, err = f.s.ConfirmLink(ctx, clientA, link, LinkProof{Password: anotherPass})
		wantFault(t, err, fault.Unauthorized, "identity.credentials_wrong")
		linked, _, err := f.s.ConfirmLink(ctx, clientA, link, LinkProof{Password: goodPass})
		if err != nil || linked.AccountID != owner.AccountID || linked.Level != LevelVerified {
			t.Fatalf("confirm link: %+v, %v", linked, err)
		}
		if again, _, _, err := f.s.SignInFederated(ctx, clientB, other); err != nil || again.AccountID != owner.AccountID {
			t.Fatalf("sign in through the link: %+v, %v", again, err)
		}
		_, _, err = f.s.ConfirmLink(ctx, clientA, link, LinkProof{Password: goodPass})
		wantFault(t, err, fault.Invalid, "identity.code_expired")

		// The same address unconfirmed: no link, and not taken by the new account.
		sneaky, _, link, err := f.s.SignInFederated(ctx, clientA, FederatedIdentity{Provider: "other", Subject: "x",
			Values: map[string]string{"contact.email": email}})
		if err != nil || link != "" || sneaky.AccountID == owner.AccountID {
			t.Fatalf("unconfirmed address: %+v %q, %v", sneaky, link, err)
		}
		if v, _ := f.gate.Read(ctx, gate.Request{Actor: systemActor, Subject: sneaky.SubjectID, Purpose: "portal", Categories: []string{"contact.email"}}); len(v) != 0 {
			t.Error("the new account took another account's address")
		}
		_, _, _, err = f.s.SignInFederated(ctx, clientA, FederatedIdentity{Provider: "esia"})
		wantFault(t, err, fault.Invalid, "identity.federated_invalid")
	})
}

// After sign-ups by phone, by e-mail and through a provider, and a code
// sign-in, no phone number, address, name or code is in the SQLite files
// in plain text.
func TestNoPlainPersonalDataInTheDatabase(t *testing.T) {
	url := sqldbtest.SQLiteURL(t)
	f := newFixture(t, url, sqldbtest.SQLiteURL(t), nil)
	f.signup(t, clientA, MethodPhone, phoneTyped, ChannelSMS, goodPass, "informing")
	codes := []string{f.code(t)}
	f.signup(t, clientB, MethodEmail, email, ChannelEmail, goodPass)
	codes = append(codes, f.code(t))
	if _, _, _, err := f.s.SignInFederated(ctx, clientA, FederatedIdentity{Provider: "esia", Subject: "1000123456", Verified: true,
		Values: map[string]string{"identity.name": fullName, "contact.phone": "+79031112233"}}); err != nil {
		t.Fatal(err)
	}
	id, err := f.s.StartCodeSignIn(ctx, clientA, phone, ChannelSMS)
	if err != nil {
		t.Fatal(err)
	}
	codes = append(codes, f.code(t))
	if _, _, err := f.s.FinishCodeSignIn(ctx, clientA, id, f.code(t)); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(url, "sqlite:")
	var data []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	// What is stored in plain text is found: the scan sees the data.
	if !bytes.Contains(data, []byte("account.created")) || !bytes.Contains(data, []byte("signin_code")) {
		t.Fatalf("the scan of %d bytes does not see the audit log and the flows", len(data))
	}
	for _, v := range []string{phone, "9161234567", "+79031112233", "9031112233", email, "ivan.petrov", fullName, "Иванов",
		clientA.IP.String(), clientB.IP.String(), "Firefox"} {
		if bytes.Contains(data, []byte(v)) {
			t.Errorf("%q is in the database in plain text", v)
		}
	}
	// A code is a few digits; one may occur by chance inside a hex hash or
	// an id, never on its own.
	for _, c := range codes {
		for i := 0; ; {
			j := bytes.Index(data[i:], []byte(c))
			if j < 0 {
				break
			}
			at := i + j
			if !(idChar(data, at-1) && idChar(data, at+len(c))) {
				t.Errorf("code %s is in the database at byte %d: %q", c, at, data[max(at-20, 0):min(at+len(c)+20, len(data))])
			}
			i = at + 1
		}
	}
}

func idChar(b []byte, i int) bool {
	if i < 0 || i >= len(b) {
		return false
	}
	c := b[i]
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'
}
