-- Owner: package federation. Sign-ins in progress with an external OpenID
-- Connect provider (authorization code flow with PKCE), one row from the
-- redirect to the provider until the person comes back, at most 10 minutes.
-- No personal data: what the provider says about the person is never
-- stored here. The state, nonce and browser binding travel outside and are
-- kept only as SHA-256 hashes, so a copy of this table cannot complete
-- anyone's sign-in; the PKCE verifier must be kept as it is, since it is
-- sent to the provider once, and is useless without the state and binding.
CREATE TABLE federation_flows (
	state_hash   TEXT PRIMARY KEY,         -- hex SHA-256 of the state parameter
	provider     TEXT NOT NULL,            -- provider id in the configuration
	binding_hash TEXT NOT NULL,            -- hex SHA-256 of the value kept in the browser
	nonce_hash   TEXT NOT NULL,            -- hex SHA-256 of the nonce the ID token must carry
	verifier     TEXT NOT NULL,            -- PKCE code_verifier (RFC 7636)
	return_to    TEXT NOT NULL,            -- local path to go to afterwards
	created_at   BIGINT NOT NULL,          -- unix microseconds
	expires_at   BIGINT NOT NULL           -- unix microseconds
);
CREATE INDEX federation_flows_expiry ON federation_flows (expires_at);
