package config

import (
	"encoding/json"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Messages configures how messages — SMS, flash calls, e-mail — are
// delivered (package notify). Each channel names its sender; a channel
// without one is off, except in the built-in demo, where it uses the
// console (see Sender).
//
// Secrets (the SMTP password, a gateway's token) never appear in the file:
// the file names the environment variable that holds them.
type Messages struct {
	// Purpose is the register purpose under which kabinet reads a
	// recipient's phone number or e-mail address through the gate and seals
	// a message's parameters (its one-time code). Default "portal".
	Purpose string `yaml:"purpose"`
	// PhoneCategory and EmailCategory are the register categories holding
	// a subject's phone number (E.164) and e-mail address. Defaults
	// "contact.phone" and "contact.email".
	PhoneCategory string `yaml:"phone_category"`
	EmailCategory string `yaml:"email_category"`
	// MarketingPurpose and InformingPurpose name the consent-based
	// purposes under which advertising and informational (non-advertising)
	// messages are sent (package preferences): each needs a valid consent
	// to it. An empty marketing purpose sends no advertising at all; an
	// empty informing purpose sends informational messages without consent.
	MarketingPurpose string `yaml:"marketing_purpose"`
	InformingPurpose string `yaml:"informing_purpose"`
	// MaxAttempts bounds the delivery attempts of one message; retries
	// back off exponentially (package jobs). Default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// Retention is how long the record of a delivered, failed or cancelled
	// message is kept before it is deleted. Default 720h (30 days).
	Retention time.Duration `yaml:"retention"`
	// AllowConsole permits the console sender outside the built-in demo.
	// The console prints every message, one-time codes included, to the
	// terminal and shows it on a demo page: it must never be used where
	// real people sign up. Meant for a developer's own operator file.
	AllowConsole bool `yaml:"allow_console"`
	// ConsoleKeep is how many recent messages the console keeps for the
	// demo page. Default 50.
	ConsoleKeep int `yaml:"console_keep"`

	SMS   SMSChannel   `yaml:"sms"`
	Call  CallChannel  `yaml:"call"`
	Email EmailChannel `yaml:"email"`
}

// Sender kinds.
const (
	SenderConsole = "console" // prints to the terminal; demo only
	SenderHTTP    = "http"    // a generic HTTP gateway (SMS, flash call)
	SenderSMTP    = "smtp"    // an SMTP relay (e-mail)
)

// SMSChannel delivers text messages to phone numbers.
type SMSChannel struct {
	Sender string      `yaml:"sender"` // console or http; empty: off (console in the demo)
	HTTP   HTTPGateway `yaml:"http"`
}

// CallChannel delivers codes by flash call: the gateway rings the number
// from a caller number whose last CodeDigits digits are the code, and the
// person types them in without answering.
type CallChannel struct {
	Sender string `yaml:"sender"` // console or http; empty: off (console in the demo)
	// CodeDigits is how many trailing digits of the caller's number form
	// the code; codes sent by call must have exactly this many. Default 5.
	CodeDigits int         `yaml:"code_digits"`
	HTTP       HTTPGateway `yaml:"http"`
}

// EmailChannel delivers e-mail.
type EmailChannel struct {
	Sender string `yaml:"sender"` // console or smtp; empty: off (console in the demo)
	SMTP   SMTP   `yaml:"smtp"`
}

// SMTP is a mail relay.
type SMTP struct {
	Host string `yaml:"host"`
	// Port defaults to 587, or 465 with TLS "implicit".
	Port int `yaml:"port"`
	// TLS is "starttls" (the default: STARTTLS is required, so that a man
	// in the middle cannot strip it and read the codes), "opportunistic"
	// (STARTTLS when the server offers it), "implicit" (TLS from the first
	// byte, usually port 465) or "none" (a relay on the same host).
	TLS string `yaml:"tls"`
	// CAFile is a PEM file of extra certificate authorities to trust, for
	// a relay with a private certificate.
	CAFile string `yaml:"ca_file"`
	// Username and PasswordEnv turn on AUTH PLAIN; the password is read
	// from the environment variable PasswordEnv names. net/smtp refuses to
	// send it over an unencrypted connection except to localhost.
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	// From is the sender, e.g. "Портал <noreply@portal.example.ru>".
	From string `yaml:"from"`
	// HELO is the name kabinet greets the relay with. Default
	// "localhost", as net/smtp does; some relays want the portal's name.
	HELO string `yaml:"helo"`
	// Timeout bounds one delivery. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Headers are added to every message (e.g. an Auto-Submitted marker).
	Headers map[string]string `yaml:"headers"`
}

// HTTPGateway is a generic HTTP API of an SMS or flash-call provider.
//
// URL, Body and header values are Go text/template templates executed with
// the fields .To (the number in E.164, e.g. +79161234567), .Text (the
// rendered message), .Code (the one-time code), .ID (kabinet's message id:
// the same on every retry, for providers that de-duplicate) and .Token (the
// secret from TokenEnv), and the functions of text/template plus json,
// which renders a value as a JSON literal: {"to": {{json .To}}}. Use
// {{urlquery .To}} inside a URL's query string.
type HTTPGateway struct {
	URL         string            `yaml:"url"`
	Method      string            `yaml:"method"`       // default POST
	ContentType string            `yaml:"content_type"` // default application/json
	Body        string            `yaml:"body"`         // default: JSON with to, text (SMS) or code (call), id
	Headers     map[string]string `yaml:"headers"`
	// TokenEnv names the environment variable holding the gateway's
	// secret, available to templates as .Token.
	TokenEnv string `yaml:"token_env"`
	// Auth is "none" (the default: templates place the token), "bearer"
	// (Authorization: Bearer <token>) or "basic" (Username and the token as
	// the password).
	Auth     string `yaml:"auth"`
	Username string `yaml:"username"`
	// ProviderIDPath is where the provider's message id is in a JSON
	// answer: keys and array indexes joined by dots, e.g. "data.id" or
	// "messages.0.id". Empty: none is recorded.
	ProviderIDPath string `yaml:"provider_id_path"`
	// SuccessPath and SuccessValue, when set, also require the JSON
	// answer to hold SuccessValue at SuccessPath (for providers that
	// answer 200 with {"status": "ERROR"}); otherwise any 2xx is success.
	SuccessPath  string `yaml:"success_path"`
	SuccessValue string `yaml:"success_value"`
	// Timeout bounds one request. Default 15s.
	Timeout time.Duration `yaml:"timeout"`
}

// Default gateway bodies, by channel.
const (
	DefaultSMSBody  = `{"to":{{json .To}},"text":{{json .Text}},"id":{{json .ID}}}`
	DefaultCallBody = `{"to":{{json .To}},"code":{{json .Code}},"id":{{json .ID}}}`
)

// Sender returns the sender kind that delivers channel ("sms", "call" or
// "email"): the one configured; else the console when demo is true (the
// built-in demo operator, so a newcomer can sign up without a gateway);
// else "" — the channel is off.
func (x *Messages) Sender(channel string, demo bool) string {
	var s string
	switch channel {
	case "sms":
		s = x.SMS.Sender
	case "call":
		s = x.Call.Sender
	case "email":
		s = x.Email.Sender
	default:
		return ""
	}
	if s == "" && demo {
		return SenderConsole
	}
	return s
}

// GatewayFuncs are the functions gateway templates may call besides those
// of text/template: json renders its argument as a JSON literal.
func GatewayFuncs() template.FuncMap {
	return template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}}
}

// defaults fills empty fields.
func (x *Messages) defaults() {
	if x.Purpose == "" {
		x.Purpose = "portal"
	}
	if x.PhoneCategory == "" {
		x.PhoneCategory = "contact.phone"
	}
	if x.EmailCategory == "" {
		x.EmailCategory = "contact.email"
	}
	if x.MaxAttempts == 0 {
		x.MaxAttempts = 8
	}
	if x.Retention == 0 {
		x.Retention = 30 * 24 * time.Hour
	}
	if x.ConsoleKeep == 0 {
		x.ConsoleKeep = 50
	}
	if x.Call.CodeDigits == 0 {
		x.Call.CodeDigits = 5
	}
	x.SMS.HTTP.defaults(DefaultSMSBody)
	x.Call.HTTP.defaults(DefaultCallBody)
	s := &x.Email.SMTP
	if s.TLS == "" {
		s.TLS = "starttls"
	}
	if s.Port == 0 {
		s.Port = 587
		if s.TLS == "implicit" {
			s.Port = 465
		}
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
}

func (g *HTTPGateway) defaults(body string) {
	if g.Method == "" {
		g.Method = "POST"
	}
	if g.ContentType == "" {
		g.ContentType = "application/json"
	}
	if g.Body == "" {
		g.Body = body
	}
	if g.Auth == "" {
		g.Auth = "none"
	}
	if g.Timeout == 0 {
		g.Timeout = 15 * time.Second
	}
}

// envName is the shape of an environment variable's name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate adds problems with paths under "messages.".
func (x *Messages) validate(c *Config, add func(path, key string, args ...any)) {
	const base = "messages."
	for path, id := range map[string]string{base + "marketing_purpose": x.MarketingPurpose, base + "informing_purpose": x.InformingPurpose} {
		if id == "" {
			continue
		}
		if p := c.Register.Purpose(id); p == nil || !p.ConsentBased() {
			add(path, "config.messages_purpose_consent", "purpose", id)
		}
	}
	if x.MaxAttempts < 1 || x.MaxAttempts > 100 {
		add(base+"max_attempts", "config.range", "min", 1, "max", 100)
	}
	if x.Retention < time.Hour {
		add(base+"retention", "config.at_least", "min", "1h")
	}
	if x.ConsoleKeep < 1 || x.ConsoleKeep > 10000 {
		add(base+"console_keep", "config.range", "min", 1, "max", 10000)
	}
	var on []string
	for _, ch := range []struct{ name, sender string }{{"sms", x.SMS.Sender}, {"call", x.Call.Sender}, {"email", x.Email.Sender}} {
		allowed := []string{SenderConsole, SenderHTTP}
		if ch.name == "email" {
			allowed = []string{SenderConsole, SenderSMTP}
		}
		path := base + ch.name + ".sender"
		switch {
		case ch.sender != "" && !slices.Contains(allowed, ch.sender):
			add(path, "config.one_of", "values", strings.Join(allowed, ", "))
			continue
		case ch.sender == SenderConsole && !c.Demo && !x.AllowConsole:
			// The console shows codes to whoever reads the terminal or the
			// demo page: anyone could take over anyone's account.
			add(path, "config.messages_console")
		}
		if x.Sender(ch.name, c.Demo) != "" {
			on = append(on, ch.name)
		}
	}
	if x.Call.CodeDigits < 4 || x.Call.CodeDigits > 8 {
		add(base+"call.code_digits", "config.range", "min", 4, "max", 8)
	}
	if x.SMS.Sender == SenderHTTP {
		x.SMS.HTTP.validate(base+"sms.http.", add)
	}
	if x.Call.Sender == SenderHTTP {
		x.Call.HTTP.validate(base+"call.http.", add)
	}
	if x.Email.Sender == SenderSMTP {
		x.Email.SMTP.validate(base+"email.smtp.", add)
	}
	if len(on) == 0 {
		return // nothing is sent: the purpose and categories are not used
	}
	p := c.Register.Purpose(x.Purpose)
	if p == nil {
		add(base+"purpose", "config.unknown_purpose", "id", x.Purpose)
		return
	}
	for _, cat := range []struct{ path, id, channel string }{
		{"phone_category", x.PhoneCategory, "sms"}, {"phone_category", x.PhoneCategory, "call"}, {"email_category", x.EmailCategory, "email"},
	} {
		if !slices.Contains(on, cat.channel) {
			continue
		}
		if c.Register.Category(cat.id) == nil {
			add(base+cat.path, "config.unknown_category", "id", cat.id)
		} else if len(p.Covers(cat.id)) > 0 {
			add(base+cat.path, "config.purpose_not_covering", "purpose", p.ID, "id", cat.id)
		}
	}
}

func (g *HTTPGateway) validate(base string, add func(path, key string, args ...any)) {
	if g.URL == "" {
		add(base+"url", "config.required")
	} else if t, ok := parseGatewayTemplate(base+"url", g.URL, add); ok {
		// Render with sample values: the result must be an absolute URL.
		var b strings.Builder
		err := t.Execute(&b, map[string]string{"To": "+70000000000", "Text": "text", "Code": "00000", "ID": "1", "Token": "token"})
		u, perr := url.Parse(b.String())
		if err != nil || perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(base+"url", "config.url_invalid")
		}
	}
	if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH"}, g.Method) {
		add(base+"method", "config.one_of", "values", "GET, POST, PUT, PATCH")
	}
	parseGatewayTemplate(base+"body", g.Body, add)
	for name, v := range g.Headers {
		if !validHeader(name, "x") {
			add(base+"headers."+name, "config.header_invalid")
			continue
		}
		parseGatewayTemplate(base+"headers."+name, v, add)
	}
	switch g.Auth {
	case "none":
	case "bearer", "basic":
		if g.TokenEnv == "" {
			add(base+"token_env", "config.required")
		}
		if g.Auth == "basic" && g.Username == "" {
			add(base+"username", "config.required")
		}
	default:
		add(base+"auth", "config.one_of", "values", "none, bearer, basic")
	}
	if g.TokenEnv != "" && !envName.MatchString(g.TokenEnv) {
		add(base+"token_env", "config.env_name")
	}
	if (g.SuccessPath == "") != (g.SuccessValue == "") {
		add(base+"success_value", "config.required")
	}
	if g.Timeout <= 0 {
		add(base+"timeout", "config.positive")
	}
}

func parseGatewayTemplate(path, text string, add func(path, key string, args ...any)) (*template.Template, bool) {
	t, err := template.New(path).Funcs(GatewayFuncs()).Option("missingkey=error").Parse(text)
	if err != nil {
		add(path, "config.template_invalid", "detail", err.Error())
		return nil, false
	}
	return t, true
}

func (s *SMTP) validate(base string, add func(path, key string, args ...any)) {
	if s.Host == "" {
		add(base+"host", "config.required")
	}
	if s.Port < 1 || s.Port > 65535 {
		add(base+"port", "config.range", "min", 1, "max", 65535)
	}
	if !slices.Contains([]string{"starttls", "opportunistic", "implicit", "none"}, s.TLS) {
		add(base+"tls", "config.one_of", "values", "starttls, opportunistic, implicit, none")
	}
	if s.From == "" {
		add(base+"from", "config.required")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		add(base+"from", "config.email_invalid")
	}
	if (s.Username == "") != (s.PasswordEnv == "") {
		add(base+"password_env", "config.required")
	}
	if s.PasswordEnv != "" && !envName.MatchString(s.PasswordEnv) {
		add(base+"password_env", "config.env_name")
	}
	if s.Timeout <= 0 {
		add(base+"timeout", "config.positive")
	}
	// kabinet sets these itself on every message.
	reserved := []string{"From", "To", "Cc", "Bcc", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding"}
	for name, v := range s.Headers {
		if !validHeader(name, v) || slices.Contains(reserved, textproto.CanonicalMIMEHeaderKey(name)) {
			add(base+"headers."+name, "config.header_invalid")
		}
	}
}

// validHeader reports whether name is a header field name (RFC 5322 §3.6.8)
// and value holds no line break that could inject another header.
func validHeader(name, value string) bool {
	if name == "" || strings.ContainsAny(value, "\r\n") {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == ':' {
			return false
		}
	}
	return true
}
