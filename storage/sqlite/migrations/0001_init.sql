-- Records: every domain document, keyed by tenant, kind and id.
CREATE TABLE records (
	company TEXT NOT NULL,
	kind    TEXT NOT NULL,
	id      TEXT NOT NULL,
	parent  TEXT NOT NULL DEFAULT '',
	uniq    TEXT NOT NULL DEFAULT '',
	data    BLOB NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (company, kind, id)
) WITHOUT ROWID;
CREATE INDEX records_parent ON records (company, kind, parent, id);
CREATE UNIQUE INDEX records_uniq ON records (company, kind, uniq) WHERE uniq <> '';

-- Events: the audit log. time is fixed-width UTC text (2006-01-02T15:04:05.000000000Z).
CREATE TABLE events (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	id      TEXT NOT NULL,
	company TEXT NOT NULL,
	"time"  TEXT NOT NULL,
	"type"  TEXT NOT NULL,
	source  TEXT NOT NULL DEFAULT '',
	target  TEXT NOT NULL DEFAULT '',
	"count" INTEGER NOT NULL DEFAULT 0,
	actor   TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	details TEXT
);
CREATE INDEX events_company_seq ON events (company, seq);
CREATE INDEX events_company_time ON events (company, "time", seq);
