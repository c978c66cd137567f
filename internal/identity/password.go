package identity

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"kabinet/internal/config"
	"kabinet/internal/fault"
)

// commonPasswordList is the 10,000 most common passwords of Mark Burnett's
// "10 million passwords" corpus (2015), as published in SecLists
// (github.com/danielmiessler/SecLists,
// Passwords/Common-Credentials/10-million-password-list-top-10000.txt,
// MIT licence), unchanged. It is embedded so the check needs no file.
//
//go:embed common_passwords.txt
var commonPasswordList []byte

// commonPasswords returns the list as a set of lower-cased passwords: the
// check ignores case, since "Password" is as guessable as "password".
func commonPasswords() map[string]bool {
	set := make(map[string]bool, 10000)
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordList))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			set[strings.ToLower(line)] = true
		}
	}
	return set
}

// checkPassword applies the password rules: length, not among the most
// common passwords, not the sign-in identifier itself. sameAsIdentifier
// reports whether the password, read as a phone number or an e-mail
// address, is the account's identifier.
func (s *Service) checkPassword(pw string, sameAsIdentifier func(string) bool) error {
	p := s.cfg.Password
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return fault.New(fault.Invalid, "identity.password_invalid")
	case n < p.MinLength:
		return fault.New(fault.Invalid, "identity.password_short", "n", p.MinLength)
	case len(pw) > p.MaxLength:
		return fault.New(fault.Invalid, "identity.password_long", "n", p.MaxLength)
	case !p.AllowCommon && s.common[strings.ToLower(pw)]:
		return fault.New(fault.Invalid, "identity.password_common")
	case sameAsIdentifier != nil && sameAsIdentifier(pw):
		return fault.New(fault.Invalid, "identity.password_identifier")
	}
	return nil
}

// hasher makes and checks argon2id hashes, at most `slots` at a time: more
// concurrent hashes than cores only slow every one of them down (measured
// here: 63 hashes/s with 2 at a time on 2 cores, 36/s with 4), and
// unbounded hashing would let a flood of sign-ins exhaust memory.
type hasher struct {
	params config.Argon2
	slots  chan struct{}
}

func newHasher(p config.Argon2, slots int) *hasher {
	return &hasher{params: p, slots: make(chan struct{}, max(slots, 1))}
}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// hash returns the PHC string of password under the configured parameters:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func (h *hasher) hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	p := h.params
	key := h.derive(password, salt, p)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func (h *hasher) derive(password string, salt []byte, p config.Argon2) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
}

// verify reports whether password matches the PHC string, and whether the
// string was made with other parameters than the configured ones (then
// the caller rehashes). A malformed string is an error.
func (h *hasher) verify(phc, password string) (ok, stale bool, err error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := h.derive(password, salt, p)
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, p != h.params || len(want) != keyLen, nil
}

var errPHC = errors.New("identity: malformed password hash")

func parsePHC(s string) (config.Argon2, []byte, []byte, error) {
	var p config.Argon2
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errPHC
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || threads == 0 || threads > 255 ||
		p.MemoryKiB == 0 || p.Time == 0 {
		return p, nil, nil, errPHC
	}
	p.Threads = uint8(threads)
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errPHC
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, errPHC
	}
	return p, salt, key, nil
}
