package http_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/license"
)

// TestErrorsAreProblemDetails: every kind of error answer (domain, auth,
// protocol, the mux's own 404 and 405) is an RFC 9457 problem served as
// application/problem+json, whose type and title follow from its code and
// whose status member is the HTTP status.
func TestErrorsAreProblemDetails(t *testing.T) {
	f := newFixture(t)
	viewer := f.key("vic@acme.example", license.Viewer)
	cases := []struct {
		name              string
		method, path, key string
		body              any
		headers           []string
		status            int
		code, field       string
	}{
		{"invalid body", "POST", "/v1/sites", f.owner, `{"name":`, nil, 400, "invalid", "body"},
		{"unknown field", "POST", "/v1/sites", f.owner, `{"nope":1}`, nil, 400, "invalid", "nope"},
		{"no key", "GET", "/v1/sites", "", nil, nil, 401, "unauthenticated", "Authorization"},
		{"role", "POST", "/v1/sites", viewer, `{}`, nil, 403, "forbidden", "role"},
		{"missing site", "GET", "/v1/sites/" + license.NewID(), f.owner, nil, nil, 404, "not_found", "site"},
		{"no route", "GET", "/v1/nowhere", f.owner, nil, nil, 404, "not_found", ""},
		{"method", "PATCH", "/v1/sites", f.owner, nil, nil, 405, lkhttp.CodeMethodNotAllowed, ""},
		{"too large", "POST", "/v1/sites", f.owner, `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, lkhttp.CodeTooLarge, "body"},
		{"long idempotency key on a public route", "GET", "/healthz", "", nil, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid", "Idempotency-Key"},
		{"media type", "POST", "/v1/sites", f.owner, `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, lkhttp.CodeUnsupportedMediaType, "Content-Type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(c.method, c.path, c.key, c.body, c.headers...)
			require.Equal(t, c.status, r.status, "%s", r.body)
			p := r.problem(t)
			require.Equal(t, c.status, p.Status)
			require.Equal(t, c.code, p.Code)
			require.Equal(t, c.field, p.Field)
			require.Equal(t, "https://licensekit.dev/problems/"+c.code, p.Type)
		})
	}
}

// TestProblemCodesAgreeWithStatusOf: the documented list of codes gives each
// domain code the status StatusOf answers, and every license.Error code is
// listed.
func TestProblemCodesAgreeWithStatusOf(t *testing.T) {
	listed := map[string]int{}
	for _, pc := range lkhttp.ProblemCodes {
		require.NotEmpty(t, pc.Title, pc.Code)
		listed[pc.Code] = pc.Status
	}
	for _, c := range []license.Code{license.Invalid, license.NotFound, license.Conflict, license.Forbidden,
		license.InsufficientLicenses, license.BelowEnrolled, license.CurrencyMismatch, license.Quarantined,
		license.RestrictionFailed, license.Expired, license.RateLimited, license.Unauthenticated,
		license.KeyExpired, license.KeyRevoked,
		license.Unavailable, license.Internal} {
		s, ok := listed[string(c)]
		require.True(t, ok, "code %s is not listed", c)
		require.Equal(t, lkhttp.StatusOf(c), s, "code %s", c)
	}
}

// TestParseProblemRefusesOtherJSON: the decoder tells a problem from another
// JSON body (the old {"error":{...}} shape included).
func TestParseProblemRefusesOtherJSON(t *testing.T) {
	for _, b := range []string{`{"error":{"code":"invalid","message":"x"}}`, `[]`, `{"status":"ok"}`, `nope`} {
		_, err := lkhttp.ParseProblem([]byte(b))
		require.Error(t, err, b)
	}
	p, err := lkhttp.ParseProblem([]byte(`{"type":"https://licensekit.dev/problems/invalid","title":"t","status":400,"detail":"d","code":"invalid"}`))
	require.NoError(t, err)
	require.Equal(t, "invalid", p.Code)
}

// TestCreatedAnswersCarryLocation: a 201 names the new resource relative to
// the request's URL, so following it reads what was created, also under a
// mount prefix.
func TestCreatedAnswersCarryLocation(t *testing.T) {
	f := newFixture(t)
	s := f.site("Lisbon", nil)
	r := f.do("POST", "/v1/sites", f.owner, map[string]any{"name": "Porto", "plan": "business", "payment_type": "monthly_invoice",
		"group": "main", "unit_price": map[string]string{"amount": "2.50", "currency": "USD"}})
	require.Equal(t, 201, r.status, "%s", r.body)
	var created lkhttp.SiteView
	r.json(t, &created)
	require.NotEqual(t, s.ID, created.ID)
	require.Equal(t, "sites/"+created.ID, r.header.Get("Location"))
	base, err := url.Parse(f.srv.URL + "/v1/sites")
	require.NoError(t, err)
	loc, err := base.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	var read lkhttp.SiteView
	f.ok(200, "GET", loc.Path, f.owner, nil, &read)
	require.Equal(t, "Porto", read.Name)

	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", f.h))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/sites", strings.NewReader(`{"name":"Faro","plan":"business","payment_type":"monthly_invoice","group":"main","unit_price":{"amount":"2.50","currency":"USD"}}`))
	req.Header.Set("Authorization", "Bearer "+f.owner)
	mux.ServeHTTP(rec, req)
	require.Equal(t, 201, rec.Code, rec.Body.String())
	under, err := url.Parse("http://x/api/v1/sites")
	require.NoError(t, err)
	got, err := under.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(got.Path, "/api/v1/sites/"), got.Path)
}
