-- Owner: package jobs. Durable background jobs, leased by workers.
-- Payloads carry identifiers only, never personal data.
CREATE TABLE jobs (
	id           {{id}},
	kind         TEXT NOT NULL,
	payload      {{bytes}} NOT NULL,
	dedupe_key   TEXT UNIQUE,
	state        TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
	run_at       BIGINT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
	lease_owner  TEXT,
	lease_token  TEXT,
	lease_until  BIGINT,
	last_error   TEXT,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	finished_at  BIGINT
);
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_lease ON jobs (state, lease_until);
