package pool_test

import (
	"context"
	"crypto/ed25519"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// tallyStore counts write transactions and listings of lease records.
type tallyStore struct {
	storage.Store
	updates, leaseLists atomic.Int64
}

type tallyTx struct {
	storage.Tx
	s *tallyStore
}

func (t tallyTx) List(ctx context.Context, q storage.ListQuery) ([]storage.Record, error) {
	if q.Kind == pool.KindLease {
		t.s.leaseLists.Add(1)
	}
	return t.Tx.List(ctx, q)
}

func (s *tallyStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, func(tx storage.Tx) error { return fn(tallyTx{tx, s}) })
}

func (s *tallyStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error { return fn(tallyTx{tx, s}) })
}

type leaseEnv struct {
	t     *testing.T
	ctx   context.Context
	store *tallyStore
	clock *licensetest.Clock
	svc   *pool.Service
	a     license.Actor
	pool  string
}

func newLeaseEnv(t *testing.T, seats int64, ttl time.Duration) *leaseEnv {
	st := &tallyStore{Store: memory.New()}
	clock := licensetest.NewClock(t0)
	e := &leaseEnv{t: t, ctx: context.Background(), store: st, clock: clock, svc: &pool.Service{Store: st, Clock: clock},
		a: license.Actor{Company: license.NewID(), Email: "admin@acme.example", Role: license.Admin}}
	p, err := e.svc.Create(e.ctx, e.a, pool.CreateRequest{Spec: pool.Spec{Name: "CAD", Model: license.Perpetual, Metric: license.ConcurrentUser, Software: []string{"cad"}, LeaseTTL: ttl}})
	require.NoError(t, err)
	_, err = e.svc.AddTransaction(e.ctx, e.a, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: seats, Date: t0})
	require.NoError(t, err)
	e.pool = p.ID
	return e
}

func (e *leaseEnv) acquire(user string) (pool.Lease, error) {
	return e.svc.AcquireLease(e.ctx, e.a, e.pool, pool.LeaseRequest{Consumer: license.Consumer{User: user}})
}

// held returns the seats the pool's status shows allocated, and checks the
// stored counters against a recount.
func (e *leaseEnv) held() int64 {
	e.t.Helper()
	au, err := e.svc.Audit(e.ctx, e.a, e.pool)
	require.NoError(e.t, err)
	require.True(e.t, au.Consistent(), "%+v", au)
	pane, err := e.svc.Status(e.ctx, e.a, e.pool)
	require.NoError(e.t, err)
	require.Equal(e.t, au.Counts.Allocated, pane.Counts.Allocated, "the status and a recount disagree on the live leases")
	return pane.Counts.Allocated
}

// An acquire reads the pool's leases only once one of them may have lapsed.
func TestAcquireListsLeasesOnlyWhenOneMayHaveLapsed(t *testing.T) {
	e := newLeaseEnv(t, 10, time.Minute)
	for _, u := range []string{"ann", "bob", "cy"} {
		_, err := e.acquire(u)
		require.NoError(t, err)
	}
	require.Zero(t, e.store.leaseLists.Load(), "every lease is live: no acquire lists them")
	e.clock.Advance(10 * time.Second)
	e.store.leaseLists.Store(0)
	_, err := e.acquire("dee") // expires at t0+70s
	require.NoError(t, err)
	require.Zero(t, e.store.leaseLists.Load(), "no lease can have lapsed: the acquire must not list the leases")
	require.EqualValues(t, 4, e.held())

	e.clock.Set(t0.Add(61 * time.Second)) // ann, bob and cy lapsed at t0+60s
	e.store.leaseLists.Store(0)
	_, err = e.acquire("eve")
	require.NoError(t, err)
	require.EqualValues(t, 1, e.store.leaseLists.Load(), "a lease lapsed: the acquire lists the leases once to cull")
	require.EqualValues(t, 2, e.held())
	ls, err := e.svc.Leases(e.ctx, e.a, e.pool)
	require.NoError(t, err)
	require.Len(t, ls, 2, "the lapsed leases are culled")

	e.clock.Set(t0.Add(65 * time.Second)) // the floor is dee's expiry, t0+70s
	e.store.leaseLists.Store(0)
	_, err = e.acquire("fay")
	require.NoError(t, err)
	require.Zero(t, e.store.leaseLists.Load())

	e.clock.Set(t0.Add(70 * time.Second)) // dee lapses now
	require.EqualValues(t, 2, e.held())
	_, err = e.acquire("gus")
	require.NoError(t, err)
	require.EqualValues(t, 3, e.held())
}

// A heartbeat under a clock that went back lowers the lease floor, so the
// lease still lapses when its new expiry passes.
func TestHeartbeatAfterClockWentBackKeepsTheFloor(t *testing.T) {
	e := newLeaseEnv(t, 10, time.Minute)
	l, err := e.acquire("ann") // expires at t0+60s
	require.NoError(t, err)
	e.clock.Set(t0.Add(-30 * time.Second))
	_, err = e.svc.Heartbeat(e.ctx, e.a, e.pool, l.ID) // expires at t0+30s
	require.NoError(t, err)
	e.clock.Set(t0.Add(40 * time.Second))
	require.Zero(t, e.held(), "ann's lease lapsed at t0+30s")
}

// A pool whose settings change loses its floor; the next acquire recounts.
func TestLeaseFloorAfterSettingsChange(t *testing.T) {
	e := newLeaseEnv(t, 10, time.Minute)
	_, err := e.acquire("ann") // expires at t0+60s
	require.NoError(t, err)
	p, err := e.svc.Get(e.ctx, e.a, e.pool)
	require.NoError(t, err)
	spec := p.Spec
	spec.LeaseTTL = 10 * time.Second
	_, err = e.svc.Update(e.ctx, e.a, e.pool, spec)
	require.NoError(t, err)
	_, err = e.acquire("bob") // expires at t0+10s
	require.NoError(t, err)
	e.clock.Set(t0.Add(11 * time.Second))
	require.EqualValues(t, 1, e.held(), "bob's lease lapsed at t0+10s")
	_, err = e.acquire("cy")
	require.NoError(t, err)
	require.EqualValues(t, 2, e.held())
}

// Once a pool was found full, a refused acquire takes no write transaction;
// a renewal, and an acquire after a release, still go to the writer.
func TestRefusalOfAFullPoolTakesNoWriter(t *testing.T) {
	e := newLeaseEnv(t, 2, time.Minute)
	ann, err := e.acquire("ann")
	require.NoError(t, err)
	_, err = e.acquire("bob")
	require.NoError(t, err)
	_, err = e.acquire("cy") // refused by the writer: the pool is known full
	require.ErrorIs(t, err, license.ErrInsufficientLicenses)

	before := e.store.updates.Load()
	for range 3 {
		_, err = e.acquire("cy")
		require.ErrorIs(t, err, license.ErrInsufficientLicenses)
		var le *license.Error
		require.ErrorAs(t, err, &le)
	}
	require.Equal(t, before, e.store.updates.Load(), "refusals read from a snapshot must not take the writer")

	renewed, err := e.acquire("ann") // ann holds a seat: renewed, by the writer
	require.NoError(t, err)
	require.Equal(t, ann.ID, renewed.ID)

	require.NoError(t, e.svc.ReleaseLease(e.ctx, e.a, e.pool, ann.ID))
	_, err = e.acquire("cy")
	require.NoError(t, err)
	require.EqualValues(t, 2, e.held())

	// A lapse makes room: the snapshot cannot tell, the writer culls.
	_, err = e.acquire("dan")
	require.ErrorIs(t, err, license.ErrInsufficientLicenses)
	e.clock.Advance(2 * time.Minute)
	_, err = e.acquire("dan")
	require.NoError(t, err)
	require.EqualValues(t, 1, e.held())
}

// A seat borrowed until a rental period's end that comes before the lease's
// TTL would have lowers the lease floor to that end.
func TestBorrowUntilRentalEndLowersTheFloor(t *testing.T) {
	st := &tallyStore{Store: memory.New()}
	clock := licensetest.NewClock(t0)
	e := &leaseEnv{t: t, ctx: context.Background(), store: st, clock: clock, svc: &pool.Service{Store: st, Clock: clock},
		a: license.Actor{Company: license.NewID(), Email: "admin@acme.example", Role: license.Admin}}
	p, err := e.svc.Create(e.ctx, e.a, pool.CreateRequest{Spec: pool.Spec{Name: "CAD", Model: license.Rental, Metric: license.ConcurrentUser, Software: []string{"cad"}, LeaseTTL: time.Hour}})
	require.NoError(t, err)
	e.pool = p.ID
	_, err = e.svc.AddTransaction(e.ctx, e.a, p.ID, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: 5,
		Period: license.Period{Start: t0.AddDate(0, 0, -1), End: t0.Add(10 * time.Minute)}})
	require.NoError(t, err)
	_, err = e.acquire("ann") // expires at t0+1h: the floor
	require.NoError(t, err)
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	b, err := e.svc.Borrow(e.ctx, e.a, p.ID, pool.BorrowRequest{Consumer: license.Consumer{User: "bob"}, Days: 1}, pool.FileSigner{KeyID: "k1", Key: key})
	require.NoError(t, err)
	require.Equal(t, t0.Add(10*time.Minute-time.Nanosecond), b.Lease.ExpiresAt)
	e.clock.Set(t0.Add(20 * time.Minute)) // bob's borrowed seat lapsed, ann's lease did not
	require.EqualValues(t, 1, e.held())
}
