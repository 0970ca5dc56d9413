package http_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/licensekit/licensekit/license"
)

// Vendor validation over HTTP: a typed code in a 200 answer, in the documented
// order; validate-and-allocate allocates; suspension answers suspended.
func TestValidationOverHTTP(t *testing.T) { forEachStore(t, testValidationOverHTTP) }

func testValidationOverHTTP(t *testing.T, f *fixture) {
	w := f.populate()
	var v license.Validation
	path := "/v1/pools/" + w.pool + "/validate"
	f.ok(200, "POST", path, f.owner, map[string]any{"consumer": map[string]string{"user": "northwind-user-1"}, "software": "office"}, &v)
	assert.True(t, v.Valid, "%+v", v)
	assert.Equal(t, license.CodeValid, v.Code)
	f.ok(200, "POST", path, f.owner, map[string]any{"consumer": map[string]string{"user": "stranger"}, "software": "office"}, &v)
	assert.False(t, v.Valid)
	assert.Equal(t, license.CodeNoAllocation, v.Code)

	f.ok(200, "POST", "/v1/pools/"+w.pool+"/validate-and-allocate", f.owner, map[string]any{"consumer": map[string]string{"user": "stranger"}, "software": "office"}, &v)
	assert.True(t, v.Valid, "%+v", v)
	f.ok(200, "POST", path, f.owner, map[string]any{"consumer": map[string]string{"user": "stranger"}, "software": "office"}, &v)
	assert.True(t, v.Valid, "the allocation was made")

	viewer := f.key("vera@acme.example", license.Viewer)
	assert.Equal(t, 403, f.do("POST", "/v1/pools/"+w.pool+"/suspend", viewer, map[string]string{"reason": "unpaid"}).status)
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/suspend", f.owner, map[string]string{"reason": "unpaid"}, nil)
	f.ok(200, "POST", path, viewer, map[string]any{"consumer": map[string]string{"user": "northwind-user-1"}, "software": "office"}, &v)
	assert.Equal(t, license.CodeSuspended, v.Code)
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/unsuspend", f.owner, nil, nil)
	f.ok(200, "POST", path, viewer, map[string]any{"consumer": map[string]string{"user": "northwind-user-1"}, "software": "office"}, &v)
	assert.Equal(t, license.CodeValid, v.Code)

	// Subscription licenses, by ID and by key.
	f.ok(200, "POST", "/v1/subscriptions/licenses/"+w.subLicense+"/validate", f.owner, map[string]any{"consumer": map[string]string{"asset": "northwind-pc"}}, &v)
	assert.True(t, v.Valid, "%+v", v)
	f.ok(200, "POST", "/v1/subscriptions/validate-key", f.owner, map[string]any{"key": w.subKey, "consumer": map[string]string{"asset": "pc-2"}}, &v)
	assert.Equal(t, license.CodeInactive, v.Code, "%+v", v)
	f.ok(200, "POST", "/v1/subscriptions/validate-key", f.owner, map[string]any{"key": "no-such-key", "consumer": map[string]string{"asset": "pc-2"}}, &v)
	assert.Equal(t, license.CodeNotFound, v.Code)
	r := f.do("POST", path, f.owner, map[string]any{"consumer": map[string]string{"user": "x"}, "bogus": 1})
	assert.Equal(t, 400, r.status)
}
