package http_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// Exports honour Accept: absent or */* gives the default, a type offered gives
// that type, anything else is 406 not_acceptable.
func TestExportsHonourAccept(t *testing.T) {
	f := newFixture(t)
	w := f.populate()
	vol := "/v1/volume-licenses/" + w.volumeLicense + "/export"
	cases := []struct {
		path, accept string
		status       int
		contentType  string
	}{
		{"/v1/events/export", "", 200, "text/csv"},
		{"/v1/events/export", "*/*", 200, "text/csv"},
		{"/v1/events/export", "text/*", 200, "text/csv"},
		{"/v1/events/export", "application/json, text/csv;q=0.5", 200, "text/csv"},
		{"/v1/events/export", "application/json", 406, ""},
		{"/v1/events/export", "text/csv;q=0", 406, ""},
		{vol, "", 200, "text/csv"},
		{vol, "*/*", 200, "text/csv"},
		{vol, xlsxType, 200, xlsxType},
		{vol, "text/csv;q=0.2, " + xlsxType + ";q=0.9", 200, xlsxType},
		{vol, "application/*", 200, xlsxType},
		{vol, "application/pdf", 406, ""},
		{vol + "?format=xlsx", "*/*", 200, xlsxType},
		{vol + "?format=xlsx", "text/csv", 406, ""},
		{vol + "?format=csv", xlsxType, 406, ""},
	}
	for _, c := range cases {
		var hdr []string
		if c.accept != "" {
			hdr = []string{"Accept", c.accept}
		}
		r := f.do("GET", c.path, f.owner, nil, hdr...)
		require.Equal(t, c.status, r.status, "%s Accept %q: %.200s", c.path, c.accept, r.body)
		if c.status == 406 {
			assert.Equal(t, "not_acceptable", r.errCode(t))
			continue
		}
		assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), c.contentType), "%s Accept %q: %s", c.path, c.accept, r.header.Get("Content-Type"))
	}
}

// Durations are whole seconds: lease_ttl_seconds in and out, the old
// nanosecond field refused.
func TestLeaseTTLInSeconds(t *testing.T) {
	f := newFixture(t)
	spec := poolSpec("Seats", "perpetual", "concurrent_user", 0)
	spec["lease_ttl_seconds"] = 90
	var p map[string]any
	f.ok(201, "POST", "/v1/pools", f.owner, spec, &p)
	assert.Equal(t, float64(90), p["lease_ttl_seconds"])
	assert.NotContains(t, p, "lease_ttl")
	f.ok(201, "POST", "/v1/pools/"+p["id"].(string)+"/transactions", f.owner, map[string]any{"kind": "purchase", "count": 1}, nil)
	var l map[string]any
	f.ok(201, "POST", "/v1/pools/"+p["id"].(string)+"/leases", f.owner, map[string]any{"consumer": map[string]string{"user": "u"}}, &l)
	assert.Equal(t, float64(90), l["ttl_seconds"])

	spec["lease_ttl_seconds"] = 5
	requireRefused(t, f.do("POST", "/v1/pools", f.owner, spec), "lease_ttl_seconds")
	delete(spec, "lease_ttl_seconds")
	spec["lease_ttl"] = 90_000_000_000
	r := f.do("POST", "/v1/pools", f.owner, spec)
	require.Equal(t, 400, r.status, "%s", r.body)
}
