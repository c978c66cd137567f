// Package federation signs people in through external OpenID Connect
// providers — for a Russian state portal, ESIA (seed 000 §3.2.2, §4.3.3;
// seed 001 §2.2) — and maps what the provider says about them into the
// operator's register.
//
// # The flow
//
// Begin records a flow (table federation_flows) and returns the provider's
// authorization URL: authorization code flow with PKCE (S256), a random
// state (a UUID) and nonce, and a binding value the caller keeps in the
// browser. Complete takes the flow back by its state — once, and only
// within Options.FlowLifetime (10 minutes), only for the same provider and
// the same browser — exchanges the code with the PKCE verifier, checks the
// ID token (signature through the provider's JWKS, issuer, audience,
// expiry, nonce, at_hash), reads the claims of the ID token and of the
// UserInfo endpoint (whose sub must match), and maps them into an Identity:
// register categories and their values, whether the provider vouches for
// the person's identity (the "verified" rule: ESIA's trusted account), which
// values the provider checked (email_verified …), and the organisations.
//
// This package stores no personal data: the flow row holds hashes of the
// state, nonce and binding, the PKCE verifier, the provider and the local
// path to return to. The caller (package identity) writes the Identity's
// values through the gate, finds an existing account by a Confirmed phone
// or e-mail through its blind index, and links it only after the person
// proves they own that account.
//
// Providers are discovered on first use (/.well-known/openid-configuration,
// cached for DiscoveryTTL), or described by explicit endpoints in the
// configuration when they publish no discovery document, as ESIA does.
//
// # Client authentication
//
// The configuration's auth_method chooses how kabinet authenticates at the
// token endpoint: client_secret_basic or client_secret_post (the secret
// comes from the environment variable named by client_secret_env, never
// from the file), private_key_jwt (a JWT signed with the key in
// private_key_file: RSA, ECDSA P-256 or Ed25519), or signer, for ESIA.
//
// # ESIA and certified GOST cryptography
//
// ESIA has no shared client secret. Each request to its authorization and
// token endpoints carries client_secret = base64url(signature), where the
// signature is a detached CMS (PKCS#7) signature, made with the operator's
// key and certificate under GOST R 34.10-2012 / GOST R 34.11-2012, over
// the UTF-8 concatenation, without separators, of
//
//	scope + timestamp + client_id + state
//
// with timestamp in the form "2006.01.02 15:04:05 -0700" (also sent as the
// timestamp parameter) and state a UUID (the token request signs a fresh
// one and sends it as its state). kabinet builds these messages and the
// parameters; it does not implement GOST — certified crypto (a CryptoPro
// CSP installation, or OpenSSL with a certified GOST engine or provider)
// is the operator's, under its licence and certificate. It is plugged in
// through the ClientSecretSigner interface, and without writing Go through
// CommandSigner: the configuration's signer_command names a program that
// reads the message on standard input and writes the DER signature on
// standard output, for example with OpenSSL and a GOST engine:
//
//	signer_command: [openssl, cms, -sign, -binary, -engine, gost,
//	  -signer, /etc/kabinet/esia.crt, -inkey, /etc/kabinet/esia.key,
//	  -outform, DER, -nosmimecap, -noattr]
//
// or a wrapper script around CryptoPro's cryptcp or csptest with the
// container of the operator's key. The program runs once per request with
// Options.Timeout; a failure is returned as federation.unavailable, with
// the program's standard error in the cause for the log.
// The tests use a stand-in program that is not GOST (openssl dgst -sha256
// -binary) against a provider that checks exactly that, which proves the
// message, the encoding and the plumbing, not the cryptography.
//
// ESIA also signs its ID tokens with GOST, which go-jose cannot check.
// For such a provider list its algorithm in signing_algs (for ESIA
// GOST3410_2012_256) and pass, in Options.KeySets, a KeySet that checks
// the signature with certified crypto and returns the payload; issuer,
// audience, expiry and nonce are then checked here as for any provider.
// ESIA's person data (documents, contacts, organisations) come from its
// REST API rather than from UserInfo; until an adapter maps that API into
// claims, only what ESIA puts in its tokens and UserInfo is mapped.
//
// # Tests
//
// The tests run a real, independent OpenID provider: panva's certified
// oidc-provider, pinned in testdata/op/package.json, started with node on
// 127.0.0.1. They skip, saying why, when node or npm is missing or the
// package cannot be installed; CI installs it with
// (cd internal/federation/testdata/op && npm ci --no-audit --no-fund).
package federation
