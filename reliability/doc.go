// Package reliability holds licensekit's reliability and security suite, as
// tests only: a linearizability check of the reference HTTP server on SQLite
// (also with random storage faults during the run) and PostgreSQL (16
// concurrent clients, porcupine against a sequential model of sites and
// pools), a tenant isolation sweep over every operation of the OpenAPI
// document (another company's resources answer exactly as missing ones),
// storage faults injected at every write and commit of each mutating operation
// under the server (nothing changes, an Idempotency-Key retry applies once), a
// PostgreSQL backend killed mid-transaction, a server SIGKILLed under load and
// restarted on its SQLite file (every request applied exactly once), and a scan
// of logs, records and the database file for API and license keys in plain
// text; a webhook delivery in flight when the server is SIGKILLed, sent again
// under its delivery ID after the restart; and three server processes (the
// built ./examples/server) on one PostgreSQL database with 32 clients spread
// over them: the linearizability check across processes, revocation reaching
// every process within the key cache's bound, and each background job's items
// done once. PostgreSQL tests run in a fresh database of LICENSEKIT_TEST_POSTGRES_DSN
// (skipped without it, failing under CI=true).
//
// The tests that call particular routes (the linearizability clients, the
// set-up of sites and pools, the secrets run, the killed backend) use the
// typed client of adapters/http/client. The sweeps over every operation
// (isolation, faults) and the restart load send raw requests: they take
// routes and bodies from the OpenAPI document or replay a request byte for
// byte, which a client with one method per route cannot express.
//
// Fuzz targets (go test -fuzz; their checked-in corpora under testdata/fuzz run as
// unit tests, and reliability/fuzz.sh runs each briefly):
//
//   - adapters/http: FuzzDecodeJSON, FuzzRequestBodies (request decoders),
//     FuzzEveryRouteBody (every JSON-body route of the route table),
//     FuzzParseEventQuery, FuzzParseVolumeQuery, FuzzQueryParameters (every
//     documented query parameter of every GET route), FuzzAuthorization
//     (the API key header);
//   - eventlog: FuzzNeutraliseCell, FuzzExportRow (the CSV cell writer over
//     every text column);
//   - billing/volume: FuzzExportCells (the CSV and XLSX cell writers);
//   - license/licensefile: FuzzVerify (the license-file verifier).
package reliability
