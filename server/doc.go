// Package server is the licensekit reference server: the REST API of
// adapters/http and the web console of adapters/console over a SQLite file
// (the default, ./licensekit.db) or a PostgreSQL database, with its
// background loops. Run is what "licensekit serve" (cmd/licensekit) and
// examples/server run; a product that wants the reference server whole calls
// it, one that assembles its own uses the adapters directly.
//
//	licensekit serve                                   # 127.0.0.1:8080, ./licensekit.db
//	licensekit serve -addr 127.0.0.1:9090 -sqlite /var/lib/licensekit.db
//	licensekit serve -postgres postgres://user:pass@localhost/licensekit
//
// Most flags can also come from the environment: LICENSEKIT_ADDR,
// LICENSEKIT_SQLITE, LICENSEKIT_POSTGRES, LICENSEKIT_ATTACHMENTS,
// LICENSEKIT_OWNER_KEY_FILE and the others each flag's help names. -config
// FILE (LICENSEKIT_CONFIG) reads flag values from a file, one "name = value"
// a line. The precedence is: a flag given on the command line, then its
// environment variable, then the config file, then the default
// (ApplyConfigFile). Pool attachments are files in -attachments (by default next
// to the SQLite file).
//
// -sqlite-sync (env LICENSEKIT_SQLITE_SYNC) sets the SQLite file's
// durability: full (the default) writes every commit to disk before the
// answer; normal answers sooner and may lose the last transactions on a power
// loss or an operating-system crash, but never corrupts the file nor breaks
// a transaction in half, and a crash of the server alone loses nothing.
//
// Rate limits are on by default. Failed authentications are limited per
// client address and per key prefix (-auth-fail-rate 10 a minute,
// -auth-fail-burst 20); validations and activations per pool, license or
// license key (-validate-rate 600 a minute, -validate-burst 100). A rate of 0
// turns a limit off; beyond a limit the answer is 429 rate_limited with
// Retry-After in seconds. The client address is the peer's unless the peer is
// listed in -trusted-proxies (addresses or CIDR ranges, comma-separated),
// whose X-Forwarded-For is then believed. The environment variables are
// LICENSEKIT_AUTH_FAIL_RATE, LICENSEKIT_AUTH_FAIL_BURST,
// LICENSEKIT_VALIDATE_RATE, LICENSEKIT_VALIDATE_BURST and
// LICENSEKIT_TRUSTED_PROXIES. A refused request (403) is recorded as an
// access.denied event in its company's event log; a failed authentication
// (401) has no company and is logged at WARN level with the client address
// and the key prefix, never stored. Both records are themselves limited.
//
// On the first start with an empty store it creates demo data: a company
// ("Demo MSP") with an owner, three sites on the monthly invoice in one site
// group, two license pools, and a volume license with two customers, and an
// owner API key, issued once per store: printed at that start, or written to
// the file -owner-key-file names (mode 0600) instead. Keys are stored only as
// hashes, so later starts print no key (they say how to get one); a lost owner
// key is replaced by starting once with -new-owner-key, which issues a further
// one (printed or written to the file), and then revoking the lost one with
// DELETE /v1/apikeys/{id}. Every start prints curl commands that work as
// printed with the owner key in $LK.
//
// With -checkpoint-key FILE (LICENSEKIT_CHECKPOINT_KEY) it signs every
// company's event-chain head with that Ed25519 key at start and every
// -checkpoint-interval, so that GET /v1/events/verify also exposes a log
// rewritten with its hashes recomputed (see the README).
//
// With -license-key FILE (LICENSEKIT_LICENSE_KEY) it signs the license files
// of borrowed seats (POST /v1/pools/{id}/borrow) with that Ed25519 key,
// created with mode 0600 if missing, and logs its key id and public key for
// products to ship; without it borrowing answers 503. -offline-grace
// (default 24h) is how long a product may rely on a valid validation answer
// while it cannot reach the server (offline_until).
//
// TLS: -tls-cert and -tls-key (PEM files) serve HTTPS, with
// Strict-Transport-Security on every answer; SIGHUP reads both files again
// (a renewed certificate without a restart). Plain HTTP is served on a
// loopback address only, unless -insecure-http says a TLS-terminating proxy
// is in front.
//
// Operations: -metrics-addr ADDR serves GET /metrics (Prometheus, see
// adapters/metrics) on a listen address of its own, off by default, so the
// public address never exposes it; -pprof adds net/http/pprof there.
// -log-format json writes the log as one JSON object a line; every request's
// access-log line carries its request id, route pattern, and once
// authenticated its company and API key id.
//
// In the background it delivers top-up notifications (to the log; a product
// plugs in its own topup.Notifier) and runs the subscription tick. SIGINT or
// SIGTERM stops it gracefully: the HTTP server drains, the background loops
// finish their round, and the store is closed.
package server
