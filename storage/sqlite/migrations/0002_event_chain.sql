-- Tamper-evident event log: each event carries the hash of the company's
-- previous event and its own (eventlog.HashEvent); event_heads holds each
-- company's last hash, written in the appending transaction.
ALTER TABLE events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE TABLE event_heads (
	company TEXT NOT NULL PRIMARY KEY,
	hash    TEXT NOT NULL,
	seq     INTEGER NOT NULL
) WITHOUT ROWID;
