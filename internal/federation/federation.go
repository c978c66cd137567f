package federation

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// Defaults of Options.
const (
	DefaultFlowLifetime = 10 * time.Minute
	DefaultTimeout      = 10 * time.Second
	// DiscoveryTTL is how long a provider's discovery document is used
	// before it is fetched again; keys rotate through the JWKS, which is
	// refetched whenever a token names an unknown key.
	DiscoveryTTL = time.Hour
)

// KeySet checks the signature of an ID token and returns its payload. It
// replaces the provider's JWKS for a provider whose tokens are signed with
// an algorithm kabinet cannot check itself — ESIA signs with GOST R
// 34.10-2012 (see the package documentation). Its method set is that of
// go-oidc's oidc.KeySet.
type KeySet interface {
	VerifySignature(ctx context.Context, jwt string) (payload []byte, err error)
}

// Options are the optional dependencies of a Federation.
type Options struct {
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
	// HTTPClient talks to the providers; default: a client with a
	// DefaultTimeout timeout.
	HTTPClient *http.Client
	// Logger gets warnings (a provider's discovery failing again); never
	// personal data. Default: slog.Default().
	Logger *slog.Logger
	// Getenv reads the variables named by client_secret_env; default os.Getenv.
	Getenv func(string) string
	// Signers by provider id, for auth_method signer; a provider without
	// one gets a CommandSigner running its signer_command.
	Signers map[string]ClientSecretSigner
	// KeySets by provider id replace the provider's JWKS (ESIA).
	KeySets map[string]KeySet
	// FlowLifetime is how long a person has to come back from the
	// provider; default DefaultFlowLifetime.
	FlowLifetime time.Duration
	// Timeout bounds discovery and a signer's run; default DefaultTimeout.
	Timeout time.Duration
}

// Federation signs people in through external OpenID Connect providers.
// It is safe for concurrent use; several processes may share its table.
type Federation struct {
	db        *sqldb.DB
	base      *url.URL
	now       func() time.Time
	client    *http.Client
	log       *slog.Logger
	lifetime  time.Duration
	timeout   time.Duration
	providers map[string]*provider
}

// provider is one configured provider and what was discovered about it.
type provider struct {
	cfg      config.Provider
	redirect string
	secret   string             // client_secret_basic, client_secret_post
	key      crypto.Signer      // private_key_jwt
	signer   ClientSecretSigner // signer
	keySet   KeySet             // replaces the JWKS when set

	mu           sync.Mutex
	discoveredAt time.Time
	op           *oidc.Provider
	verifier     *oidc.IDTokenVerifier
	oauth        *oauth2.Config
}

// New prepares the providers of cfg, whose callbacks are under baseURL
// (the portal's public address). It reads client secrets from the
// environment and private keys from their files, and fails when one is
// missing; it does not contact the providers (discovery happens on first
// use, so a provider that is down does not stop kabinet from starting).
func New(db *sqldb.DB, cfg config.Providers, baseURL string, opts Options) (*Federation, error) {
	base, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("federation: base URL %q is not an absolute http(s) URL", baseURL)
	}
	f := &Federation{
		db: db, base: base, now: opts.Clock, client: opts.HTTPClient, log: opts.Logger,
		lifetime: opts.FlowLifetime, timeout: opts.Timeout, providers: map[string]*provider{},
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: f.timeout}
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.lifetime <= 0 {
		f.lifetime = DefaultFlowLifetime
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, pc := range cfg {
		p := &provider{cfg: pc, keySet: opts.KeySets[pc.ID]}
		path := pc.RedirectPath
		if path == "" {
			path = config.CallbackPath(pc.ID)
		}
		p.redirect = base.String() + path
		switch pc.AuthMethod {
		case config.AuthClientSecretBasic, config.AuthClientSecretPost, "":
			if p.secret = getenv(pc.ClientSecretEnv); p.secret == "" {
				return nil, fmt.Errorf("federation: provider %s: the client secret variable %s is not set", pc.ID, pc.ClientSecretEnv)
			}
		case config.AuthPrivateKeyJWT:
			if p.key, err = loadPrivateKey(pc.PrivateKeyFile); err != nil {
				return nil, fmt.Errorf("federation: provider %s: %w", pc.ID, err)
			}
		case config.AuthSigner:
			p.signer = opts.Signers[pc.ID]
			if p.signer == nil && len(pc.SignerCommand) > 0 {
				p.signer = CommandSigner{Path: pc.SignerCommand[0], Args: pc.SignerCommand[1:]}
			}
			if p.signer == nil {
				return nil, fmt.Errorf("federation: provider %s: auth_method signer needs a signer_command", pc.ID)
			}
		default:
			return nil, fmt.Errorf("federation: provider %s: unknown auth_method %q", pc.ID, pc.AuthMethod)
		}
		f.providers[pc.ID] = p
	}
	return f, nil
}

// RedirectURL is the callback address of provider id, as registered with
// the provider, or "" for an unknown id.
func (f *Federation) RedirectURL(providerID string) string {
	if p := f.providers[providerID]; p != nil {
		return p.redirect
	}
	return ""
}

// Start is where to send the browser to sign in, and the value to keep in
// that browser until it comes back.
type Start struct {
	// URL is the provider's authorization URL: redirect the browser there.
	URL string
	// Binding ties the sign-in to the browser that began it: keep it in a
	// cookie (HttpOnly, SameSite=Lax, for the callback path) and give it
	// to Complete. Without it a person could be made to finish a sign-in
	// someone else began, and land in that someone's account.
	Binding string
}

// Begin starts a sign-in with provider providerID: it records the flow
// (random state, nonce and PKCE verifier; returnTo) and returns the
// authorization URL with the S256 code challenge. returnTo must be a local
// path ("/cabinet"); anything else becomes "/". Errors: fault.NotFound
// (federation.unknown_provider), fault.Unavailable (federation.unavailable:
// discovery or the signer failed).
func (f *Federation) Begin(ctx context.Context, providerID, returnTo string) (Start, error) {
	p, err := f.provider(providerID)
	if err != nil {
		return Start{}, err
	}
	if err := f.discover(ctx, p); err != nil {
		return Start{}, err
	}
	state, nonce, binding, verifier := newUUID(), randomToken(), randomToken(), oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
	now := f.now()
	if p.cfg.AuthMethod == config.AuthSigner {
		extra, err := f.esiaParams(ctx, p, state, now)
		if err != nil {
			return Start{}, err
		}
		opts = append(opts, extra...)
		opts = append(opts, oauth2.SetAuthURLParam("access_type", "online"))
	}
	p.mu.Lock()
	authURL := p.oauth.AuthCodeURL(state, opts...)
	p.mu.Unlock()
	err = f.db.InTx(ctx, func(tx *sql.Tx) error {
		// Abandoned flows are deleted here rather than by a job: each
		// Begin removes those that expired since the previous one.
		if _, err := tx.ExecContext(ctx, `DELETE FROM federation_flows WHERE expires_at < $1`, sqldb.Micros(now)); err != nil {
			return fmt.Errorf("prune federation flows: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO federation_flows
			(state_hash, provider, binding_hash, nonce_hash, verifier, return_to, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			hash(state), p.cfg.ID, hash(binding), hash(nonce), verifier, localPath(returnTo),
			sqldb.Micros(now), sqldb.Micros(now.Add(f.lifetime)))
		if err != nil {
			return fmt.Errorf("store federation flow: %w", err)
		}
		return nil
	})
	if err != nil {
		return Start{}, err
	}
	return Start{URL: authURL, Binding: binding}, nil
}

// Complete finishes a sign-in when the browser comes back to the callback
// of providerID with query (code, state, or error), carrying the Binding
// Begin returned. It takes the flow (once: a second use of the same state
// fails), exchanges the code with the PKCE verifier, checks the ID token
// (signature, issuer, audience, expiry, nonce), reads the claims of the ID
// token and of the UserInfo endpoint, and maps them. returnTo is the path
// given to Begin, set whenever the flow was found, also with an error.
//
// Errors, besides the database's: federation.unknown_provider (NotFound);
// federation.state_invalid (Invalid: unknown, used, tampered state, another
// provider's or another browser's flow); federation.expired (Invalid);
// federation.denied (Unauthorized: the person declined at the provider);
// federation.provider_error (Unavailable: the provider answered with an
// error); federation.token_invalid (Unauthorized: the code or the ID token
// was refused); federation.unavailable (Unavailable).
func (f *Federation) Complete(ctx context.Context, providerID, binding string, query url.Values) (id Identity, returnTo string, err error) {
	p, err := f.provider(providerID)
	if err != nil {
		return Identity{}, "", err
	}
	fl, err := f.take(ctx, query.Get("state"))
	if err != nil {
		return Identity{}, "", err
	}
	if fl.provider != providerID || subtle.ConstantTimeCompare([]byte(fl.bindingHash), []byte(hash(binding))) != 1 {
		return Identity{}, "", fault.New(fault.Invalid, "federation.state_invalid")
	}
	if !f.now().Before(fl.expiresAt) {
		return Identity{}, fl.returnTo, fault.New(fault.Invalid, "federation.expired")
	}
	if code := query.Get("error"); code != "" {
		return Identity{}, fl.returnTo, providerError(code, query.Get("error_description"))
	}
	// RFC 9207: a provider that names itself in the response must be the
	// one this flow went to (a defence against mix-up attacks).
	if iss := query.Get("iss"); iss != "" && iss != p.cfg.Issuer {
		return Identity{}, fl.returnTo, fault.Wrap(fault.Unauthorized, fmt.Errorf("response from issuer %q, want %q", iss, p.cfg.Issuer), "federation.token_invalid")
	}
	code := query.Get("code")
	if code == "" {
		return Identity{}, fl.returnTo, fault.Wrap(fault.Unauthorized, errors.New("callback without code"), "federation.token_invalid")
	}
	if err := f.discover(ctx, p); err != nil {
		return Identity{}, fl.returnTo, err
	}
	tok, err := f.exchange(ctx, p, code, fl.verifier)
	if err != nil {
		return Identity{}, fl.returnTo, err
	}
	id, err = f.identify(ctx, p, tok, fl.nonceHash)
	return id, fl.returnTo, err
}

// flow is a row of federation_flows.
type flow struct {
	provider, bindingHash, nonceHash, verifier, returnTo string
	expiresAt                                            time.Time
}

// take deletes and returns the flow of state, so that it is used once
// whatever happens next.
func (f *Federation) take(ctx context.Context, state string) (flow, error) {
	if state == "" {
		return flow{}, fault.New(fault.Invalid, "federation.state_invalid")
	}
	var fl flow
	var expires int64
	err := f.db.InTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `DELETE FROM federation_flows WHERE state_hash = $1
			RETURNING provider, binding_hash, nonce_hash, verifier, return_to, expires_at`, hash(state)).
			Scan(&fl.provider, &fl.bindingHash, &fl.nonceHash, &fl.verifier, &fl.returnTo, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, fault.ErrNotFound) {
		return flow{}, fault.New(fault.Invalid, "federation.state_invalid")
	}
	if err != nil {
		return flow{}, fmt.Errorf("take federation flow: %w", err)
	}
	fl.expiresAt = sqldb.FromMicros(expires)
	return fl, nil
}

// providerError classifies an error response of the authorization
// endpoint (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6).
func providerError(code, description string) error {
	cause := fmt.Errorf("provider error %q: %.200s", code, description)
	switch code {
	case "access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required":
		return fault.Wrap(fault.Unauthorized, cause, "federation.denied")
	}
	return fault.Wrap(fault.Unavailable, cause, "federation.provider_error")
}

func (f *Federation) provider(id string) (*provider, error) {
	p := f.providers[id]
	if p == nil {
		return nil, fault.New(fault.NotFound, "federation.unknown_provider")
	}
	return p, nil
}

// discover fetches the provider's discovery document (or takes the
// configured endpoints) once per DiscoveryTTL. When a refresh fails, the
// previous document stays in use.
func (f *Federation) discover(ctx context.Context, p *provider) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := f.now()
	if p.op != nil && now.Sub(p.discoveredAt) < DiscoveryTTL {
		return nil
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, f.client), f.timeout)
	defer cancel()
	var op *oidc.Provider
	if e := p.cfg.Endpoints; e.Set() {
		op = (&oidc.ProviderConfig{
			IssuerURL: p.cfg.Issuer, AuthURL: e.Authorization, TokenURL: e.Token,
			UserInfoURL: e.UserInfo, JWKSURL: e.JWKS, Algorithms: p.cfg.SigningAlgs,
		}).NewProvider(dctx)
	} else {
		var err error
		if op, err = oidc.NewProvider(dctx, p.cfg.Issuer); err != nil {
			if p.op != nil {
				f.log.Warn("federation: discovery failed, keeping the previous document", "provider", p.cfg.ID, "err", err)
				p.discoveredAt = now
				return nil
			}
			return fault.Wrap(fault.Unavailable, fmt.Errorf("discover provider %s: %w", p.cfg.ID, err), "federation.unavailable")
		}
	}
	vc := &oidc.Config{ClientID: p.cfg.ClientID, Now: f.now, SupportedSigningAlgs: p.cfg.SigningAlgs}
	if p.keySet != nil {
		p.verifier = oidc.NewVerifier(p.cfg.Issuer, p.keySet, vc)
	} else {
		p.verifier = op.Verifier(vc)
	}
	endpoint := op.Endpoint()
	switch p.cfg.AuthMethod {
	case config.AuthClientSecretBasic, "":
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
	default:
		// client_secret_post, and the methods whose credentials are
		// added to the form by exchange (the secret stays empty there).
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	p.oauth = &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.secret, Endpoint: endpoint,
		RedirectURL: p.redirect, Scopes: p.cfg.Scopes,
	}
	p.op, p.discoveredAt = op, now
	return nil
}

// esiaParams are the parameters by which an ESIA-style client
// authenticates a request: timestamp and client_secret, a signature over
// scope, timestamp, client id and state.
func (f *Federation) esiaParams(ctx context.Context, p *provider, state string, now time.Time) ([]oauth2.AuthCodeOption, error) {
	ts := esiaTimestamp(now)
	sctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	secret, err := esiaClientSecret(sctx, p.signer, strings.Join(p.cfg.Scopes, " "), ts, p.cfg.ClientID, state)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, fmt.Errorf("provider %s: %w", p.cfg.ID, err), "federation.unavailable")
	}
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("timestamp", ts),
		oauth2.SetAuthURLParam("client_secret", secret),
	}, nil
}

// exchange trades the code for tokens at the token endpoint, sending the
// PKCE verifier and authenticating as the provider's auth_method says.
func (f *Federation) exchange(ctx context.Context, p *provider, code, verifier string) (*oauth2.Token, error) {
	p.mu.Lock()
	oc := p.oauth
	p.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	switch p.cfg.AuthMethod {
	case config.AuthPrivateKeyJWT:
		assertion, err := clientAssertion(p.key, p.cfg.KeyID, p.cfg.ClientID, oc.Endpoint.TokenURL, f.now())
		if err != nil {
			return nil, fault.Wrap(fault.Unavailable, fmt.Errorf("provider %s: %w", p.cfg.ID, err), "federation.unavailable")
		}
		opts = append(opts,
			oauth2.SetAuthURLParam("client_assertion_type", clientAssertionType),
			oauth2.SetAuthURLParam("client_assertion", assertion))
	case config.AuthSigner:
		// ESIA signs the token request anew, over a state of its own.
		state := newUUID()
		extra, err := f.esiaParams(ctx, p, state, f.now())
		if err != nil {
			return nil, err
		}
		opts = append(opts, extra...)
		opts = append(opts,
			oauth2.SetAuthURLParam("state", state),
			oauth2.SetAuthURLParam("scope", strings.Join(p.cfg.Scopes, " ")),
			oauth2.SetAuthURLParam("token_type", "Bearer"))
	}
	tok, err := oc.Exchange(context.WithValue(ctx, oauth2.HTTPClient, f.client), code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_request") {
			return nil, fault.Wrap(fault.Unauthorized, fmt.Errorf("provider %s: token exchange: %w", p.cfg.ID, err), "federation.token_invalid")
		}
		return nil, fault.Wrap(fault.Unavailable, fmt.Errorf("provider %s: token exchange: %w", p.cfg.ID, err), "federation.provider_error")
	}
	return tok, nil
}

// identify checks the ID token in tok and maps its claims, with those of
// the UserInfo endpoint, into an Identity.
func (f *Federation) identify(ctx context.Context, p *provider, tok *oauth2.Token, nonceHash string) (Identity, error) {
	bad := func(err error) (Identity, error) {
		return Identity{}, fault.Wrap(fault.Unauthorized, fmt.Errorf("provider %s: %w", p.cfg.ID, err), "federation.token_invalid")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return bad(errors.New("no id_token in the token response"))
	}
	idt, c, err := f.verifyIDToken(ctx, p, raw, nonceHash)
	if err != nil {
		return bad(err)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return bad(err)
		}
	}
	p.mu.Lock()
	op := p.op
	p.mu.Unlock()
	if op.UserInfoEndpoint() != "" && tok.AccessToken != "" {
		ui, err := op.UserInfo(oidc.ClientContext(ctx, f.client), oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fault.Wrap(fault.Unavailable, fmt.Errorf("provider %s: userinfo: %w", p.cfg.ID, err), "federation.unavailable")
		}
		// OpenID Connect Core §5.3.2: UserInfo about someone else must
		// not be used.
		if ui.Subject != idt.Subject {
			return bad(errors.New("userinfo is about another subject"))
		}
		var rawUI json.RawMessage
		if err := ui.Claims(&rawUI); err != nil {
			return bad(err)
		}
		uc, err := decodeClaims(rawUI)
		if err != nil {
			return bad(err)
		}
		// The ID token's claims win: they are signed.
		for k, v := range uc {
			if _, ok := c[k]; !ok {
				c[k] = v
			}
		}
	}
	return mapIdentity(&p.cfg, idt.Subject, c), nil
}

// verifyIDToken checks raw's signature (the provider's JWKS or KeySet),
// issuer, audience (and azp when there are several), expiry and nonce,
// and returns the token and its claims.
func (f *Federation) verifyIDToken(ctx context.Context, p *provider, raw, nonceHash string) (*oidc.IDToken, claims, error) {
	p.mu.Lock()
	v := p.verifier
	p.mu.Unlock()
	idt, err := v.Verify(oidc.ClientContext(ctx, f.client), raw)
	if err != nil {
		return nil, nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hash(idt.Nonce)), []byte(nonceHash)) != 1 {
		return nil, nil, errors.New("id token nonce does not match the flow's")
	}
	if idt.Subject == "" {
		return nil, nil, errors.New("id token without sub")
	}
	var rawClaims json.RawMessage
	if err := idt.Claims(&rawClaims); err != nil {
		return nil, nil, err
	}
	c, err := decodeClaims(rawClaims)
	if err != nil {
		return nil, nil, err
	}
	if len(idt.Audience) > 1 {
		if azp, _ := c["azp"].(string); azp != p.cfg.ClientID {
			return nil, nil, fmt.Errorf("id token for several audiences with azp %q", azp)
		}
	}
	return idt, c, nil
}

// localPath returns returnTo when it is a path on this site, else "/": a
// sign-in must not be turned into a redirect to another site.
func localPath(returnTo string) string {
	if returnTo == "" || returnTo[0] != '/' || strings.HasPrefix(returnTo, "//") || strings.HasPrefix(returnTo, "/\\") ||
		strings.ContainsFunc(returnTo, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(returnTo)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return returnTo
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newUUID is a random (version 4) UUID: ESIA wants the state in this form,
// and its 122 random bits are plenty for any provider.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
