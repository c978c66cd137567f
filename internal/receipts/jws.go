package receipts

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"kabinet/internal/fault"
)

// JOSE parameters of a signed receipt.
const (
	Algorithm = "EdDSA"                       // RFC 8037: Ed25519 signatures
	Type      = "kabinet-consent-receipt+jws" // the "typ" header: a receipt, not any other JWS under the same key
	// MaxJWS bounds the size of a JWS that Verify reads; a receipt is a
	// few kilobytes.
	MaxJWS = 256 << 10
)

// b64 is base64url without padding (RFC 7515 §2), strict: a value has
// exactly one encoding, so a signed receipt cannot be re-encoded into
// another valid one.
var b64 = base64.RawURLEncoding.Strict()

// Signer signs receipts with the newest of its Ed25519 keys and publishes
// all of them (JWKS), so receipts signed before a rotation still verify.
// It is immutable and safe for concurrent use.
type Signer struct {
	kids []string // in file order; the last signs
	keys map[string]ed25519.PrivateKey
}

// KeyID is the id of the key that signs.
func (s *Signer) KeyID() string { return s.kids[len(s.kids)-1] }

// header is the JWS protected header. Field order is the order written.
type header struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit,omitempty"` // read only to refuse: no extension is understood
}

// Sign returns r as a compact JWS (RFC 7515) signed with the newest key:
// header {"alg":"EdDSA","typ":"kabinet-consent-receipt+jws","kid":…},
// payload the receipt's JSON with publicKey set to the signing key
// (base64url, as the JWK's "x"). Ed25519 is deterministic: the same
// receipt and key give the same JWS.
func (s *Signer) Sign(r Receipt) (string, error) {
	kid := s.KeyID()
	priv := s.keys[kid]
	r.PublicKey = b64.EncodeToString(priv.Public().(ed25519.PublicKey))
	payload, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("receipts: encode receipt: %w", err)
	}
	h, err := json.Marshal(header{Alg: Algorithm, Typ: Type, Kid: kid})
	if err != nil {
		return "", fmt.Errorf("receipts: encode header: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	return input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input))), nil
}

// Fingerprint is the hex SHA-256 of a JWS as issued (surrounding white
// space removed): printed on the paper receipt to match it with the file.
func Fingerprint(jws string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(jws)))
	return hex.EncodeToString(sum[:])
}

// JWK is a public key in JWK form (RFC 7517; OKP keys RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	Kid string `json:"kid,omitempty"`
	X   string `json:"x,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
}

// JWKS is a JWK set: {"keys":[…]}. The operator publishes it at
// /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns the public half of every key, the signing key last.
func (s *Signer) JWKS() JWKS {
	set := JWKS{Keys: make([]JWK, 0, len(s.kids))}
	for _, kid := range s.kids {
		pub := s.keys[kid].Public().(ed25519.PublicKey)
		set.Keys = append(set.Keys, JWK{Kty: "OKP", Crv: "Ed25519", Kid: kid, X: b64.EncodeToString(pub), Use: "sig", Alg: Algorithm})
	}
	return set
}

// ParseJWKS reads a JWK set. Keys of types other than OKP Ed25519 are
// dropped, as RFC 7517 §5 asks of types an implementation does not
// understand; an Ed25519 key whose "x" is not 32 bytes of base64url is an
// error, and so is a set with no Ed25519 key left. Errors are
// fault.Invalid "receipts.jwks_invalid".
func ParseJWKS(data []byte) (JWKS, error) {
	var raw struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return JWKS{}, fault.Wrap(fault.Invalid, fmt.Errorf("receipts: key set: %w", err), "receipts.jwks_invalid")
	}
	set := JWKS{Keys: []JWK{}}
	for i, k := range raw.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		if x, err := b64.DecodeString(k.X); err != nil || len(x) != ed25519.PublicKeySize {
			return JWKS{}, fault.Wrap(fault.Invalid, fmt.Errorf("receipts: key set: key %d (%q) has no valid Ed25519 \"x\"", i, k.Kid), "receipts.jwks_invalid")
		}
		set.Keys = append(set.Keys, k)
	}
	if len(set.Keys) == 0 {
		return JWKS{}, fault.Wrap(fault.Invalid, errors.New("receipts: key set holds no Ed25519 key"), "receipts.jwks_invalid")
	}
	return set, nil
}

// find returns the Ed25519 verification key with kid.
func (set JWKS) find(kid string) (JWK, ed25519.PublicKey, bool) {
	for _, k := range set.Keys {
		if k.Kid != kid || k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != Algorithm) {
			continue
		}
		if x, err := b64.DecodeString(k.X); err == nil && len(x) == ed25519.PublicKeySize {
			return k, ed25519.PublicKey(x), true
		}
	}
	return JWK{}, nil, false
}

// What can be wrong with a signed receipt (VerifyError.Problem).
const (
	ProblemMalformed  = "malformed"   // not a compact JWS of a consent receipt
	ProblemAlgorithm  = "algorithm"   // signed with another algorithm than EdDSA ("none" included)
	ProblemUnknownKey = "unknown_key" // the key it names is not in the key set
	ProblemTampered   = "tampered"    // the signature does not match the content
)

// VerifyError says why a receipt did not verify. It unwraps to a
// fault.Error of kind Invalid with the message key "receipts.<problem>",
// and matches its sentinel: errors.Is(err, receipts.ErrTampered).
type VerifyError struct {
	Problem string
	// Detail is the algorithm or key id found (sanitised, at most 64
	// characters) for ProblemAlgorithm and ProblemUnknownKey.
	Detail string
	cause  error
}

// Sentinels for errors.Is.
var (
	ErrMalformed  = &VerifyError{Problem: ProblemMalformed}
	ErrAlgorithm  = &VerifyError{Problem: ProblemAlgorithm}
	ErrUnknownKey = &VerifyError{Problem: ProblemUnknownKey}
	ErrTampered   = &VerifyError{Problem: ProblemTampered}
)

func (e *VerifyError) Error() string {
	s := "receipts: receipt not valid: " + e.Problem
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is matches a sentinel with the same problem.
func (e *VerifyError) Is(target error) bool {
	t, ok := target.(*VerifyError)
	return ok && t.cause == nil && t.Detail == "" && t.Problem == e.Problem
}

// Unwrap classifies the problem for the surfaces.
func (e *VerifyError) Unwrap() error {
	switch e.Problem {
	case ProblemAlgorithm:
		return fault.Wrap(fault.Invalid, e.cause, "receipts.algorithm", "alg", e.Detail)
	case ProblemUnknownKey:
		return fault.Wrap(fault.Invalid, e.cause, "receipts.unknown_key", "kid", e.Detail)
	case ProblemTampered:
		return fault.Wrap(fault.Invalid, e.cause, "receipts.tampered")
	}
	return fault.Wrap(fault.Invalid, e.cause, "receipts.malformed")
}

func malformed(format string, args ...any) error {
	return &VerifyError{Problem: ProblemMalformed, cause: fmt.Errorf(format, args...)}
}

// Verify checks a compact JWS made by Signer.Sign against keys and
// returns the receipt it carries. In order: the form (three base64url
// parts, at most MaxJWS bytes; white space around it is ignored), the
// header (alg EdDSA, typ Type, a kid, no "crit"), the key (kid in keys,
// OKP Ed25519, for signing), the signature over the first two parts, and
// only then the payload (a receipt of KantaraVersion whose publicKey, if
// set, is the key that verified it). Errors are *VerifyError: ErrMalformed,
// ErrAlgorithm, ErrUnknownKey, ErrTampered.
func Verify(jws string, keys JWKS) (Receipt, error) {
	jws = strings.TrimSpace(jws)
	if len(jws) > MaxJWS {
		return Receipt{}, malformed("%d bytes; at most %d", len(jws), MaxJWS)
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return Receipt{}, malformed("%d parts, want 3", len(parts))
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return Receipt{}, malformed("header: %w", err)
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Receipt{}, malformed("header: %w", err)
	}
	if h.Alg != Algorithm {
		return Receipt{}, &VerifyError{Problem: ProblemAlgorithm, Detail: sanitise(h.Alg)}
	}
	if h.Typ != Type {
		return Receipt{}, malformed("header typ %q, want %q", sanitise(h.Typ), Type)
	}
	if h.Crit != nil {
		return Receipt{}, malformed("header has crit, no extension is understood")
	}
	if h.Kid == "" {
		return Receipt{}, malformed("header has no kid")
	}
	jwk, pub, ok := keys.find(h.Kid)
	if !ok {
		return Receipt{}, &VerifyError{Problem: ProblemUnknownKey, Detail: sanitise(h.Kid)}
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Receipt{}, malformed("signature: %w", err)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return Receipt{}, &VerifyError{Problem: ProblemTampered, cause: errors.New("the Ed25519 signature does not verify")}
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return Receipt{}, malformed("payload: %w", err)
	}
	var r Receipt
	if err := json.Unmarshal(payload, &r); err != nil {
		return Receipt{}, malformed("payload: %w", err)
	}
	if r.Version != KantaraVersion {
		return Receipt{}, malformed("payload version %q, want %q", sanitise(r.Version), KantaraVersion)
	}
	if r.PublicKey != "" && r.PublicKey != jwk.X {
		return Receipt{}, &VerifyError{Problem: ProblemTampered, cause: errors.New("publicKey in the receipt is not the key that signed it")}
	}
	return r, nil
}

// sanitise keeps a value read from an untrusted header fit for a message
// and a log line: printable, at most 64 characters.
func sanitise(s string) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= 64 {
			b.WriteString("…")
			break
		}
		if c == utf8.RuneError || c < 0x20 || c == 0x7f {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}
