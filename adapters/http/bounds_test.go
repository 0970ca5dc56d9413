package http_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// newDefaultLimitFixture is newFixture with the server's default body limit
// (1 MiB), so that bodies of about a megabyte reach the services.
func newDefaultLimitFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	h, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock, Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
		Services: lkhttp.Services{Pools: &pool.Service{Store: f.store, Clock: f.clock}}})
	require.NoError(t, err)
	f.h = h
	f.srv = httptest.NewServer(validating(t, h))
	t.Cleanup(f.srv.Close)
	return f
}

// snapshot is what a member sees of the company: pools, sites and events.
func (f *fixture) snapshot(poolID string) string {
	f.t.Helper()
	var b strings.Builder
	for _, path := range []string{"/v1/pools", "/v1/pools/" + poolID, "/v1/sites", "/v1/events?sort=time"} {
		r := f.do("GET", path, f.owner, nil)
		require.Equal(f.t, 200, r.status, "GET %s: %s", path, r.body)
		b.WriteString(path + "\n")
		b.Write(r.body)
		b.WriteString("\n")
	}
	return b.String()
}

// requireRefused requires a 400 with code invalid naming field.
func requireRefused(t *testing.T, r resp, field string) {
	t.Helper()
	require.Equal(t, 400, r.status, "%.300s", r.body)
	e := r.problem(t)
	assert.Equal(t, "invalid", e.Code)
	assert.Equal(t, field, e.Field, "%s", e.Detail)
	assert.Less(t, len(r.body), 2000, "the error does not echo the input")
}

func TestHTTPRefusesUnboundedUnitPrices(t *testing.T) {
	f := newDefaultLimitFixture(t)
	admin := f.key("lia@acme.example", license.LicenseAdmin)
	var p struct {
		ID string `json:"id"`
	}
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Office", "perpetual", "named_user", 0), &p)
	st := f.site("Berlin", ptr(int64(5)))
	before := f.snapshot(p.ID)

	million := "1" + strings.Repeat("0", 1_000_000)
	for name, amount := range map[string]string{
		"exponent": "1e9999", "negative exponent": "1e-9999", "million digits": million,
		"13 integer digits": "1000000000000", "too many decimals": "1.0000001",
	} {
		t.Run(name, func(t *testing.T) {
			price := map[string]string{"amount": amount, "currency": "USD"}
			r := f.do("POST", "/v1/pools/"+p.ID+"/transactions", admin, map[string]any{"kind": "purchase", "count": 1, "unit_price": price})
			requireRefused(t, r, "unit_price")
			r = f.do("POST", "/v1/sites", f.owner, map[string]any{"name": "Paris", "plan": "business", "payment_type": "monthly_invoice", "unit_price": price})
			requireRefused(t, r, "unit_price")
			r = f.do("PATCH", "/v1/sites/"+st.ID, f.owner, map[string]any{"unit_price": price})
			requireRefused(t, r, "unit_price")
			r = f.do("POST", "/v1/volume-licenses", f.owner, map[string]any{"product": "MDR", "seats": 5, "renewal_date": "2027-01-01", "price_per_user": price})
			requireRefused(t, r, "price_per_user")
		})
	}
	assert.Equal(t, before, f.snapshot(p.ID), "nothing changed")

	// Within bounds, the price is recorded, and listing stays cheap.
	f.ok(201, "POST", "/v1/pools/"+p.ID+"/transactions", admin, map[string]any{"kind": "purchase", "count": 1,
		"unit_price": map[string]string{"amount": "999999999999.999999", "currency": "USD"}}, nil)
	r := f.ok(200, "GET", "/v1/pools", f.owner, nil, nil)
	assert.Contains(t, string(r.body), `"amount":"999999999999.999999"`)
}

func TestHTTPRefusesOversizedAndControlText(t *testing.T) {
	f := newDefaultLimitFixture(t)
	var p struct {
		ID string `json:"id"`
	}
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Office", "perpetual", "named_user", 0), &p)
	st := f.site("Berlin", nil)
	before := f.snapshot(p.ID)

	big := strings.Repeat("x", 900_000)
	newSite := func(field, v string) map[string]any {
		b := map[string]any{"name": "Paris", "plan": "business", "payment_type": "monthly_invoice", "group": "main",
			"unit_price": map[string]string{"amount": "2.50", "currency": "USD"}}
		b[field] = v
		return b
	}
	requireRefused(t, f.do("POST", "/v1/sites", f.owner, newSite("plan", big)), "plan")
	requireRefused(t, f.do("POST", "/v1/sites", f.owner, newSite("group", big)), "group")
	requireRefused(t, f.do("PATCH", "/v1/sites/"+st.ID, f.owner, map[string]any{"plan": big}), "plan")
	requireRefused(t, f.do("PATCH", "/v1/sites/"+st.ID, f.owner, map[string]any{"group": big}), "group")

	for name, bad := range map[string]string{"NUL": "Par\x00is", "newline": "Paris\nFAKE LOG LINE", "RLO": "Paris\u202Efdp.exe", "LRI": "Paris\u2066x"} {
		t.Run(name, func(t *testing.T) {
			requireRefused(t, f.do("POST", "/v1/sites", f.owner, newSite("name", bad)), "name")
			requireRefused(t, f.do("POST", "/v1/sites", f.owner, newSite("plan", bad)), "plan")
			requireRefused(t, f.do("PATCH", "/v1/sites/"+st.ID, f.owner, map[string]any{"group": bad}), "group")
			requireRefused(t, f.do("POST", "/v1/pools", f.owner, poolSpec(bad, "perpetual", "named_user", 0)), "name")
			requireRefused(t, f.do("PUT", "/v1/pools/"+p.ID, f.owner, poolSpec(bad, "perpetual", "named_user", 0), "If-Match", "*"), "name")
			requireRefused(t, f.do("POST", "/v1/pools/"+p.ID+"/transactions", f.owner, map[string]any{"kind": "purchase", "count": 1, "order_number": bad}), "order_number")
			requireRefused(t, f.do("POST", "/v1/volume-licenses", f.owner, map[string]any{"product": bad, "seats": 5, "renewal_date": "2027-01-01",
				"price_per_user": map[string]string{"amount": "1", "currency": "USD"}}), "product")
			requireRefused(t, f.do("PUT", "/v1/company/members", f.owner, map[string]any{"email": "bob" + bad + "@acme.example", "role": "viewer"}), "email")
		})
	}
	// A comment is multi-line text: a newline is fine, NUL and bidi overrides are not.
	requireRefused(t, f.do("POST", "/v1/pools/"+p.ID+"/comments", f.owner, map[string]any{"text": "ok\x00"}), "comment")
	requireRefused(t, f.do("POST", "/v1/pools/"+p.ID+"/comments", f.owner, map[string]any{"text": "see \u202Eattached"}), "comment")
	assert.Equal(t, before, f.snapshot(p.ID), "nothing changed")

	f.ok(201, "POST", "/v1/pools/"+p.ID+"/comments", f.owner, map[string]any{"text": "line one\nline two"}, nil)
	f.ok(201, "POST", "/v1/sites", f.owner, newSite("name", "Zürich שלום 東京"), nil)
}

func TestAPIKeyNameRefusesControlAndBidi(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []string{"ci\x00", "ci\nkey", "ci\u202Eyek"} {
		_, err := lkhttp.IssueKey(context.Background(), f.store, f.clock, f.company, "ann@acme.example", license.Viewer, bad, license.SystemEmail)
		require.Error(t, err)
		assert.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
		assert.Equal(t, "name", license.ErrorField(err))
	}
	_, err := lkhttp.IssueKey(context.Background(), f.store, f.clock, f.company, "ann@acme.example", license.Viewer, "CI 東京", license.SystemEmail)
	require.NoError(t, err)
}
