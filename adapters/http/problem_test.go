package http_test

import (
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
