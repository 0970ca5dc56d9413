// Package metrics exposes a licensekit server's operation in the Prometheus
// text format, with prometheus/client_golang: HTTP requests by route pattern,
// method and status (a counter) and their duration (a histogram); store
// transactions, retries, SQLite group-commit batch sizes and waits for the
// right to write (through a storage.Observer); the top-up notification
// outbox's depth and delivery failures; totals of the domain (companies,
// sites, licenses, enrolled devices, pools, seats held), without a per-company
// label so the number of series stays bounded whatever the number of tenants;
// build information and the Go runtime's own metrics.
//
// Every series has a bounded set of label values: the route label is the
// route's pattern ("GET /v1/sites/{id}"), never the path, and requests no
// route serves share one value.
//
// The metrics say how busy a server is and what it holds: serve them where
// only the operators can reach them (the reference server serves them on a
// separate listen address, off by default).
package metrics
