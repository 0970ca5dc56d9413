package http_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/pool"
)

// Concurrent clients over HTTP: seats are never oversubscribed, and
// enrolments racing with automatic top-up keep licenses >= enrolled with every
// added license accounted for by a topup.triggered event.
func TestConcurrentClients(t *testing.T) { forEachStore(t, testConcurrentClients) }

func testConcurrentClients(t *testing.T, f *fixture) {
	var p pool.Pool
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("CAD", "perpetual", "concurrent_user", 0), &p)
	f.ok(201, "POST", "/v1/pools/"+p.ID+"/transactions", f.owner, map[string]any{"kind": "purchase", "count": 5}, nil)
	s := f.site("North", ptr[int64](10))
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 8}, nil)
	f.ok(200, "POST", "/v1/topup/enable", f.owner, map[string]string{"accepted_terms_version": "2026-01"}, nil)

	const clients = 16
	var wg sync.WaitGroup
	leaseStatus := make([]int, clients)
	enrolStatus := make([]int, clients)
	for i := range clients {
		wg.Add(2)
		go func() {
			defer wg.Done()
			leaseStatus[i] = f.do("POST", "/v1/pools/"+p.ID+"/leases", f.owner, map[string]any{"consumer": map[string]string{"user": fmt.Sprintf("u%d", i)}}).status
		}()
		go func() {
			defer wg.Done()
			enrolStatus[i] = f.do("POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 1}).status
		}()
	}
	wg.Wait()

	won := 0
	for _, st := range leaseStatus {
		require.Contains(t, []int{201, 409}, st)
		if st == 201 {
			won++
		}
	}
	assert.Equal(t, 5, won, "exactly the 5 seats were taken")
	var pane pool.Pane
	f.ok(200, "GET", "/v1/pools/"+p.ID+"/status", f.owner, nil, &pane)
	assert.Equal(t, int64(5), pane.Counts.Allocated)
	assert.Equal(t, int64(0), pane.Counts.Available)

	for _, st := range enrolStatus {
		require.Equal(t, 200, st)
	}
	var got lkhttp.SiteView
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	assert.Equal(t, int64(8+clients), got.Enrolled)
	assert.GreaterOrEqual(t, *got.Licenses, got.Enrolled)
	var page lkhttp.EventPage
	f.ok(200, "GET", "/v1/events?types=topup.triggered&limit=1000", f.owner, nil, &page)
	var added int64
	for _, e := range page.Items {
		added += e.Count
	}
	assert.Equal(t, *got.Licenses-10, added, "every added license has its top-up event")
	assert.Equal(t, int64(0), added%5)
}
