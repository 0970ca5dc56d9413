package server

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A request waiting for a seat does not hold the server's shutdown: it is
// answered 503 when the shutdown starts, and the server stops at once
// rather than after its shutdown timeout.
func TestShutdownEndsLeaseWaits(t *testing.T) {
	r := start(t, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(t.TempDir(), "lk.db")})
	leases := r.base + "/v1/pools/" + r.demo.Pools[1] + "/leases"
	post := func(user string, wait int) (int, error) {
		req, err := http.NewRequest("POST", leases, strings.NewReader(fmt.Sprintf(`{"consumer":{"user":%q},"wait_seconds":%d}`, user, wait)))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+r.demo.Key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	// Take every free seat of the demo's concurrent-user pool.
	for i := 0; ; i++ {
		status, err := post(fmt.Sprintf("filler-%d", i), 0)
		require.NoError(t, err)
		if status == 409 {
			break
		}
		require.Equal(t, 201, status)
		require.Less(t, i, 10, "the demo pool has a handful of seats")
	}
	got := make(chan int, 1)
	go func() {
		status, _ := post("waiter", 30)
		got <- status
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	r.stop(t)
	require.Less(t, time.Since(start), 8*time.Second, "the shutdown waited for the waiting request")
	select {
	case status := <-got:
		require.Equal(t, 503, status)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request got no answer")
	}
}
