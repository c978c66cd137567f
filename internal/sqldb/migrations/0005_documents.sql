-- Owner: package documents. Published versions of the operator's legal
-- documents (agreement, policy, consent texts) and who accepted which.
-- No personal data: subjects are opaque ids.

-- One row per distinct text of a document in one language. Rows are only
-- ever inserted: a published text stays viewable at its hash forever.
CREATE TABLE document_versions (
	id           {{id}},
	doc_id       TEXT NOT NULL,
	kind         TEXT NOT NULL,            -- agreement, policy, consent
	lang         TEXT NOT NULL,
	label        TEXT NOT NULL,            -- the operator's version label; may repeat across texts
	title        TEXT NOT NULL,
	hash         TEXT NOT NULL,            -- hex SHA-256 of body
	body         TEXT NOT NULL,            -- HTML as published
	text         TEXT NOT NULL,            -- the same document as plain text
	acceptance   TEXT NOT NULL,            -- continued_use, explicit, '' for consent texts
	published_at BIGINT NOT NULL,          -- unix microseconds of its first publication
	UNIQUE (doc_id, lang, hash)
);

-- Each time a text becomes the current one in its language: the first
-- time, and again when an operator rolls back to an earlier text. The
-- current version of (doc_id, lang) is the one of the newest row.
CREATE TABLE document_publications (
	id         {{id}},
	doc_id     TEXT NOT NULL,
	lang       TEXT NOT NULL,
	version_id BIGINT NOT NULL REFERENCES document_versions (id),
	at         BIGINT NOT NULL
);
CREATE INDEX document_publications_current ON document_publications (doc_id, lang, id);

-- Acceptance of an agreement or policy version by a subject. version_id is
-- the binding text (in the operator's default language); shown_id is the
-- text the subject was shown, which may be a translation of it.
CREATE TABLE document_acceptances (
	subject_id TEXT NOT NULL,
	doc_id     TEXT NOT NULL,
	version_id BIGINT NOT NULL REFERENCES document_versions (id),
	shown_id   BIGINT NOT NULL REFERENCES document_versions (id),
	method     TEXT NOT NULL CHECK (method IN ('explicit', 'continued_use', 'registration')),
	at         BIGINT NOT NULL,
	PRIMARY KEY (subject_id, version_id)
);
CREATE INDEX document_acceptances_version ON document_acceptances (version_id);
