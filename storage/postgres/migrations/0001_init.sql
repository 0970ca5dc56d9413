-- Records: every domain document, keyed by tenant, kind and id. Text columns use
-- the "C" collation so that ordering is byte order, as in every licensekit store.
CREATE TABLE records (
	company TEXT COLLATE "C" NOT NULL,
	kind    TEXT COLLATE "C" NOT NULL,
	id      TEXT COLLATE "C" NOT NULL,
	parent  TEXT COLLATE "C" NOT NULL DEFAULT '',
	uniq    TEXT COLLATE "C" NOT NULL DEFAULT '',
	data    BYTEA NOT NULL,
	version BIGINT NOT NULL,
	PRIMARY KEY (company, kind, id)
);
CREATE INDEX records_parent ON records (company, kind, parent, id);
CREATE UNIQUE INDEX records_uniq ON records (company, kind, uniq) WHERE uniq <> '';

-- Events: the audit log. time is fixed-width UTC text (2006-01-02T15:04:05.000000000Z),
-- which keeps nanoseconds and makes text order time order.
CREATE TABLE events (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id      TEXT COLLATE "C" NOT NULL,
	company TEXT COLLATE "C" NOT NULL,
	"time"  TEXT COLLATE "C" NOT NULL,
	"type"  TEXT COLLATE "C" NOT NULL,
	source  TEXT COLLATE "C" NOT NULL DEFAULT '',
	target  TEXT COLLATE "C" NOT NULL DEFAULT '',
	"count" BIGINT NOT NULL DEFAULT 0,
	actor   TEXT COLLATE "C" NOT NULL DEFAULT '',
	subject TEXT COLLATE "C" NOT NULL DEFAULT '',
	details BYTEA
);
CREATE INDEX events_company_seq ON events (company, seq);
CREATE INDEX events_company_time ON events (company, "time", seq);
