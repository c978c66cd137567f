-- Owner: package identity. Every sign-in, for the person's own history of
-- operations (seed 000 §1.2.4): the session it opened and the device and
-- address, sealed through the gate. Sessions end and are deleted; the
-- record of having signed in stays until the subject is destroyed.
CREATE TABLE sign_ins (
	session_id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id),
	client     {{bytes}},
	created_at BIGINT NOT NULL
);
CREATE INDEX sign_ins_account ON sign_ins (account_id, created_at);
