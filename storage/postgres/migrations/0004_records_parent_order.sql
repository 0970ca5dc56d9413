-- records_parent served the children of a parent as (company, kind, parent, id).
-- With those columns it also matched a lookup by (company, kind, id) as well as
-- the primary key did in the planner's eyes when the table had no statistics
-- (autovacuum off, or not yet run): such lookups then scanned every record of
-- the kind. With parent second the primary key is the only index that matches
-- a lookup by id on more than the company, whatever the statistics say, and
-- children are still read in id order through (company, parent, kind).
DROP INDEX records_parent;
CREATE INDEX records_parent ON records (company, parent, kind, id);
