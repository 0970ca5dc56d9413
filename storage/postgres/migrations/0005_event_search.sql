-- Searching the event log ignores case by Unicode simple case folding
-- (eventlog.Fold), which SQL's lower() does not do under the C collation (it
-- folds only ASCII). search holds each event's searchable fields folded in Go
-- (eventlog.SearchText), written at append; a search is a LIKE on it. This
-- fills it with lower() of the fields, right for ASCII text; the migration's
-- Go step then rewrites the events where Go's folding differs.
ALTER TABLE events ADD COLUMN search TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE events SET search = lower("type") || chr(31) || lower(source) || chr(31) || lower(target) || chr(31)
	|| lower(actor) || chr(31) || lower(subject) || chr(31) || CAST("count" AS TEXT);
