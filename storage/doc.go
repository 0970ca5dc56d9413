// Package storage is the seam between licensekit's domain services and the
// databases that keep their state.
//
// A [Store] runs functions in transactions; a [Tx] offers a small set of
// operations on typed records and the event log. Domain packages (pool, billing,
// topup, ...) keep their state as [Record]s: a JSON document identified by
// (company, kind, id), with an optional parent (allocations under a pool) and an
// optional unique key (a site's name within its company). Every service
// operation is one [Store.Update]: it loads what it needs with [Tx.GetForUpdate]
// (a row lock in PostgreSQL; SQLite and the memory store serialise writers),
// decides in pure Go, writes records and appends its events, and either all of
// it commits or none of it does.
//
// [Load] reads a record into a Go value through a bounded cache of decoded
// documents, handing out copies; [Peek] hands out the cached value itself to
// callers that only read. [SaveKept] and [InsertKept] write a value that
// serves the next Load without decoding, and a store that lives in the
// process ([ValueTx]: the memory store) holds such a value in place of its
// document until something reads the bytes.
//
// Because the records are opaque to the stores, a new domain feature needs no
// new store code and every store passes the same conformance suite
// (storage/storagetest). Implementations: storage/memory, storage/sqlite (the
// embedded default) and storage/postgres.
package storage
