-- Owner: package preferences. A subject's notification settings and the
-- in-cabinet notifications (the inbox).
--
-- notification_settings holds only the choices a person made; the defaults
-- (service messages in the cabinet and by e-mail; SMS, push and marketing
-- off until the person opts in — seed 000 agreement §3.13) live in code, so
-- changing a default needs no data migration and a row always means "the
-- person chose this". enabled is 0 or 1.
CREATE TABLE notification_settings (
	subject_id TEXT NOT NULL,
	channel    TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'push', 'cabinet')),
	topic      TEXT NOT NULL CHECK (topic IN ('service', 'informational', 'marketing')),
	enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (subject_id, channel, topic)
);

-- The inbox keeps no text: a notice is its template (the catalogue keys
-- notify.inbox.<template>.subject and .body, rendered in the reader's
-- language when shown) and its parameters, which are NON-PERSONAL by
-- contract (a service's name, a date, a reference number) and stored as a
-- plain JSON object. A notice that needs personal data names what the
-- cabinet page should read through the gate instead. Rows are deleted
-- after the inbox retention and with the subject (Notifications.Forget).
CREATE TABLE inbox (
	id         {{id}},
	subject_id TEXT NOT NULL,
	topic      TEXT NOT NULL CHECK (topic IN ('service', 'informational', 'marketing')),
	template   TEXT NOT NULL,
	params     TEXT NOT NULL, -- JSON object of non-personal strings
	created_at BIGINT NOT NULL,
	read_at    BIGINT          -- NULL: unread
);
CREATE INDEX inbox_subject ON inbox (subject_id, id);
CREATE INDEX inbox_created ON inbox (created_at);
