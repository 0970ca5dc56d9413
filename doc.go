// Package licensekit is an embeddable library for software-license management,
// with a reference HTTP server. This package holds no code; it is the map of the
// module. ARCHITECTURE.md in the repository explains how the parts fit together
// and the rules they keep.
//
// Value types:
//
//   - license: the types every package shares: IDs (UUIDv7), Metric (named
//     user, installed instance, concurrent user, physical server, physical CPU),
//     Model (rental, perpetual), Money (decimal amount + ISO 4217 currency), the
//     coded Error, Clock, Actor and Role, validation codes and rate limiters.
//   - license/licensefile: Ed25519-signed offline license files, issued by a
//     vendor and verified by a product with the standard library only.
//
// Domain services (each a Service over a storage.Store):
//
//   - pool: license pools: lifecycle (New, Active, Closed, Retired), transactions,
//     restrictions, priority, manual and automatic allocation, quarantine, leases
//     for concurrent use, the counts of the status pane, and vendor validation.
//   - billing: MSP companies, members and sites: purchase, decrease and transfer
//     with previews that equal commits, enrolled devices as a floor, invoice
//     estimates.
//   - billing/volume: volume licenses sub-allocated to customer accounts.
//   - billing/subscription: licenses with a lifetime: trial, expiry, renewal,
//     exchange, keys.
//   - access: the effective role: the one rule, applied by every service and
//     the HTTP adapter inside their transactions, that lowers the role an actor
//     claims to the role its company has stored for it.
//   - topup: automatic top-up of site licenses, with an outbox of notifications.
//   - webhook: owners' HTTPS endpoints for the company's events: deliveries
//     written in each change's transaction (Wrap), signed with HMAC-SHA256
//     (Verify for receivers), retried with backoff, logged, redelivered, and
//     sent once across processes by the Dispatcher.
//   - eventlog: the audit log every change writes in its own transaction, with a
//     hash chain; query, sort, search and CSV export.
//
// Storage:
//
//   - storage: the Store/Tx seam the services run on, and the idempotency helper.
//   - storage/memory: an in-process store (tests, products without persistence).
//   - storage/sqlite: the embedded default store, one SQLite file (pure Go).
//   - storage/postgres: the store for several instances on one PostgreSQL database.
//   - storage/internal/sqlcore: the SQL and migration runner the SQLite and
//     PostgreSQL stores share.
//   - storage/storagetest: the conformance suite every store passes.
//
// Adapters and programs:
//
//   - adapters/http: the REST API, driven by one route table that also yields
//     the OpenAPI document.
//   - adapters/http/client: the typed Go client of the REST API, generated
//     from that document (go generate ./... regenerates it).
//   - adapters/console: the MSP web console (sign-in with an API key, licenses,
//     automatic top-up, event log), server-rendered over the same services.
//   - adapters/notify: top-up notifications by SMTP or to a log, and the loop
//     that dispatches them.
//   - examples/server: the reference server (REST API and web console over
//     SQLite or PostgreSQL, demo data, background jobs).
//   - examples/pools: a walkthrough of pools without HTTP.
//   - client: the SDK a vendor's shipped product links in: activate, validate
//     and deactivate, floating seats with background heartbeats, borrowing,
//     an offline cache bounded by the server's grace, license-file checks. It
//     uses only the standard library, license/licensefile and the generated
//     API client.
//   - examples/vendor: a small licensed product on package client alone.
//
// Tests and measurements:
//
//   - reliability: linearizability, tenant isolation, fault injection, crash and
//     restart tests of the server, and the fuzz targets' list (tests only).
//   - bench: the benchmark suite, each benchmark beside its baseline
//     (bench/README.md has the figures).
//   - bench/loadgen: a load generator with a fixed number of concurrent clients.
//   - bench/cmd/lkload: drives a running server with bench/loadgen.
//   - bench/cmd/ratios: turns benchmark output into ratios against the targets.
//
// Every operation is one storage transaction that writes its state and its
// events together, and every error is a *license.Error with a machine-readable
// code; bad input changes nothing.
package licensekit
