-- Owner: package identity. Accounts, sign-in flows, sessions, links to
-- identity providers, rate limits and reports of unauthorised access.
-- No personal data in plain text: phone numbers, e-mail addresses and
-- names live behind the gate; codes, flow ids and session tokens are kept
-- only as hashes; rate-limit keys and providers' subject identifiers are
-- keyed hashes; a session's address and device are sealed under the
-- subject's key.

-- An account is a way to sign in to a data subject.
CREATE TABLE accounts (
	id            TEXT PRIMARY KEY,                 -- opaque: "a" and 24 hex digits
	subject_id    TEXT NOT NULL UNIQUE,
	password_hash TEXT,                             -- argon2id PHC string; NULL: no password
	trust_level   TEXT NOT NULL CHECK (trust_level IN ('simplified', 'standard', 'verified')),
	state         TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deleted')),
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	deleted_at    BIGINT,
	retain_until  BIGINT,                           -- deleted with data kept for a legal duty until then
	retained      TEXT NOT NULL DEFAULT ''          -- the categories kept, comma-separated
);

-- A provider's identity linked to an account.
CREATE TABLE federated_identities (
	provider         TEXT NOT NULL,
	provider_subject TEXT NOT NULL,                 -- hex keyed hash of the provider's subject identifier
	account_id       TEXT NOT NULL REFERENCES accounts (id),
	created_at       BIGINT NOT NULL,
	PRIMARY KEY (provider, provider_subject)
);
CREATE INDEX federated_identities_account ON federated_identities (account_id);

-- Expiring, single-use procedures confirmed by a one-time code.
CREATE TABLE auth_flows (
	id               TEXT PRIMARY KEY,              -- hex SHA-256 of the flow id the caller holds
	kind             TEXT NOT NULL CHECK (kind IN ('signup', 'signin_code', 'reset', 'deletion', 'federated_link')),
	subject_id       TEXT,                          -- whose contact the code went to; NULL for a decoy
	account_id       TEXT,                          -- the account acted on; NULL for a new sign-up
	method           TEXT NOT NULL,                 -- phone or email ('' for a link)
	channel          TEXT NOT NULL,                 -- sms, call or email ('' for a link)
	limit_key        TEXT NOT NULL,                 -- keyed hash of the identifier, naming its counters
	code_hash        {{bytes}},                     -- HMAC-SHA256 of the code under salt; never the code
	salt             {{bytes}} NOT NULL,
	attempts         INTEGER NOT NULL DEFAULT 0,
	max_attempts     INTEGER NOT NULL,
	provider         TEXT,                          -- a link: the provider, its subject's keyed hash,
	provider_subject TEXT,                          -- and whether it verified the person
	verified         INTEGER NOT NULL DEFAULT 0,
	expires_at       BIGINT NOT NULL,
	confirmed_at     BIGINT,
	finished_at      BIGINT,
	created_at       BIGINT NOT NULL
);
CREATE INDEX auth_flows_expiry ON auth_flows (expires_at);

-- Signed-in sessions. Authenticate reads one row by token_hash.
CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,                    -- public id, for listing and revoking; not a credential
	token_hash {{bytes}} NOT NULL UNIQUE,           -- SHA-256 of the bearer token
	account_id TEXT NOT NULL REFERENCES accounts (id),
	client     {{bytes}},                           -- address and device, sealed through the gate
	created_at BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL                      -- written at most once per sessions.touch_every
);
CREATE INDEX sessions_account ON sessions (account_id, last_seen);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

-- Counters of codes sent and sign-ins failed, shared by every process.
CREATE TABLE rate_limits (
	limit_key    TEXT NOT NULL,                     -- scope and keyed hash; never an identifier or address
	window_start BIGINT NOT NULL,                   -- start of a fixed window; 0 for a run of failures
	hits         INTEGER NOT NULL,
	last_at      BIGINT NOT NULL,
	PRIMARY KEY (limit_key, window_start)
);
CREATE INDEX rate_limits_last ON rate_limits (last_at);

-- Reports of unauthorised access, for the operator (seed 001 §2.5).
CREATE TABLE access_reports (
	id             {{id}},
	account_id     TEXT NOT NULL,
	subject_id     TEXT NOT NULL,
	sessions_ended INTEGER NOT NULL,
	client         {{bytes}},                       -- the reporter's address and device, sealed
	created_at     BIGINT NOT NULL,
	handled_at     BIGINT
);
CREATE INDEX access_reports_open ON access_reports (handled_at, created_at);
