-- Owner: package gate. Data subjects, their personal data (sealed under
-- per-subject keys held in the separate key store, see package vault) and
-- blocks. Only package gate reads or writes these tables.
CREATE TABLE subjects (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	state        TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'destroyed')),
	created_at   BIGINT NOT NULL,
	destroyed_at BIGINT
);

CREATE TABLE pd_values (
	subject_id TEXT NOT NULL REFERENCES subjects (id),
	category   TEXT NOT NULL,
	sealed     {{bytes}} NOT NULL,
	blind      {{bytes}},
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (subject_id, category)
);
CREATE INDEX pd_values_blind ON pd_values (category, blind);

CREATE TABLE pd_blocks (
	id         {{id}},
	subject_id TEXT NOT NULL REFERENCES subjects (id),
	category   TEXT NOT NULL,
	reason     TEXT NOT NULL,
	since      BIGINT NOT NULL,
	until      BIGINT,
	lifted_at  BIGINT
);
CREATE INDEX pd_blocks_subject ON pd_blocks (subject_id, lifted_at);
