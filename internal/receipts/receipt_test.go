package receipts_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"kabinet/internal/consent"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/i18n/i18ntest"
	"kabinet/internal/receipts"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// field returns m's member name, failing unless it is present and of the
// JSON type want: "string", "number", "bool", "array", "object".
func field(t *testing.T, m map[string]any, name, want string) any {
	t.Helper()
	v, ok := m[name]
	if !ok {
		t.Errorf("%q is missing", name)
		return nil
	}
	var got string
	switch v.(type) {
	case string:
		got = "string"
	case float64:
		got = "number"
	case bool:
		got = "bool"
	case []any:
		got = "array"
	case map[string]any:
		got = "object"
	default:
		got = "null"
	}
	if got != want {
		t.Errorf("%q is %s (%v), want %s", name, got, v, want)
	}
	return v
}

func str(t *testing.T, m map[string]any, name string) string {
	t.Helper()
	s, _ := field(t, m, name, "string").(string)
	if s == "" {
		t.Errorf("%q is empty", name)
	}
	return s
}

func obj(t *testing.T, m map[string]any, name string) map[string]any {
	t.Helper()
	o, _ := field(t, m, name, "object").(map[string]any)
	return o
}

// first returns the first element of the array m[name] as an object.
func first(t *testing.T, m map[string]any, name string) map[string]any {
	t.Helper()
	a, _ := field(t, m, name, "array").([]any)
	if len(a) == 0 {
		t.Fatalf("%q is empty", name)
	}
	o, ok := a[0].(map[string]any)
	if !ok {
		t.Fatalf("%q[0] is not an object", name)
	}
	return o
}

func strings_(t *testing.T, m map[string]any, name string) []string {
	t.Helper()
	a, _ := field(t, m, name, "array").([]any)
	var out []string
	for i, v := range a {
		s, ok := v.(string)
		if !ok {
			t.Errorf("%q[%d] is not a string", name, i)
		}
		out = append(out, s)
	}
	return out
}

// TestReceiptOfARealConsent builds a receipt from events the real ledger
// wrote (through the gate, with sealed evidence) and checks every Kantara
// Consent Receipt 1.1 field and the ISO/IEC TS 27560 record, typed as the
// specifications say, after a JWS round trip.
func TestReceiptOfARealConsent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := newStack(t, db, demoOperator)
		subj := s.subject(t, "user")
		given := s.give(t, subj, "informing", "checkbox")
		text := s.text(t, "informing")
		_, r, jws := s.issue(t, subj, "informing")

		signed, err := receipts.Verify(jws, s.signer.JWKS())
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(signed)
		if strings.Contains(string(raw), evidenceIP) || strings.Contains(string(raw), "ReceiptTest") {
			t.Error("the receipt carries the evidence of the consent (personal data)")
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}

		base := s.cfg.Server.BaseURL
		op := s.cfg.Operator
		p := s.cfg.Register.Purpose("informing")
		if v := str(t, m, "version"); v != "KI-CR-v1.1.0" {
			t.Errorf("version %q", v)
		}
		if v := str(t, m, "jurisdiction"); v != "RU" {
			t.Errorf("jurisdiction %q", v)
		}
		if v, _ := field(t, m, "consentTimestamp", "number").(float64); int64(v) != given.At.Unix() || v != float64(int64(v)) {
			t.Errorf("consentTimestamp %v, want %d (whole seconds)", v, given.At.Unix())
		}
		if v := str(t, m, "collectionMethod"); !strings.Contains(v, "отметка") {
			t.Errorf("collectionMethod %q: want the method in words", v)
		}
		if v := str(t, m, "consentReceiptID"); !uuidV4.MatchString(v) || v != r.ConsentReceiptID {
			t.Errorf("consentReceiptID %q is not a UUID v4 (or not the built one %q)", v, r.ConsentReceiptID)
		}
		if v := str(t, m, "publicKey"); v != s.signer.JWKS().Keys[0].X {
			t.Errorf("publicKey %q is not the signing key", v)
		}
		if v := str(t, m, "language"); v != "ru" {
			t.Errorf("language %q", v)
		}
		if v := str(t, m, "piiPrincipalId"); v != subj {
			t.Errorf("piiPrincipalId %q, want %q", v, subj)
		}
		c := first(t, m, "piiControllers")
		if v := str(t, c, "piiController"); v != op.Name["ru"] {
			t.Errorf("piiController %q", v)
		}
		str(t, c, "contact")
		addr := obj(t, c, "address")
		if v := str(t, addr, "streetAddress"); v != op.LegalAddress["ru"] {
			t.Errorf("address %q", v)
		}
		if v := str(t, addr, "addressCountry"); v != "RU" {
			t.Errorf("addressCountry %q", v)
		}
		if v := str(t, c, "email"); v != op.Contacts.Email {
			t.Errorf("email %q", v)
		}
		if v := str(t, c, "phone"); v != op.Contacts.Phone {
			t.Errorf("phone %q", v)
		}
		field(t, c, "onBehalf", "bool")
		if v := str(t, m, "policyUrl"); v != base+"/policy" {
			t.Errorf("policyUrl %q", v)
		}
		svc := first(t, m, "services")
		if v := str(t, svc, "service"); v != s.cfg.Portal.Title["ru"] {
			t.Errorf("service %q", v)
		}
		sp := first(t, svc, "purposes")
		if v := str(t, sp, "purpose"); v != p.Title["ru"] {
			t.Errorf("purpose %q", v)
		}
		if v := strings_(t, sp, "purposeCategory"); !slices.Equal(v, []string{"informing"}) {
			t.Errorf("purposeCategory %q", v)
		}
		if v := str(t, sp, "consentType"); v != "EXPLICIT" {
			t.Errorf("consentType %q", v)
		}
		wantTitles := []string{"Номер телефона", "Адрес электронной почты", "Фамилия, имя и отчество"}
		if v := strings_(t, sp, "piiCategory"); !slices.Equal(v, wantTitles) {
			t.Errorf("piiCategory %q, want %q", v, wantTitles)
		}
		if v, _ := field(t, sp, "primaryPurpose", "bool").(bool); v {
			t.Error("informing is not the portal's primary purpose")
		}
		if v := str(t, sp, "termination"); !strings.Contains(v, "до его отзыва") || !strings.Contains(v, op.Contacts.Email) {
			t.Errorf("termination %q: want the term and how to withdraw", v)
		}
		if v, _ := field(t, sp, "thirdPartyDisclosure", "bool").(bool); !v {
			t.Error("thirdPartyDisclosure: the purpose has a processor")
		}
		if v := str(t, sp, "thirdPartyName"); !strings.Contains(v, "рассылки сообщений") {
			t.Errorf("thirdPartyName %q", v)
		}
		if v, _ := field(t, m, "sensitive", "bool").(bool); v {
			t.Error("sensitive: no special category")
		}
		if v := strings_(t, m, "spiCat"); len(v) != 0 {
			t.Errorf("spiCat %q", v)
		}
		if v, _ := field(t, m, "iat", "number").(float64); int64(v) != given.At.Unix() {
			t.Errorf("iat %v: with no issue time given, the last event's", v)
		}

		iso := obj(t, m, "iso27560")
		for name, want := range map[string]string{"schemaVersion": "string", "recordId": "string", "subjectId": "string",
			"notice": "object", "language": "string", "purposes": "array", "personalData": "array", "controllers": "array",
			"storageLocations": "array", "retention": "object", "jurisdiction": "string", "recipients": "array",
			"withdrawalMethod": "object", "legalBasis": "string", "collectionMethod": "string", "status": "string", "events": "array"} {
			field(t, iso, name, want)
		}
		if iso["schemaVersion"] != "ISO/IEC TS 27560:2023" || iso["subjectId"] != subj || iso["status"] != "given" ||
			iso["legalBasis"] != "consent" || iso["collectionMethod"] != "checkbox" || iso["jurisdiction"] != "RU" {
			t.Errorf("iso27560: %v", iso)
		}
		if !uuidV4.MatchString(iso["recordId"].(string)) {
			t.Errorf("recordId %q", iso["recordId"])
		}
		notice := obj(t, iso, "notice")
		if notice["id"] != text.DocID || notice["version"] != text.Label || notice["hash"] != text.Hash || notice["url"] != base+text.Path() {
			t.Errorf("notice %v, want the text %s %s %s", notice, text.DocID, text.Label, text.Path())
		}
		if loc := strings_(t, iso, "storageLocations"); !slices.Equal(loc, []string{"RU"}) {
			t.Errorf("storageLocations %q", loc)
		}
		if rc := first(t, iso, "recipients"); rc["type"] != "processor" {
			t.Errorf("recipient %v", rc)
		}
		if ct := first(t, iso, "controllers"); ct["id"] != "RU-INN:"+op.Registration.INN || ct["type"] != "controller" {
			t.Errorf("controller %v", ct)
		}
		if w := obj(t, iso, "withdrawalMethod"); w["url"] != base+receipts.ConsentsPath {
			t.Errorf("withdrawalMethod %v", w)
		}
		ev := first(t, iso, "events")
		if ev["state"] != "given" || ev["expressedBy"] != "subject" || ev["consentType"] != "explicit" || ev["method"] != "checkbox" ||
			ev["time"] != given.At.UTC().Format(time.RFC3339) || ev["id"] != float64(given.ID) {
			t.Errorf("event %v", ev)
		}
		if _, ok := ev["validity"]; ok {
			t.Errorf("event validity %v: the consent lasts until withdrawn", ev["validity"])
		}

		// The same ledger state gives the same receipt; a withdrawal a new
		// one of the same consent record.
		again, err := receipts.Build(s.input(t, subj, "informing"))
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("rebuilt receipt differs: %v", err)
		}
		s.withdraw(t, subj, "informing")
		after, err := receipts.Build(s.input(t, subj, "informing"))
		if err != nil {
			t.Fatal(err)
		}
		if after.ConsentReceiptID == r.ConsentReceiptID || after.ISO.RecordID != r.ISO.RecordID {
			t.Errorf("after withdrawal: receipt %s (was %s), record %s (was %s)", after.ConsentReceiptID, r.ConsentReceiptID, after.ISO.RecordID, r.ISO.RecordID)
		}
		if after.ISO.Status != "withdrawn" || len(after.ISO.Events) != 2 || after.ISO.Events[1].State != "withdrawn" ||
			after.ConsentTimestamp != r.ConsentTimestamp {
			t.Errorf("after withdrawal: status %s, events %+v", after.ISO.Status, after.ISO.Events)
		}

		// A new consent after the withdrawal is a new record; the receipt
		// covers it alone.
		s.give(t, subj, "informing", "checkbox")
		renewed, err := receipts.Build(s.input(t, subj, "informing"))
		if err != nil {
			t.Fatal(err)
		}
		if renewed.ISO.RecordID == r.ISO.RecordID || len(renewed.ISO.Events) != 1 || renewed.ISO.Status != "given" {
			t.Errorf("second consent: record %s, events %+v", renewed.ISO.RecordID, renewed.ISO.Events)
		}
	})
}

// TestReceiptTermAndRepresentative: a consent with a term has a validity
// and turns expired at its end; a representative's consent says who
// expressed it.
func TestReceiptTermAndRepresentative(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := newStack(t, db, schoolOperator)
		subj := s.subject(t, "user")
		rec := s.give(t, subj, "registration", "representative")
		in := s.input(t, subj, "registration")
		r, err := receipts.Build(in)
		if err != nil {
			t.Fatal(err)
		}
		ev := r.ISO.Events[0]
		if ev.Validity != rec.ExpiresAt.UTC().Format(time.RFC3339) || rec.ExpiresAt.Year() != rec.At.Year()+3 {
			t.Errorf("validity %q, want the end of the 3-year term %s", ev.Validity, rec.ExpiresAt)
		}
		if ev.ExpressedBy != consent.ByRepresentative || r.ISO.Retention.Rule == "" {
			t.Errorf("event %+v, retention %+v", ev, r.ISO.Retention)
		}
		in.IssuedAt = rec.ExpiresAt
		if r, err = receipts.Build(in); err != nil || r.ISO.Status != "expired" {
			t.Errorf("at the end of the term: status %q, %v", r.ISO.Status, err)
		}
	})
}

// TestReceiptSensitive: a written consent to health data is sensitive,
// with its category in spiCat.
func TestReceiptSensitive(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := newStack(t, db, edtechOperator)
		subj := s.subject(t, "visitor")
		s.give(t, subj, "competence_profile", "signature")
		r, err := receipts.Build(s.input(t, subj, "competence_profile"))
		if err != nil {
			t.Fatal(err)
		}
		health := s.cfg.Register.Category("health.physiological").Title["ru"]
		if !r.Sensitive || !slices.Equal(r.SPICat, []string{health}) {
			t.Errorf("sensitive %v, spiCat %q, want [%q]", r.Sensitive, r.SPICat, health)
		}
	})
}

func TestBuildRefuses(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := newStack(t, db, demoOperator)
		subj := s.subject(t, "user")
		in := s.input(t, subj, "informing")
		if _, err := receipts.Build(in); !errors.Is(err, fault.ErrNotFound) || !hasKey(err, "receipts.no_consent") {
			t.Errorf("no consent: %v", err)
		}
		in.Purpose = s.cfg.Register.Purpose("portal")
		if _, err := receipts.Build(in); !errors.Is(err, fault.ErrInvalid) || !hasKey(err, "receipts.not_consent_based") {
			t.Errorf("purpose on another basis: %v", err)
		}
		other := s.subject(t, "user")
		s.give(t, other, "informing", "checkbox")
		in = s.input(t, other, "informing")
		in.Subject = subj
		if _, err := receipts.Build(in); err == nil || fault.KindOf(err) != fault.Internal {
			t.Errorf("records of another subject: %v", err)
		}
	})
}

func hasKey(err error, key string) bool {
	k, _ := fault.Message(err)
	return k == key
}

// Every message key of the package, and every word it takes from the
// documents' catalogue, has a text in every language.
func TestKeysTranslated(t *testing.T) {
	i18ntest.KeysTranslated(t, "receipts", 45)
	i18ntest.KeysTranslated(t, "doc", 15)
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range b.Languages() {
		l := b.Localizer(lang)
		var keys []string
		for _, op := range register.Operations {
			keys = append(keys, "doc.op."+op)
		}
		for _, m := range register.ConsentMethods {
			keys = append(keys, "doc.consent_method."+m)
		}
		keys = append(keys, "doc.processing.automated", "doc.processing.mixed", "doc.processing.manual",
			"doc.kind."+register.KindSpecial, "doc.kind."+register.KindBiometric)
		for _, k := range keys {
			if !l.Has(k) {
				t.Errorf("%s has no %s text", k, lang)
			}
		}
	}
}
