-- Owner: package files. Documents a data subject uploaded to the cabinet.
--
-- No personal data in plain text: the file's content is sealed under the
-- subject's key through the gate and kept as a blob in the object store
-- (local directory or S3) under the random id, never here; the file name
-- is sealed too (sealed_name). Both die with the subject's key. No hash of
-- the plaintext is kept — it would fingerprint the document — only the
-- SHA-256 of the SEALED blob, to detect a corrupted or swapped blob.
--
-- A row is 'pending' from just before its blob is written until the blob
-- is durably stored, so a crash in between leaves a row the expiry job
-- finds and cleans up, never an orphan blob nobody knows of.
CREATE TABLE files (
	id           TEXT PRIMARY KEY,          -- random; also the blob's key in the store
	subject_id   TEXT NOT NULL,             -- the owner's opaque subject id
	state        TEXT NOT NULL CHECK (state IN ('pending', 'stored')),
	sealed_name  {{bytes}} NOT NULL,        -- SEALED file name as uploaded
	size         BIGINT NOT NULL,           -- bytes of the plaintext
	content_type TEXT NOT NULL,             -- detected from the content, e.g. application/pdf
	blob_sha256  {{bytes}} NOT NULL,        -- SHA-256 of the sealed blob as stored
	created_at   BIGINT NOT NULL,           -- unix microseconds
	delete_after BIGINT NOT NULL            -- unix microseconds: the retention term's end
);
CREATE INDEX files_subject ON files (subject_id, created_at);
CREATE INDEX files_delete_after ON files (delete_after);
CREATE INDEX files_state ON files (state, created_at);
