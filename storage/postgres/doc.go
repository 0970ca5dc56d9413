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
// Event chain: AppendEvent links each event to the company's previous one
// (eventlog.HashEvent). It locks the company's row in event_heads (an upsert,
// one round trip) until commit, then draws the Seq, so a company's events are
// chained in Seq order whichever process appends them. The cost is that
// transactions of one company that append events commit one after another
// from their AppendEvent on (domain operations append last, so the lock is
// held only for the final statements and the commit); different companies do
// not wait for each other.
//
// Compatibility: the schema and queries use only standard PostgreSQL 15 SQL
// (identity columns, INSERT ... ON CONFLICT, row-value comparison, partial
// unique indexes, LOCK TABLE for migrations) and no extension, so
// PostgreSQL-compatible distributed engines can run it. The assumptions are:
// SELECT ... FOR UPDATE locks the row until commit (or the engine runs
// transactions serializably and reports conflicts as 40001); identity values
// are unique and increase in the order they are drawn. Within one company,
// Seq follows commit order (the head lock); across companies it need not, so a
// consumer that tails the whole log by Seq (not one company's) can miss an
// event committed late with a smaller Seq.
//
// Migrations are embedded and applied at Open, each in one transaction that
// first takes LOCK TABLE schema_migrations IN EXCLUSIVE MODE, so two processes
// opening the database at once do not both migrate; a schema newer than this
// code is refused.
package postgres
