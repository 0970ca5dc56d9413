// Package postgres is licensekit's store for several application instances on
// one PostgreSQL database (jackc/pgx/v5 with a connection pool).
//
// Isolation: read-write transactions run at READ COMMITTED, and every
// read-modify-write starts with Tx.GetForUpdate, which is SELECT ... FOR UPDATE:
// the row stays locked until commit, so a concurrent operation on the same
// record waits and then reads the committed value. Counts (seats, licenses)
// therefore change only on locked rows, whichever process runs the operation.
// READ COMMITTED with row locks was chosen over SERIALIZABLE because it makes
// contended operations wait instead of abort, which keeps throughput on a hot
// pool, and it needs no predicate locking; Update still retries the whole
// function, a bounded number of times with jittered backoff, when the database
// reports a serialization failure (40001) or a deadlock (40P01), so it also
// works on engines that run every transaction serializably. A unique violation
// (23505) is a Conflict. Read-only transactions (View) run at REPEATABLE READ
// READ ONLY, so a listing or export sees one snapshot.
//
// Every query names the tenant (company) in its WHERE clause, except List with
// AllCompanies, which background jobs use.
//
// Round trips: a read-write transaction is driven statement by statement on
// one connection and its statements share round trips (pgx batches, sent as
// one extended-protocol pipeline): BEGIN goes out with the first statement,
// Put's write (which reports only errors; its unique key is checked by a
// SELECT first) waits for the next statement, and the last writes go out with
// COMMIT. If a queued statement fails, the call that sent it returns the
// error, every later call returns it too, and the transaction rolls back. A
// license allocation takes three round trips (BEGIN with the pool's lock; the
// allocation's insert with the event chain head; the pool's update, the event
// and the head's move with COMMIT), where a bare BEGIN; UPDATE; INSERT;
// COMMIT takes four.
//
// Event chain: every change appends an event, so the first write of a
// company in a transaction also draws the event's Seq and takes the company's
// row in event_heads with SELECT ... FOR UPDATE SKIP LOCKED and, if it got
// the head, reads the company's committed unlinked events, all in one
// statement that travels with the write. The lock sees the head's newest
// version but the events are read as of the statement's snapshot, so they are
// used only if the head's position in that snapshot equals the locked one
// (every link moves it); otherwise they are read again in a statement of
// their own. A transaction that finds the head busy reads no events. If it
// got the head, AppendEvent links those events and inserts its own already
// linked (the chain hash eventlog.Verify checks), moving the head, and the
// transaction holds the head until it commits; later events of the company in
// the transaction link directly. If another transaction holds the head, the
// event goes in unlinked (chain_pos NULL), left to the holder's successor: the
// next transaction of the company that takes the head links every committed
// unlinked event first; Store.Seal, which storage.VerifyChain calls before
// verifying, links any left over, and Store.SealPending does so for every
// company (the reference server runs it in the background). Transactions of
// one company therefore never queue behind each other for the chain, and a
// crash never loses an event: it
// is either committed (linked or not) or rolled back. Chain order is the order
// of linking, recorded in chain_pos; the chain is verified in that order.
//
// Plans: pgx prepares every statement, and PostgreSQL may keep a generic plan
// for a connection's life, made when the tables were small or never analysed
// (autovacuum has not run yet, or is off). Statements that find rows by key
// are written so that only their key's index matches them: an event is
// linked by its own UPDATE through the primary key, lookups by unique key
// state the partial index's predicate, and records_parent is
// (kind, parent, company, id), so that it cannot stand in for the primary key
// and serves the background jobs' lists across companies. A test
// checks each plan under plan_cache_mode=force_generic_plan. Autovacuum should
// still run (it does by default): linked events leave dead entries in the
// partial index of unlinked events until the table is vacuumed.
//
// Compatibility: the schema and queries use only standard PostgreSQL 15 SQL
// (identity columns with OVERRIDING SYSTEM VALUE and nextval, INSERT ... ON
// CONFLICT, row-value comparison, partial indexes, data-modifying and
// MATERIALIZED WITH, LATERAL joins, FOR
// UPDATE SKIP LOCKED, LOCK TABLE for migrations, the extended query protocol's
// pipelining) and no extension, so
// PostgreSQL-compatible distributed engines can run it. The assumptions are:
// SELECT ... FOR UPDATE locks the row until commit (or the engine runs
// transactions serializably and reports conflicts as 40001); identity values
// are unique and increase in the order they are drawn. Within one company,
// Seq need not follow commit order, so a consumer that tails the log by Seq can
// miss an event committed late with a smaller Seq; tail by chain position
// (eventlog.ColChain) instead, which only grows for linked events.
//
// Migrations are embedded and applied at Open, each in one transaction that
// first takes LOCK TABLE schema_migrations IN EXCLUSIVE MODE, so two processes
// opening the database at once do not both migrate; a schema newer than this
// code is refused.
package postgres
