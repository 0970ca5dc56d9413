package http_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/pool"
)

// A valid validation answer carries offline_until (the configured grace from
// now); an invalid one does not.
func TestValidationAnswerCarriesOfflineGrace(t *testing.T) {
	f := newFixture(t)
	w := f.populate()
	var v lkhttp.ValidationAnswer
	path := "/v1/pools/" + w.pool + "/validate"
	f.ok(200, "POST", path, f.owner, map[string]any{"consumer": map[string]string{"user": "northwind-user-1"}}, &v)
	require.True(t, v.Valid)
	require.NotNil(t, v.OfflineUntil)
	assert.Equal(t, testStart.Add(lkhttp.DefaultOfflineGrace), v.OfflineUntil.UTC())
	var refused lkhttp.ValidationAnswer
	f.ok(200, "POST", path, f.owner, map[string]any{"consumer": map[string]string{"user": "stranger"}}, &refused)
	assert.False(t, refused.Valid)
	assert.Nil(t, refused.OfflineUntil, "an invalid answer may not be relied on offline")
}

// Deactivate releases what activation took; a second deactivation answers
// released false.
func TestDeactivateUndoesActivation(t *testing.T) { forEachStore(t, testDeactivate) }

func testDeactivate(t *testing.T, f *fixture) {
	w := f.populate()
	body := map[string]any{"consumer": map[string]string{"user": "new-user"}}
	var v lkhttp.ValidationAnswer
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/validate-and-allocate", f.owner, body, &v)
	require.True(t, v.Valid, "%+v", v)
	var d pool.Deactivation
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/deactivate", f.owner, body, &d)
	assert.True(t, d.Released)
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/validate", f.owner, body, &v)
	assert.Equal(t, license.CodeNoAllocation, v.Code)
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/deactivate", f.owner, body, &d)
	assert.False(t, d.Released)
	// A concurrent-user seat is given back too.
	seat := map[string]any{"consumer": map[string]string{"user": "northwind-user-2"}}
	f.ok(200, "POST", "/v1/pools/"+w.leasePool+"/deactivate", f.owner, seat, &d)
	assert.True(t, d.Released)
	assert.Equal(t, 403, f.do("POST", "/v1/pools/"+w.pool+"/deactivate", f.key("v@acme.example", license.Viewer), body).status)
}

// Borrow keeps the seat for the days asked without heartbeats and answers a
// license file signed with the server's key that names the pool and lease.
func TestBorrowSignsAFileForTheDays(t *testing.T) { forEachStore(t, testBorrow) }

func testBorrow(t *testing.T, f *fixture) {
	w := f.populate()
	body := map[string]any{"consumer": map[string]string{"user": "laptop-user", "fingerprint": "fp-1"}, "days": 7}
	var b lkhttp.BorrowView
	f.ok(200, "POST", "/v1/pools/"+w.leasePool+"/borrow", f.owner, body, &b, "Idempotency-Key", "borrow-1")
	until := testStart.Add(7 * 24 * time.Hour)
	assert.Equal(t, until, b.Lease.ExpiresAt.UTC())
	pub := testLicenseKey.Public().(ed25519.PublicKey)
	v := licensefile.Verifier{Keys: map[string]ed25519.PublicKey{licensefile.KeyID(pub): pub}, Now: func() time.Time { return testStart }}
	res, err := v.Verify([]byte(b.File), licensefile.Request{Fingerprint: "fp-1"})
	require.NoError(t, err)
	assert.Equal(t, w.leasePool, res.Claims.Pool)
	assert.Equal(t, b.Lease.ID, res.Claims.LicenseID)
	assert.Equal(t, until, res.Claims.ExpiresAt)

	// Retried with the same key: the same answer, nothing new.
	f.clock.Advance(time.Hour)
	var again lkhttp.BorrowView
	f.ok(200, "POST", "/v1/pools/"+w.leasePool+"/borrow", f.owner, body, &again, "Idempotency-Key", "borrow-1")
	assert.Equal(t, b.File, again.File)

	// Past a normal TTL the seat is still taken (the cull frees only the
	// ordinary lease of populate); past the days it is free.
	var c lkhttp.Culled
	f.ok(200, "POST", "/v1/pools/"+w.leasePool+"/leases/cull", f.owner, nil, &c)
	assert.Equal(t, int64(1), c.Freed)
	f.clock.Advance(6 * 24 * time.Hour)
	f.ok(200, "POST", "/v1/pools/"+w.leasePool+"/leases/cull", f.owner, nil, &c)
	assert.Zero(t, c.Freed, "a borrowed seat is not culled before its end")
	f.clock.Advance(24 * time.Hour)
	f.ok(200, "POST", "/v1/pools/"+w.leasePool+"/leases/cull", f.owner, nil, &c)
	assert.Equal(t, int64(1), c.Freed)

	for _, bad := range []int{0, pool.MaxBorrowDays + 1} {
		body["days"] = bad
		requireRefused(t, f.do("POST", "/v1/pools/"+w.leasePool+"/borrow", f.owner, body), "days")
	}
}

// Without a license key the server cannot sign: 503 unavailable.
func TestBorrowWithoutKeyIsUnavailable(t *testing.T) {
	f := newFixture(t)
	w := f.populate()
	h, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock})
	require.NoError(t, err)
	f.h = h
	f.srv.Config.Handler = h
	r := f.do("POST", "/v1/pools/"+w.leasePool+"/borrow", f.owner, map[string]any{"consumer": map[string]string{"user": "u"}, "days": 1})
	assert.Equal(t, 503, r.status, "%s", r.body)
}
