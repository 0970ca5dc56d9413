// Package http is the reference REST adapter of licensekit: a net/http Handler
// (New) that a product mounts under any prefix (it works behind
// http.StripPrefix) and that exposes the domain services as JSON over Go 1.22
// method-and-path routes: pools (lifecycle, transactions, reassign,
// allocations, reconcile facts, leases with heartbeats, attachments, the status
// pane), sites and license management (enrol, purchase, decrease and transfer,
// each with a preview that changes nothing), invoice estimates, automatic
// top-up, volume licenses and customers (CSV and XLSX export), subscriptions,
// API keys, and the event log (query and streaming CSV export). The package is
// named http, as in benbjohnson/wtf, and imports net/http itself; importers
// usually alias it (lkhttp "github.com/licensekit/licensekit/adapters/http").
//
// One route table (Handler.Routes) drives both the mux and the OpenAPI 3
// document served at /openapi.json, so every route is documented with its
// access (x-access) and retry semantics (x-retry). Callers authenticate with
// API keys ("Authorization: Bearer lk_...", IssueKey or POST /v1/apikeys) that
// are stored only as SHA-256 hashes under storage.SystemCompany and bound to a
// company, an e-mail and a role; the company of every request comes from the
// key alone, so another tenant's resources answer 404 on every route. The
// key's role is a ceiling: each request acts with the key holder's effective
// role (access.EffectiveRole, read afresh on every request, never cached), so
// demoting a member answers 403 to all of their keys at once. Domain
// errors become RFC 9457 problem details (application/problem+json: type,
// title, status, detail, and the stable code and field) with the status chosen
// in one place (StatusOf); bodies are size-limited (413, at once when the declared
// Content-Length is over the limit), unknown JSON fields and query parameters
// are refused (400, as is a query pair Go's parser would silently drop: one
// holding a ";" or a malformed escape), two Authorization headers are refused
// (400), wrong methods get 405 as a problem, and the Idempotency-Key header reaches
// every domain commit that honours one. Every answer of an authenticated route
// carries Cache-Control: no-store.
//
// Secrets (API keys, subscription license keys) are shown once. A replay of a
// request that issued one (same Idempotency-Key) answers the same metadata
// without the secret, with "replayed": true in the body and the header
// Idempotency-Replayed: true; the remembered answer never holds the secret.
// A lost API key is revoked and replaced (DELETE then POST /v1/apikeys), a
// lost license key re-issued (POST /v1/subscriptions/licenses/{id}/reissue-key).
// Keys may expire (expires_at; refused 401 key_expired); revoked keys stay
// listed with revoked_at and are refused 401 key_revoked, at once by the
// handler that revoked them and within Config.KeyCacheTTL (2 s by default, at
// most MaxKeyCacheTTL) by any other sharing the store. A key's last_used_at is
// written at most once a minute per key and process. /healthz is liveness;
// /readyz runs a ping and an empty read transaction within Config.ReadyTimeout
// and answers 503 when the store cannot be reached or has no free connection.
// Every request is logged with log/slog under a request id (X-Request-Id in
// and out) and its client address, never with its Authorization header.
//
// Slow clients cannot tie up the store: every write of every response has a
// deadline (Config.WriteTimeout) that moves forward as the response
// progresses, and streamed exports read the store in short transactions, one
// page at a time, writing each page to the client only after its transaction
// has ended. A client that stops reading is cut off after the write timeout
// and, until then, holds no store connection.
//
// Rate limits (Config.Limits) are on by default: failed authentications per
// client address and per key prefix, validations and activations per pool,
// license or license key; beyond them the answer is 429 rate_limited with
// Retry-After. Refusals are audited: 403 as access.denied events of the
// actor's company, 401 as WARN log lines (see Limits and EventAccessDenied).
package http
