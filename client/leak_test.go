package client_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/licensekit/licensekit/client"
	"github.com/licensekit/licensekit/license"
)

// A lease stopped while a heartbeat is in flight (by Close, or by cancelling
// its context) releases its seat and leaves no goroutine behind.
func TestLeaseStoppedMidHeartbeatLeaksNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := newServer(t)
	entered := make(chan struct{}, 1)
	s.wrap = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/heartbeat") {
				entered <- struct{}{}
				<-r.Context().Done() // the heartbeat hangs until the client gives up
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	s.Stop()
	s.Start()
	p := s.pool(license.ConcurrentUser, 2, time.Minute)
	tr := &http.Transport{}
	k := newTicks()
	c := newClient(t, s, "ann", s.clock.Now, k.option(), client.WithHTTPClient(&http.Client{Transport: tr}))

	// Close mid-heartbeat.
	l, err := c.Lease(context.Background(), p)
	require.NoError(t, err)
	k.beat(t)
	<-entered
	require.NoError(t, l.Close())
	assert.Equal(t, 0, s.liveLeases(p), "Close released the seat")
	require.NoError(t, l.Close(), "Close twice is harmless")

	// Context cancelled mid-heartbeat.
	ctx, cancel := context.WithCancel(context.Background())
	l, err = c.Lease(ctx, p)
	require.NoError(t, err)
	k.beat(t)
	<-entered
	cancel()
	for range l.Events() { // closed once the loop has ended
	}
	require.NoError(t, l.Close())
	assert.Equal(t, 0, s.liveLeases(p), "cancelling the context released the seat")

	tr.CloseIdleConnections()
	s.Stop()
	goleak.VerifyNone(t, ignore)
}
