// Package sqlcore is the SQL shared by licensekit's SQLite and PostgreSQL stores:
// one implementation of storage.Tx over a tiny connection interface, written in
// the SQL both engines accept ($n placeholders, INSERT ... ON CONFLICT, row-value
// comparisons), plus the migration runner. A Dialect supplies what differs: the
// row-lock suffix and the translation of driver errors.
package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/internal/eventcore"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Rows is the part of *sql.Rows / pgx.Rows the core uses.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Conn runs statements inside one transaction.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Stmt is one statement of a Pipeliner batch.
type Stmt struct {
	SQL  string
	Args []any
	// Rows reads the statement's rows; nil for a statement run for its effect.
	Rows func(Rows) error
}

// Pipeliner is a Conn that can send several statements in one round trip
// (PostgreSQL's extended-protocol pipeline). Statements always run in the
// order they were issued: a queued statement runs before any later one.
type Pipeliner interface {
	// Queue holds a statement back until the next round trip. check turns its
	// outcome (rows affected, driver error) into the error to report; the call
	// that makes the round trip returns that error, and the transaction has
	// then failed: every later call returns it too and nothing commits.
	Queue(q string, args []any, check func(rowsAffected int64, err error) error)
	// QueueRows holds back a statement whose rows are read, by rows, when
	// the next round trip goes out; a failure counts as for Queue.
	QueueRows(q string, args []any, rows func(Rows) error)
	// Batch sends the queued statements and stmts in one round trip.
	Batch(ctx context.Context, stmts ...Stmt) error
}

// Dialect is what differs between engines.
type Dialect struct {
	Name string // "sqlite", "postgres": prefix of error messages
	// ForUpdate is appended to GetForUpdate's SELECT (" FOR UPDATE" in
	// PostgreSQL; "" in SQLite, whose write transactions hold the database lock).
	ForUpdate string
	// Error translates a driver error into a *license.Error (Unavailable for a
	// lost connection or a busy database, Internal otherwise), keeping err as
	// the cause so that stores can recognise retryable failures.
	Error func(err error, what string) error
	// IsUniqueViolation reports whether err is a unique-constraint violation.
	IsUniqueViolation func(err error) bool
	// SerialWriters says write transactions never run concurrently (SQLite's
	// BEGIN IMMEDIATE): AppendEvent then links to the company's last event
	// directly instead of locking and moving a head row.
	SerialWriters bool
	// IndexedBy says the engine takes "INDEXED BY index" (SQLite). List then
	// names records_parent for the children of a parent and for lists across
	// companies: without statistics, SQLite's planner served those through
	// the primary key, reading every record of the kind in the company (or
	// the whole table).
	IndexedBy bool
}

// TimeLayout is how event times are stored: fixed-width UTC text, so that text
// order is time order and cursors compare as stored.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// Tx implements storage.Tx over a Conn.
type Tx struct {
	C        Conn
	D        *Dialect
	Writable bool
	// heads are the event chain heads this transaction holds (locked, with
	// their new values), on a Pipeliner; Finish writes them back.
	heads map[string]*chainHead
	// fetches are the chain heads asked for ahead of AppendEvent, by company
	// (see prefetchHead).
	fetches map[string]*headFetch
	// keys are the parent and unique key of records this write transaction
	// has read or written, on engines with serial writers (no other writer
	// can change them meanwhile), so that Put of a record whose keys did not
	// change updates only its data (see Put).
	keys map[recordKey]recordKeys
	// locked says GetForUpdate has locked a row in this transaction.
	locked bool
	// Cache, when set, holds records and event chain heads the store knows
	// to be current in this write transaction (SQLite's writer cache); the
	// point reads are served from it and the writes keep it current.
	Cache Cache
}

// Cache is what a store with serial writers knows of its records and event
// chain heads without reading them (see Tx.Cache). Its methods run on the
// goroutine of the transaction only.
type Cache interface {
	// Record returns the record as stored when known: present false means
	// known to be absent; known false means not known either way.
	Record(company string, kind storage.Kind, id string) (r storage.Record, present, known bool)
	// Stored records r as now stored (Version included).
	Stored(r storage.Record)
	// Absent records that the record does not exist.
	Absent(company string, kind storage.Kind, id string)
	// Forget drops what is known of the record.
	Forget(company string, kind storage.Kind, id string)
	// Head returns the hash of company's last event when known.
	Head(company string) (hash string, known bool)
	// Appended records hash as the hash of company's last event.
	Appended(company, hash string)
}

type recordKey struct {
	company, kind, id string
}

type recordKeys struct{ parent, unique string }

// remember records r's keys when the transaction tracks them.
func (t *Tx) remember(r storage.Record) {
	if !t.Writable || !t.D.SerialWriters {
		return
	}
	if t.keys == nil {
		t.keys = map[recordKey]recordKeys{}
	}
	t.keys[recordKey{r.Company, string(r.Kind), r.ID}] = recordKeys{r.Parent, r.Unique}
}

// headFetch is a takeHead sent ahead, with its outcome once sent.
type headFetch struct {
	try        headTry
	hash       *string
	pos        *int64
	sent, used bool
	stale      bool // head taken, but the backlog must be read again (see takeHeadSQL)
}

// chainHead is a company's event chain head: the last linked event's hash,
// chain position and Seq.
type chainHead struct {
	hash     string
	pos, seq int64
	dirty    bool // moved since last written
}

// link chains e (Seq seq) after h and moves h to it.
func (h *chainHead) link(e *eventlog.Event, seq int64) {
	e.PrevHash = h.hash
	e.Hash = storage.ChainHash(h.hash, *e)
	h.hash, h.pos, h.seq = e.Hash, h.pos+1, seq
}

var _ storage.Tx = (*Tx)(nil)

func (t *Tx) err(err error, format string, args ...any) error {
	var le *license.Error
	if errors.As(err, &le) {
		return err
	}
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return license.Wrap(license.Unavailable, err, "%s: %s", t.D.Name, what)
	}
	return t.D.Error(err, what)
}

const recordCols = `company, kind, id, parent, uniq, data, version`

func scanRecord(rows Rows) (storage.Record, error) {
	var r storage.Record
	var kind string
	err := rows.Scan(&r.Company, &kind, &r.ID, &r.Parent, &r.Unique, &r.Data, &r.Version)
	r.Kind = storage.Kind(kind)
	return r, err
}

// The lookups of records by key. Each must be served by its key's index
// whatever the planner's statistics say, including in the generic plan of a
// prepared statement (KeyedStatements lists them for the stores' plan tests).
// A non-empty unique key implies that uniq is not the empty string, but a
// generic plan may use the partial index records_uniq only when the query
// states that predicate; without it, the plan read every record of the kind.
const (
	getRecordSQL   = `SELECT parent, uniq, data, version FROM records WHERE company = $1 AND kind = $2 AND id = $3`
	getByUniqueSQL = `SELECT ` + recordCols + ` FROM records WHERE company = $1 AND kind = $2 AND uniq = $3 AND uniq <> ''`
	uniqueTakenSQL = `SELECT id FROM records WHERE company = $1 AND kind = $2 AND uniq = $3 AND uniq <> '' AND id <> $4`
)

// KeyedStatement is a statement that must find its rows through Index (as
// PostgreSQL names it; the primary keys are records_pkey and events_pkey).
type KeyedStatement struct {
	Name, SQL, Index string
	Args             []any // one per parameter
	PostgresOnly     bool  // statement of the concurrent path only
}

// KeyedStatements lists the statements that must find their rows through an
// index, never by reading all of a company's rows or the whole table, with
// the index each must use; indexedBy is the engine's Dialect.IndexedBy.
func KeyedStatements(indexedBy bool) []KeyedStatement {
	keyed := func(name, index string, q storage.ListQuery) KeyedStatement {
		sql, args := listSQL(q, indexedBy)
		return KeyedStatement{Name: name, SQL: sql, Index: index, Args: args}
	}
	return []KeyedStatement{
		{Name: "get record", SQL: getRecordSQL, Index: "records_pkey", Args: []any{"acme", "pool", "p1"}},
		{Name: "get by unique key", SQL: getByUniqueSQL, Index: "records_uniq", Args: []any{"acme", "pool", "u1"}},
		{Name: "unique key taken", SQL: uniqueTakenSQL, Index: "records_uniq", Args: []any{"acme", "pool", "u1", "p1"}},
		keyed("list a kind", "records_pkey", storage.ListQuery{Company: "acme", Kind: "pool", Limit: 100}),
		keyed("list children", "records_parent", storage.ListQuery{Company: "acme", Kind: "pool", Parent: "c1"}),
		keyed("list children after", "records_parent", storage.ListQuery{Company: "acme", Kind: "pool", Parent: "c1", AfterID: "p1", Limit: 10}),
		keyed("list children across companies", "records_parent", storage.ListQuery{AllCompanies: true, Kind: "pool", Parent: "c1", AfterID: "p1", Limit: 10}),
		keyed("list a kind across companies", "records_parent", storage.ListQuery{AllCompanies: true, Kind: "pool"}),
		{Name: "link an event", SQL: linkEvent, Index: "events_pkey", Args: []any{"acme", 1, 1, "", "h"}, PostgresOnly: true},
	}
}

// queryRecords runs q and returns all records it yields.
func (t *Tx) queryRecords(ctx context.Context, q string, args ...any) ([]storage.Record, error) {
	rows, err := t.C.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *Tx) get(ctx context.Context, company string, kind storage.Kind, id string, lock string) (storage.Record, error) {
	if t.Cache != nil {
		if r, present, known := t.Cache.Record(company, kind, id); known {
			if !present {
				return storage.Record{}, storage.NotFound(kind, id)
			}
			t.remember(r)
			return r, nil
		}
	}
	r, found, err := t.getRow(ctx, company, kind, id, lock)
	if err != nil {
		return storage.Record{}, t.err(err, "get %s %s", kind, id)
	}
	if !found {
		if t.Cache != nil {
			t.Cache.Absent(company, kind, id)
		}
		return storage.Record{}, storage.NotFound(kind, id)
	}
	if t.Cache != nil {
		t.Cache.Stored(r)
	}
	t.remember(r)
	return r, nil
}

// getRow reads one record by key. It selects only the columns the key does
// not give: the point read is the hottest query, and each column read costs.
func (t *Tx) getRow(ctx context.Context, company string, kind storage.Kind, id string, lock string) (r storage.Record, found bool, err error) {
	rows, err := t.C.Query(ctx, getRecordSQL+lock, company, string(kind), id)
	if err != nil {
		return r, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return r, false, rows.Err()
	}
	r = storage.Record{Company: company, Kind: kind, ID: id}
	if err := rows.Scan(&r.Parent, &r.Unique, &r.Data, &r.Version); err != nil {
		return r, false, err
	}
	return r, true, rows.Close()
}

// stored tells the cache that r was just written by Put: its version follows
// from what the cache knew before the write.
func (t *Tx) stored(r storage.Record) {
	if t.Cache == nil {
		return
	}
	old, present, known := t.Cache.Record(r.Company, r.Kind, r.ID)
	switch {
	case !known:
		t.Cache.Forget(r.Company, r.Kind, r.ID)
		return
	case present:
		r.Version = old.Version + 1
	default:
		r.Version = 1
	}
	t.Cache.Stored(r)
}

// Get implements storage.Tx.
func (t *Tx) Get(ctx context.Context, company string, kind storage.Kind, id string) (storage.Record, error) {
	return t.get(ctx, company, kind, id, "")
}

// GetForUpdate implements storage.Tx.
func (t *Tx) GetForUpdate(ctx context.Context, company string, kind storage.Kind, id string) (storage.Record, error) {
	if !t.Writable {
		return t.get(ctx, company, kind, id, "")
	}
	r, err := t.get(ctx, company, kind, id, t.D.ForUpdate)
	if err == nil {
		t.locked = true
	}
	return r, err
}

// GetByUnique implements storage.Tx.
func (t *Tx) GetByUnique(ctx context.Context, company string, kind storage.Kind, unique string) (storage.Record, error) {
	notFound := license.Errorf(license.NotFound, "unique", "no %s named %q", kind, unique)
	if unique == "" {
		return storage.Record{}, notFound
	}
	rs, err := t.queryRecords(ctx, getByUniqueSQL,
		company, string(kind), unique)
	if err != nil {
		return storage.Record{}, t.err(err, "get %s by unique key", kind)
	}
	if len(rs) == 0 {
		return storage.Record{}, notFound
	}
	return rs[0], nil
}

// List implements storage.Tx.
func (t *Tx) List(ctx context.Context, q storage.ListQuery) ([]storage.Record, error) {
	if q.Kind == "" || (q.Company == "" && !q.AllCompanies) {
		return nil, license.Errorf(license.Internal, "kind", "storage: List needs a kind and a company")
	}
	sql, args := listSQL(q, t.D.IndexedBy)
	rs, err := t.queryRecords(ctx, sql, args...)
	if err != nil {
		return nil, t.err(err, "list %s", q.Kind)
	}
	return rs, nil
}

// listSQL is List's query and its arguments. A company's records of a kind
// are read through the primary key (company, kind, id), children of a parent
// and lists across companies through records_parent (kind, parent, company,
// id), named with indexedBy (see Dialect.IndexedBy).
func listSQL(q storage.ListQuery, indexedBy bool) (string, []any) {
	var sb strings.Builder
	args := []any{string(q.Kind)}
	sb.WriteString(`SELECT ` + recordCols + ` FROM records`)
	if indexedBy && (q.Parent != "" || q.AllCompanies) {
		sb.WriteString(` INDEXED BY records_parent`)
	}
	sb.WriteString(` WHERE kind = $1`)
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&sb, cond, len(args))
	}
	if !q.AllCompanies {
		add(` AND company = $%d`, q.Company)
	}
	if q.Parent != "" {
		add(` AND parent = $%d`, q.Parent)
	}
	if q.AfterID != "" {
		add(` AND id > $%d`, q.AfterID)
	}
	sb.WriteString(` ORDER BY id, company`)
	if q.Limit > 0 {
		sb.WriteString(` LIMIT ` + strconv.Itoa(q.Limit))
	}
	return sb.String(), args
}

// uniqueTaken reports whether another record of (company, kind) than id holds unique.
func (t *Tx) uniqueTaken(ctx context.Context, r storage.Record) error {
	if r.Unique == "" {
		return nil
	}
	rows, err := t.C.Query(ctx, uniqueTakenSQL,
		r.Company, string(r.Kind), r.Unique, r.ID)
	if err != nil {
		return t.err(err, "check unique key of %s %s", r.Kind, r.ID)
	}
	taken := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		return t.err(err, "check unique key of %s %s", r.Kind, r.ID)
	}
	if taken {
		return storage.UniqueConflict(r.Kind, r.Unique)
	}
	return nil
}

func (t *Tx) writeErr(err error, r storage.Record) error {
	if t.D.IsUniqueViolation(err) {
		return &license.Error{Code: license.Conflict, Field: "unique", Message: license.ErrorMessage(storage.UniqueConflict(r.Kind, r.Unique)), Err: err}
	}
	return t.err(err, "write %s %s", r.Kind, r.ID)
}

func dataArg(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Put implements storage.Tx.
func (t *Tx) Put(ctx context.Context, r storage.Record) error {
	if !t.Writable {
		return storage.ErrReadOnly
	}
	if err := storage.CheckRecord(r); err != nil {
		return err
	}
	if k, ok := t.keys[recordKey{r.Company, string(r.Kind), r.ID}]; ok && k == (recordKeys{r.Parent, r.Unique}) {
		// Same parent and unique key as stored: write the data alone, which
		// leaves the indexes untouched (SQLite maintains every index whose
		// columns an UPDATE sets, changed or not) and needs no unique check.
		n, err := t.C.Exec(ctx, `UPDATE records SET data = $4, version = version + 1 WHERE company = $1 AND kind = $2 AND id = $3`,
			r.Company, string(r.Kind), r.ID, dataArg(r.Data))
		if err != nil {
			return t.writeErr(err, r)
		}
		if n == 1 {
			t.stored(r)
			return nil
		}
	}
	if err := t.uniqueTaken(ctx, r); err != nil {
		return err
	}
	t.prefetchHead(r.Company)
	const upsert = `INSERT INTO records (company, kind, id, parent, uniq, data, version) VALUES ($1, $2, $3, $4, $5, $6, 1)
ON CONFLICT (company, kind, id) DO UPDATE SET parent = excluded.parent, uniq = excluded.uniq, data = excluded.data, version = records.version + 1`
	if p, ok := t.C.(Pipeliner); ok {
		// Put reports nothing but errors, and the unique key was checked
		// above: the write can travel with the transaction's next statement.
		p.Queue(upsert, []any{r.Company, string(r.Kind), r.ID, r.Parent, r.Unique, dataArg(r.Data)}, func(_ int64, err error) error {
			if err != nil {
				return t.writeErr(err, r)
			}
			return nil
		})
		return nil
	}
	_, err := t.C.Exec(ctx, upsert, r.Company, string(r.Kind), r.ID, r.Parent, r.Unique, dataArg(r.Data))
	if err != nil {
		return t.writeErr(err, r)
	}
	t.stored(r)
	t.remember(r)
	return nil
}

// Insert implements storage.Tx.
func (t *Tx) Insert(ctx context.Context, r storage.Record) error {
	if !t.Writable {
		return storage.ErrReadOnly
	}
	if err := storage.CheckRecord(r); err != nil {
		return err
	}
	if r.Unique != "" {
		// An existing id is reported before a unique clash.
		if _, err := t.get(ctx, r.Company, r.Kind, r.ID, ""); err == nil {
			return storage.Exists(r.Kind, r.ID)
		} else if !storage.IsNotFound(err) {
			return err
		}
		if err := t.uniqueTaken(ctx, r); err != nil {
			return err
		}
	}
	t.prefetchHead(r.Company)
	n, err := t.C.Exec(ctx, `INSERT INTO records (company, kind, id, parent, uniq, data, version) VALUES ($1, $2, $3, $4, $5, $6, 1)
ON CONFLICT (company, kind, id) DO NOTHING`,
		r.Company, string(r.Kind), r.ID, r.Parent, r.Unique, dataArg(r.Data))
	if err != nil {
		return t.writeErr(err, r)
	}
	if n == 0 {
		return storage.Exists(r.Kind, r.ID)
	}
	if t.Cache != nil {
		r.Version = 1
		t.Cache.Stored(r)
	}
	t.remember(r)
	return nil
}

// Delete implements storage.Tx.
func (t *Tx) Delete(ctx context.Context, company string, kind storage.Kind, id string) error {
	if !t.Writable {
		return storage.ErrReadOnly
	}
	t.prefetchHead(company)
	n, err := t.C.Exec(ctx, `DELETE FROM records WHERE company = $1 AND kind = $2 AND id = $3`, company, string(kind), id)
	if err != nil {
		return t.err(err, "delete %s %s", kind, id)
	}
	delete(t.keys, recordKey{company, string(kind), id})
	if t.Cache != nil {
		t.Cache.Absent(company, kind, id)
	}
	if n == 0 {
		return storage.NotFound(kind, id)
	}
	return nil
}

// AppendEvent implements storage.Tx.
func (t *Tx) AppendEvent(ctx context.Context, e eventlog.Event) (int64, error) {
	if !t.Writable {
		return 0, storage.ErrReadOnly
	}
	if e.Company == "" || e.ID == "" || e.Type == "" || e.Time.IsZero() {
		return 0, license.Errorf(license.Internal, "event", "storage: event needs company, id, type and time")
	}
	e.Time = e.Time.UTC()
	if len(e.Details) == 0 {
		e.Details = nil
	}
	var details any
	if e.Details != nil {
		details = []byte(e.Details)
	}
	if !t.D.SerialWriters {
		p, ok := t.C.(Pipeliner)
		if !ok {
			return 0, license.Errorf(license.Internal, "", "%s: concurrent writers need a pipelining connection", t.D.Name)
		}
		return t.appendPipelined(ctx, p, e, details)
	}
	// Serial writers: no other writer can append meanwhile, so the head is
	// the company's last event and the event is linked at once.
	prev, known := "", false
	if t.Cache != nil {
		prev, known = t.Cache.Head(e.Company)
	}
	if !known {
		var err error
		if prev, err = t.lastHash(ctx, e.Company); err != nil {
			return 0, t.err(err, "read the event chain head")
		}
	}
	e.PrevHash = prev
	e.Hash = storage.ChainHash(prev, e)
	seq, err := t.queryInt(ctx, `INSERT INTO events (id, company, "time", "type", source, target, "count", actor, subject, details, prev_hash, hash, search)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq`,
		e.ID, e.Company, e.Time.Format(TimeLayout), string(e.Type), e.Source, e.Target, e.Count, e.Actor, e.Subject, details, e.PrevHash, e.Hash, storage.SearchText(e))
	if err != nil {
		return 0, t.err(err, "append event")
	}
	if t.Cache != nil {
		t.Cache.Appended(e.Company, e.Hash)
	}
	return seq, nil
}

// sealBatch is how many events one statement links.
const sealBatch = 128

// Seal links all unlinked events of company visible to this transaction, in
// Seq order, after the chain head, which the transaction then holds (Finish
// writes it back). With skipLocked it gives up (returning false) when another
// transaction holds the head; otherwise it waits for it.
func (t *Tx) Seal(ctx context.Context, company string, skipLocked bool) (bool, error) {
	p, ok := t.C.(Pipeliner)
	if !ok {
		return false, license.Errorf(license.Internal, "", "%s: sealing needs a pipelining connection", t.D.Name)
	}
	lock := ` FOR UPDATE`
	if skipLocked {
		lock += ` SKIP LOCKED`
	}
	// Lock the head first and read the unlinked events in a later statement:
	// under READ COMMITTED a statement that waited for (or raced with) the
	// head's lock sees the head's newest version but rows of other tables as
	// of its own start, so reading events in the locking statement could link
	// events another transaction has just linked.
	q := `SELECT hash, pos FROM event_heads WHERE company = $1` + lock
	head, pos, found, err := t.lockHead(ctx, q, company)
	if err != nil {
		return false, err
	}
	if !found {
		// No head yet (the company's first event) or another transaction
		// holds it. Create it if missing; if it exists, it is busy.
		created, err := t.createHead(ctx, company)
		if err != nil {
			return false, err
		}
		if !created && skipLocked {
			return false, nil // another transaction is linking this company's events
		}
		if head, pos, found, err = t.lockHead(ctx, q, company); err != nil || !found {
			return false, err
		}
	}
	evs, err := t.queryEvents(ctx, unlinkedEvents(t.eventCols()), company, int64(0))
	if err != nil {
		return false, t.err(err, "read unlinked events")
	}
	if len(evs) == 0 {
		return true, nil
	}
	h := &chainHead{hash: head, pos: pos, dirty: true}
	if err := t.linkBacklog(ctx, p, company, h, evs); err != nil {
		return false, err
	}
	t.holdHead(company, h)
	return true, nil
}

// createHead creates company's chain head (empty) unless it exists; created
// says this transaction did, and so holds it.
func (t *Tx) createHead(ctx context.Context, company string) (created bool, err error) {
	n, err := t.C.Exec(ctx, `INSERT INTO event_heads (company, hash, seq, pos) VALUES ($1, '', 0, 0) ON CONFLICT (company) DO NOTHING`, company)
	if err != nil {
		return false, t.err(err, "create the event chain head")
	}
	return n == 1, nil
}

// UnlinkedCompanies lists the companies that have committed events outside
// their chain (stores without serial writers).
func (t *Tx) UnlinkedCompanies(ctx context.Context) ([]string, error) {
	if t.D.SerialWriters {
		return nil, nil
	}
	rows, err := t.C.Query(ctx, `SELECT DISTINCT company FROM events WHERE chain_pos IS NULL ORDER BY company`)
	if err != nil {
		return nil, t.err(err, "list companies with unlinked events")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, t.err(err, "list companies with unlinked events")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, t.err(err, "list companies with unlinked events")
	}
	return out, nil
}

// linkEvent links an unlinked event of company $1 (Seq $2) at chain position
// $3 with previous hash $4 and hash $5. One statement per event, which the
// primary key finds however long the log and whatever the planner's
// statistics say. On tables never analysed, "company = $1" let the planner
// pick an index led by company for the (generic) plan, which scanned all of
// the company's events for each link; an UPDATE joined with a VALUES list (or
// seq = ANY) did the same. The company is still checked on the row, in a form
// no index serves. The statements of a batch travel in one round trip.
const linkEvent = `UPDATE events SET chain_pos = $3, prev_hash = $4, hash = $5 WHERE seq = $2 AND company || '' = $1`

const (
	insertEventCols = `INSERT INTO events (seq, id, company, "time", "type", source, target, "count", actor, subject, details, prev_hash, hash, chain_pos, search) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	// insertEventMoveHead inserts a linked event and moves the head to it.
	insertEventMoveHead = `WITH ev AS (` + insertEventCols + ` RETURNING 1)
UPDATE event_heads SET hash = $13, pos = $14, seq = $1 WHERE company = $3 AND (SELECT count(*) FROM ev) = 1`
	insertEventLink = `INSERT INTO events (id, company, "time", "type", source, target, "count", actor, subject, details, prev_hash, hash, chain_pos, search) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq`
	moveHead        = `UPDATE event_heads SET hash = $2, pos = $3, seq = $4 WHERE company = $1`
)

// takeHeadSQL draws the next event Seq and takes company $1's chain head if it
// is free (FOR UPDATE SKIP LOCKED), and, when it took it, reads the first
// unlinked events of the company (cols is the event select list): one row per
// event, or one row without an event. Its columns are the Seq; the head's
// hash and position (NULL when busy); the head's position as of the
// statement's snapshot (NULL when there is no head); then the event's.
//
// Under READ COMMITTED the lock returns the head's newest version, which may
// be newer than the statement's snapshot, and the events are read as of the
// snapshot: had the previous holder linked events and committed in between,
// they would read as unlinked still. The head's position moves with every
// link, so the events are read only when the locked position equals the one
// in the snapshot; otherwise (rare) takeHead reads them in a statement of its
// own. A transaction that finds the head busy reads no events at all.
func takeHeadSQL(cols string) string {
	return `WITH s AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS seq),
h AS MATERIALIZED (SELECT hash, pos FROM event_heads WHERE company = $1 FOR UPDATE SKIP LOCKED),
v AS MATERIALIZED (SELECT pos FROM event_heads WHERE company = $1)
SELECT s.seq, h.hash, h.pos, (SELECT pos FROM v), e.*
FROM s LEFT JOIN h ON true
LEFT JOIN LATERAL (SELECT ` + cols + ` FROM events WHERE company = $1 AND chain_pos IS NULL AND h.pos = (SELECT pos FROM v) ORDER BY seq LIMIT ` + strconv.Itoa(sealBatch) + `) AS e ON true`
}

// headTry is the outcome of takeHead.
type headTry struct {
	head    *chainHead // nil: not taken
	present bool       // the company has a head (busy if not taken)
	seq     int64      // the Seq drawn
	backlog []eventlog.Event
}

// takeHead tries to take company's chain head (FOR UPDATE SKIP LOCKED),
// drawing an event Seq in the same statement, and, if it took the head, reads
// the company's committed unlinked events (takeHeadSQL): one round trip, with
// the statements queued before. A head asked for ahead (prefetchHead) is used
// instead when there is one.
func (t *Tx) takeHead(ctx context.Context, p Pipeliner, company string) (headTry, error) {
	f := t.fetches[company]
	if f == nil || f.used {
		f = t.queueTakeHead(p, company)
	}
	f.used = true
	if !f.sent {
		if err := p.Batch(ctx); err != nil {
			return headTry{}, t.err(err, "take the event chain head")
		}
		if !f.sent {
			return headTry{}, t.err(errors.New("the head's statement was not sent"), "take the event chain head")
		}
	}
	r := f.try
	if f.hash != nil && f.pos != nil {
		r.head = &chainHead{hash: *f.hash, pos: *f.pos}
		if f.stale {
			var err error
			if r.backlog, err = t.queryEvents(ctx, unlinkedEvents(t.eventCols()), company, int64(0)); err != nil {
				return headTry{}, t.err(err, "read unlinked events")
			}
		}
	}
	return r, nil
}

// queueTakeHead queues takeHead's statement for company.
func (t *Tx) queueTakeHead(p Pipeliner, company string) *headFetch {
	f := &headFetch{}
	if t.fetches == nil {
		t.fetches = map[string]*headFetch{}
	}
	t.fetches[company] = f
	p.QueueRows(takeHeadSQL(t.eventCols()), []any{company}, func(rs Rows) error {
		var snap *int64
		var e nullEvent
		dest := append([]any{&f.try.seq, &f.hash, &f.pos, &snap}, e.dest()...)
		for rs.Next() {
			if err := rs.Scan(dest...); err != nil {
				return err
			}
			ev, ok, err := e.event()
			if err != nil {
				return err
			}
			if ok {
				f.try.backlog = append(f.try.backlog, ev)
			}
		}
		if err := rs.Err(); err != nil {
			return err
		}
		f.try.present = snap != nil || f.pos != nil
		f.stale = f.pos != nil && (snap == nil || *snap != *f.pos)
		f.sent = true
		return nil
	})
	return f
}

// prefetchHead asks for company's chain head ahead of AppendEvent, on the
// first write of the company in a pipelined transaction after it has locked a
// row: takeHead's statements then travel with the write's round trip (or the
// next one), and AppendEvent needs no round trip of its own. Every licensekit
// change appends an event, so the guess is right but for transactions that
// end in an error (a Seq is then left unused, as by any rollback). Writes
// before the transaction's first row lock (an idempotency claim, say) do not
// take the head: the transaction could then wait for that lock while holding
// the head, and every other transaction of the company would meanwhile
// append unlinked.
func (t *Tx) prefetchHead(company string) {
	p, ok := t.C.(Pipeliner)
	if !ok || t.D.SerialWriters || !t.locked || t.heads[company] != nil || t.fetches[company] != nil {
		return
	}
	t.queueTakeHead(p, company)
}

// linkBacklog queues the links of company's unlinked events after h (backlog
// is the first batch of them), moving h.
func (t *Tx) linkBacklog(ctx context.Context, p Pipeliner, company string, h *chainHead, backlog []eventlog.Event) error {
	for len(backlog) > 0 {
		for _, e := range backlog {
			h.link(&e, e.Seq)
			p.Queue(linkEvent, []any{company, e.Seq, h.pos, e.PrevHash, e.Hash}, queuedCheck(t, "link an event", 1))
		}
		if len(backlog) < sealBatch {
			return nil
		}
		var err error
		if backlog, err = t.queryEvents(ctx, unlinkedEvents(t.eventCols()), company, h.seq); err != nil {
			return t.err(err, "read unlinked events")
		}
	}
	return nil
}

// queuedCheck maps the outcome of a queued statement; want >= 0 is the number
// of rows it must affect.
func queuedCheck(t *Tx, what string, want int64) func(int64, error) error {
	return func(n int64, err error) error {
		if err == nil && want >= 0 && n != want {
			err = fmt.Errorf("%s: %d rows affected, want %d", what, n, want)
		}
		if err != nil {
			return t.err(err, "%s", what)
		}
		return nil
	}
}

// holdHead records that this transaction holds company's head h.
func (t *Tx) holdHead(company string, h *chainHead) {
	if t.heads == nil {
		t.heads = map[string]*chainHead{}
	}
	t.heads[company] = h
}

// appendPipelined appends e on a Pipeliner, linking it into the company's
// chain at once when the chain head is free. The first event of a company in a
// transaction takes the head and the backlog of unlinked events (takeHead,
// drawing the event's Seq too), queues the backlog's links and its own insert,
// already linked, together with the move of the head. The transaction holds
// the head until it commits; other transactions skip it meanwhile and append
// unlinked. Later events of the company in this transaction link directly
// (Finish writes the head back). When the head is busy the event goes in
// unlinked, for the next holder of the head to link (or Store.Seal).
func (t *Tx) appendPipelined(ctx context.Context, p Pipeliner, e eventlog.Event, details any) (int64, error) {
	at := e.Time.Format(TimeLayout)
	if h := t.heads[e.Company]; h != nil {
		h.link(&e, 0) // the Seq comes back from the insert
		seq, err := t.queryInt(ctx, insertEventLink,
			e.ID, e.Company, at, string(e.Type), e.Source, e.Target, e.Count, e.Actor, e.Subject, details, e.PrevHash, e.Hash, h.pos, storage.SearchText(e))
		if err != nil {
			return 0, t.err(err, "append event")
		}
		h.seq, h.dirty = seq, true
		return seq, nil
	}
	try, err := t.takeHead(ctx, p, e.Company)
	if err != nil {
		return 0, err
	}
	h, seq := try.head, try.seq
	if h == nil && !try.present {
		// The company's first event: create its head, which this
		// transaction then holds; if another transaction just created it,
		// it is busy.
		created, err := t.createHead(ctx, e.Company)
		if err != nil {
			return 0, err
		}
		if created {
			h = &chainHead{}
			if try.backlog, err = t.queryEvents(ctx, unlinkedEvents(t.eventCols()), e.Company, int64(0)); err != nil {
				return 0, t.err(err, "read unlinked events")
			}
		}
	}
	if h == nil {
		// Another transaction holds the head: it, or the next transaction
		// of the company to take the head, links this event once both have
		// committed (trying again before COMMIT would cost a round trip for
		// the same work).
		p.Queue(insertEventCols, []any{seq, e.ID, e.Company, at, string(e.Type), e.Source, e.Target, e.Count, e.Actor, e.Subject, details, "", "", nil, storage.SearchText(e)}, queuedCheck(t, "append event", 1))
		return seq, nil
	}
	if err := t.linkBacklog(ctx, p, e.Company, h, try.backlog); err != nil {
		return 0, err
	}
	h.link(&e, seq)
	p.Queue(insertEventMoveHead, []any{seq, e.ID, e.Company, at, string(e.Type), e.Source, e.Target, e.Count, e.Actor, e.Subject, details, e.PrevHash, e.Hash, h.pos, storage.SearchText(e)}, queuedCheck(t, "append event", 1))
	t.holdHead(e.Company, h)
	return seq, nil
}

// unlinkedEvents reads a company's unlinked events after a Seq, in Seq order.
func unlinkedEvents(cols string) string {
	return `SELECT ` + cols + ` FROM events WHERE company = $1 AND chain_pos IS NULL AND seq > $2 ORDER BY seq LIMIT ` + strconv.Itoa(sealBatch)
}

// Finish prepares a pipelined transaction's commit: it queues the write-back
// of the chain heads the transaction moved, to go out with COMMIT.
func (t *Tx) Finish() {
	p, ok := t.C.(Pipeliner)
	if !ok {
		return
	}
	companies := make([]string, 0, len(t.heads))
	for c, h := range t.heads {
		if h.dirty {
			companies = append(companies, c)
		}
	}
	slices.Sort(companies)
	for _, c := range companies {
		h := t.heads[c]
		p.Queue(moveHead, []any{c, h.hash, h.pos, h.seq}, queuedCheck(t, "move the event chain head", 1))
	}
	t.heads = nil
}

// lockHead runs the head-locking query q; found is false when no row came back
// (no head, or skipped because locked).
func (t *Tx) lockHead(ctx context.Context, q, company string) (head string, pos int64, found bool, err error) {
	rows, err := t.C.Query(ctx, q, company)
	if err != nil {
		return "", 0, false, t.err(err, "lock the event chain head")
	}
	defer rows.Close()
	if rows.Next() {
		found = true
		if err := rows.Scan(&head, &pos); err != nil {
			return "", 0, false, t.err(err, "lock the event chain head")
		}
	}
	if err := rows.Err(); err != nil {
		return "", 0, false, t.err(err, "lock the event chain head")
	}
	return head, pos, found, nil
}

// lastHash returns the Hash of company's last event ("" for none).
func (t *Tx) lastHash(ctx context.Context, company string) (string, error) {
	rows, err := t.C.Query(ctx, `SELECT hash FROM events WHERE company = $1 ORDER BY seq DESC LIMIT 1`, company)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var h string
	if rows.Next() {
		if err := rows.Scan(&h); err != nil {
			return "", err
		}
	}
	return h, rows.Err()
}

// queryInt runs q, which returns one row of one integer column.
func (t *Tx) queryInt(ctx context.Context, q string, args ...any) (int64, error) {
	var v int64
	return v, t.queryOne(ctx, q, &v, args...)
}

func (t *Tx) queryOne(ctx context.Context, q string, dst any, args ...any) error {
	rows, err := t.C.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%s: statement returned no row", t.D.Name)
	}
	if err := rows.Scan(dst); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

var sortColumn = map[eventlog.Column]string{
	"":                  `"time"`,
	eventlog.ColTime:    `"time"`,
	eventlog.ColType:    `"type"`,
	eventlog.ColSource:  `source`,
	eventlog.ColTarget:  `target`,
	eventlog.ColCount:   `"count"`,
	eventlog.ColActor:   `actor`,
	eventlog.ColSubject: `subject`,
	eventlog.ColID:      `id`,
	eventlog.ColSeq:     `seq`,
}

// escapeLike escapes the LIKE wildcards of s with backslashes.
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// eventWhere returns the WHERE clause (without cursor) and its arguments.
func eventWhere(f eventlog.Filter) (string, []any, error) {
	if f.Company == "" {
		return "", nil, license.Errorf(license.Internal, "company", "storage: event query without company")
	}
	var sb strings.Builder
	args := []any{f.Company}
	sb.WriteString(`company = $1`)
	if len(f.Types) > 0 {
		sb.WriteString(` AND "type" IN (`)
		for i, ty := range f.Types {
			if i > 0 {
				sb.WriteString(", ")
			}
			args = append(args, string(ty))
			fmt.Fprintf(&sb, "$%d", len(args))
		}
		sb.WriteString(`)`)
	}
	if f.Search != "" {
		// search holds the event's searchable fields folded in Go
		// (eventlog.SearchText), so that every store ignores case alike:
		// SQL's lower() folds only ASCII under the C collation.
		args = append(args, "%"+escapeLike(storage.FoldSearch(f.Search))+"%")
		fmt.Fprintf(&sb, ` AND search LIKE $%d ESCAPE '\'`, len(args))
	}
	return sb.String(), args, nil
}

// searchSpansFields reports whether f's search text holds the separator of
// the search column, so that it could match across two fields there: the
// column then only narrows the scan and f.Matches decides.
func searchSpansFields(f eventlog.Filter) bool {
	return f.Search != "" && strings.Contains(storage.FoldSearch(f.Search), eventcore.SearchSeparator)
}

const eventCols = `seq, id, company, "time", "type", source, target, "count", actor, subject, details, prev_hash, hash`

// eventCols is the select list of events, with the chain position last.
func (t *Tx) eventCols() string {
	if t.D.SerialWriters {
		return eventCols + `, seq` // linked at append, in Seq order
	}
	return eventCols + `, COALESCE(chain_pos, 0)`
}

// chainColumn is the column of the chain order.
func (t *Tx) chainColumn() string {
	if t.D.SerialWriters {
		return `seq`
	}
	return `chain_pos`
}

func scanEvent(rows Rows) (eventlog.Event, error) {
	var e eventlog.Event
	var at, typ string
	var details []byte
	if err := rows.Scan(&e.Seq, &e.ID, &e.Company, &at, &typ, &e.Source, &e.Target, &e.Count, &e.Actor, &e.Subject, &details, &e.PrevHash, &e.Hash, &e.Chain); err != nil {
		return e, err
	}
	return e, finishEvent(&e, at, typ, details)
}

// finishEvent sets e's time, type and details from their stored forms.
func finishEvent(e *eventlog.Event, at, typ string, details []byte) error {
	t, err := time.Parse(TimeLayout, at)
	if err != nil {
		return fmt.Errorf("event %d: bad time %q: %w", e.Seq, at, err)
	}
	e.Time = t.UTC()
	e.Type = eventlog.Type(typ)
	if len(details) > 0 {
		e.Details = details
	}
	return nil
}

// nullEvent is the scan destination of an event's columns (in scanEvent's
// order) on the nullable side of an outer join: all NULL when no event matched.
type nullEvent struct {
	seq, count, chain                                                *int64
	id, company, at, typ, source, target, actor, subject, prev, hash *string
	details                                                          []byte
}

func (n *nullEvent) dest() []any {
	return []any{&n.seq, &n.id, &n.company, &n.at, &n.typ, &n.source, &n.target, &n.count, &n.actor, &n.subject, &n.details, &n.prev, &n.hash, &n.chain}
}

// event returns the scanned event; ok is false when the row had none.
func (n *nullEvent) event() (e eventlog.Event, ok bool, err error) {
	if n.seq == nil {
		return e, false, nil
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	e = eventlog.Event{Seq: *n.seq, ID: str(n.id), Company: str(n.company), Source: str(n.source), Target: str(n.target),
		Actor: str(n.actor), Subject: str(n.subject), PrevHash: str(n.prev), Hash: str(n.hash)}
	if n.count != nil {
		e.Count = *n.count
	}
	if n.chain != nil {
		e.Chain = *n.chain
	}
	return e, true, finishEvent(&e, str(n.at), str(n.typ), n.details)
}

// eventBatch is how many events Events reads per query; it streams larger
// results batch by batch with keyset paging, holding no cursor open while fn runs.
const eventBatch = 256

// Events implements storage.Tx.
func (t *Tx) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	col, ok := sortColumn[f.Sort]
	if f.Sort == eventlog.ColChain {
		col, ok = t.chainColumn(), true
	}
	if !ok {
		return license.Errorf(license.Invalid, "sort", "cannot sort by %q", f.Sort)
	}
	where, args, err := eventWhere(f)
	if err != nil {
		return err
	}
	if f.Sort == eventlog.ColChain && !t.D.SerialWriters {
		where += ` AND chain_pos IS NOT NULL`
	}
	dir, cmp := "ASC", ">"
	if f.Desc {
		dir, cmp = "DESC", "<"
	}
	after := f.After
	remaining := f.Limit
	if searchSpansFields(f) && f.Limit > 0 {
		// Rows the column selects may fail f.Matches: read on until Limit
		// events matched.
		lim := f.Limit
		f.Limit = 0
		n := 0
		errEnough := errors.New("enough")
		err := t.Events(ctx, f, func(e eventlog.Event) error {
			if err := fn(e); err != nil {
				return err
			}
			if n++; n == lim {
				return errEnough
			}
			return nil
		})
		if errors.Is(err, errEnough) {
			return nil
		}
		return err
	}
	exact := searchSpansFields(f)
	for {
		batch := eventBatch
		if f.Limit > 0 {
			if remaining <= 0 {
				return nil
			}
			batch = min(batch, remaining)
		}
		q := `SELECT ` + t.eventCols() + ` FROM events WHERE ` + where
		qargs := args
		if after != nil {
			var key any = after.Key
			if f.Sort == eventlog.ColCount || f.Sort == eventlog.ColSeq || f.Sort == eventlog.ColChain {
				n, err := strconv.ParseInt(after.Key, 10, 64)
				if err != nil {
					return license.Errorf(license.Invalid, "cursor", "the cursor does not fit this sort order")
				}
				key = n
			}
			qargs = append(qargs[:len(qargs):len(qargs)], key, after.Seq)
			q += fmt.Sprintf(` AND (%s, seq) %s ($%d, $%d)`, col, cmp, len(qargs)-1, len(qargs))
		}
		q += fmt.Sprintf(` ORDER BY %s %s, seq %s LIMIT %d`, col, dir, dir, batch)
		evs, err := t.queryEvents(ctx, q, qargs...)
		if err != nil {
			return t.err(err, "read events")
		}
		for _, e := range evs {
			if exact && !f.Matches(e) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(evs) < batch {
			return nil
		}
		remaining -= len(evs)
		last := evs[len(evs)-1]
		after = &eventlog.Cursor{Key: cursorKey(last, f.Sort), Seq: last.Seq}
	}
}

func (t *Tx) queryEvents(ctx context.Context, q string, args ...any) ([]eventlog.Event, error) {
	rows, err := t.C.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanEvents(rows)
}

// scanEvents reads all events of rows.
func scanEvents(rows Rows) ([]eventlog.Event, error) {
	out := make([]eventlog.Event, 0, 16)
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// cursorKey is the stored text of e's sort column (see eventlog.Cursor).
func cursorKey(e eventlog.Event, c eventlog.Column) string { return storage.CursorKey(e, c) }

// CountEvents implements storage.Tx.
func (t *Tx) CountEvents(ctx context.Context, f eventlog.Filter) (int64, error) {
	if searchSpansFields(f) {
		f.After, f.Limit = nil, 0
		var n int64
		err := t.Events(ctx, f, func(eventlog.Event) error { n++; return nil })
		return n, err
	}
	where, args, err := eventWhere(f)
	if err != nil {
		return 0, err
	}
	rows, err := t.C.Query(ctx, `SELECT count(*) FROM events WHERE `+where, args...)
	if err != nil {
		return 0, t.err(err, "count events")
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, t.err(err, "count events")
		}
	}
	if err := rows.Err(); err != nil {
		return 0, t.err(err, "count events")
	}
	return n, nil
}
