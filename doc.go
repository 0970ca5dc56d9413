// Package licensekit is an embeddable library for software-license management,
// with a reference HTTP server. This package holds no code; it is the map of the
// module.
//
//   - license: shared value types: IDs (UUIDv7), Metric (named user, installed
//     instance, concurrent user, physical server, physical CPU), Model (rental,
//     perpetual), Money (decimal amount + ISO 4217 currency), the coded Error,
//     Clock, Actor and Role; validation results and signed offline license files.
//   - pool: license pools: lifecycle (New, Active, Closed, Retired), transactions,
//     restrictions, priority, manual and automatic allocation, quarantine, leases
//     for concurrent use, and the counts of the status pane.
//   - billing: MSP companies and sites: purchase, decrease and transfer with
//     previews that equal commits, enrolled devices as a floor, invoice estimates.
//     billing/volume: volume licenses sub-allocated to customers.
//     billing/subscription: licenses with a lifetime: trial, expiry, renewal, exchange.
//   - topup: automatic top-up of site licenses, with an outbox of notifications.
//   - eventlog: the audit log every change writes in its own transaction; query,
//     sort, search and CSV export.
//   - storage: the Store/Tx seam the services run on; storage/memory,
//     storage/sqlite (the embedded default) and storage/postgres implement it, and
//     storage/storagetest is the conformance suite they all pass.
//   - adapters/http: the REST API; examples/: runnable programs, including the
//     reference server.
//
// Every operation is one storage transaction that writes its state and its
// events together; see DESIGN.md in the repository for the rules each part keeps.
package licensekit
