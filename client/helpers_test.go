package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/client"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

var start = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

// vendorKey signs borrowed seats' files on the test servers.
var vendorKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

func vendorKeys() map[string]ed25519.PublicKey {
	pub := vendorKey.Public().(ed25519.PublicKey)
	return map[string]ed25519.PublicKey{licensefile.KeyID(pub): pub}
}

// server is the reference API in this process over a memory store, on a
// fixed address that survives Stop and Start (a product sees the same URL
// come back).
type server struct {
	t      *testing.T
	store  storage.Store
	clock  *licensetest.Clock
	h      http.Handler
	addr   string
	mu     sync.Mutex
	srv    *http.Server
	admin  license.Actor
	key    string // an editor's API key for the product
	wrap   func(http.Handler) http.Handler
	served sync.WaitGroup
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, store: memory.New(), clock: licensetest.NewClock(start)}
	h, err := lkhttp.New(lkhttp.Config{Store: s.store, Clock: s.clock, LicenseKey: vendorKey,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: lkhttp.Limits{Validation: lkhttp.NoLimit}})
	require.NoError(t, err)
	s.h = h
	ctx := context.Background()
	company := license.NewID()
	s.admin = license.Actor{Company: company, Email: "vendor@example.com", Role: license.Owner}
	_, err = (&billing.Service{Store: s.store, Clock: s.clock}).CreateCompany(ctx, s.admin, "Vendor")
	require.NoError(t, err)
	k, err := lkhttp.IssueKey(ctx, s.store, s.clock, company, "product@example.com", license.Editor, "product", license.SystemEmail)
	require.NoError(t, err)
	s.key = k.Key
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *server) URL() string { return "http://" + s.addr }

func (s *server) serve(ln net.Listener) {
	h := s.h
	if s.wrap != nil {
		h = s.wrap(h)
	}
	srv := &http.Server{Handler: h}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	s.served.Add(1)
	go func() {
		defer s.served.Done()
		_ = srv.Serve(ln)
	}()
}

// Stop stops the server: every connection is closed, nothing answers.
func (s *server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		s.served.Wait()
	}
}

// Start starts the stopped server again on the same address.
func (s *server) Start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(s.t, err)
	s.serve(ln)
}

func (s *server) pools() *pool.Service { return &pool.Service{Store: s.store, Clock: s.clock} }

// pool creates a pool with seats licenses.
func (s *server) pool(metric license.Metric, seats int64, ttl time.Duration) string {
	s.t.Helper()
	ctx := context.Background()
	p, err := s.pools().Create(ctx, s.admin, pool.CreateRequest{Spec: pool.Spec{Name: "Acme " + string(metric), Model: license.Perpetual,
		Metric: metric, Software: []string{"acme"}, Entitlements: []string{"backup"}, LeaseTTL: ttl}})
	require.NoError(s.t, err)
	_, err = s.pools().AddTransaction(ctx, s.admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: seats})
	require.NoError(s.t, err)
	return p.ID
}

// liveLeases counts the pool's live leases as the store holds them.
func (s *server) liveLeases(poolID string) int {
	s.t.Helper()
	ls, err := s.pools().Leases(context.Background(), s.admin, poolID)
	require.NoError(s.t, err)
	n := 0
	now := s.clock.Now()
	for _, l := range ls {
		if l.Live(now) {
			n++
		}
	}
	return n
}

// ticks drives a client's heartbeats: each send on C is one wait ending.
type ticks struct{ C chan time.Time }

func newTicks() *ticks { return &ticks{C: make(chan time.Time)} }

func (k *ticks) option() client.Option {
	return client.WithHeartbeatTimer(nil, func(time.Duration) <-chan time.Time { return k.C })
}

// beat lets the lease's loop run one heartbeat (it blocks until the loop waits).
func (k *ticks) beat(t *testing.T) {
	t.Helper()
	select {
	case k.C <- time.Now():
	case <-time.After(10 * time.Second):
		t.Fatal("the lease loop is not waiting for a heartbeat")
	}
}

// next returns the next lease event.
func next(t *testing.T, l *client.Lease) client.LeaseEvent {
	t.Helper()
	select {
	case e, ok := <-l.Events():
		require.True(t, ok, "events closed")
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no lease event")
	}
	return client.LeaseEvent{}
}

// fast is a retry policy for tests: few attempts, no real waiting.
var fast = client.WithRetry(client.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond})

// newClient is a client of s for consumer user on clock now.
func newClient(t *testing.T, s *server, user string, now func() time.Time, opts ...client.Option) *client.Client {
	t.Helper()
	base := []client.Option{client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}), client.WithAPIKey(s.key),
		client.WithConsumer(client.Consumer{User: user, Fingerprint: "fp-" + user}), client.WithProduct("acme", "backup"),
		client.WithClock(now), client.WithPublicKeys(vendorKeys()), fast}
	c, err := client.New(s.URL(), append(base, opts...)...)
	require.NoError(t, err)
	return c
}

// dropFirst is a transport that delivers the first request matching path to
// the server and then loses its answer (the connection "drops"), recording
// each attempt's Idempotency-Key.
type dropFirst struct {
	base    http.RoundTripper
	match   func(*http.Request) bool
	mu      sync.Mutex
	dropped bool
	keys    []string
}

func (d *dropFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	rsp, err := d.base.RoundTrip(r)
	if err != nil || !d.match(r) {
		return rsp, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys = append(d.keys, r.Header.Get("Idempotency-Key"))
	if !d.dropped {
		d.dropped = true
		rsp.Body.Close()
		return nil, errors.New("connection reset by peer (test)")
	}
	return rsp, nil
}
