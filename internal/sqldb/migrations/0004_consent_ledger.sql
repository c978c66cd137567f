-- Owner: package consent. The consent ledger: every expression of consent
-- (and its end) per subject and purpose, and the current state derived
-- from it. Subjects, representatives and actors are opaque ids; the
-- evidence (IP address, user agent) is personal data and is stored only
-- sealed under the subject's key, so it dies with the subject's key.
--
-- consent_events rows are only ever inserted. Every write to both tables
-- runs under one lock (an advisory lock on PostgreSQL, the single writer on
-- SQLite), so event ids grow in commit order: consent_state.last_event_id
-- is the watermark other kabinet processes catch up from.
CREATE TABLE consent_events (
	id                {{id}},
	subject_id        TEXT NOT NULL,
	purpose           TEXT NOT NULL,
	event             TEXT NOT NULL CHECK (event IN ('given', 'renewed', 'refused', 'withdrawn', 'expired', 'invalidated')),
	at                BIGINT NOT NULL,        -- unix microseconds; for 'expired', the instant the term ran out
	expires_at        BIGINT,                 -- end of the term for 'given'/'renewed'; NULL: until withdrawn
	doc_id            TEXT NOT NULL,          -- the consent text: register document id,
	doc_version       TEXT NOT NULL,          --   its version label
	doc_hash          TEXT NOT NULL,          --   and the hash of the text shown
	method            TEXT NOT NULL,          -- checkbox, submit_button, …; '' for expiry and invalidation
	expressed_by      TEXT NOT NULL CHECK (expressed_by IN ('subject', 'representative', '')),
	representative_id TEXT,                   -- opaque id of the representative (parent, guardian)
	reason            TEXT NOT NULL,          -- a code, e.g. why a consent was invalidated
	evidence          {{bytes}},              -- SEALED JSON {ip, user_agent, time}; NULL when none
	actor_kind        TEXT NOT NULL,
	actor_id          TEXT NOT NULL,
	request_id        TEXT NOT NULL
);
CREATE INDEX consent_events_subject ON consent_events (subject_id, purpose, id);

-- The current state per subject and purpose, written in the same
-- transaction as each event: the authority the in-memory index is loaded
-- from. Rows are never deleted.
CREATE TABLE consent_state (
	subject_id    TEXT NOT NULL,
	purpose       TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('given', 'renewed', 'refused', 'withdrawn', 'expired', 'invalidated')),
	since         BIGINT NOT NULL,
	expires_at    BIGINT,
	last_event_id BIGINT NOT NULL REFERENCES consent_events (id),
	doc_id        TEXT NOT NULL,
	doc_version   TEXT NOT NULL,
	doc_hash      TEXT NOT NULL,
	PRIMARY KEY (subject_id, purpose)
);
-- The expiry job's scan.
CREATE INDEX consent_state_due ON consent_state (expires_at) WHERE status IN ('given', 'renewed');
-- Catching up from a watermark.
CREATE INDEX consent_state_event ON consent_state (last_event_id);
