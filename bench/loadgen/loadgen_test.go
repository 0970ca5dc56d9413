package loadgen_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/bench/loadgen"
)

func TestRunMakesExactlyRequestsFromEveryClient(t *testing.T) {
	var calls atomic.Int64
	var mu sync.Mutex
	seen := map[int64]bool{}
	clients := map[int]bool{}
	res, err := loadgen.Run(context.Background(), loadgen.Config{Clients: 4, Requests: 400}, func(_ context.Context, c int, i int64) error {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		seen[i], clients[c] = true, true
		time.Sleep(100 * time.Microsecond)
		return nil
	})
	require.NoError(t, err)
	assert.EqualValues(t, 400, res.Ops)
	assert.EqualValues(t, 400, calls.Load())
	assert.Len(t, seen, 400, "every operation number once")
	assert.Len(t, clients, 4)
	assert.False(t, res.TimedOut)
	assert.Greater(t, res.PerSecond(), 0.0)
	assert.LessOrEqual(t, res.P50, res.P99)
}

func TestRunStopsAtTheTimeBound(t *testing.T) {
	start := time.Now()
	res, err := loadgen.Run(context.Background(), loadgen.Config{Clients: 2, Requests: 1 << 40, Duration: 50 * time.Millisecond}, func(context.Context, int, int64) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	require.NoError(t, err)
	assert.True(t, res.TimedOut)
	assert.Less(t, res.Ops, int64(1<<40))
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestRunReturnsTheFirstErrorAndStops(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	_, err := loadgen.Run(context.Background(), loadgen.Config{Clients: 3, Requests: 1_000_000}, func(context.Context, int, int64) error {
		if calls.Add(1) == 10 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	assert.Less(t, calls.Load(), int64(1_000_000))
	_, err = loadgen.Run(context.Background(), loadgen.Config{Clients: 1}, nil)
	require.ErrorIs(t, err, loadgen.ErrUnbounded)
}

func TestClientReportsUnexpectedStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer lk_test" {
			http.Error(w, `{"type":"https://licensekit.dev/problems/unauthenticated","title":"Missing or unknown API key","status":401,"detail":"send an API key","code":"unauthenticated"}`, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"lease-1"}`))
	}))
	defer srv.Close()
	id, err := loadgen.NewClient(srv.URL, "lk_test", 2).AcquireLease(context.Background(), "p", "u")
	require.NoError(t, err)
	assert.Equal(t, "lease-1", id)
	_, err = loadgen.NewClient(srv.URL, "wrong", 2).AcquireLease(context.Background(), "p", "u")
	var se *loadgen.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusUnauthorized, se.Status)
}
