-- Owner: package identity. A new kind of flow: changing the sign-in phone
-- number or e-mail address, confirmed by a code sent to the new contact.
-- The kind is checked by a CHECK constraint, which neither engine lets us
-- alter in the same words, so the table is rebuilt (flows are short-lived;
-- rows in progress are carried over).
CREATE TABLE auth_flows_new (
	id               TEXT PRIMARY KEY,
	kind             TEXT NOT NULL CHECK (kind IN ('signup', 'signin_code', 'reset', 'deletion', 'federated_link', 'contact_change')),
	subject_id       TEXT,
	account_id       TEXT,
	method           TEXT NOT NULL,
	channel          TEXT NOT NULL,
	limit_key        TEXT NOT NULL,
	code_hash        {{bytes}},
	salt             {{bytes}} NOT NULL,
	attempts         INTEGER NOT NULL DEFAULT 0,
	max_attempts     INTEGER NOT NULL,
	provider         TEXT,
	provider_subject TEXT,
	verified         INTEGER NOT NULL DEFAULT 0,
	expires_at       BIGINT NOT NULL,
	confirmed_at     BIGINT,
	finished_at      BIGINT,
	created_at       BIGINT NOT NULL
);
INSERT INTO auth_flows_new (id, kind, subject_id, account_id, method, channel, limit_key, code_hash, salt, attempts, max_attempts,
	provider, provider_subject, verified, expires_at, confirmed_at, finished_at, created_at)
	SELECT id, kind, subject_id, account_id, method, channel, limit_key, code_hash, salt, attempts, max_attempts,
	provider, provider_subject, verified, expires_at, confirmed_at, finished_at, created_at FROM auth_flows;
DROP TABLE auth_flows;
ALTER TABLE auth_flows_new RENAME TO auth_flows;
CREATE INDEX auth_flows_expiry ON auth_flows (expires_at);
