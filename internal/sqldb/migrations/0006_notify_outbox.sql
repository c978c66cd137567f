-- Owner: package notify. The outbox of messages to data subjects (SMS,
-- flash calls, e-mail) and their delivery status.
--
-- No personal data in plain text: a message names its recipient by the
-- subject's opaque id — the phone number or e-mail address is read through
-- the gate at delivery and kept in memory only — and its parameters (the
-- one-time code) are sealed under the subject's key, so they die with it.
-- The sealed parameters are cleared once the message is final. last_error
-- holds codes and scrubbed error texts, never a recipient or a code.
CREATE TABLE outbox (
	id            {{id}},
	subject_id    TEXT NOT NULL,
	channel       TEXT NOT NULL CHECK (channel IN ('sms', 'call', 'email')),
	template      TEXT NOT NULL,             -- message key suffix, e.g. signup_code
	lang          TEXT NOT NULL,             -- language of the catalogue to render with
	params_sealed {{bytes}},                 -- SEALED JSON object of parameters; NULL once final
	status        TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
	attempts      INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT,
	provider_id   TEXT,                      -- the gateway's id of the delivered message
	request_id    TEXT NOT NULL,             -- the request that caused the message, for the audit trail
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	sent_at       BIGINT,
	expires_at    BIGINT                     -- NULL: no expiry
);
CREATE INDEX outbox_subject ON outbox (subject_id, created_at);
CREATE INDEX outbox_status ON outbox (status, updated_at);
