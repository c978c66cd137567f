-- Owner: package identity. Which categories of a subject's data came from
-- an identity provider that verified them: the cabinet marks them and does
-- not let the person edit them (they change at the provider).
CREATE TABLE value_sources (
	subject_id TEXT NOT NULL,
	category   TEXT NOT NULL,
	provider   TEXT NOT NULL,
	verified   INTEGER NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (subject_id, category)
);
