package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"kabinet/internal/i18n"
)

// Providers are the external OpenID Connect identity providers people may
// register and sign in with (package federation) — for a Russian state
// portal, ESIA (seed 000 §3.2.2, §4.3.3; seed 001 §2.2). Secrets are never
// written in the file: a provider names the environment variable that
// holds its client secret, or the command that signs for it.
//
//	providers:
//	  - id: esia
//	    title: {ru: Госуслуги, en: Gosuslugi}
//	    issuer: https://esia.gosuslugi.ru/
//	    client_id: MY-PORTAL
//	    auth_method: signer
//	    signer_command: [/usr/local/bin/esia-sign]
//	    endpoints: {authorization: https://esia.gosuslugi.ru/aas/oauth2/ac, token: https://esia.gosuslugi.ru/aas/oauth2/te}
//	    scopes: [openid, fullname, birthdate, email, mobile, snils, inn, id_doc, usr_org]
//	    claims:
//	      family_name: identity.name
//	      given_name: identity.name
//	      middle_name: identity.name
//	      birthdate: identity.birth_date
//	      email: contact.email
//	    verified: {claim: trusted, equals: true}
type Providers []Provider

// Client authentication methods at the provider's token endpoint.
const (
	AuthClientSecretBasic = "client_secret_basic" // RFC 6749 §2.3.1, HTTP Basic
	AuthClientSecretPost  = "client_secret_post"  // RFC 6749 §2.3.1, in the form
	AuthPrivateKeyJWT     = "private_key_jwt"     // OpenID Connect Core §9, a JWT signed with our key
	AuthSigner            = "signer"              // ESIA: client_secret is a GOST signature made per request
)

// AuthMethods lists the methods a provider may use.
var AuthMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthSigner}

// Provider is one OpenID Connect provider.
type Provider struct {
	// ID names the provider in URLs (/auth/{id}) and in stored links of
	// accounts to it, so it must not change once people have signed in.
	ID    string    `yaml:"id"`
	Title i18n.Text `yaml:"title"`
	// Issuer is the provider's issuer identifier; ID tokens must carry it
	// exactly. Unless Endpoints are given it is also where discovery
	// (/.well-known/openid-configuration) is fetched from.
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names the environment variable holding the client
	// secret (client_secret_basic, client_secret_post).
	ClientSecretEnv string `yaml:"client_secret_env"`
	// AuthMethod is how kabinet authenticates at the token endpoint: one
	// of AuthMethods, default client_secret_basic.
	AuthMethod string `yaml:"auth_method"`
	// PrivateKeyFile (private_key_jwt) is a PEM file with a PKCS#8 (or
	// PKCS#1/SEC 1) RSA or ECDSA P-256 key; KeyID its "kid", if the
	// provider needs one.
	PrivateKeyFile string `yaml:"private_key_file"`
	KeyID          string `yaml:"key_id"`
	// SignerCommand (signer) is a program and its arguments that reads
	// the message on standard input and writes the DER signature on
	// standard output — for ESIA a detached CMS signature made with
	// certified GOST crypto (see package federation).
	SignerCommand []string `yaml:"signer_command"`
	// Scopes requested; must include openid. Default: openid profile email phone.
	Scopes []string `yaml:"scopes"`
	// RedirectPath is the callback path on this portal registered with
	// the provider. Default: /auth/{id}/callback.
	RedirectPath string `yaml:"redirect_path"`
	// Endpoints, when set, replace discovery (ESIA publishes no discovery
	// document).
	Endpoints Endpoints `yaml:"endpoints"`
	// SigningAlgs are the ID-token signature algorithms accepted. Default:
	// those the provider advertises, else RS256.
	SigningAlgs []string `yaml:"signing_algs"`
	// Claims maps claims of the ID token and UserInfo into register
	// categories, in file order; several claims mapped to one category
	// are joined by spaces in that order (family_name, given_name,
	// middle_name → the full name). A nested claim is named with dots
	// (address.formatted) when no top-level claim has the whole name.
	Claims ClaimMap `yaml:"claims"`
	// Verified says when the provider vouches that the person's identity
	// was established (seed 000 §3.6–3.8): the verified trust level.
	Verified VerifiedRule `yaml:"verified"`
	// Confirmed maps a category to the boolean claim by which the provider
	// says it checked that value (contact.email: email_verified), so
	// linking to an existing account by that value can be offered. Filled
	// by default for the claims email and phone_number.
	Confirmed map[string]string `yaml:"confirmed"`
	// Organisations is the category whose mapped claim lists the person's
	// organisations (seed 000 policy §3.1.2), returned one by one.
	Organisations string `yaml:"organisations"`
}

// Endpoints are a provider's endpoints when it offers no discovery.
type Endpoints struct {
	Authorization string `yaml:"authorization"`
	Token         string `yaml:"token"`
	UserInfo      string `yaml:"userinfo"`
	JWKS          string `yaml:"jwks"`
}

// Set reports whether any endpoint is given.
func (e Endpoints) Set() bool { return e != (Endpoints{}) }

// VerifiedRule is the claim that marks a verified identity: with Equals,
// the claim's value must be exactly that text (true, or an acr value);
// without, the claim must be present and not empty or false.
type VerifiedRule struct {
	Claim  string `yaml:"claim"`
	Equals string `yaml:"equals"`
}

// ClaimRule maps one claim to one register category.
type ClaimRule struct {
	Claim    string
	Category string
}

// ClaimMap is the ordered mapping of claims to categories, written in the
// file as a YAML mapping from claim to category.
type ClaimMap []ClaimRule

// UnmarshalYAML reads a mapping, keeping its order.
func (m *ClaimMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of claim to data category", n.Line)
	}
	out := make(ClaimMap, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: want claim: category", k.Line)
		}
		out = append(out, ClaimRule{Claim: k.Value, Category: v.Value})
	}
	*m = out
	return nil
}

// Targets reports whether some claim is mapped to category.
func (m ClaimMap) Targets(category string) bool {
	return slices.ContainsFunc(m, func(r ClaimRule) bool { return r.Category == category })
}

// Provider returns the provider with id, or nil.
func (x Providers) Provider(id string) *Provider {
	for i := range x {
		if x[i].ID == id {
			return &x[i]
		}
	}
	return nil
}

// CallbackPath is the default redirect path of provider id.
func CallbackPath(id string) string { return "/auth/" + id + "/callback" }

// defaults fills empty fields.
func (x *Providers) defaults() {
	for i := range *x {
		p := &(*x)[i]
		if p.AuthMethod == "" {
			p.AuthMethod = AuthClientSecretBasic
		}
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"openid", "profile", "email", "phone"}
		}
		if p.RedirectPath == "" && p.ID != "" {
			p.RedirectPath = CallbackPath(p.ID)
		}
		for _, r := range p.Claims {
			verifiedBy := map[string]string{"email": "email_verified", "phone_number": "phone_number_verified"}[r.Claim]
			if verifiedBy == "" {
				continue
			}
			if p.Confirmed == nil {
				p.Confirmed = map[string]string{}
			}
			if _, ok := p.Confirmed[r.Category]; !ok {
				p.Confirmed[r.Category] = verifiedBy
			}
		}
	}
}

var (
	providerIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	providerEnvName   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// validate adds problems with paths under "providers.".
func (x *Providers) validate(c *Config, add func(path, key string, args ...any)) {
	seen := map[string]bool{}
	for i, p := range *x {
		at := func(field string) string { return fmt.Sprintf("providers[%d].%s", i, field) }
		switch {
		case p.ID == "":
			add(at("id"), "config.required")
		case !providerIDPattern.MatchString(p.ID):
			add(at("id"), "config.provider_id")
		case seen[p.ID]:
			add(at("id"), "config.provider_duplicate")
		}
		seen[p.ID] = true
		if p.Title.Empty() {
			add(at("title"), "config.required")
		}
		if p.Issuer == "" {
			add(at("issuer"), "config.required")
		} else {
			checkProviderURL(p.Issuer, at("issuer"), add)
		}
		if p.ClientID == "" {
			add(at("client_id"), "config.required")
		}
		switch p.AuthMethod {
		case AuthClientSecretBasic, AuthClientSecretPost:
			if p.ClientSecretEnv == "" {
				add(at("client_secret_env"), "config.required")
			} else if !providerEnvName.MatchString(p.ClientSecretEnv) {
				add(at("client_secret_env"), "config.provider_env_name")
			}
		case AuthPrivateKeyJWT:
			if p.PrivateKeyFile == "" {
				add(at("private_key_file"), "config.required")
			}
		case AuthSigner:
			if len(p.SignerCommand) == 0 || p.SignerCommand[0] == "" {
				add(at("signer_command"), "config.required")
			}
		default:
			add(at("auth_method"), "config.one_of", "values", strings.Join(AuthMethods, ", "))
		}
		if !slices.Contains(p.Scopes, "openid") {
			add(at("scopes"), "config.provider_openid_scope")
		}
		if p.ID != "" && (!strings.HasPrefix(p.RedirectPath, "/") || strings.HasPrefix(p.RedirectPath, "//") || strings.ContainsAny(p.RedirectPath, "?#\\ ")) {
			add(at("redirect_path"), "config.provider_path")
		}
		if e := p.Endpoints; e.Set() {
			for field, u := range map[string]string{"authorization": e.Authorization, "token": e.Token} {
				if u == "" {
					add(at("endpoints."+field), "config.required")
				}
			}
			for field, u := range map[string]string{"authorization": e.Authorization, "token": e.Token, "userinfo": e.UserInfo, "jwks": e.JWKS} {
				if u != "" {
					checkProviderURL(u, at("endpoints."+field), add)
				}
			}
		}
		for _, r := range p.Claims {
			path := at("claims." + r.Claim)
			switch {
			case r.Claim == "" || r.Category == "":
				add(path, "config.required")
			case c.Register.Category(r.Category) == nil:
				add(path, "config.provider_category_unknown", "category", r.Category)
			}
		}
		if p.Verified.Equals != "" && p.Verified.Claim == "" {
			add(at("verified.claim"), "config.required")
		}
		for cat, claim := range p.Confirmed {
			if claim == "" {
				add(at("confirmed."+cat), "config.required")
			} else if !p.Claims.Targets(cat) {
				add(at("confirmed."+cat), "config.provider_not_mapped", "category", cat)
			}
		}
		if p.Organisations != "" && !p.Claims.Targets(p.Organisations) {
			add(at("organisations"), "config.provider_not_mapped", "category", p.Organisations)
		}
	}
}

// checkProviderURL wants https, or http on a loopback host (tests and a
// provider on the same machine): tokens and codes cross this connection.
func checkProviderURL(raw, path string, add func(path, key string, args ...any)) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		add(path, "config.url_invalid")
		return
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			add(path, "config.provider_https")
		}
	}
}
