package identity

import (
	"net/mail"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"kabinet/internal/fault"
)

// Sign-up methods.
const (
	MethodPhone = "phone"
	MethodEmail = "email"
)

// maxIdentifier bounds what is parsed: nobody's phone or address is longer.
const maxIdentifier = 254

// normalizePhone parses a phone number written the way people write them
// ("8 916 123-45-67", "+7 (916) 123 45 67", "0555 123 456" in Kyrgyzstan)
// with the operator's country as the default region, and returns it in
// E.164 ("+79161234567"). An international number starting with "+" is
// accepted from anywhere. Invalid: fault.Invalid "identity.phone_invalid".
func (s *Service) normalizePhone(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 64 || strings.ContainsRune(raw, '@') {
		return "", fault.New(fault.Invalid, "identity.phone_invalid")
	}
	n, err := phonenumbers.Parse(raw, s.region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", fault.New(fault.Invalid, "identity.phone_invalid")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// normalizeEmail returns the address trimmed and lower-cased, the form the
// blind index is computed on, if it is a plausible bare address; else
// fault.Invalid "identity.email_invalid". Dots and "+tags" are kept: some
// mail systems give them meaning, and folding them would merge people.
func normalizeEmail(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	bad := fault.New(fault.Invalid, "identity.email_invalid")
	if v == "" || len(v) > maxIdentifier || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", bad
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return "", bad
	}
	local, domain, _ := strings.Cut(v, "@")
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", bad
	}
	return v, nil
}

// identifier is a normalised phone number or e-mail address with the
// register category it belongs to.
type identifier struct {
	method   string // MethodPhone or MethodEmail
	category string
	value    string
}

// parseIdentifier reads what a person typed to sign in: an e-mail address
// when it has an "@", else a phone number.
func (s *Service) parseIdentifier(raw string) (identifier, error) {
	if strings.ContainsRune(raw, '@') {
		v, err := normalizeEmail(raw)
		return identifier{MethodEmail, s.cfg.Categories.Email, v}, err
	}
	v, err := s.normalizePhone(raw)
	return identifier{MethodPhone, s.cfg.Categories.Phone, v}, err
}

// channelFits checks that a code can travel to an identifier by channel:
// SMS or call to a phone, e-mail to an address.
func channelFits(method, channel string) error {
	ok := method == MethodPhone && (channel == ChannelSMS || channel == ChannelCall) ||
		method == MethodEmail && channel == ChannelEmail
	if !ok {
		return fault.New(fault.Invalid, "identity.channel_invalid")
	}
	return nil
}
