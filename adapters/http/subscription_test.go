package http_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/subscription"
)

// Subscriptions: buy, activate by key, assign, cancel auto-renewal, let it
// expire (the tick), exchange automatically, bulk-delete expired licenses.
func TestSubscriptionsOverHTTP(t *testing.T) { forEachStore(t, testSubscriptionsOverHTTP) }

func testSubscriptionsOverHTTP(t *testing.T, f *fixture) {
	var issued subscription.Issued
	f.ok(201, "POST", "/v1/subscriptions/purchase", f.owner, map[string]any{"type": "computer", "quantity": 2, "billing_period": "monthly",
		"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}, "manual_activation": true}, &issued,
		"Idempotency-Key", "sub-1")
	require.Len(t, issued.Keys, 2)
	a, b := issued.Licenses[0], issued.Licenses[1]
	assert.False(t, a.Activated)

	// A retry with the same idempotency key returns the licenses without keys.
	var again subscription.Issued
	f.ok(201, "POST", "/v1/subscriptions/purchase", f.owner, map[string]any{"type": "computer", "quantity": 2, "billing_period": "monthly",
		"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}, "manual_activation": true}, &again,
		"Idempotency-Key", "sub-1")
	assert.Empty(t, again.Keys)
	var all []subscription.License
	f.list("/v1/subscriptions/licenses", f.owner, &all)
	assert.Len(t, all, 2)

	assert.Equal(t, 404, f.do("POST", "/v1/subscriptions/activate", f.owner, map[string]string{"key": "not-a-key"}).status)
	for _, k := range issued.Keys {
		f.ok(200, "POST", "/v1/subscriptions/activate", f.owner, map[string]string{"key": k}, nil)
	}
	pc := map[string]string{"asset": "pc-1", "user": "ann"}
	var got subscription.License
	f.ok(200, "POST", "/v1/subscriptions/assign", f.owner, map[string]any{"type": "computer", "consumer": pc, "license": a.ID}, &got)
	require.NotNil(t, got.Assignee)
	assert.Equal(t, "pc-1", got.Assignee.Asset)

	f.ok(200, "PUT", "/v1/subscriptions/licenses/"+a.ID+"/auto-renew", f.owner, map[string]bool{"on": false}, &got)
	assert.False(t, got.AutoRenew)
	var st subscription.Settings
	f.ok(200, "GET", "/v1/subscriptions/settings", f.owner, nil, &st)
	assert.True(t, st.AutoExchange)
	assert.Equal(t, subscription.Monthly, st.Period)

	// After the month, the tick expires a and moves pc-1 to b (automatic exchange).
	f.clock.Advance(40 * 24 * time.Hour)
	res, err := subscription.New(f.store, f.clock).Tick(context.Background(), f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Expired)
	assert.Equal(t, 1, res.Exchanged)
	var as []subscription.Assignment
	f.list("/v1/subscriptions/assignments", f.owner, &as)
	require.Len(t, as, 1)
	assert.Equal(t, b.ID, as[0].License)

	f.ok(200, "PUT", "/v1/subscriptions/settings/auto-exchange", f.owner, map[string]bool{"on": false}, &st)
	assert.False(t, st.AutoExchange)

	viewer := f.key("vera@acme.example", "viewer")
	assert.Equal(t, 403, f.do("POST", "/v1/subscriptions/bulk-delete", viewer, map[string]string{"mode": "expired"}).status)
	rv := f.ok(200, "GET", "/v1/subscriptions/licenses/"+b.ID, viewer, nil, nil)
	assert.NotContains(t, string(rv.body), "unit_price")
	var del subscription.BulkResult
	f.ok(200, "POST", "/v1/subscriptions/bulk-delete", f.owner, map[string]string{"mode": "expired"}, &del)
	assert.Equal(t, 1, del.Deleted)
	assert.Equal(t, []string{a.ID}, del.Licenses)
	assert.Equal(t, 404, f.do("GET", "/v1/subscriptions/licenses/"+a.ID, f.owner, nil).status)
	assert.Equal(t, 400, f.do("POST", "/v1/subscriptions/bulk-delete", f.owner, map[string]string{"mode": "everything"}).status)
}
