// Package http is the reference REST adapter of licensekit: a net/http Handler
// that a product mounts under any prefix (it works behind http.StripPrefix) and
// that exposes every domain capability as JSON over Go 1.22 method-and-path
// routes. The package is named http, as in benbjohnson/wtf, and imports net/http
// itself; importers usually alias it (lkhttp "github.com/licensekit/licensekit/adapters/http").
// One route table drives both the mux and the OpenAPI 3 document served at
// /openapi.json. Callers authenticate with API keys ("Authorization: Bearer lk_...")
// that are stored only as SHA-256 hashes and bound to a company, an e-mail and a
// role; the company of every request comes from the key alone, so a key never
// reaches another tenant's data (such resources answer 404). Domain errors become
// {"error":{"code","message","field"}} with the status chosen in one place
// (StatusOf); bodies are size-limited (413), unknown JSON fields are refused (400),
// and the Idempotency-Key header is passed to every domain commit.
package http
