package config

import (
	"fmt"
	"slices"
	"time"
)

// Identity configures accounts, passwords, one-time codes, limits and
// sessions (package identity). Every field has a default, so an operator
// file needs an identity section only to change one, or when the register
// names its accounts' purpose or categories differently from the demo.
type Identity struct {
	// Purpose is the register purpose under which accounts process the
	// phone number, e-mail address, name and session records of their
	// subjects. It must cover the four categories below. Default "portal".
	Purpose string `yaml:"purpose"`
	// SubjectKind is the register's kind of subject an account is (a data
	// subject category). Default "user".
	SubjectKind string             `yaml:"subject_kind"`
	Categories  IdentityCategories `yaml:"categories"`
	Password    PasswordPolicy     `yaml:"password"`
	Codes       CodePolicy         `yaml:"codes"`
	Limits      SignInLimits       `yaml:"limits"`
	Sessions    SessionPolicy      `yaml:"sessions"`

	// implicit is true when the operator file has no identity section.
	implicit bool
}

// AccountsConfigured reports whether people can have accounts with this
// operator: the register has the purpose Identity.Purpose names. An
// operator file without an identity section whose register has no
// purpose "portal" has no accounts (yet): it passes validation, and
// kabinet runs without sign-up. An identity section, once written, is
// checked in full.
func (c *Config) AccountsConfigured() bool { return c.Register.Purpose(c.Identity.Purpose) != nil }

// IdentityCategories names the register categories identity uses. Phone
// and Email must be marked lookup: accounts are found by them through the
// gate's blind index.
type IdentityCategories struct {
	Phone   string `yaml:"phone"`   // default contact.phone
	Email   string `yaml:"email"`   // default contact.email
	Name    string `yaml:"name"`    // default identity.name
	Session string `yaml:"session"` // the address and device of a session; default technical.session
}

// PasswordPolicy is the rule every password must pass and how it is
// hashed.
type PasswordPolicy struct {
	// MinLength is the shortest password accepted, in characters.
	// Default 8, the least NIST SP 800-63B allows.
	MinLength int `yaml:"min_length"`
	// MaxLength bounds a password, so hashing stays cheap. Default 256.
	MaxLength int `yaml:"max_length"`
	// AllowCommon accepts passwords from the list of the 10,000 most
	// common ones, which are refused by default.
	AllowCommon bool   `yaml:"allow_common"`
	Argon2      Argon2 `yaml:"argon2"`
}

// Argon2 are the argon2id parameters of new password hashes. A stored
// hash made with other parameters is rehashed at the next sign-in.
// Defaults are OWASP's minimum (m=19 MiB, t=2, p=1): about 32 ms per hash
// on one core, so the bound on concurrent hashes (the core count) is what
// protects the machine.
type Argon2 struct {
	MemoryKiB uint32 `yaml:"memory_kib"` // default 19456
	Time      uint32 `yaml:"time"`       // iterations; default 2
	Threads   uint8  `yaml:"threads"`    // default 1
}

// CodePolicy governs one-time codes (sign-up, sign-in, reset, deletion).
type CodePolicy struct {
	// Length is the number of digits of a code sent by SMS or e-mail.
	// Default 6.
	Length int `yaml:"length"`
	// FlashDigits is the number of digits of a code given by a flash call
	// (the last digits of the calling number, seed 000 §3.2.1). Default 5.
	FlashDigits int `yaml:"flash_digits"`
	// TTL is how long a code may be entered. Default 5m.
	TTL time.Duration `yaml:"ttl"`
	// MaxAttempts is how many wrong entries kill a code. Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// FinishWithin is how long after a confirmed code the flow may be
	// finished (a password set, a link confirmed). Default 30m.
	FinishWithin time.Duration `yaml:"finish_within"`
	// MinResponse is the least time a request that starts a code flow
	// takes, so that its timing does not tell whether an account exists.
	// Default 300ms.
	MinResponse time.Duration `yaml:"min_response"`
}

// SignInLimits bound how fast codes are sent and passwords guessed. All
// counters live in the database, so several kabinet processes share them.
type SignInLimits struct {
	CodesPerNumberHour int `yaml:"codes_per_number_hour"` // default 3
	CodesPerNumberDay  int `yaml:"codes_per_number_day"`  // default 10
	CodesPerIPHour     int `yaml:"codes_per_ip_hour"`     // default 20
	// DelayAfter failed sign-ins in a row for one identifier, each next
	// attempt waits DelayBase, doubling with every further failure.
	// Defaults 3 and 1s.
	DelayAfter int           `yaml:"delay_after"`
	DelayBase  time.Duration `yaml:"delay_base"`
	// LockAfter failures in a row lock the identifier for LockFor.
	// Defaults 10 and 15m.
	LockAfter int           `yaml:"lock_after"`
	LockFor   time.Duration `yaml:"lock_for"`
	// FailuresForget is how long without failures ends a run of failures.
	// Default 24h.
	FailuresForget time.Duration `yaml:"failures_forget"`
	// FailuresPerIPHour failed sign-ins from one address (an IPv6 /64) in
	// an hour lock that address until the hour ends. Default 100.
	FailuresPerIPHour int `yaml:"failures_per_ip_hour"`
}

// SessionPolicy bounds sessions.
type SessionPolicy struct {
	Idle     time.Duration `yaml:"idle"`     // ends a session unused this long; default 30m
	Absolute time.Duration `yaml:"absolute"` // ends any session this long after sign-in; default 12h
	// TouchEvery is how often a session's last use is written: the check
	// of a session reads only, except once per TouchEvery. Default 1m.
	TouchEvery time.Duration `yaml:"touch_every"`
}

// defaults fills empty fields.
func (x *Identity) defaults() {
	if *x == (Identity{}) {
		x.implicit = true
	}
	str := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	num := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	str(&x.Purpose, "portal")
	str(&x.SubjectKind, "user")
	str(&x.Categories.Phone, "contact.phone")
	str(&x.Categories.Email, "contact.email")
	str(&x.Categories.Name, "identity.name")
	str(&x.Categories.Session, "technical.session")
	num(&x.Password.MinLength, 8)
	num(&x.Password.MaxLength, 256)
	if x.Password.Argon2.MemoryKiB == 0 {
		x.Password.Argon2.MemoryKiB = 19456
	}
	if x.Password.Argon2.Time == 0 {
		x.Password.Argon2.Time = 2
	}
	if x.Password.Argon2.Threads == 0 {
		x.Password.Argon2.Threads = 1
	}
	num(&x.Codes.Length, 6)
	num(&x.Codes.FlashDigits, 5)
	dur(&x.Codes.TTL, 5*time.Minute)
	num(&x.Codes.MaxAttempts, 5)
	dur(&x.Codes.FinishWithin, 30*time.Minute)
	dur(&x.Codes.MinResponse, 300*time.Millisecond)
	num(&x.Limits.CodesPerNumberHour, 3)
	num(&x.Limits.CodesPerNumberDay, 10)
	num(&x.Limits.CodesPerIPHour, 20)
	num(&x.Limits.DelayAfter, 3)
	dur(&x.Limits.DelayBase, time.Second)
	num(&x.Limits.LockAfter, 10)
	dur(&x.Limits.LockFor, 15*time.Minute)
	dur(&x.Limits.FailuresForget, 24*time.Hour)
	num(&x.Limits.FailuresPerIPHour, 100)
	dur(&x.Sessions.Idle, 30*time.Minute)
	dur(&x.Sessions.Absolute, 12*time.Hour)
	dur(&x.Sessions.TouchEvery, time.Minute)
}

// validate adds problems with paths under "identity.".
func (x *Identity) validate(c *Config, add func(path, key string, args ...any)) {
	const base = "identity."
	between := func(path string, v, lo, hi int) {
		if v < lo || v > hi {
			add(base+path, "config.range", "min", lo, "max", hi)
		}
	}
	within := func(path string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			add(base+path, "config.range", "min", lo.String(), "max", hi.String())
		}
	}
	between("password.min_length", x.Password.MinLength, 8, 64)
	between("password.max_length", x.Password.MaxLength, max(x.Password.MinLength, 64), 4096)
	// Below 7 MiB argon2id no longer resists GPU guessing (OWASP); above
	// 1 GiB one sign-in could exhaust the machine.
	between("password.argon2.memory_kib", int(x.Password.Argon2.MemoryKiB), 7168, 1<<20)
	between("password.argon2.time", int(x.Password.Argon2.Time), 1, 20)
	between("password.argon2.threads", int(x.Password.Argon2.Threads), 1, 16)
	between("codes.length", x.Codes.Length, 4, 10)
	between("codes.flash_digits", x.Codes.FlashDigits, 4, 8)
	within("codes.ttl", x.Codes.TTL, time.Minute, 30*time.Minute)
	between("codes.max_attempts", x.Codes.MaxAttempts, 1, 10)
	within("codes.finish_within", x.Codes.FinishWithin, time.Minute, 24*time.Hour)
	within("codes.min_response", x.Codes.MinResponse, time.Millisecond, 5*time.Second)
	between("limits.codes_per_number_hour", x.Limits.CodesPerNumberHour, 1, 100)
	between("limits.codes_per_number_day", x.Limits.CodesPerNumberDay, x.Limits.CodesPerNumberHour, 1000)
	between("limits.codes_per_ip_hour", x.Limits.CodesPerIPHour, 1, 100000)
	between("limits.delay_after", x.Limits.DelayAfter, 1, 100)
	within("limits.delay_base", x.Limits.DelayBase, time.Millisecond, time.Minute)
	between("limits.lock_after", x.Limits.LockAfter, x.Limits.DelayAfter, 1000)
	within("limits.lock_for", x.Limits.LockFor, time.Minute, 7*24*time.Hour)
	within("limits.failures_forget", x.Limits.FailuresForget, time.Hour, 30*24*time.Hour)
	between("limits.failures_per_ip_hour", x.Limits.FailuresPerIPHour, 1, 1000000)
	within("sessions.idle", x.Sessions.Idle, time.Minute, 30*24*time.Hour)
	within("sessions.absolute", x.Sessions.Absolute, x.Sessions.Idle, 365*24*time.Hour)
	within("sessions.touch_every", x.Sessions.TouchEvery, time.Second, x.Sessions.Idle/2)

	reg := &c.Register
	p := reg.Purpose(x.Purpose)
	if p == nil && x.implicit {
		return // no accounts for this operator (AccountsConfigured)
	}
	if p == nil {
		add(base+"purpose", "config.identity_purpose_unknown", "purpose", x.Purpose)
	} else if !slices.Contains(p.Subjects, x.SubjectKind) {
		add(base+"subject_kind", "config.identity_subject_not_covered", "subject", x.SubjectKind, "purpose", x.Purpose)
	}
	if reg.Subject(x.SubjectKind) == nil {
		add(base+"subject_kind", "config.identity_subject_unknown", "subject", x.SubjectKind)
	}
	for _, cat := range []struct {
		path, id string
		lookup   bool
	}{
		{"phone", x.Categories.Phone, true}, {"email", x.Categories.Email, true},
		{"name", x.Categories.Name, false}, {"session", x.Categories.Session, false},
	} {
		path := fmt.Sprintf("%scategories.%s", base, cat.path)
		rc := reg.Category(cat.id)
		switch {
		case rc == nil:
			add(path, "config.identity_category_unknown", "category", cat.id)
			continue
		case cat.lookup && !rc.Lookup:
			// Accounts are found by phone and e-mail through the blind
			// index, which exists only for lookup categories.
			add(path, "config.identity_lookup_required", "category", cat.id)
		}
		if p != nil && len(p.Covers(cat.id)) > 0 {
			add(path, "config.identity_category_not_covered", "category", cat.id, "purpose", x.Purpose)
		}
	}
}
