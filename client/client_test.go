package client_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/client"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
)

// The SDK's codes and their order are the server's.
func TestValidationCodesAreTheServers(t *testing.T) {
	require.Len(t, client.ValidationOrder, len(license.ValidationOrder))
	for i, c := range license.ValidationOrder {
		assert.Equal(t, string(c), string(client.ValidationOrder[i]))
	}
	assert.Equal(t, string(license.CodeValid), string(client.CodeValid))
	assert.Equal(t, string(license.CodeInGrace), string(client.CodeInGrace))
}

// countEvents counts the company's events of type typ.
func countEvents(t *testing.T, s *server, typ eventlog.Type) int64 {
	t.Helper()
	var n int64
	err := s.store.View(context.Background(), func(tx storage.Tx) error {
		var err error
		n, err = tx.CountEvents(context.Background(), eventlog.Filter{Company: s.admin.Company, Types: []eventlog.Type{typ}})
		return err
	})
	require.NoError(t, err)
	return n
}

// An activation whose answer is lost is retried with the same
// Idempotency-Key and activates once: one allocation, one event.
func TestActivationRetriedAfterDroppedAnswerActivatesOnce(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.InstalledInstance, 5, 0)
	drop := &dropFirst{base: http.DefaultTransport, match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/validate-and-allocate") }}
	c := newClient(t, s, "ann", s.clock.Now, client.WithHTTPClient(&http.Client{Transport: drop}))
	v, err := c.Activate(context.Background(), client.Pool(p))
	require.NoError(t, err)
	assert.True(t, v.Valid, "%+v", v)
	require.Len(t, drop.keys, 2, "the lost answer was retried")
	assert.Equal(t, drop.keys[0], drop.keys[1], "one Idempotency-Key for the logical operation")
	assert.NotEmpty(t, drop.keys[0])

	as, err := s.pools().Allocations(context.Background(), s.admin, p)
	require.NoError(t, err)
	assert.Len(t, as, 1)
	assert.Equal(t, int64(1), countEvents(t, s, pool.EventAllocated))
	pane, err := s.pools().Status(context.Background(), s.admin, p)
	require.NoError(t, err)
	assert.Equal(t, int64(1), pane.Counts.Allocated)

	// Deactivate gives it back; again is harmless.
	require.NoError(t, c.Deactivate(context.Background(), client.Pool(p)))
	require.NoError(t, c.Deactivate(context.Background(), client.Pool(p)))
	pane, err = s.pools().Status(context.Background(), s.admin, p)
	require.NoError(t, err)
	assert.Zero(t, pane.Counts.Allocated)
	v, err = c.Validate(context.Background(), client.Pool(p))
	require.NoError(t, err)
	assert.Equal(t, client.CodeNoAllocation, v.Code)
}

// The typed codes come back as the server gives them.
func TestValidateReturnsTheServersCodes(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.InstalledInstance, 1, 0)
	ctx := context.Background()
	a := newClient(t, s, "ann", s.clock.Now)
	v, err := a.Validate(ctx, client.Pool(p))
	require.NoError(t, err)
	assert.Equal(t, client.CodeNoAllocation, v.Code)
	v, err = a.Activate(ctx, client.Pool(p))
	require.NoError(t, err)
	assert.Equal(t, client.CodeValid, v.Code)
	b := newClient(t, s, "bob", s.clock.Now)
	v, err = b.Activate(ctx, client.Pool(p))
	require.NoError(t, err)
	assert.Equal(t, client.CodeSeatsExhausted, v.Code)
	assert.False(t, v.Valid)
	audit := newClient(t, s, "ann", s.clock.Now, client.WithProduct("acme", "audit"))
	v, err = audit.Validate(ctx, client.Pool(p))
	require.NoError(t, err)
	assert.Equal(t, client.CodeEntitlementsMissing, v.Code)
	assert.Equal(t, []string{"audit"}, v.Missing)
	v, err = a.Validate(ctx, client.Key("no-such-key"))
	require.NoError(t, err)
	assert.Equal(t, client.CodeNotFound, v.Code)
	_, err = a.Validate(ctx, client.Pool("not a pool id"))
	assert.Equal(t, "invalid", client.ErrorCode(err), "bad input is an API error, not a cached answer: %v", err)
}

// A stopped server within the grace the server set keeps the product
// licensed (from the cache); beyond it, not; back online, online again.
func TestStoppedServerWithinGraceKeepsLicensed(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.InstalledInstance, 5, 0)
	clock := licensetest.NewClock(start)
	c := newClient(t, s, "ann", clock.Now)
	ctx := context.Background()
	v, err := c.Activate(ctx, client.Pool(p))
	require.NoError(t, err)
	require.True(t, v.Valid)
	assert.Equal(t, start.Add(24*time.Hour), v.OfflineUntil, "the server's grace")
	assert.False(t, v.Cached)

	s.Stop()
	clock.Advance(23 * time.Hour)
	v, err = c.Validate(ctx, client.Pool(p))
	require.NoError(t, err)
	assert.True(t, v.Valid)
	assert.True(t, v.Cached)

	clock.Set(start.Add(24*time.Hour + time.Second))
	_, err = c.Validate(ctx, client.Pool(p))
	require.ErrorIs(t, err, client.ErrOfflineExpired)
	assert.True(t, client.Unreachable(err))

	s.Start()
	v, err = c.Validate(ctx, client.Pool(p))
	require.NoError(t, err)
	assert.True(t, v.Valid)
	assert.False(t, v.Cached)
}

// A clock set back beyond the tolerance is refused offline, for cached
// answers and for license files alike; a small step back is tolerated.
func TestClockRollbackIsRefused(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.InstalledInstance, 5, 0)
	clock := licensetest.NewClock(start)
	state := client.MemoryState()
	c := newClient(t, s, "ann", clock.Now, client.WithState(state))
	ctx := context.Background()
	_, err := c.Activate(ctx, client.Pool(p))
	require.NoError(t, err)
	file := issue(t, vendorKey, licensefile.Claims{LicenseID: "L1", Product: "acme", IssuedAt: start, ExpiresAt: start.Add(48 * time.Hour)})
	s.Stop()

	clock.Advance(30 * time.Hour) // past the grace and past nothing of the file
	_, err = c.Validate(ctx, client.Pool(p))
	require.ErrorIs(t, err, client.ErrOfflineExpired)
	clock.Advance(20 * time.Hour) // the file has expired
	_, err = c.VerifyFile(file, licensefile.Request{})
	require.ErrorIs(t, err, &licensefile.Error{Code: licensefile.Expired})

	// Set the clock back into the grace: refused, and stays refused after
	// a restart (the high-water mark is in the state).
	clock.Set(start.Add(time.Hour))
	_, err = c.Validate(ctx, client.Pool(p))
	require.ErrorIs(t, err, client.ErrClockRollback)
	_, err = c.VerifyFile(file, licensefile.Request{})
	require.ErrorIs(t, err, client.ErrClockRollback)
	restarted := newClient(t, s, "ann", clock.Now, client.WithState(state))
	_, err = restarted.Validate(ctx, client.Pool(p))
	require.ErrorIs(t, err, client.ErrClockRollback)

	// Within the tolerance (5 minutes): accepted.
	clock.Set(start.Add(50*time.Hour - 4*time.Minute))
	_, err = restarted.VerifyFile(issue(t, vendorKey, licensefile.Claims{LicenseID: "L2", Product: "acme", IssuedAt: start}), licensefile.Request{})
	require.NoError(t, err)
}

func issue(t *testing.T, key ed25519.PrivateKey, c licensefile.Claims) []byte {
	t.Helper()
	pub := key.Public().(ed25519.PublicKey)
	f, err := licensefile.Issue(c, licensefile.KeyID(pub), key)
	require.NoError(t, err)
	return f
}

// A tampered file, or one signed with a key the product does not ship, is refused.
func TestTamperedFileOrUnknownKeyIsRefused(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, "ann", s.clock.Now)
	good := issue(t, vendorKey, licensefile.Claims{LicenseID: "L1", Product: "acme", IssuedAt: start, Entitlements: []string{"backup"}})
	res, err := c.VerifyFile(good, licensefile.Request{Entitlements: []string{"backup"}})
	require.NoError(t, err)
	assert.Equal(t, "L1", res.Claims.LicenseID)

	// Well-formed claims with another license id under the old signature.
	parts := strings.Split(strings.TrimSpace(string(good)), ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	claims = []byte(strings.Replace(string(claims), `"L1"`, `"L9"`, 1))
	tampered := []byte(strings.Join([]string{parts[0], parts[1], base64.RawURLEncoding.EncodeToString(claims), parts[3]}, "."))
	_, err = c.VerifyFile(tampered, licensefile.Request{})
	require.ErrorIs(t, err, &licensefile.Error{Code: licensefile.BadSignature})

	_, other, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	_, err = c.VerifyFile(issue(t, other, licensefile.Claims{LicenseID: "L1", Product: "acme", IssuedAt: start}), licensefile.Request{})
	require.ErrorIs(t, err, &licensefile.Error{Code: licensefile.UnknownKey})
}

// Borrow: a seat taken for N days with a signed file that works offline
// until then and not after; Lease on the same pool returns it early (an
// ordinary seat again).
func TestBorrowWorksOfflineAndReturnsOnReconnect(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.ConcurrentUser, 1, time.Minute)
	clock := licensetest.NewClock(start)
	k := newTicks()
	c := newClient(t, s, "ann", clock.Now, k.option())
	ctx := context.Background()
	b, err := c.Borrow(ctx, p, 7)
	require.NoError(t, err)
	assert.Equal(t, start.Add(7*24*time.Hour), b.ExpiresAt)
	s.Stop()
	s.clock.Advance(3 * 24 * time.Hour)
	clock.Advance(3 * 24 * time.Hour)
	res, err := c.VerifyBorrowed(p)
	require.NoError(t, err)
	assert.Equal(t, p, res.Claims.Pool)
	assert.Equal(t, 1, s.liveLeases(p), "the seat stays taken on the server without heartbeats")

	later := newClient(t, s, "ann", func() time.Time { return clock.Now().Add(5 * 24 * time.Hour) })
	_, err = later.VerifyFile(b.File, licensefile.Request{Fingerprint: "fp-ann"})
	require.ErrorIs(t, err, &licensefile.Error{Code: licensefile.Expired})
	_, err = c.VerifyFile(b.File, licensefile.Request{Fingerprint: "fp-other"})
	require.ErrorIs(t, err, &licensefile.Error{Code: licensefile.FingerprintMismatch})

	// Back online: the product leases the pool; the borrowed seat becomes
	// its ordinary seat (no second seat) and the file is dropped.
	s.Start()
	l, err := c.Lease(ctx, p)
	require.NoError(t, err)
	_, ok := c.BorrowedFile(p)
	assert.False(t, ok)
	assert.Equal(t, 1, s.liveLeases(p))
	held, until := l.Held()
	assert.True(t, held)
	assert.Equal(t, s.clock.Now().Add(time.Minute), until, "renewed for the pool's TTL, no longer the days")
	require.NoError(t, l.Close())
	assert.Equal(t, 0, s.liveLeases(p))

	// Return gives a borrowed seat back at once.
	_, err = c.Borrow(ctx, p, 2)
	require.NoError(t, err)
	assert.Equal(t, 1, s.liveLeases(p))
	require.NoError(t, c.Return(ctx, p))
	assert.Equal(t, 0, s.liveLeases(p))
}

// A lease heartbeats; after a partition long enough for the server to drop
// the seat it reports the loss and takes a seat again when one is free.
func TestLeaseReacquiresAfterPartition(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.ConcurrentUser, 1, time.Minute)
	ctx := context.Background()
	k := newTicks()
	c := newClient(t, s, "ann", s.clock.Now, k.option())
	l, err := c.Lease(ctx, p)
	require.NoError(t, err)
	defer l.Close()

	s.clock.Advance(20 * time.Second)
	k.beat(t)
	e := next(t, l)
	assert.Equal(t, client.LeaseRenewed, e.Kind)
	assert.Equal(t, s.clock.Now().Add(time.Minute), e.ExpiresAt)

	// Partition within the TTL: a missed heartbeat, still held.
	s.Stop()
	k.beat(t)
	e = next(t, l)
	assert.Equal(t, client.LeaseMissed, e.Kind)
	held, _ := l.Held()
	assert.True(t, held)

	// The server comes back after the seat lapsed and someone else took it.
	s.clock.Advance(2 * time.Minute)
	s.Start()
	bob := newClient(t, s, "bob", s.clock.Now, newTicks().option())
	bl, err := bob.Lease(ctx, p)
	require.NoError(t, err)
	k.beat(t)
	e = next(t, l)
	assert.Equal(t, client.LeaseLost, e.Kind)
	held, _ = l.Held()
	assert.False(t, held)
	assert.Equal(t, 1, s.liveLeases(p), "never more seats than licenses")

	// Bob leaves: the next round takes the seat again.
	require.NoError(t, bl.Close())
	k.beat(t)
	e = next(t, l)
	assert.Equal(t, client.LeaseRegained, e.Kind)
	held, _ = l.Held()
	assert.True(t, held)
	assert.Equal(t, 1, s.liveLeases(p))
	require.NoError(t, l.Close())
	assert.Equal(t, 0, s.liveLeases(p))
	// The loop's own re-acquire after the loss may have raced bob's release
	// and won, so a renewal may still be buffered: read what is left, then
	// the channel must be closed.
	closed := make(chan struct{})
	go func() {
		for range l.Events() {
		}
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("events not closed when the lease stops")
	}
}

// 32 clients lease a pool of 10 seats: exactly 10 hold one, the store never
// counts more than 10 live leases, and every holder's heartbeats keep its
// seat across many TTLs.
func TestThirtyTwoClientsTenSeats(t *testing.T) {
	s := newServer(t)
	const seats, clients = 10, 32
	p := s.pool(license.ConcurrentUser, seats, 30*time.Second)
	ctx := context.Background()

	var over atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() { // the store's view, all along
		defer watch.Done()
		for {
			if n := s.liveLeases(p); n > seats {
				over.Store(int64(n))
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	type holder struct {
		k *ticks
		l *client.Lease
	}
	var mu sync.Mutex
	var holders []holder
	var refused atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := newTicks()
			c := newClient(t, s, "user-"+string(rune('A'+i)), s.clock.Now, k.option())
			l, err := c.Lease(ctx, p)
			if err != nil {
				assert.Equal(t, "insufficient_licenses", client.ErrorCode(err), "%v", err)
				refused.Add(1)
				return
			}
			mu.Lock()
			holders = append(holders, holder{k, l})
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Len(t, holders, seats)
	assert.Equal(t, int64(clients-seats), refused.Load())

	// Ten heartbeat rounds of 20 s each (200 s, more than six TTLs): every
	// holder keeps its seat; a latecomer finds none.
	late := newClient(t, s, "latecomer", s.clock.Now)
	for round := range 10 {
		s.clock.Advance(20 * time.Second)
		var bw sync.WaitGroup
		for _, h := range holders {
			bw.Add(1)
			go func() {
				defer bw.Done()
				h.k.beat(t)
				e := next(t, h.l)
				assert.Equal(t, client.LeaseRenewed, e.Kind, "round %d: %+v", round, e)
			}()
		}
		bw.Wait()
		_, err := late.Lease(ctx, p)
		assert.Equal(t, "insufficient_licenses", client.ErrorCode(err))
		assert.Equal(t, seats, s.liveLeases(p))
	}
	for _, h := range holders {
		require.NoError(t, h.l.Close())
	}
	close(stop)
	watch.Wait()
	assert.Zero(t, over.Load(), "the store counted more live leases than seats")
	assert.Equal(t, 0, s.liveLeases(p))
	audit, err := s.pools().Audit(ctx, s.admin, p)
	require.NoError(t, err)
	assert.True(t, audit.Consistent(), "%+v", audit)
}

// busyFirst answers the first n requests 429 with Retry-After (as the
// server's rate limits do) and sends the rest to the server.
type busyFirst struct {
	base  http.RoundTripper
	n     int
	after string
	mu    sync.Mutex
	sent  int
}

func (b *busyFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.sent++
	busy := b.sent <= b.n
	b.mu.Unlock()
	if !busy {
		return b.base.RoundTrip(r)
	}
	body := `{"type":"https://licensekit.dev/problems/rate_limited","title":"Too many requests","status":429,"code":"rate_limited","detail":"slow down"}`
	h := http.Header{"Content-Type": {"application/problem+json"}, "Retry-After": {b.after}}
	return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

func (b *busyFirst) requests() int { b.mu.Lock(); defer b.mu.Unlock(); return b.sent }

// A 429 with Retry-After is retried no sooner than the server asked, even
// when the policy's own wait is shorter; a Retry-After longer than the
// policy's longest wait is not waited for: the call returns the answer at
// once.
func TestRetryAfterIsHonoured(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.InstalledInstance, 1, 0)
	ctx := context.Background()

	busy := &busyFirst{base: http.DefaultTransport, n: 1, after: "1"}
	c := newClient(t, s, "ann", s.clock.Now, client.WithHTTPClient(&http.Client{Transport: busy, Timeout: 10 * time.Second}),
		client.WithRetry(client.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Second}))
	start := time.Now()
	v, err := c.Validate(ctx, client.Pool(p))
	require.NoError(t, err)
	assert.Equal(t, client.CodeNoAllocation, v.Code)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "retried before the Retry-After")
	assert.Equal(t, 2, busy.requests())

	busy = &busyFirst{base: http.DefaultTransport, n: 10, after: "60"}
	c = newClient(t, s, "ann", s.clock.Now, client.WithHTTPClient(&http.Client{Transport: busy, Timeout: 10 * time.Second}))
	_, err = c.Validate(ctx, client.Pool(p))
	assert.Equal(t, "rate_limited", client.ErrorCode(err), "%v", err)
	assert.Equal(t, 1, busy.requests(), "a wait beyond the policy's Max is not retried")
}

// With WaitForSeat, Lease on a full pool waits on the server and gets the
// seat the holder's Close frees; the wait is held below the HTTP client's
// timeout, so a wait longer than that ends with the server's refusal rather
// than a client timeout.
func TestLeaseWaitsForASeat(t *testing.T) {
	s := newServer(t)
	p := s.pool(license.ConcurrentUser, 1, time.Minute)
	ctx := context.Background()
	ann := newClient(t, s, "ann", s.clock.Now, newTicks().option())
	al, err := ann.Lease(ctx, p)
	require.NoError(t, err)

	_, err = newClient(t, s, "carol", s.clock.Now).Lease(ctx, p)
	assert.Equal(t, "insufficient_licenses", client.ErrorCode(err), "without a wait: refused at once")

	type result struct {
		l   *client.Lease
		err error
	}
	got := make(chan result, 1)
	bob := newClient(t, s, "bob", s.clock.Now, newTicks().option())
	go func() {
		l, err := bob.Lease(ctx, p, client.WaitForSeat(20*time.Second))
		got <- result{l, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("Lease returned (%v) while the only seat was held", r.err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, al.Close())
	select {
	case r := <-got:
		require.NoError(t, r.err)
		held, _ := r.l.Held()
		assert.True(t, held)
		require.NoError(t, r.l.Close())
	case <-time.After(10 * time.Second):
		t.Fatal("the freed seat did not reach the waiting Lease")
	}

	// Held again by ann; dave's client times out after 7 s, so an hour's
	// wait is sent as 2 s and ends with the server's refusal.
	al, err = ann.Lease(ctx, p)
	require.NoError(t, err)
	defer al.Close()
	dave := newClient(t, s, "dave", s.clock.Now, client.WithHTTPClient(&http.Client{Timeout: 7 * time.Second}))
	start := time.Now()
	_, err = dave.Lease(ctx, p, client.WaitForSeat(time.Hour))
	assert.Equal(t, "insufficient_licenses", client.ErrorCode(err), "%v", err)
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second)
	assert.Less(t, time.Since(start), 7*time.Second)
}
