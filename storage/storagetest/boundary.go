package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

func init() {
	Register("boundary",
		Test{"LeaseAtExactExpiry", boundaryLeaseAtExpiry},
		Test{"ReleaseOnLastQuarantineDay", boundaryReleaseLastDay},
	)
}

// boundaryLeaseAtExpiry pins the instant a concurrent-user lease lapses: one
// nanosecond before ExpiresAt it holds its seat (counted, heartbeat renews it,
// nobody else gets the seat); at ExpiresAt exactly it no longer does (not
// counted, heartbeat is Expired, the seat goes to another user).
func boundaryLeaseAtExpiry(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("seat", license.ConcurrentUser)
	spec.LeaseTTL = time.Minute
	p := e.create(spec)
	e.buy(p.ID, 1)
	lease := func(u string) (pool.Lease, error) {
		return e.svc.AcquireLease(e.ctx, e.admin, p.ID, pool.LeaseRequest{Consumer: license.Consumer{User: u}})
	}
	ann, err := lease("ann")
	require.NoError(t, err)
	require.Equal(t, poolT0.Add(time.Minute), ann.ExpiresAt)

	// Just before the expiry: still live.
	e.clock.Set(ann.ExpiresAt.Add(-time.Nanosecond))
	assert.Equal(t, pool.Counts{Total: 1, Allocated: 1, AllocatedManually: 1}, e.counts(p.ID), "one nanosecond before its expiry the lease holds its seat")
	_, err = lease("bob")
	poolCode(t, err, license.InsufficientLicenses, "pool")
	renewed, err := e.svc.Heartbeat(e.ctx, e.admin, p.ID, ann.ID)
	require.NoError(t, err, "a heartbeat one nanosecond before the expiry renews the lease")
	require.Equal(t, ann.ExpiresAt.Add(-time.Nanosecond).Add(time.Minute), renewed.ExpiresAt)

	// At the (renewed) expiry exactly: lapsed.
	e.clock.Set(renewed.ExpiresAt)
	assert.Equal(t, pool.Counts{Total: 1, Available: 1}, e.counts(p.ID), "at its expiry the lease holds no seat")
	_, err = e.svc.Heartbeat(e.ctx, e.admin, p.ID, ann.ID)
	poolCode(t, err, license.Expired, "lease")
	bob, err := lease("bob")
	require.NoError(t, err, "the seat of a lease at its expiry goes to another user")
	assert.Equal(t, renewed.ExpiresAt.Add(time.Minute), bob.ExpiresAt)
	ls, err := e.svc.Leases(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	require.Len(t, ls, 1, "ann's lease was culled")
	assert.Equal(t, bob.ID, ls[0].ID)
}

// boundaryReleaseLastDay pins the quarantine boundary of a 30-day minimum
// allocation time for an allocation made at T0: released on the 30th day (its
// first and its last instant) the licenses are quarantined until T0 + 30 days;
// released at T0 + 30 days exactly they are not, and the earlier quarantines
// end at that instant too.
func boundaryReleaseLastDay(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("q", license.InstalledInstance)
	spec.MinAllocationDays = 30
	p := e.create(spec)
	e.buy(p.ID, 3)
	var ids []string
	for _, a := range []string{"a1", "a2", "a3"} {
		al, err := e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset(a))
		require.NoError(t, err)
		ids = append(ids, al.ID)
	}
	until := poolT0.AddDate(0, 0, 30)
	require.Equal(t, until, pool.QuarantineUntil(poolT0, 30))

	e.clock.Set(poolT0.AddDate(0, 0, 29)) // the last day begins
	rel, err := e.svc.Release(e.ctx, e.admin, p.ID, ids[0])
	require.NoError(t, err)
	assert.Equal(t, int64(1), rel.Quarantined, "released as the last day begins")
	assert.Equal(t, until, rel.Until)

	e.clock.Set(until.Add(-time.Nanosecond)) // the last instant of the last day
	rel, err = e.svc.Release(e.ctx, e.admin, p.ID, ids[1])
	require.NoError(t, err)
	assert.Equal(t, int64(1), rel.Quarantined, "released at the last instant of the last day")
	assert.Equal(t, until, rel.Until)
	assert.Equal(t, pool.Counts{Total: 3, Quarantined: 2, Allocated: 1, AllocatedManually: 1}, e.counts(p.ID))

	e.clock.Set(until) // the minimum allocation time has passed
	assert.Equal(t, pool.Counts{Total: 3, Available: 2, Allocated: 1, AllocatedManually: 1}, e.counts(p.ID), "quarantine ends at T0 + 30 days")
	rel, err = e.svc.Release(e.ctx, e.admin, p.ID, ids[2])
	require.NoError(t, err)
	assert.Zero(t, rel.Quarantined, "released once the minimum allocation time has passed")
	assert.True(t, rel.Until.IsZero())
	assert.Equal(t, pool.Counts{Total: 3, Available: 3}, e.counts(p.ID))
}
