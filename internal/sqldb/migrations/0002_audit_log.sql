-- Owner: package audit. The append-only, hash-chained audit log and its
-- signed checkpoints. Entries name actor, subject (an opaque id), action,
-- purpose and categories — NEVER values of personal data.
-- Rows are only ever inserted; kabinet never updates or deletes them, and
-- audit.Verify detects it when anyone else does.
CREATE TABLE audit_log (
	seq        BIGINT PRIMARY KEY,   -- 1, 2, 3… without gaps, assigned under the chain lock
	at         BIGINT NOT NULL,      -- unix microseconds
	actor_kind TEXT NOT NULL,
	actor_id   TEXT NOT NULL,
	subject    TEXT NOT NULL,        -- opaque subject id, '' when none
	action     TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	categories TEXT NOT NULL,        -- JSON array of category codes, sorted
	outcome    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	request_id TEXT NOT NULL,
	attrs      TEXT NOT NULL,        -- JSON object of small non-personal extras
	prev_hash  {{bytes}} NOT NULL,
	hash       {{bytes}} NOT NULL
);
-- Export by subject and time range (the extract an act of destruction needs).
CREATE INDEX audit_log_subject_at ON audit_log (subject, at);

CREATE TABLE audit_checkpoints (
	seq       BIGINT PRIMARY KEY,    -- the entry whose hash is signed
	hash      {{bytes}} NOT NULL,
	at        BIGINT NOT NULL,       -- unix microseconds
	key_id    TEXT NOT NULL,
	signature {{bytes}} NOT NULL     -- Ed25519 over (seq, hash, at, key_id)
);
