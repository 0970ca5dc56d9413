package http_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// TestVendorValidationRoutes: a vendor validates machines against a pool (validate
// never allocates, validate-and-allocate does), suspends the pool, and does
// the same for a subscription license by ID and by key; refusals are 200
// answers with their code, bad input and roles are errors.
func TestVendorValidationRoutes(t *testing.T) { forEachStore(t, testVendorValidationRoutes) }

func testVendorValidationRoutes(t *testing.T, f *fixture) {
	viewer := f.key("viewer@acme.example", license.Viewer)
	editor := f.key("editor@acme.example", license.Editor)
	spec := map[string]any{"name": "Backup Pro", "model": "perpetual", "metric": "installed_instance",
		"software": []string{"backup"}, "entitlements": []string{"sso", "sso", "reports"}}
	var p pool.Pool
	f.ok(201, "POST", "/v1/pools", f.owner, spec, &p)
	assert.Equal(t, []string{"sso", "reports"}, p.Entitlements)
	f.ok(201, "POST", "/v1/pools/"+p.ID+"/transactions", f.owner, map[string]any{"kind": "purchase", "count": 1}, nil)

	me := map[string]any{"consumer": map[string]any{"asset": "machine-1"}, "software": "backup", "features": []string{"sso"}}
	var v license.Validation
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/validate", viewer, me, &v)
	assert.Equal(t, license.CodeNoAllocation, v.Code)
	assert.Equal(t, 403, f.do("POST", "/v1/pools/"+p.ID+"/validate-and-allocate", viewer, me).status)
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/validate-and-allocate", editor, me, &v)
	assert.True(t, v.Valid)
	assert.Equal(t, license.CodeValid, v.Code)
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/validate", viewer, me, &v)
	assert.Equal(t, license.CodeValid, v.Code)
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/validate-and-allocate", editor, map[string]any{"consumer": map[string]any{"asset": "machine-2"}}, &v)
	assert.Equal(t, license.CodeSeatsExhausted, v.Code)
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/validate", viewer, map[string]any{"consumer": map[string]any{"asset": "machine-1"}, "features": []string{"audit"}}, &v)
	assert.Equal(t, license.CodeEntitlementsMissing, v.Code)
	assert.Equal(t, []string{"audit"}, v.Missing)
	f.ok(200, "POST", "/v1/pools/"+license.NewID()+"/validate", viewer, me, &v)
	assert.Equal(t, license.CodeNotFound, v.Code, "an unknown pool is an answer, not a 404")
	r := f.do("POST", "/v1/pools/"+p.ID+"/validate", viewer, map[string]any{"consumer": map[string]any{"user": "u"}})
	assert.Equal(t, 400, r.status, "installed instance needs the asset")
	assert.Contains(t, string(r.body), `"field":"consumer.asset"`)

	assert.Equal(t, 403, f.do("POST", "/v1/pools/"+p.ID+"/suspend", editor, map[string]string{"reason": "x"}).status)
	var sp pool.Pool
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/suspend", f.owner, map[string]string{"reason": "unpaid"}, &sp)
	assert.True(t, sp.Suspended)
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/validate", viewer, me, &v)
	assert.Equal(t, license.CodeSuspended, v.Code)
	assert.Equal(t, 409, f.do("POST", "/v1/pools/"+p.ID+"/suspend", f.owner, map[string]string{}).status)
	var up pool.Pool
	f.ok(200, "POST", "/v1/pools/"+p.ID+"/unsuspend", f.owner, nil, &up)
	assert.False(t, up.Suspended)
	assert.Equal(t, p.ID, up.ID)

	// Subscriptions: by ID and by key, with terms.
	var issued subscription.Issued
	f.ok(201, "POST", "/v1/subscriptions/purchase", f.owner, map[string]any{"type": "computer", "quantity": 1, "billing_period": "monthly",
		"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}}, &issued)
	require.Len(t, issued.Keys, 1)
	l := issued.Licenses[0]
	f.ok(200, "POST", "/v1/subscriptions/assign", f.owner, map[string]any{"type": "computer",
		"consumer": map[string]string{"asset": "pc-1", "user": "ann"}, "license": l.ID}, nil)
	var terms subscription.Terms
	assert.Equal(t, 403, f.do("PUT", "/v1/subscriptions/licenses/"+l.ID+"/terms", editor, map[string]any{"entitlements": []string{"sso"}}).status)
	f.ok(200, "PUT", "/v1/subscriptions/licenses/"+l.ID+"/terms", f.owner, map[string]any{"entitlements": []string{"sso"}, "grace_days": 3}, &terms)
	assert.Equal(t, 3, terms.GraceDays)
	f.ok(200, "GET", "/v1/subscriptions/licenses/"+l.ID+"/terms", viewer, nil, &terms)
	assert.Equal(t, []string{"sso"}, terms.Entitlements)
	pc := map[string]any{"fingerprint": "pc-1"}
	f.ok(200, "POST", "/v1/subscriptions/licenses/"+l.ID+"/validate", viewer, map[string]any{"consumer": pc, "features": []string{"sso"}}, &v)
	assert.Equal(t, license.CodeValid, v.Code)
	f.ok(200, "POST", "/v1/subscriptions/validate-key", viewer, map[string]any{"key": issued.Keys[0], "consumer": map[string]any{"asset": "pc-2"}}, &v)
	assert.Equal(t, license.CodeNoAllocation, v.Code)
	f.ok(200, "POST", "/v1/subscriptions/validate-key", viewer, map[string]any{"key": "AAAA-BBBB", "consumer": pc}, &v)
	assert.Equal(t, license.CodeNotFound, v.Code)
	f.ok(200, "POST", "/v1/subscriptions/licenses/"+l.ID+"/suspend", f.owner, map[string]string{"reason": "unpaid"}, &terms)
	f.ok(200, "POST", "/v1/subscriptions/licenses/"+l.ID+"/validate", viewer, map[string]any{"consumer": pc}, &v)
	assert.Equal(t, license.CodeSuspended, v.Code)
	var lifted subscription.Terms
	f.ok(200, "POST", "/v1/subscriptions/licenses/"+l.ID+"/unsuspend", f.owner, nil, &lifted)
	assert.False(t, lifted.Suspended)
	assert.Equal(t, []string{"sso"}, lifted.Entitlements)
}
