-- records_parent as (kind, parent, company, id), as in PostgreSQL's migration
-- 0004: a company's children are still read in id order through
-- (kind, parent, company), and the background jobs' lists across companies (the
-- top-up outbox's pending entries, every license of a kind) read only their kind
-- and parent instead of the whole table.
DROP INDEX records_parent;
CREATE INDEX records_parent ON records (kind, parent, company, id);
