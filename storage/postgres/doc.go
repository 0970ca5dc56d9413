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
// Event chain: AppendEvent inserts the event unlinked (chain_pos NULL) and
// takes no lock. Just before COMMIT the transaction takes its company's row in
// event_heads with SELECT ... FOR UPDATE SKIP LOCKED, reads the company's
// committed unlinked events in a new statement (so it sees everything linked
// by the previous holder) and links them in Seq order (eventlog.HashEvent),
// moving the head. If another transaction holds the head, this one skips: its
// events are linked by the next transaction of the company, or by Store.Seal,
// which storage.VerifyChain calls before verifying. Transactions of one company
// therefore never queue behind each other for the chain, and a crash between
// commit and linking leaves events unlinked, never lost. Chain order is the
// order of linking, recorded in chain_pos; the chain is verified in that order.
//
// Compatibility: the schema and queries use only standard PostgreSQL 15 SQL
// (identity columns, INSERT ... ON CONFLICT, row-value comparison, partial
// indexes, data-modifying WITH, FOR UPDATE SKIP LOCKED, LOCK TABLE for
// migrations) and no extension, so
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
