package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/webhook"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// receiver is an httptest endpoint that records what it gets and answers
// with status (or hangs until the request is cancelled when hang is set).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status int
	hang   bool
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), b})
		st, hang := r.status, r.hang
		r.mu.Unlock()
		if hang {
			<-req.Context().Done()
			return
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) set(status int, hang bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.hang = status, hang
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

type fixture struct {
	store storage.Store
	clock *licensetest.Clock
	svc   *webhook.Service
	disp  *webhook.Dispatcher
	owner license.Actor
}

func newFixture(t *testing.T) *fixture {
	inner := memory.New()
	t.Cleanup(func() { _ = inner.Close() })
	store := webhook.Wrap(inner)
	clock := licensetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return &fixture{
		store: store, clock: clock,
		svc: &webhook.Service{Store: store, Clock: clock, Key: testKey, AllowHTTP: true},
		disp: &webhook.Dispatcher{Store: store, Key: testKey, AllowHTTP: true, AllowPrivate: true, Timeout: 200 * time.Millisecond,
			MaxAttempts: 3, Rand: func() float64 { return 0 }},
		owner: license.Actor{Company: "c1", Email: "owner@example.com", Role: license.Owner},
	}
}

// change commits an event of type typ for company, as a domain change does.
func (f *fixture) change(t *testing.T, company string, typ eventlog.Type) string {
	t.Helper()
	id := license.NewID()
	require.NoError(t, f.store.Update(context.Background(), func(tx storage.Tx) error {
		_, err := tx.AppendEvent(context.Background(), eventlog.Event{ID: id, Company: company, Time: f.clock.Now(),
			Type: typ, Actor: "a@example.com", Subject: "site-1"})
		return err
	}))
	return id
}

func (f *fixture) run(t *testing.T) webhook.Report {
	t.Helper()
	rep, err := f.disp.RunOnce(context.Background(), f.clock.Now())
	require.NoError(t, err)
	return rep
}

func (f *fixture) create(t *testing.T, url string, events ...string) webhook.Created {
	t.Helper()
	c, err := f.svc.Create(context.Background(), f.owner, webhook.CreateRequest{URL: url, Events: events})
	require.NoError(t, err)
	return c
}

func TestDeliveredSignedOnceAndOnlyWanted(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	c := f.create(t, rc.URL, "site.created")
	require.True(t, strings.HasPrefix(c.Secret, webhook.SecretPrefix))

	ev := f.change(t, "c1", "site.created")
	f.change(t, "c1", "site.deleted")    // not wanted
	f.change(t, "c2", "site.created")    // another company
	f.change(t, "c1", "webhook.created") // never delivered

	rep := f.run(t)
	assert.Equal(t, 1, rep.Delivered)
	got := rc.all()
	require.Len(t, got, 1)
	require.NoError(t, webhook.Verify(c.Secret, got[0].body, got[0].header.Get(webhook.SignatureHeader), time.Now(), 0))
	var body webhook.Body
	require.NoError(t, json.Unmarshal(got[0].body, &body))
	assert.Equal(t, ev, body.Event.ID)
	assert.Equal(t, "c1", body.Company)
	assert.Equal(t, body.ID, got[0].header.Get(webhook.DeliveryHeader), "the idempotency id is in the header and the body")
	assert.Equal(t, "site.created", got[0].header.Get(webhook.EventHeader))

	assert.Zero(t, f.run(t).Delivered, "a delivered delivery is not sent again")
	assert.Len(t, rc.all(), 1)
	ds, err := f.svc.Deliveries(context.Background(), f.owner, c.Endpoint.ID, "")
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, webhook.StatusDelivered, ds[0].Status)
	assert.Equal(t, 1, ds[0].Attempts)
	require.Len(t, ds[0].Log, 1)
	assert.Equal(t, 200, ds[0].Log[0].StatusCode)
}

func TestRolledBackChangeHasNoDelivery(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.create(t, rc.URL, webhook.AllEvents)
	err := f.store.Update(context.Background(), func(tx storage.Tx) error {
		if _, err := tx.AppendEvent(context.Background(), eventlog.Event{ID: license.NewID(), Company: "c1",
			Time: f.clock.Now(), Type: "site.created", Actor: "a@example.com"}); err != nil {
			return err
		}
		return license.Errorf(license.Conflict, "x", "refused")
	})
	require.Error(t, err)
	f.run(t)
	assert.Empty(t, rc.all())
}

func TestRetriedWithBackoffThenFailed(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	rc.set(http.StatusInternalServerError, false)
	c := f.create(t, rc.URL, "site.created")
	f.change(t, "c1", "site.created")

	assert.Equal(t, 1, f.run(t).Retrying)
	assert.Zero(t, f.run(t).Retrying, "not due again before the backoff")
	// Rand is 0: the wait is half the backoff.
	f.clock.Advance(webhook.DefaultBackoff(1)/2 - time.Second)
	assert.Zero(t, f.run(t).Retrying, "not due a second before")
	f.clock.Advance(time.Second)
	assert.Equal(t, 1, f.run(t).Retrying)
	f.clock.Advance(webhook.DefaultBackoff(2) / 2)
	assert.Equal(t, 1, f.run(t).Failed, "the third failure is the last (MaxAttempts 3)")
	f.clock.Advance(24 * time.Hour)
	assert.Zero(t, f.run(t), "a failed delivery is not retried")
	assert.Len(t, rc.all(), 3)

	ds, err := f.svc.Deliveries(context.Background(), f.owner, c.Endpoint.ID, webhook.StatusFailed)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, 3, ds[0].Attempts)
	require.Len(t, ds[0].Log, 3)
	assert.Equal(t, 500, ds[0].Log[2].StatusCode)
	n := countEvents(t, f.store, "c1", webhook.EventDeliveryFailed)
	assert.Equal(t, int64(1), n)

	// Manual redelivery: same ID, fresh attempts.
	rc.set(http.StatusNoContent, false)
	d, err := f.svc.Redeliver(context.Background(), f.owner, c.Endpoint.ID, ds[0].ID)
	require.NoError(t, err)
	assert.Equal(t, webhook.StatusPending, d.Status)
	assert.Equal(t, 1, f.run(t).Delivered)
	got := rc.all()
	require.Len(t, got, 4)
	assert.Equal(t, got[0].header.Get(webhook.DeliveryHeader), got[3].header.Get(webhook.DeliveryHeader))
	assert.Equal(t, got[0].body, got[3].body)
}

func TestTimeoutIsAFailedAttempt(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	rc.set(0, true)
	c := f.create(t, rc.URL, "site.created")
	f.change(t, "c1", "site.created")
	assert.Equal(t, 1, f.run(t).Retrying)
	ds, err := f.svc.Deliveries(context.Background(), f.owner, c.Endpoint.ID, "")
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Zero(t, ds[0].Log[0].StatusCode)
	assert.Contains(t, ds[0].LastError, "deadline")

	rc.set(http.StatusOK, false)
	f.clock.Advance(webhook.DefaultBackoff(1))
	assert.Equal(t, 1, f.run(t).Delivered)
}

func TestEndpointDisabledAfterFailuresInARow(t *testing.T) {
	f := newFixture(t)
	f.disp.DisableAfter, f.disp.MaxAttempts = 3, 10
	rc := newReceiver(t)
	rc.set(http.StatusBadGateway, false)
	c := f.create(t, rc.URL, "site.created")
	f.change(t, "c1", "site.created")
	f.change(t, "c1", "site.created")
	rep := f.run(t) // two failures
	assert.Equal(t, 2, rep.Retrying)
	f.clock.Advance(time.Hour)
	rep = f.run(t) // the third disables; the fourth is not sent
	assert.Equal(t, 1, rep.Disabled)
	assert.Equal(t, 2, rep.Failed)
	assert.Len(t, rc.all(), 3)
	ep, err := f.svc.Get(context.Background(), f.owner, c.Endpoint.ID)
	require.NoError(t, err)
	assert.False(t, ep.Enabled)
	assert.NotEmpty(t, ep.DisabledReason)
	assert.Equal(t, int64(1), countEvents(t, f.store, "c1", webhook.EventDisabled))

	f.change(t, "c1", "site.created")
	f.clock.Advance(time.Hour)
	f.run(t)
	assert.Len(t, rc.all(), 3, "a disabled endpoint gets no new delivery")

	on := true
	ep, err = f.svc.Update(context.Background(), f.owner, c.Endpoint.ID, webhook.UpdateRequest{Enabled: &on})
	require.NoError(t, err)
	assert.Zero(t, ep.Failures)

	// A success resets the count.
	rc.set(http.StatusOK, false)
	f.change(t, "c1", "site.created")
	assert.Equal(t, 1, f.run(t).Delivered)
}

func TestSecretRotationOverlap(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	c := f.create(t, rc.URL, "site.created")
	r, err := f.svc.RotateSecret(context.Background(), f.owner, c.Endpoint.ID, time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, c.Secret, r.Secret)
	assert.Equal(t, f.clock.Now().Add(time.Hour), r.Endpoint.PreviousSecretExpiresAt)

	f.change(t, "c1", "site.created")
	f.run(t)
	got := rc.all()
	require.Len(t, got, 1)
	sig := got[0].header.Get(webhook.SignatureHeader)
	assert.Equal(t, 2, strings.Count(sig, "v1="), "both signatures during the overlap")
	assert.NoError(t, webhook.Verify(c.Secret, got[0].body, sig, time.Now(), 0), "the old secret verifies during the overlap")
	assert.NoError(t, webhook.Verify(r.Secret, got[0].body, sig, time.Now(), 0))

	f.clock.Advance(time.Hour)
	f.change(t, "c1", "site.created")
	f.run(t)
	got = rc.all()
	require.Len(t, got, 2)
	sig = got[1].header.Get(webhook.SignatureHeader)
	assert.Equal(t, 1, strings.Count(sig, "v1="))
	assert.ErrorIs(t, webhook.Verify(c.Secret, got[1].body, sig, time.Now(), 0), webhook.ErrSignature)
	assert.NoError(t, webhook.Verify(r.Secret, got[1].body, sig, time.Now(), 0))
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"x"}`)
	sig := webhook.Sign(now, body, "whsec_a")
	assert.NoError(t, webhook.Verify("whsec_a", body, sig, now.Add(4*time.Minute), 0))
	assert.ErrorIs(t, webhook.Verify("whsec_a", body, sig, now.Add(6*time.Minute), 0), webhook.ErrTimestamp, "a replay after the window")
	assert.ErrorIs(t, webhook.Verify("whsec_a", body, sig, now.Add(-6*time.Minute), 0), webhook.ErrTimestamp)
	assert.ErrorIs(t, webhook.Verify("whsec_a", []byte(`{"id":"y"}`), sig, now, 0), webhook.ErrSignature)
	assert.ErrorIs(t, webhook.Verify("whsec_b", body, sig, now, 0), webhook.ErrSignature)
	assert.ErrorIs(t, webhook.Verify("whsec_a", body, "v1=00", now, 0), webhook.ErrNoSignature)
	// The timestamp is signed: moving it breaks the signature.
	moved := strings.Replace(sig, "t=1800000000", "t=1800000100", 1)
	assert.ErrorIs(t, webhook.Verify("whsec_a", body, moved, now, 0), webhook.ErrSignature)
}

func TestOwnersOnlyAndTenants(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := license.Actor{Company: "c1", Email: "admin@example.com", Role: license.Admin}
	_, err := f.svc.Create(ctx, admin, webhook.CreateRequest{URL: "https://example.com/h", Events: []string{"*"}})
	assert.Equal(t, license.Forbidden, license.ErrorCode(err))
	_, err = f.svc.List(ctx, admin)
	assert.Equal(t, license.Forbidden, license.ErrorCode(err))

	c := f.create(t, "https://example.com/h", "*")
	other := license.Actor{Company: "c2", Email: "owner@example.com", Role: license.Owner}
	_, err = f.svc.Get(ctx, other, c.Endpoint.ID)
	assert.Equal(t, license.NotFound, license.ErrorCode(err))
	_, err = f.svc.RotateSecret(ctx, other, c.Endpoint.ID, 0)
	assert.Equal(t, license.NotFound, license.ErrorCode(err))
	l, err := f.svc.List(ctx, other)
	require.NoError(t, err)
	assert.Empty(t, l)
}

func TestInputRefused(t *testing.T) {
	f := newFixture(t)
	f.svc.AllowHTTP = false
	ctx := context.Background()
	for _, tc := range []struct {
		req   webhook.CreateRequest
		field string
	}{
		{webhook.CreateRequest{URL: "http://example.com/h", Events: []string{"*"}}, "url"},
		{webhook.CreateRequest{URL: "https://u:p@example.com/h", Events: []string{"*"}}, "url"},
		{webhook.CreateRequest{URL: "/relative", Events: []string{"*"}}, "url"},
		{webhook.CreateRequest{URL: "https://example.com/" + strings.Repeat("a", 3000), Events: []string{"*"}}, "url"},
		{webhook.CreateRequest{URL: "https://example.com/h"}, "events"},
		{webhook.CreateRequest{URL: "https://example.com/h", Events: []string{"Site Created"}}, "events"},
		{webhook.CreateRequest{URL: "https://example.com/h", Events: []string{"webhook.disabled"}}, "events"},
	} {
		_, err := f.svc.Create(ctx, f.owner, tc.req)
		assert.Equal(t, license.Invalid, license.ErrorCode(err), "%+v", tc.req)
		var le *license.Error
		if assert.ErrorAs(t, err, &le) {
			assert.Equal(t, tc.field, le.Field)
		}
	}
	l, err := f.svc.List(ctx, f.owner)
	require.NoError(t, err)
	assert.Empty(t, l, "refused input changes nothing")
	_, err = f.svc.RotateSecret(ctx, f.owner, "whk_x", 8*24*time.Hour)
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
}

func TestCreateReplayHidesTheSecret(t *testing.T) {
	f := newFixture(t)
	req := webhook.CreateRequest{URL: "https://example.com/h", Events: []string{"*"}, IdempotencyKey: "k1"}
	a, err := f.svc.Create(context.Background(), f.owner, req)
	require.NoError(t, err)
	b, err := f.svc.Create(context.Background(), f.owner, req)
	require.NoError(t, err)
	assert.NotEmpty(t, a.Secret)
	assert.Empty(t, b.Secret)
	assert.True(t, b.Replayed)
	assert.Equal(t, a.Endpoint.ID, b.Endpoint.ID)
}

// TestConcurrentDispatchersSendEachOnce runs four dispatchers at once on one
// store: each delivery is claimed by one of them.
func TestConcurrentDispatchersSendEachOnce(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.create(t, rc.URL, "site.created")
	for range 40 {
		f.change(t, "c1", "site.created")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			d := *f.disp
			_, err := d.RunOnce(context.Background(), f.clock.Now())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rc.all() {
		seen[r.header.Get(webhook.DeliveryHeader)]++
	}
	assert.Len(t, seen, 40)
	for id, n := range seen {
		assert.Equal(t, 1, n, "delivery %s", id)
	}
}

func countEvents(t *testing.T, s storage.Store, company string, typ eventlog.Type) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		n, err = tx.CountEvents(context.Background(), eventlog.Filter{Company: company, Types: []eventlog.Type{typ}})
		return err
	}))
	return n
}

// Without AllowPrivate, a delivery never reaches an address of the server's
// own network, whether the URL names it (127.0.0.1) or a name resolves to it
// (localhost): the attempt fails with the reason, the receiver gets nothing.
// With AllowPrivate the same endpoint is reached.
func TestDeliveryToPrivateAddressRefused(t *testing.T) {
	f := newFixture(t)
	f.disp.AllowPrivate = false
	rc := newReceiver(t)
	byName := strings.Replace(rc.URL, "127.0.0.1", "localhost", 1)
	require.NotEqual(t, rc.URL, byName)
	a := f.create(t, rc.URL, "site.created")
	b := f.create(t, byName, "site.created")
	f.change(t, "c1", "site.created")
	assert.Equal(t, 2, f.run(t).Retrying)
	assert.Empty(t, rc.all(), "nothing reached the receiver")
	for _, c := range []webhook.Created{a, b} {
		ds, err := f.svc.Deliveries(context.Background(), f.owner, c.Endpoint.ID, "")
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Contains(t, ds[0].LastError, "not a public address", c.Endpoint.URL)
	}

	f.disp.AllowPrivate = true
	f.clock.Advance(webhook.DefaultBackoff(1))
	assert.Equal(t, 2, f.run(t).Delivered)
	assert.Len(t, rc.all(), 2)
}

func TestPublicAddress(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "93.184.216.34": true,
		"2001:4860:4860::8888": true, "2606:4700:4700::1111": true,
		"127.0.0.1": false, "127.8.9.10": false, "::1": false,
		"10.1.2.3": false, "172.16.0.1": false, "172.31.255.255": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12:3456::1": false,
		"100.64.0.1": false, "0.0.0.0": false, "0.1.2.3": false, "::": false,
		"224.0.0.1": false, "255.255.255.255": false, "240.0.0.1": false, "ff02::1": false,
		"192.0.2.1": false, "198.18.0.1": false, "2001:db8::1": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true,
		"64:ff9b::a00:1": false, "::ffff:100.64.0.1": false,
	} {
		assert.Equal(t, public, webhook.PublicAddress(netip.MustParseAddr(addr)), addr)
	}
}

// Two companies' endpoints that each answer only once the other has been
// called: sent one after the other, the first would wait past Timeout
// (200 ms here) and fail; RunOnce sends different companies' deliveries at
// the same time, so both are delivered in one run. One company's slow
// endpoint does not hold back another company's deliveries.
func TestCompaniesDeliveredConcurrently(t *testing.T) {
	f := newFixture(t)
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	var once [2]sync.Once
	handler := func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once[i].Do(arrived.Done)
			select {
			case <-both:
				w.WriteHeader(http.StatusNoContent)
			case <-time.After(2 * time.Second):
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
	}
	for i, company := range []string{"c1", "c2"} {
		srv := httptest.NewServer(handler(i))
		t.Cleanup(srv.Close)
		owner := license.Actor{Company: company, Email: "owner@example.com", Role: license.Owner}
		_, err := f.svc.Create(context.Background(), owner, webhook.CreateRequest{URL: srv.URL, Events: []string{"site.created"}})
		require.NoError(t, err)
		f.change(t, company, "site.created")
	}
	rep := f.run(t)
	assert.Equal(t, 2, rep.Delivered, "%+v", rep)
	assert.Zero(t, rep.Retrying)
}
