-- Tamper-evident event log: each event carries the hash of the company's
-- previous event and its own (eventlog.HashEvent); event_heads holds each
-- company's last hash. AppendEvent locks the company's head row until commit,
-- so a company's events are chained in Seq order even across processes.
ALTER TABLE events ADD COLUMN prev_hash TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN hash TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE TABLE event_heads (
	company TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	hash    TEXT COLLATE "C" NOT NULL,
	seq     BIGINT NOT NULL
);
