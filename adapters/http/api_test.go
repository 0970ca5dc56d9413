package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

type openAPIDoc struct {
	Paths map[string]map[string]struct {
		Parameters []struct {
			Name string `json:"name"`
			In   string `json:"in"`
		} `json:"parameters"`
		Security *[]any `json:"security"`
	} `json:"paths"`
}

var docParam = regexp.MustCompile(`\{[^}]+\}`)

func TestOpenAPIDocumentsEveryRouteAndEveryDocumentedRouteAnswers(t *testing.T) {
	f := newFixture(t)
	r := f.ok(200, "GET", "/openapi.json", "", nil, nil)
	var doc openAPIDoc
	r.json(t, &doc)

	routes := f.h.Routes()
	require.NotEmpty(t, routes)
	for _, rt := range routes {
		p := strings.TrimSuffix(rt.Path, "{$}")
		p = regexp.MustCompile(`\.\.\.\}`).ReplaceAllString(p, "}")
		ops, ok := doc.Paths[p]
		require.True(t, ok, "route %s %s missing from /openapi.json", rt.Method, rt.Path)
		_, ok = ops[strings.ToLower(rt.Method)]
		require.True(t, ok, "route %s %s missing from /openapi.json", rt.Method, rt.Path)
	}
	n := 0
	for p, ops := range doc.Paths {
		for m := range ops {
			n++
			method := strings.ToUpper(m)
			path := docParam.ReplaceAllString(p, "x0")
			req := httptest.NewRequest(method, path, nil)
			assert.True(t, f.h.Matches(req), "documented %s %s has no route", method, p)
			res := f.do(method, path, f.owner, nil)
			assert.NotEqual(t, http.StatusMethodNotAllowed, res.status, "%s %s", method, p)
			assert.Less(t, res.status, 500, "%s %s: %s", method, p, res.body)
			if res.status == 404 {
				// A 404 must come from the domain (no such resource), not the mux.
				assert.NotContains(t, string(res.body), "no route for", "%s %s", method, p)
			}
		}
	}
	assert.Equal(t, len(routes), n, "documented operations vs routes")
}

func TestHandlerMountsUnderAPrefix(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", f.h))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/sites", nil)
	req.Header.Set("Authorization", "Bearer "+f.owner)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	var sites lkhttp.List[lkhttp.SiteView]
	require.NoError(t, json.NewDecoder(res.Body).Decode(&sites))
	assert.Empty(t, sites.Items)
}

func TestStatusOfEveryCode(t *testing.T) {
	want := map[license.Code]int{
		license.Invalid: 400, license.Unauthenticated: 401, license.Forbidden: 403, license.NotFound: 404,
		license.Conflict: 409, license.InsufficientLicenses: 409, license.BelowEnrolled: 409,
		license.Quarantined: 409, license.RestrictionFailed: 409, license.Expired: 409,
		license.CurrencyMismatch: 422, license.RateLimited: 429, license.Unavailable: 503,
		license.Internal: 500, "something_new": 500,
	}
	for code, status := range want {
		assert.Equal(t, status, lkhttp.StatusOf(code), string(code))
	}
}

func TestProtocolErrors(t *testing.T) {
	f := newFixture(t)
	s := f.site("North", ptr[int64](10))
	path := "/v1/sites/" + s.ID + "/purchase"

	r := f.do("POST", path, f.owner, `{"quantity": 5`)
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid", r.errCode(t))

	r = f.do("POST", path, f.owner, `{"quantity": 5, "price": 1}`)
	assert.Equal(t, 400, r.status, string(r.body))
	assert.Contains(t, string(r.body), `"field":"price"`)

	r = f.do("POST", path, f.owner, `{"quantity": "five"}`)
	assert.Equal(t, 400, r.status)
	assert.Contains(t, string(r.body), `"field":"quantity"`)

	r = f.do("POST", path, f.owner, `{"quantity": 5} {"quantity": 6}`)
	assert.Equal(t, 400, r.status)

	r = f.do("POST", path, f.owner, "")
	assert.Equal(t, 400, r.status)

	big := `{"quantity": 5, "x": "` + strings.Repeat("a", 70<<10) + `"}`
	r = f.do("POST", path, f.owner, big)
	assert.Equal(t, 413, r.status, string(r.body))
	assert.Equal(t, "too_large", r.errCode(t))

	r = f.do("DELETE", path, f.owner, nil)
	assert.Equal(t, 405, r.status)
	assert.Equal(t, "method_not_allowed", r.errCode(t))
	assert.Contains(t, r.header.Get("Allow"), "POST")

	r = f.do("GET", "/v1/nothing-here", f.owner, nil)
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "not_found", r.errCode(t))

	r = f.do("POST", path, "", `{"quantity": 5}`)
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "unauthenticated", r.errCode(t))
	r = f.do("POST", path, "lk_not-a-real-key", `{"quantity": 5}`)
	assert.Equal(t, 401, r.status)

	r = f.do("POST", path, f.owner, `{"quantity": 5}`, "Content-Type", "text/plain")
	assert.Equal(t, 415, r.status)

	// Nothing above changed the site.
	var got lkhttp.SiteView
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	assert.Equal(t, int64(10), *got.Licenses)
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t)
	var h lkhttp.Health
	f.ok(200, "GET", "/healthz", "", nil, &h)
	assert.Equal(t, "ok", h.Status)
	f.ok(200, "GET", "/readyz", "", nil, &h)
	assert.Equal(t, "ready", h.Status)

	down, err := lkhttp.New(lkhttp.Config{Store: unreachable{f.store}})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	validating(t, down).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	assert.Equal(t, 503, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"unavailable"`)
	rec = httptest.NewRecorder()
	validating(t, down).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	assert.Equal(t, 200, rec.Code, "liveness does not depend on the store")
}

// unreachable is a store whose database does not answer.
type unreachable struct{ storage.Store }

func (unreachable) Ping(context.Context) error {
	return license.Errorf(license.Unavailable, "", "connection refused")
}

func TestRequestIDAndLogsWithoutSecrets(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/v1/sites", f.owner, nil, "X-Request-Id", "abc-123")
	assert.Equal(t, "abc-123", r.header.Get("X-Request-Id"))
	r = f.do("GET", "/v1/sites", f.owner, nil, "X-Request-Id", "bad id with spaces")
	assert.NotEqual(t, "bad id with spaces", r.header.Get("X-Request-Id"))
	assert.Regexp(t, `^[0-9a-f]{24}$`, r.header.Get("X-Request-Id"))
	logs := f.logs.String()
	assert.Contains(t, logs, `"request_id":"abc-123"`)
	assert.NotContains(t, logs, f.owner)
	assert.NotContains(t, logs, "Bearer")
}

func TestRateLimitPerKeyAndFailedAuthentication(t *testing.T) {
	f := newFixture(t)
	h, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock, Limiter: license.NewTokenBucket(1, 2),
		Limits: lkhttp.Limits{FailedAuth: lkhttp.Rate{PerMinute: 60, Burst: 2}}})
	require.NoError(t, err)
	send := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/company", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		validating(t, h).ServeHTTP(rec, req)
		return rec
	}
	assert.Equal(t, 200, send(f.owner).Code)
	assert.Equal(t, 200, send(f.owner).Code)
	rec := send(f.owner)
	assert.Equal(t, 429, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), `"code":"rate_limited"`)
	// Another key has its own bucket.
	assert.Equal(t, 200, send(f.key("ed@acme.example", license.Editor)).Code)
	// Guessing keys is throttled per client address.
	assert.Equal(t, 401, send("lk_guess1").Code)
	assert.Equal(t, 401, send("lk_guess2").Code)
	assert.Equal(t, 429, send("lk_guess3").Code)
	f.clock.Advance(2 * time.Second)
	assert.Equal(t, 200, send(f.owner).Code)
}

func TestCompanyAndMembers(t *testing.T) {
	f := newFixture(t)
	var c billing.Company
	f.ok(200, "GET", "/v1/company", f.owner, nil, &c)
	assert.Equal(t, f.company, c.ID)
	assert.Equal(t, "acme", c.Name)
	f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]string{"email": "ed@acme.example", "role": "editor"}, nil)
	var ms []billing.Member
	f.list("/v1/company/members", f.owner, &ms)
	assert.Equal(t, []billing.Member{{Email: "ann@acme.example", Role: license.Owner}, {Email: "ed@acme.example", Role: license.Editor}}, ms)
	assert.Equal(t, 409, f.do("POST", "/v1/company", f.owner, map[string]string{"name": "again"}).status)
}

func TestIdempotencyKeyOnEveryMutatingRoute(t *testing.T) {
	f := newFixture(t)
	for _, rt := range f.h.Routes() {
		switch rt.Method {
		case "GET":
			assert.Empty(t, rt.Retry, rt.Path)
		default:
			assert.Contains(t, []lkhttp.Retry{lkhttp.RetryKey, lkhttp.RetrySafe, lkhttp.RetryUnsafe}, rt.Retry, "%s %s", rt.Method, rt.Path)
		}
	}
	// Enrolment honours the key: a retry enrols nothing more.
	s := f.site("North", nil)
	r := f.do("POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 3}, "Idempotency-Key", "e-1")
	assert.Equal(t, 200, r.status, string(r.body))
	r2 := f.do("POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 3}, "Idempotency-Key", "e-1")
	assert.Equal(t, 200, r2.status, string(r2.body))
	assert.JSONEq(t, string(r.body), string(r2.body), "a retry returns the first answer")
	var got lkhttp.SiteView
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	assert.Equal(t, int64(3), got.Enrolled)
	r = f.do("POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 4}, "Idempotency-Key", "e-1")
	assert.Equal(t, 409, r.status, "same key, different request")
	// Creating a pool honours the key too.
	spec := map[string]any{"name": "Keyed", "model": "perpetual", "metric": "named_user", "software": []string{"office"}}
	p1 := f.do("POST", "/v1/pools", f.owner, spec, "Idempotency-Key", "p-1")
	p2 := f.do("POST", "/v1/pools", f.owner, spec, "Idempotency-Key", "p-1")
	assert.Equal(t, 201, p1.status, string(p1.body))
	assert.Equal(t, 201, p2.status, string(p2.body))
	assert.JSONEq(t, string(p1.body), string(p2.body))
	// A route that cannot honour a key refuses one instead of ignoring it.
	for _, rt := range f.h.Routes() {
		if rt.Retry != lkhttp.RetryUnsafe {
			continue
		}
		path := strings.NewReplacer("{id}", license.NewID(), "{att}", license.NewID()).Replace(rt.Path)
		r := f.do(rt.Method, path, f.owner, map[string]any{}, "Idempotency-Key", "u-1")
		assert.Equal(t, 400, r.status, "%s %s", rt.Method, rt.Path)
		assert.Contains(t, string(r.body), `"field":"Idempotency-Key"`)
	}
	r = f.do("POST", "/v1/sites/"+s.ID+"/purchase", f.owner, map[string]int64{"quantity": 3}, "Idempotency-Key", strings.Repeat("k", 256))
	assert.Equal(t, 400, r.status)
}

func TestKeyCacheForgetsRevokedKeys(t *testing.T) {
	f := newFixture(t)
	viewer := f.key("vera@acme.example", license.Viewer)
	other, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock, KeyCacheTTL: 100 * time.Millisecond})
	require.NoError(t, err)
	uncached, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock, KeyCacheTTL: -1})
	require.NoError(t, err)
	get := func(h *lkhttp.Handler) int {
		req := httptest.NewRequest("GET", "/v1/sites", nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		rec := httptest.NewRecorder()
		validating(t, h).ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, 200, get(other))
	require.Equal(t, 200, get(f.h))
	var keys []lkhttp.APIKey
	f.list("/v1/apikeys", f.owner, &keys)
	for _, k := range keys {
		if k.Email == "vera@acme.example" {
			f.ok(200, "DELETE", "/v1/apikeys/"+k.ID, f.owner, nil, nil)
		}
	}
	revoked := time.Now()
	assert.Equal(t, 401, get(f.h), "the handler that revoked it forgets it at once")
	assert.Equal(t, 401, get(uncached))
	if time.Since(revoked) < 50*time.Millisecond {
		assert.Equal(t, 200, get(other), "another instance remembers it for its TTL")
	}
	// The documented bound: KeyCacheTTL after the revocation, every handler
	// sharing the store refuses the key (the entry's lifetime began before
	// the read that filled it, so before the revocation).
	time.Sleep(time.Until(revoked.Add(100 * time.Millisecond)))
	assert.Equal(t, 401, get(other), "refused within KeyCacheTTL of the revocation")
	assert.Equal(t, 401, get(other))
}
