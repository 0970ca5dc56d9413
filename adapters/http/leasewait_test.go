package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/pool"
)

// POST /v1/pools/{id}/leases with wait_seconds stays open on a full pool
// and answers 201 once a release frees the seat; without it the answer is
// an immediate 409. wait_seconds outside 0..30 is refused.
func TestLeaseAcquireWaitsForASeat(t *testing.T) {
	f := newFixture(t)
	leases, held := oneSeatHeld(t, f)

	for _, w := range []int{-1, 31} {
		requireRefused(t, f.do("POST", leases, f.owner, map[string]any{"consumer": map[string]any{"user": "bob"}, "wait_seconds": w}), "wait_seconds")
	}
	r := f.do("POST", leases, f.owner, map[string]any{"consumer": map[string]any{"user": "bob"}})
	require.Equal(t, 409, r.status, "%s", r.body)
	assert.Equal(t, "insufficient_licenses", r.errCode(t))

	got := postWaiting(f, leases, "bob", 20)
	select {
	case a := <-got:
		t.Fatalf("the waiting acquire answered %d (%v) while the seat was held", a.status, a.err)
	case <-time.After(300 * time.Millisecond):
	}
	f.ok(200, "DELETE", leases+"/"+held.ID, f.owner, nil, nil)
	select {
	case a := <-got:
		require.NoError(t, a.err)
		require.Equal(t, 201, a.status)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting acquire did not get the freed seat")
	}
}

// Drain (called when the server shuts down) ends the waits at once with a
// 503, and a later request with wait_seconds is answered at once.
func TestDrainEndsLeaseWaits(t *testing.T) {
	f := newFixture(t)
	leases, _ := oneSeatHeld(t, f)

	got := postWaiting(f, leases, "bob", 30)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	f.h.Drain()
	select {
	case a := <-got:
		require.NoError(t, a.err)
		require.Equal(t, 503, a.status)
		require.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not end the wait")
	}
	start = time.Now()
	r := f.do("POST", leases, f.owner, map[string]any{"consumer": map[string]any{"user": "carol"}, "wait_seconds": 30})
	require.Equal(t, 409, r.status, "%s", r.body)
	require.Less(t, time.Since(start), 5*time.Second, "no new waits once draining")
}

// oneSeatHeld creates a concurrent-user pool of one seat, held by ann, and
// returns its leases path and ann's lease.
func oneSeatHeld(t *testing.T, f *fixture) (string, pool.Lease) {
	t.Helper()
	var lp pool.Pool
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("CAD", "perpetual", "concurrent_user", 0), &lp)
	f.ok(201, "POST", "/v1/pools/"+lp.ID+"/transactions", f.owner, map[string]any{"kind": "purchase", "count": 1}, nil)
	leases := "/v1/pools/" + lp.ID + "/leases"
	var held pool.Lease
	f.ok(201, "POST", leases, f.owner, map[string]any{"consumer": map[string]any{"user": "ann"}}, &held)
	return leases, held
}

// answer is the outcome of a request sent in the background.
type answer struct {
	status int
	err    error
}

// postWaiting sends an acquire for user with wait_seconds in the background
// and delivers its answer on the channel it returns.
func postWaiting(f *fixture, leases, user string, wait int) <-chan answer {
	got := make(chan answer, 1)
	go func() {
		body := fmt.Sprintf(`{"consumer":{"user":%q},"wait_seconds":%d}`, user, wait)
		req, err := http.NewRequest("POST", f.srv.URL+leases, strings.NewReader(body))
		if err != nil {
			got <- answer{err: err}
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+f.owner)
		res, err := f.srv.Client().Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		res.Body.Close()
		got <- answer{status: res.StatusCode}
	}()
	return got
}
