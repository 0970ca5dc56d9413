-- records_parent served the children of a parent as (company, kind, parent, id).
-- Two things were wrong with that order:
-- - It matched a lookup by (company, kind, id) as well as the primary key did, in
--   the planner's eyes, when the table had no statistics (autovacuum off, or not
--   yet run), and such lookups then read every record of the kind.
-- - It could not serve the background jobs' lists across companies (the top-up
--   outbox's pending entries, every license of a kind), which read the whole
--   table.
-- With (kind, parent, company, id) a company's children are still read in id
-- order, the lists across companies read only their kind (and parent), and only
-- the primary key matches a lookup by id on more than its first column.
DROP INDEX records_parent;
CREATE INDEX records_parent ON records (kind, parent, company, id);
