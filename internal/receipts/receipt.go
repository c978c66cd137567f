// Package receipts issues consent receipts: the record a data subject keeps
// of a consent they gave, built from the consent ledger's events for one
// subject and one purpose, signed by the operator, and printable.
//
// # The receipt
//
// A Receipt marshals to one JSON object that carries two standards at once:
//
//   - at the top level, the fields of the Kantara Initiative Consent
//     Receipt Specification v1.1 (version "KI-CR-v1.1.0"), with the names
//     the specification gives them: jurisdiction, consentTimestamp (Unix
//     seconds), collectionMethod, consentReceiptID, publicKey, language,
//     piiPrincipalId, piiControllers, policyUrl, services[].purposes[],
//     sensitive, spiCat. A piiController's address is a schema.org
//     PostalAddress object, as the specification's examples give it;
//   - under the member "iso27560", the consent record of ISO/IEC TS
//     27560:2023 with the fields the W3C DPV implementation guide lists,
//     named in lower camel case: schemaVersion, recordId, subjectId,
//     notice, language, purposes, personalData, controllers,
//     storageLocations, retention, jurisdiction, recipients,
//     withdrawalMethod, and the optional legalBasis and collectionMethod,
//     the status at issue, and the events (time, validity, expressedBy,
//     consentType, state — the W3C DPV consent states).
//
// The member "iat" (Unix seconds, as in JWT) says when the receipt was
// issued; the Kantara specification has no field for it.
//
// A receipt carries no personal data beyond the subject's opaque id: the
// ledger knows no names, and the evidence of the consent (address,
// browser) stays sealed in the ledger. The receipt proves the consent; the
// person keeps it.
//
// # Signing
//
// Signer signs a receipt as a compact JWS (RFC 7515) with Ed25519
// ("alg":"EdDSA", RFC 8037) under header type "kabinet-consent-receipt+jws";
// Verify checks one against a key set (JWKS, RFC 7517), the form in which
// the operator publishes its public keys. Keys live in a file of lines
// "ed25519 KID BASE64-SEED": the last line signs, every line verifies, so
// keys rotate by appending a line.
//
// # Paper
//
// PDF renders a receipt as an A4 document in the receipt's language with
// the contents of a consent the operator's law asks for (152-FZ art. 9
// p.4 for Russian and Kyrgyz operators, Law 94-V art. 8 for Kazakh ones)
// and, at the bottom, the receipt id and the SHA-256 fingerprint of the
// JWS so that the paper and the file can be matched.
package receipts

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/documents"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
)

// Versions of the formats a receipt follows.
const (
	KantaraVersion   = "KI-CR-v1.1.0"
	ISOSchemaVersion = "ISO/IEC TS 27560:2023"
)

// Kantara consent types.
const (
	ConsentExplicit = "EXPLICIT"
	ConsentImplicit = "IMPLICIT" // continued use of the portal: consent implied by conduct
)

// Receipt is a consent receipt. Its JSON form is the document the subject
// downloads (inside a JWS, see Signer.Sign); the field names are the
// standards' (see the package documentation).
type Receipt struct {
	Version          string       `json:"version"`
	Jurisdiction     string       `json:"jurisdiction"`     // ISO 3166-1 alpha-2 country whose law governs the consent
	ConsentTimestamp int64        `json:"consentTimestamp"` // Unix seconds: when the consent was given (or last renewed)
	CollectionMethod string       `json:"collectionMethod"` // how it was given, in words of the receipt's language
	ConsentReceiptID string       `json:"consentReceiptID"` // UUID, version 4 layout
	PublicKey        string       `json:"publicKey,omitempty"`
	Language         string       `json:"language"` // ISO 639-1
	PIIPrincipalID   string       `json:"piiPrincipalId"`
	PIIControllers   []Controller `json:"piiControllers"`
	PolicyURL        string       `json:"policyUrl"`
	Services         []Service    `json:"services"`
	Sensitive        bool         `json:"sensitive"`
	SPICat           []string     `json:"spiCat"`
	IssuedAt         int64        `json:"iat"` // Unix seconds: when the receipt was issued
	ISO              Record       `json:"iso27560"`
}

// Controller is a Kantara PII controller: the operator.
type Controller struct {
	PIIController    string  `json:"piiController"`
	OnBehalf         bool    `json:"onBehalf"`
	Contact          string  `json:"contact"`
	Address          Address `json:"address"`
	Email            string  `json:"email"`
	Phone            string  `json:"phone"`
	PIIControllerURL string  `json:"piiControllerUrl,omitempty"`
}

// Address is a schema.org PostalAddress.
type Address struct {
	StreetAddress  string `json:"streetAddress"`
	AddressCountry string `json:"addressCountry"`
}

// Service is a Kantara service: the portal, with the one purpose the
// receipt is about.
type Service struct {
	Service  string           `json:"service"`
	Purposes []ServicePurpose `json:"purposes"`
}

// ServicePurpose is a Kantara purpose.
type ServicePurpose struct {
	Purpose string `json:"purpose"`
	// PurposeCategory holds the register's purpose id: the register has
	// no taxonomy of its own, and the id is the stable code of the purpose.
	PurposeCategory []string `json:"purposeCategory"`
	ConsentType     string   `json:"consentType"`
	PIICategory     []string `json:"piiCategory"` // category titles
	// PrimaryPurpose is true for the purpose the portal keeps accounts for
	// (config identity.purpose), the core of the service.
	PrimaryPurpose bool   `json:"primaryPurpose"`
	Termination    string `json:"termination"`
	// ThirdPartyDisclosure is true when the register names recipients for
	// the purpose, processors included: they receive the data too.
	ThirdPartyDisclosure bool   `json:"thirdPartyDisclosure"`
	ThirdPartyName       string `json:"thirdPartyName,omitempty"`
}

// Record is the ISO/IEC TS 27560 consent record.
type Record struct {
	SchemaVersion    string          `json:"schemaVersion"`
	RecordID         string          `json:"recordId"` // one id per consent in the ledger, shared by every receipt of it
	SubjectID        string          `json:"subjectId"`
	Notice           Notice          `json:"notice"`
	Language         string          `json:"language"`
	Purposes         []RecordPurpose `json:"purposes"`
	PersonalData     []DataCategory  `json:"personalData"`
	Controllers      []Party         `json:"controllers"`
	StorageLocations []string        `json:"storageLocations"` // countries
	Retention        Retention       `json:"retention"`
	Jurisdiction     string          `json:"jurisdiction"`
	Recipients       []Party         `json:"recipients"`
	WithdrawalMethod Withdrawal      `json:"withdrawalMethod"`
	LegalBasis       string          `json:"legalBasis"`
	CollectionMethod string          `json:"collectionMethod"` // the ledger's method code: checkbox, submit_button, …
	Status           string          `json:"status"`           // the consent's state when the receipt was issued
	Events           []Event         `json:"events"`
}

// Notice is the consent text the subject was shown.
type Notice struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Version string `json:"version"`
	Hash    string `json:"hash"` // hex SHA-256 of the text as published
	URL     string `json:"url"`
}

// RecordPurpose is a purpose of processing.
type RecordPurpose struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Operations  []string `json:"operations"` // 152-FZ art. 3 p.3 actions, as register codes
	Processing  string   `json:"processing"` // automated, mixed or manual
}

// DataCategory is a category of personal data.
type DataCategory struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Kind  string `json:"kind"` // ordinary, special, biometric
}

// Party is a controller or a recipient.
type Party struct {
	ID          string   `json:"id,omitempty"` // registration number, e.g. "RU-INN:7700000000"
	Name        string   `json:"name"`
	Type        string   `json:"type"` // controller, processor, third_party, authority
	Address     string   `json:"address,omitempty"`
	Country     string   `json:"country,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	CrossBorder bool     `json:"crossBorder,omitempty"`
	Categories  []string `json:"categories,omitempty"`
}

// Retention is how long the data kept for the purpose live.
type Retention struct {
	Rule        string `json:"rule"`           // the register's rule: until_withdrawn, term, …
	Term        string `json:"term,omitempty"` // ISO 8601 duration, e.g. P3Y
	After       string `json:"after,omitempty"`
	Description string `json:"description,omitempty"`
}

// Withdrawal says how the consent is withdrawn.
type Withdrawal struct {
	Description string `json:"description"`
	URL         string `json:"url"` // the cabinet's consents page
}

// Event is one ledger event of the consent.
type Event struct {
	ID          int64  `json:"id"`                 // the ledger's event id, for the operator to find it
	Time        string `json:"time"`               // RFC 3339, UTC
	Validity    string `json:"validity,omitempty"` // RFC 3339 end of the term; absent when none
	ExpressedBy string `json:"expressedBy,omitempty"`
	ConsentType string `json:"consentType"` // explicit or implicit
	State       string `json:"state"`       // given, renewed, refused, withdrawn, expired, invalidated
	Method      string `json:"method,omitempty"`
	// NoticeVersion and NoticeHash name the text an event refers to when
	// it differs from the receipt's notice (a renewal to a new text).
	NoticeVersion string `json:"noticeVersion,omitempty"`
	NoticeHash    string `json:"noticeHash,omitempty"`
}

// ExpressedBy values besides consent.BySubject and consent.ByRepresentative.
const expressedByController = "controller" // the operator ended it (invalidated)

// Input is what a receipt is built from.
type Input struct {
	// Config is the operator: identity, jurisdiction, languages, time
	// zone, base URL and register. Required.
	Config *config.Config
	// Purpose is the consent-based purpose the receipt is about. Required.
	Purpose *register.Purpose
	// Register gives category titles; nil means &Config.Register.
	Register *register.Register
	// Records are the ledger's events for Subject and Purpose in the order
	// recorded (consent.Ledger.History). The receipt covers the latest
	// consent: from the last "given" event (the last "renewed" when there
	// is none) to the end.
	Records []consent.Record
	// Subject is the subject's opaque id.
	Subject string
	// Lang is the receipt's language; "" means the operator's default.
	// A language without a catalogue falls back to i18n.Default.
	Lang string
	// PolicyURL is the published policy; "" means Config.Server.BaseURL
	// + "/policy".
	PolicyURL string
	// IssuedAt is when the receipt is issued; zero means the time of the
	// last record, so the same ledger state always gives the same
	// receipt (and the JSON and the PDF downloaded apart still match).
	IssuedAt time.Time
	// Bundle holds the catalogues; nil means i18n.Load() on each call.
	Bundle *i18n.Bundle
}

// ConsentsPath is the cabinet page where consents are withdrawn (served
// by package web).
const ConsentsPath = "/cabinet/consents"

// Build builds the receipt of the latest consent in in.Records. The
// receipt's id is derived from the subject, the purpose, the last event,
// the issue time and the language: the same input gives the same receipt,
// and any difference a different id (a UUID in the version 4 layout whose
// bits come from SHA-256 rather than a random source). Errors:
// fault.Invalid "receipts.not_consent_based" when the purpose does not
// rest on consent; fault.NotFound "receipts.no_consent" when no consent
// was ever given; a plain error (an internal fault) when the input is
// incomplete or the records are of another subject or purpose.
func Build(in Input) (Receipt, error) {
	b, err := in.resolve()
	if err != nil {
		return Receipt{}, err
	}
	return b.receipt(), nil
}

// builder is one Input, checked and resolved.
type builder struct {
	in      Input
	cfg     *config.Config
	reg     *register.Register
	p       *register.Purpose
	l       *i18n.Localizer
	lang    string
	events  []consent.Record // the latest consent's events
	consent consent.Record   // its last "given" or "renewed" event
	issued  time.Time
	base    string // base URL without a trailing slash
}

func (in Input) resolve() (*builder, error) {
	if in.Config == nil || in.Purpose == nil {
		return nil, errors.New("receipts: the input needs a config and a purpose")
	}
	p := in.Purpose
	if !p.ConsentBased() || p.Consent == nil {
		return nil, fault.New(fault.Invalid, "receipts.not_consent_based", "purpose", p.ID)
	}
	for _, r := range in.Records {
		if r.Subject != in.Subject || r.Purpose != p.ID {
			return nil, fmt.Errorf("receipts: event %d is of subject %q and purpose %q, not of the receipt's", r.ID, r.Subject, r.Purpose)
		}
	}
	start := lastIndex(in.Records, consent.Given)
	if start < 0 {
		start = lastIndex(in.Records, consent.Renewed) // only when the history was cut
	}
	if start < 0 {
		return nil, fault.New(fault.NotFound, "receipts.no_consent")
	}
	b := &builder{in: in, cfg: in.Config, reg: in.Register, p: p, events: in.Records[start:], issued: in.IssuedAt}
	for _, r := range b.events {
		if r.Event.Active() {
			b.consent = r
		}
	}
	if b.reg == nil {
		b.reg = &in.Config.Register
	}
	if b.issued.IsZero() {
		b.issued = in.Records[len(in.Records)-1].At
	}
	bundle := in.Bundle
	if bundle == nil {
		var err error
		if bundle, err = i18n.Load(); err != nil {
			return nil, fmt.Errorf("receipts: %w", err)
		}
	}
	lang := in.Lang
	if lang == "" {
		lang = in.Config.DefaultLanguage()
	}
	b.l = bundle.Localizer(lang)
	b.lang = b.l.Lang()
	b.base = strings.TrimRight(in.Config.Server.BaseURL, "/")
	return b, nil
}

func (b *builder) t(key string, args ...any) string { return b.l.T(key, args...) }

// pick chooses an operator text in the receipt's language, then the
// operator's default language, then the plain text, then the first by
// language code — never by map order, so receipts are deterministic.
func (b *builder) pick(t i18n.Text) string {
	for _, k := range []string{b.lang, b.cfg.DefaultLanguage(), ""} {
		if s := strings.TrimSpace(t[k]); s != "" {
			return s
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if s := strings.TrimSpace(t[k]); s != "" {
			return s
		}
	}
	return ""
}

func (b *builder) receipt() Receipt {
	cfg, p := b.cfg, b.p
	jur := register.HomeCountry(cfg.Operator.Jurisdiction)
	consentType := ConsentExplicit
	if b.consent.Method == "continued_use" {
		consentType = ConsentImplicit
	}
	var titles, sensitive []string
	var data []DataCategory
	for _, c := range b.categories() {
		t := b.pick(c.Title)
		titles = append(titles, t)
		data = append(data, DataCategory{ID: c.ID, Title: t, Kind: c.Kind})
		if c.Kind == register.KindSpecial || c.Kind == register.KindBiometric {
			sensitive = append(sensitive, t)
		}
	}
	var names []string
	var recipients []Party
	for _, rc := range p.Recipients {
		n := b.pick(rc.Name)
		names = append(names, n)
		recipients = append(recipients, Party{Name: n, Type: rc.Role, Address: b.pick(rc.Address), Country: rc.Country,
			CrossBorder: rc.CrossBorder, Categories: slices.Clone(rc.Categories)})
	}
	withdrawal := Withdrawal{Description: b.withdrawalHow(), URL: b.base + ConsentsPath}
	policy := b.in.PolicyURL
	if policy == "" {
		policy = b.base + "/policy"
	}
	o := cfg.Operator
	contact := b.pick(o.Contacts.DPO)
	if contact == "" {
		contact = b.pick(o.Name)
	}
	postal := b.pick(o.Contacts.PostalAddress)
	if postal == "" {
		postal = b.pick(o.LegalAddress)
	}
	r := Receipt{
		Version:          KantaraVersion,
		Jurisdiction:     jur,
		ConsentTimestamp: b.consent.At.Unix(),
		CollectionMethod: b.t("doc.consent_method." + b.consent.Method),
		ConsentReceiptID: b.receiptID(),
		Language:         b.lang,
		PIIPrincipalID:   b.in.Subject,
		PIIControllers: []Controller{{
			PIIController: b.pick(o.Name), Contact: contact,
			Address: Address{StreetAddress: b.pick(o.LegalAddress), AddressCountry: jur},
			Email:   o.Contacts.Email, Phone: o.Contacts.Phone, PIIControllerURL: b.base,
		}},
		PolicyURL: policy,
		Services: []Service{{Service: b.pick(cfg.Portal.Title), Purposes: []ServicePurpose{{
			Purpose:              b.pick(p.Title),
			PurposeCategory:      []string{p.ID},
			ConsentType:          consentType,
			PIICategory:          nonNil(titles),
			PrimaryPurpose:       p.ID == cfg.Identity.Purpose,
			Termination:          b.t("receipts.termination", "term", b.term(), "how", withdrawal.Description),
			ThirdPartyDisclosure: len(names) > 0,
			ThirdPartyName:       strings.Join(names, "; "),
		}}}},
		Sensitive: len(sensitive) > 0,
		SPICat:    nonNil(sensitive),
		IssuedAt:  b.issued.Unix(),
		ISO: Record{
			SchemaVersion: ISOSchemaVersion,
			RecordID:      b.recordID(),
			SubjectID:     b.in.Subject,
			Notice:        b.notice(),
			Language:      b.lang,
			Purposes: []RecordPurpose{{ID: p.ID, Title: b.pick(p.Title), Description: b.pick(p.Description),
				Operations: nonNil(slices.Clone(p.Operations)), Processing: p.Processing}},
			PersonalData: nonNil(data),
			Controllers: []Party{{ID: registrationID(cfg), Name: b.pick(o.Name), Type: "controller", Address: b.pick(o.LegalAddress),
				Country: jur, Contact: strings.Join(nonEmpty(o.Contacts.Email, o.Contacts.Phone, postal), "; ")}},
			StorageLocations: b.storage(),
			Retention: Retention{Rule: p.Retention.Rule, Term: isoDuration(p.Retention.Term), After: p.Retention.After,
				Description: b.pick(p.Retention.Description)},
			Jurisdiction:     jur,
			Recipients:       nonNil(recipients),
			WithdrawalMethod: withdrawal,
			LegalBasis:       p.Basis,
			CollectionMethod: b.consent.Method,
			Status:           string(b.status()),
			Events:           b.isoEvents(strings.ToLower(consentType)),
		},
	}
	return r
}

// status is the consent's state at the issue time: the last event's, or
// expired when an active consent's term has run out.
func (b *builder) status() consent.Status {
	last := b.events[len(b.events)-1]
	if last.Event.Active() && !last.ExpiresAt.IsZero() && !b.issued.Before(last.ExpiresAt) {
		return consent.Expired
	}
	return last.Event
}

func (b *builder) isoEvents(consentType string) []Event {
	var out []Event
	for _, r := range b.events {
		e := Event{ID: r.ID, Time: rfc3339(r.At), ConsentType: consentType, State: string(r.Event), Method: r.Method,
			ExpressedBy: r.ExpressedBy}
		if !r.ExpiresAt.IsZero() {
			e.Validity = rfc3339(r.ExpiresAt)
		}
		if r.Event == consent.Invalidated {
			e.ExpressedBy = expressedByController
		}
		if r.Doc != b.consent.Doc {
			e.NoticeVersion, e.NoticeHash = r.Doc.Version, r.Doc.Hash
		}
		out = append(out, e)
	}
	return out
}

func (b *builder) notice() Notice {
	d := b.consent.Doc
	n := Notice{ID: d.ID, Version: d.Version, Hash: d.Hash, URL: b.base + "/documents/" + d.ID}
	if doc := b.reg.Document(d.ID); doc != nil {
		n.Title = b.pick(doc.Title)
	}
	if isHex(d.Hash) && len(d.Hash) >= documents.ShortHashLen {
		n.URL = b.base + documents.Version{DocID: d.ID, Hash: d.Hash}.Path()
	}
	return n
}

// categories expands the purpose's category ids (a parent id names all
// its children) into the register's categories, in the purpose's order
// as the consent text lists them, without repeats.
func (b *builder) categories() []*register.Category {
	var out []*register.Category
	seen := map[string]bool{}
	for _, id := range b.p.Categories {
		for i := range b.reg.Categories {
			c := &b.reg.Categories[i]
			if (c.ID == id || strings.HasPrefix(c.ID, id+".")) && !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func lastIndex(rs []consent.Record, s consent.Status) int {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Event == s {
			return i
		}
	}
	return -1
}

// storage lists the countries holding the data: the primary databases'
// and the replicas'.
func (b *builder) storage() []string {
	s := b.reg.Storage
	primary := s.Primary
	if primary == "" {
		primary = register.HomeCountry(b.cfg.Operator.Jurisdiction)
	}
	out := nonEmpty(primary)
	for _, c := range s.Replicas {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return nonNil(out)
}

// term says in words how long the consent lasts.
func (b *builder) term() string {
	if t := b.p.Consent.Term; !t.IsZero() {
		return b.t("doc.consent_term.term", "term", t.Text(b.lang))
	}
	return b.t("doc.consent_term.until_withdrawn")
}

// withdrawalHow says in words how to withdraw, with the operator's
// contacts, as the consent text does.
func (b *builder) withdrawalHow() string {
	c := b.cfg.Operator.Contacts
	postal := b.pick(c.PostalAddress)
	if postal == "" {
		postal = b.pick(b.cfg.Operator.LegalAddress)
	}
	return b.t("doc.consent.withdrawal_how", "contacts", b.t("doc.contacts", "email", c.Email, "address", postal))
}

// receiptID is a UUID (version 4 layout) from SHA-256 of everything that
// determines the receipt's content.
func (b *builder) receiptID() string {
	last := b.events[len(b.events)-1]
	return uuidOf("kabinet consent receipt", b.in.Subject, b.p.ID, strconv.FormatInt(last.ID, 10),
		strconv.FormatInt(b.issued.Unix(), 10), b.lang, b.in.PolicyURL)
}

// recordID names the consent in the ledger: its first event.
func (b *builder) recordID() string {
	return uuidOf("kabinet consent record", b.in.Subject, b.p.ID, strconv.FormatInt(b.events[0].ID, 10))
}

func uuidOf(parts ...string) string {
	h := sha256.New()
	for _, s := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(u)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// registrationID is the operator's state registration number with its
// scheme.
func registrationID(cfg *config.Config) string {
	r := cfg.Operator.Registration
	switch cfg.Operator.Jurisdiction {
	case "ru":
		if r.INN != "" {
			return "RU-INN:" + r.INN
		}
	case "kz":
		if r.BIN != "" {
			return "KZ-BIN:" + r.BIN
		}
		if r.IIN != "" {
			return "KZ-IIN:" + r.IIN
		}
	case "kg":
		if r.INN != "" {
			return "KG-INN:" + r.INN
		}
	}
	return ""
}

// isoDuration writes a register term as an ISO 8601 duration.
func isoDuration(d register.Duration) string {
	if d.IsZero() {
		return ""
	}
	return "P" + strconv.Itoa(d.N) + strings.ToUpper(string(d.Unit))
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// nonNil makes a nil slice an empty one, so JSON has [] rather than null
// where the specifications want an array.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
