// Package sqlite is licensekit's embedded store: one SQLite database file
// (modernc.org/sqlite, pure Go, no cgo) in WAL mode with foreign keys on and a
// busy timeout. Read-write transactions begin IMMEDIATE on a single writer
// connection, so writers are serialised (within a process by the connection,
// across processes by SQLite's write lock) and two writers never both read a
// count and then both write it; a transaction that still finds the database
// busy is retried a bounded number of times. Read-only transactions run on a
// separate pool of query-only connections and see a consistent WAL snapshot.
// The schema is a list of numbered migrations embedded in the binary and applied
// at Open, each in one transaction and recorded in schema_migrations; a file
// written by a newer licensekit, or a file that is not a licensekit database,
// is refused at Open with a clear *license.Error. Commits are durable with
// synchronous=FULL (the default); WithSynchronous(Normal) trades the last
// transactions before a power loss for speed (never consistency).
//
// Concurrent Updates are committed in groups (on by default; see
// WithGroupCommit and Store.Update): the callers that queue while the writer
// is busy share its next transaction, each in a savepoint of its own, and one
// COMMIT, so that at synchronous FULL one fsync serves them all. Each caller
// returns after that COMMIT, with its own outcome; a lone writer begins at
// once.
//
// The writer connection keeps the records it last read or wrote, and each
// company's last event hash, and serves a write transaction's point reads
// from them (see WithWriterCache). It checks SQLite's PRAGMA data_version
// once after each BEGIN IMMEDIATE and drops them all when another connection
// (another process on the same file) has committed since; a caller rolled
// back to its savepoint leaves nothing of its work in them.
//
// Read transactions run on the read connection's driver directly, not
// through database/sql's statement and row wrappers (see WithDirectReads):
// each connection keeps the statements of the reads of records by key and
// of the lists of records prepared for its life.
package sqlite
