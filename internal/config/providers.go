package config

// Providers configures external OpenID Connect identity providers (package federation).
// Its owner fills in the fields, defaults and checks.
type Providers struct{}

// defaults fills empty fields.
func (x *Providers) defaults() {}

// validate adds problems with paths under "providers.".
func (x *Providers) validate(c *Config, add func(path, key string, args ...any)) {}
