package config

// Messages configures how messages (SMS, calls, e-mail) are delivered (package notify).
// Its owner fills in the fields, defaults and checks.
type Messages struct{}

// defaults fills empty fields.
func (x *Messages) defaults() {}

// validate adds problems with paths under "messages.".
func (x *Messages) validate(c *Config, add func(path, key string, args ...any)) {}
