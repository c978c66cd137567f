package config

// Identity configures accounts, passwords, codes, limits and sessions (package identity).
// Its owner fills in the fields, defaults and checks.
type Identity struct{}

// defaults fills empty fields.
func (x *Identity) defaults() {}

// validate adds problems with paths under "identity.".
func (x *Identity) validate(c *Config, add func(path, key string, args ...any)) {}
