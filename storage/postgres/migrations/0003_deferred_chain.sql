-- Link events into the company's hash chain after commit instead of holding a
-- per-company head lock from append to commit (which serialised every writer of
-- a company). Events are appended unlinked (chain_pos NULL); the appending
-- transaction, just before COMMIT, takes the head with SKIP LOCKED and links all
-- committed unlinked events of the company in Seq order; when the head is busy
-- the events wait for the next transaction of the company (or Store.Seal).
-- Events chained by 0002 were chained in Seq order: their position is their Seq.
ALTER TABLE events ADD COLUMN chain_pos BIGINT;
UPDATE events SET chain_pos = seq;
ALTER TABLE event_heads ADD COLUMN pos BIGINT NOT NULL DEFAULT 0;
UPDATE event_heads SET pos = COALESCE((SELECT max(e.seq) FROM events e WHERE e.company = event_heads.company), 0);
CREATE INDEX events_unlinked ON events (company, seq) WHERE chain_pos IS NULL;
CREATE INDEX events_company_chain ON events (company, chain_pos);
