package http_test

import (
	"github.com/licensekit/licensekit/webhook"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

func poolSpec(name, model, metric string, minDays int) map[string]any {
	return map[string]any{"name": name, "model": model, "metric": metric, "software": []string{"office"},
		"responsible": map[string]any{}, "restrictions": map[string]any{}, "automatic": map[string]any{"enabled": false},
		"priority": 0, "form_allocations": true, "min_allocation_days": minDays}
}

// world is a company's resources, made over HTTP.
type world struct {
	siteA, siteB   string
	pool, poolB    string // perpetual named-user pools
	leasePool      string // concurrent-user pool
	allocation     string
	lease          string
	volumeLicense  string
	customer       string
	apiKey         string
	recipientEmail string
	subLicense     string   // activated, assigned to northwind-pc
	subKey         string   // key of a second license, not activated
	attachment     string   // on pool
	webhook        string   // an endpoint taking every event
	delivery       string   // one of its deliveries
	names          []string // texts that only this company's data contains
}

func (f *fixture) populate() world {
	f.t.Helper()
	var w world
	var wh webhook.Created
	f.ok(201, "POST", "/v1/webhooks", f.owner, map[string]any{"url": "https://hooks.northwind.example/licensekit", "events": []string{"*"}}, &wh)
	w.webhook = wh.ID
	a := f.site("Northwind HQ", ptr[int64](30))
	b := f.site("Northwind Lab", ptr[int64](10))
	w.siteA, w.siteB = a.ID, b.ID
	f.ok(200, "POST", "/v1/sites/"+a.ID+"/enroll", f.owner, map[string]int64{"quantity": 12}, nil)

	var p, p2, lp pool.Pool
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Northwind Office", "perpetual", "named_user", 30), &p)
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Northwind Office spare", "perpetual", "named_user", 0), &p2)
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Northwind CAD seats", "perpetual", "concurrent_user", 0), &lp)
	w.pool, w.poolB, w.leasePool = p.ID, p2.ID, lp.ID
	for _, id := range []string{p.ID, p2.ID, lp.ID} {
		f.ok(201, "POST", "/v1/pools/"+id+"/transactions", f.owner, map[string]any{"kind": "purchase", "count": 10,
			"unit_price": map[string]string{"amount": "99.00", "currency": "USD"}, "order_number": "PO-NW-1"}, nil)
	}
	var att pool.Attachment
	f.ok(201, "POST", "/v1/pools/"+p.ID+"/attachments?name=northwind-contract.txt", f.owner, "Northwind contract text", &att,
		"Content-Type", "text/plain")
	w.attachment = att.ID
	var al pool.Allocation
	f.ok(201, "POST", "/v1/pools/"+p.ID+"/allocations", f.owner, map[string]any{"consumer": map[string]any{"user": "northwind-user-1"}}, &al)
	w.allocation = al.ID
	var ls pool.Lease
	f.ok(201, "POST", "/v1/pools/"+lp.ID+"/leases", f.owner, map[string]any{"consumer": map[string]any{"user": "northwind-user-2"}}, &ls)
	w.lease = ls.ID

	var vl lkhttp.VolumeLicenseView
	f.ok(201, "POST", "/v1/volume-licenses", f.owner, map[string]any{"product": "Northwind MDR", "seats": 2000,
		"renewal_date": "2027-06-30", "price_per_user": map[string]string{"amount": "4.00", "currency": "USD"}}, &vl)
	w.volumeLicense = vl.ID
	var cu volume.Customer
	f.ok(201, "POST", "/v1/customers", f.owner, map[string]any{"legal_name": "Northwind Customer Oy",
		"allocations": []map[string]any{{"license": vl.ID, "seats": 100}}}, &cu)
	w.customer = cu.ID

	var ck lkhttp.CreatedAPIKey
	f.ok(201, "POST", "/v1/apikeys", f.owner, map[string]string{"email": "bot@acme.example", "role": "viewer"}, &ck)
	w.apiKey = ck.APIKey.ID
	f.ok(200, "POST", "/v1/topup/enable", f.owner, map[string]string{"accepted_terms_version": "2026-01"}, nil)
	w.recipientEmail = "northwind-it@acme.example"
	f.ok(200, "POST", "/v1/topup/recipients", f.owner, map[string]any{"emails": []string{w.recipientEmail}}, nil)
	var issued subscription.Issued
	f.ok(201, "POST", "/v1/subscriptions/purchase", f.owner, map[string]any{"type": "computer", "quantity": 2, "billing_period": "monthly",
		"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}, "manual_activation": true}, &issued)
	require.Len(f.t, issued.Keys, 2)
	w.subLicense, w.subKey = issued.Licenses[0].ID, issued.Keys[1]
	f.ok(200, "POST", "/v1/subscriptions/activate", f.owner, map[string]any{"key": issued.Keys[0]}, nil)
	f.ok(200, "POST", "/v1/subscriptions/assign", f.owner, map[string]any{"type": "computer",
		"consumer": map[string]string{"asset": "northwind-pc", "user": "northwind-user-3"}, "license": w.subLicense}, nil)
	var ds lkhttp.List[webhook.Delivery]
	f.ok(200, "GET", "/v1/webhooks/"+w.webhook+"/deliveries?limit=1", f.owner, nil, &ds)
	require.Len(f.t, ds.Items, 1)
	w.delivery = ds.Items[0].ID
	w.names = []string{issued.Licenses[1].ID, w.webhook, w.delivery, att.ID, "Northwind", "northwind", f.company, a.ID, b.ID, p.ID, lp.ID, al.ID, ls.ID, vl.ID, cu.ID, ck.APIKey.ID}
	return w
}

func TestPoolLifecycleOverHTTP(t *testing.T) { forEachStore(t, testPoolLifecycleOverHTTP) }

func testPoolLifecycleOverHTTP(t *testing.T, f *fixture) {
	w := f.populate()

	var pane pool.Pane
	f.ok(200, "GET", "/v1/pools/"+w.pool+"/status", f.owner, nil, &pane)
	assert.Equal(t, int64(10), pane.Counts.Total)
	assert.Equal(t, int64(1), pane.Counts.Allocated)
	assert.Equal(t, int64(9), pane.Counts.Available)

	// Released before the 30-day minimum allocation time: quarantined.
	var rel pool.Release
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/allocations/"+w.allocation+"/release", f.owner, nil, &rel)
	assert.Equal(t, int64(1), rel.Quarantined)
	f.ok(200, "GET", "/v1/pools/"+w.pool+"/status", f.owner, nil, &pane)
	assert.Equal(t, int64(1), pane.Counts.Quarantined)
	assert.Equal(t, int64(9), pane.Counts.Available)
	assert.Equal(t, pane.Counts.Total, pane.Counts.Allocated+pane.Counts.Quarantined+pane.Counts.Available)

	// An allocation preview shows what allocating does, and changes nothing.
	var pv pool.AllocationPreview
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/allocations/preview", f.owner, map[string]any{"consumer": map[string]string{"user": "u2"}}, &pv)
	assert.Equal(t, pane.Counts, pv.Before)
	assert.Equal(t, pv.Before.Available-1, pv.After.Available)
	var again pool.Pane
	f.ok(200, "GET", "/v1/pools/"+w.pool+"/status", f.owner, nil, &again)
	assert.Equal(t, pane.Counts, again.Counts)

	// Reassign moves available licenses; the sum is kept; a retry with the same key moves nothing more.
	var re, re2 pool.Reassignment
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/reassign", f.owner, map[string]any{"to": w.poolB, "count": 4}, &re, "Idempotency-Key", "move-1")
	f.ok(200, "POST", "/v1/pools/"+w.pool+"/reassign", f.owner, map[string]any{"to": w.poolB, "count": 4}, &re2, "Idempotency-Key", "move-1")
	assert.Equal(t, re, re2)
	assert.Equal(t, int64(4), re.In.Count)
	var a, b pool.Pane
	f.ok(200, "GET", "/v1/pools/"+w.pool+"/status", f.owner, nil, &a)
	f.ok(200, "GET", "/v1/pools/"+w.poolB+"/status", f.owner, nil, &b)
	assert.Equal(t, int64(20), a.Counts.Total+b.Counts.Total)
	r := f.do("POST", "/v1/pools/"+w.pool+"/reassign", f.owner, map[string]any{"to": w.poolB, "count": 100})
	assert.Equal(t, 409, r.status, string(r.body))

	// Leases: heartbeat, release; a full pool refuses.
	var l pool.Lease
	f.ok(200, "POST", "/v1/pools/"+w.leasePool+"/leases/"+w.lease+"/heartbeat", f.owner, nil, &l)
	assert.Equal(t, w.lease, l.ID)
	f.ok(200, "DELETE", "/v1/pools/"+w.leasePool+"/leases/"+w.lease, f.owner, nil, nil)
	assert.Equal(t, 404, f.do("POST", "/v1/pools/"+w.leasePool+"/leases/"+w.lease+"/heartbeat", f.owner, nil).status)

	// Unit prices only for roles that may see them.
	viewer := f.key("vera@acme.example", "viewer")
	rv := f.ok(200, "GET", "/v1/pools/"+w.pool, viewer, nil, nil)
	assert.NotContains(t, string(rv.body), "unit_price")
	rv = f.ok(200, "GET", "/v1/pools", viewer, nil, nil)
	assert.Contains(t, string(rv.body), w.pool)
	assert.NotContains(t, string(rv.body), "unit_price")
	ro := f.ok(200, "GET", "/v1/pools/"+w.pool, f.owner, nil, nil)
	assert.Contains(t, string(ro.body), `"amount":"99.00"`)
	assert.Equal(t, 403, f.do("POST", "/v1/pools/"+w.pool+"/close", viewer, nil).status)

	// Attachments: download with a safe disposition, remove.
	r = f.ok(200, "GET", "/v1/pools/"+w.pool+"/attachments/"+w.attachment, viewer, nil, nil)
	assert.Equal(t, "Northwind contract text", string(r.body))
	assert.Equal(t, "text/plain", r.header.Get("Content-Type"))
	assert.Equal(t, `attachment; filename=northwind-contract.txt`, r.header.Get("Content-Disposition"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	r = f.do("POST", "/v1/pools/"+w.pool+"/attachments?name=big.bin", f.owner, strings.Repeat("x", 1<<20+1))
	assert.Equal(t, 400, r.status, "above the blob store's limit")
	assert.Contains(t, string(r.body), `"field":"attachment"`)
	assert.Equal(t, 413, f.do("POST", "/v1/pools/"+w.pool+"/attachments?name=big.bin", f.owner, strings.Repeat("x", pool.MaxAttachmentSize+1)).status)
	f.ok(200, "DELETE", "/v1/pools/"+w.pool+"/attachments/"+w.attachment, f.owner, nil, nil)
	assert.Equal(t, 404, f.do("GET", "/v1/pools/"+w.pool+"/attachments/"+w.attachment, f.owner, nil).status)

	// Close, then retire; audit stays consistent.
	var closed pool.Pool
	f.ok(200, "POST", "/v1/pools/"+w.poolB+"/close", f.owner, nil, &closed)
	assert.Equal(t, pool.StatusClosed, closed.Status)
	assert.Equal(t, 409, f.do("POST", "/v1/pools/"+w.poolB+"/allocations", f.owner, map[string]any{"consumer": map[string]any{"user": "u9"}}).status)
	var audit pool.Audit
	f.ok(200, "GET", "/v1/pools/"+w.pool+"/audit", f.owner, nil, &audit)
	assert.True(t, audit.Consistent())

	// Quarantine ends after the minimum allocation time.
	f.clock.Advance(31 * 24 * time.Hour)
	f.ok(200, "GET", "/v1/pools/"+w.pool+"/status", f.owner, nil, &pane)
	assert.Equal(t, int64(0), pane.Counts.Quarantined)
	assert.Equal(t, int64(6), pane.Counts.Available)
}

func TestVolumeLicensesOverHTTP(t *testing.T) { forEachStore(t, testVolumeLicensesOverHTTP) }

func testVolumeLicensesOverHTTP(t *testing.T, f *fixture) {
	w := f.populate()
	var page lkhttp.VolumePageView
	f.ok(200, "GET", "/v1/volume-licenses/"+w.volumeLicense+"?search=northwind", f.owner, nil, &page)
	assert.Equal(t, int64(1900), page.Metrics.Unallocated)
	require.Len(t, page.Customers, 1)
	assert.Equal(t, "Northwind Customer Oy", page.Customers[0].LegalName)

	r := f.do("POST", "/v1/customers", f.owner, map[string]any{"legal_name": "Too Big",
		"allocations": []map[string]any{{"license": w.volumeLicense, "seats": 5000}}})
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "insufficient_licenses", r.errCode(t))

	csvResp := f.ok(200, "GET", "/v1/volume-licenses/"+w.volumeLicense+"/export", f.owner, nil, nil)
	assert.Contains(t, string(csvResp.body), "Northwind Customer Oy")
	assert.Contains(t, csvResp.header.Get("Content-Disposition"), ".csv")
	x := f.ok(200, "GET", "/v1/volume-licenses/"+w.volumeLicense+"/export?format=xlsx", f.owner, nil, nil)
	assert.Equal(t, "PK", string(x.body[:2]), "an XLSX file is a zip")
	assert.Equal(t, 404, f.do("GET", "/v1/volume-licenses/"+license.NewID()+"/export", f.owner, nil).status)

	var vl lkhttp.VolumeLicenseView
	f.ok(200, "PUT", "/v1/volume-licenses/"+w.volumeLicense+"/seats", f.owner, map[string]int64{"seats": 2500}, &vl)
	assert.Equal(t, int64(2400), vl.Unallocated)
	r = f.do("PUT", "/v1/volume-licenses/"+w.volumeLicense+"/seats", f.owner, map[string]int64{"seats": 99})
	assert.Equal(t, 409, r.status, "below the allocated seats")

	var cu volume.Customer
	f.ok(200, "PATCH", "/v1/customers/"+w.customer, f.owner, map[string]any{"allocations": []map[string]any{{"license": w.volumeLicense, "seats": 150}}}, &cu)
	assert.Equal(t, int64(150), cu.Seats(w.volumeLicense))
	f.ok(200, "DELETE", "/v1/customers/"+w.customer, f.owner, nil, nil)
	assert.Equal(t, 404, f.do("GET", "/v1/customers/"+w.customer, f.owner, nil).status)
}
