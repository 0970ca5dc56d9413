package pool_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

func (e *leaseEnv) acquireWaiting(ctx context.Context, user string, wait time.Duration) (pool.Lease, error) {
	return e.svc.AcquireLease(ctx, e.a, e.pool, pool.LeaseRequest{Consumer: license.Consumer{User: user}, Wait: wait})
}

// An acquire with Wait on a full pool waits, holding nothing, and gets the
// seat the next release frees: woken by the release, not by polling (the
// poll is an hour here).
func TestAcquireWaitsForTheNextRelease(t *testing.T) {
	defer pool.SetLeaseWaitPoll(time.Hour)()
	e := newLeaseEnv(t, 1, time.Minute)
	held, err := e.acquire("ann")
	require.NoError(t, err)

	got := make(chan error, 1)
	var bob pool.Lease
	go func() {
		var err error
		bob, err = e.acquireWaiting(e.ctx, "bob", 10*time.Second)
		got <- err
	}()
	require.Eventually(t, func() bool { return pool.LeaseWaiters(e.a.Company, e.pool) == 1 }, 5*time.Second, time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("the acquire returned (%v) while the seat was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, e.svc.ReleaseLease(e.ctx, e.a, e.pool, held.ID))
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the release did not wake the waiting acquire")
	}
	require.Equal(t, "bob", bob.User)
	require.Equal(t, int64(1), e.held())
	require.Zero(t, pool.LeaseWaiters(e.a.Company, e.pool))
}

// A wait that runs out answers as an acquire without Wait would have, and
// a cancelled context ends the wait; neither leaves a waiter behind. Waits
// outside 0..MaxLeaseWait are refused.
func TestAcquireWaitEnds(t *testing.T) {
	e := newLeaseEnv(t, 1, time.Minute)
	_, err := e.acquire("ann")
	require.NoError(t, err)

	start := time.Now()
	_, err = e.acquireWaiting(e.ctx, "bob", 300*time.Millisecond)
	require.Equal(t, license.InsufficientLicenses, license.ErrorCode(err), "%v", err)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer cancel()
	_, err = e.acquireWaiting(ctx, "bob", 10*time.Second)
	require.Equal(t, license.Unavailable, license.ErrorCode(err), "%v", err)
	require.Zero(t, pool.LeaseWaiters(e.a.Company, e.pool))

	for _, w := range []time.Duration{-time.Second, pool.MaxLeaseWait + time.Second} {
		_, err = e.acquireWaiting(e.ctx, "bob", w)
		require.Equal(t, license.Invalid, license.ErrorCode(err))
		require.Equal(t, "wait", license.ErrorField(err))
	}
	require.Equal(t, int64(1), e.held())
}

// Many clients share few seats, each taking a seat (waiting for one),
// holding it a moment and releasing it, again and again. Only releases wake
// the waiters (the poll is an hour), so a wake-up lost on the way (one that
// reached a waiter which then got a seat anyway, and was not passed on)
// would leave a waiter asleep beside a free seat, and the run would not end.
// The seats are never oversubscribed.
func TestWaitingClientsShareFewSeats(t *testing.T) {
	defer pool.SetLeaseWaitPoll(time.Hour)()
	const seats, clients, rounds = 3, 16, 60
	e := newLeaseEnv(t, seats, time.Hour)
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	var inUse, peak atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				l, err := e.acquireWaiting(ctx, fmt.Sprintf("u%d", c), pool.MaxLeaseWait)
				if err != nil {
					errs <- err
					return
				}
				n := inUse.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				runtime.Gosched()
				inUse.Add(-1)
				if err := e.svc.ReleaseLease(e.ctx, e.a, e.pool, l.ID); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.LessOrEqual(t, peak.Load(), int64(seats))
	require.Zero(t, e.held())
	require.Zero(t, pool.LeaseWaiters(e.a.Company, e.pool))
}
