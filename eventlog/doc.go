// Package eventlog is the audit log of licensekit. Every change to pools, sites,
// top-up settings, volume licenses and subscriptions appends an [Event] in the same
// storage transaction as the change, so no change exists without its event and no
// event without its change. The package queries the log (search over the visible
// columns, sort by any column, stable cursor paging, column choice) and exports it
// to CSV, either the current view or all original data, streaming with flat memory
// and neutralising spreadsheet formulas.
//
// Search ignores case by Unicode simple case folding ("école" finds
// "École", σ finds ς and Σ, but "straße" does not find "STRASSE"), and every
// store applies that one rule, so a query selects the same events on each.
//
// # Tamper evidence
//
// Each company's events form a hash chain (checked by Verify): an event edited,
// removed or inserted in the database breaks the chain at that point. The
// chain has no secret, so someone who can write to the database can also
// recompute every hash after an edit and leave a chain that verifies.
//
// A [Checkpoint] is the answer to that: the chain head (company, position,
// Seq, hash, time, and the previous checkpoint's position) signed with an
// Ed25519 key held outside the database. VerifyCheckpoints checks the
// checkpoints with the public keys alone and reports a chain that no longer
// has a signed head at its signed position, a chain cut short below a
// checkpoint, a checkpoint with a bad signature or of another company, and a
// checkpoint missing between two others. It cannot report what happens after
// the latest checkpoint (those events have only the plain chain until the
// next one), the deletion of the latest checkpoints with the events after the
// remaining one or of all checkpoints, a database restored from an old backup,
// or anything done with the signing key itself; compare with a copy of the
// latest checkpoint kept elsewhere for the former. storage.Checkpoint and
// storage.VerifyCheckpoints store and check checkpoints through a store.
package eventlog
