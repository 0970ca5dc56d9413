package http_test

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

func money(t *testing.T, m license.Money) string {
	t.Helper()
	return m.Amount.StringFixed(2) + " " + string(m.Currency)
}

// Purchase: no license amount set, 20 devices
// enrolled, buying 30: the minimum is 20 and the added cost is the price of 10.
func TestPurchasePreviewEqualsPurchase(t *testing.T) {
	forEachStore(t, testPurchasePreviewEqualsPurchase)
}

func testPurchasePreviewEqualsPurchase(t *testing.T, f *fixture) {
	s := f.site("North", nil)
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 20}, nil)

	var pre billing.PurchaseQuote
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/purchase/preview", f.owner, map[string]int64{"quantity": 30}, &pre)
	assert.Equal(t, int64(20), pre.Minimum)
	assert.Equal(t, int64(30), pre.AddedLicenses)
	assert.Equal(t, int64(30), pre.NewTotal)
	assert.Equal(t, int64(10), pre.NewAvailable)
	assert.Equal(t, "25.00 USD", money(t, pre.AddedCost)) // 10 above the minimum × 2.50
	assert.Equal(t, "75.00 USD", money(t, pre.EstimatedTotal))

	// The preview changed nothing.
	var got lkhttp.SiteView
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	assert.Nil(t, got.Licenses)

	// Fewer than the minimum is refused.
	r := f.do("POST", "/v1/sites/"+s.ID+"/purchase", f.owner, map[string]int64{"quantity": 19})
	assert.Equal(t, 400, r.status)

	var done billing.PurchaseQuote
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/purchase", f.owner, map[string]int64{"quantity": 30}, &done)
	assert.Equal(t, pre, done)
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	require.NotNil(t, got.Licenses)
	assert.Equal(t, int64(30), *got.Licenses)

	// The purchase is on the next invoice estimate.
	var inv billing.Invoice
	f.ok(200, "GET", "/v1/company/invoice-estimate", f.owner, nil, &inv)
	require.Len(t, inv.Totals, 1)
	assert.Equal(t, "150.00 USD", money(t, inv.Totals[0])) // 30 licenses next month + 30 purchased this month
}

// Decrease: 30 licenses, 20 enrolled: decreasing
// by 10 saves the price of 10; by 11 is refused (below the enrolled devices).
func TestDecreaseStopsAtEnrolled(t *testing.T) { forEachStore(t, testDecreaseStopsAtEnrolled) }

func testDecreaseStopsAtEnrolled(t *testing.T, f *fixture) {
	s := f.site("North", ptr[int64](30))
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 20}, nil)

	r := f.do("POST", "/v1/sites/"+s.ID+"/decrease/preview", f.owner, map[string]int64{"quantity": 11})
	assert.Equal(t, 409, r.status, string(r.body))
	assert.Equal(t, "below_enrolled", r.errCode(t))
	r = f.do("POST", "/v1/sites/"+s.ID+"/decrease", f.owner, map[string]int64{"quantity": 11})
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "below_enrolled", r.errCode(t))

	var pre, done billing.DecreaseQuote
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/decrease/preview", f.owner, map[string]int64{"quantity": 10}, &pre)
	assert.Equal(t, int64(20), pre.NewTotal)
	assert.Equal(t, int64(0), pre.NewAvailable)
	assert.Equal(t, "25.00 USD", money(t, pre.DecreasedCost))
	assert.Equal(t, "50.00 USD", money(t, pre.EstimatedTotal))
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/decrease", f.owner, map[string]int64{"quantity": 10}, &done)
	assert.Equal(t, pre, done)
	var got lkhttp.SiteView
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	assert.Equal(t, int64(20), *got.Licenses)
}

// Transfer: licenses move between sites with the
// same plan, price and currency; in-use licenses do not move; the sum is kept.
func TestTransfer(t *testing.T) { forEachStore(t, testTransfer) }

func testTransfer(t *testing.T, f *fixture) {
	from := f.site("North", ptr[int64](30))
	to := f.site("South", ptr[int64](10))
	f.ok(200, "POST", "/v1/sites/"+from.ID+"/enroll", f.owner, map[string]int64{"quantity": 20}, nil)
	f.ok(200, "POST", "/v1/sites/"+to.ID+"/enroll", f.owner, map[string]int64{"quantity": 5}, nil)

	body := map[string]any{"from": from.ID, "to": to.ID, "quantity": 5}
	var pre, done billing.TransferQuote
	f.ok(200, "POST", "/v1/transfers/preview", f.owner, body, &pre)
	assert.Equal(t, int64(25), pre.From.TotalAfter)
	assert.Equal(t, int64(5), pre.From.AvailableAfter)
	assert.Equal(t, int64(20), pre.From.InUse)
	assert.Equal(t, int64(15), pre.To.TotalAfter)
	assert.Equal(t, int64(10), pre.To.AvailableAfter)
	assert.Equal(t, int64(5), pre.Transferred)
	f.ok(200, "POST", "/v1/transfers", f.owner, body, &done)
	assert.Equal(t, pre, done)

	// Only available licenses move (5 left on North).
	r := f.do("POST", "/v1/transfers", f.owner, map[string]any{"from": from.ID, "to": to.ID, "quantity": 6})
	assert.GreaterOrEqual(t, r.status, 400)
	assert.Less(t, r.status, 500)

	// Another currency: 422.
	var eur lkhttp.SiteView
	f.ok(201, "POST", "/v1/sites", f.owner, map[string]any{"name": "Euro", "plan": "business", "payment_type": "monthly_invoice",
		"group": "main", "unit_price": map[string]string{"amount": "2.50", "currency": "EUR"}, "licenses": 10}, &eur)
	r = f.do("POST", "/v1/transfers/preview", f.owner, map[string]any{"from": from.ID, "to": eur.ID, "quantity": 1})
	assert.Equal(t, 422, r.status, string(r.body))
	assert.Equal(t, "currency_mismatch", r.errCode(t))

	var a, b lkhttp.SiteView
	f.ok(200, "GET", "/v1/sites/"+from.ID, f.owner, nil, &a)
	f.ok(200, "GET", "/v1/sites/"+to.ID, f.owner, nil, &b)
	assert.Equal(t, int64(40), *a.Licenses+*b.Licenses)
}

// Automatic top-up: increment 5, 2 licenses available, 4 devices
// enrolling: 5 licenses are added, 4 of them in use, 3 remain available.
func TestTopUpOnEnrolment(t *testing.T) { forEachStore(t, testTopUpOnEnrolment) }

func testTopUpOnEnrolment(t *testing.T, f *fixture) {
	s := f.site("North", ptr[int64](10))
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 8}, nil)

	// Without top-up the enrolment is refused.
	r := f.do("POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 4})
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "insufficient_licenses", r.errCode(t))

	r = f.do("POST", "/v1/topup/enable", f.owner, map[string]string{})
	assert.Equal(t, 400, r.status, "terms must be accepted")
	var st topup.Settings
	f.ok(200, "POST", "/v1/topup/enable", f.owner, map[string]string{"accepted_terms_version": "2026-01"}, &st)
	assert.True(t, st.Enabled)
	require.Len(t, st.Sites, 1)
	assert.Equal(t, int64(5), st.Sites[0].Increment)
	f.ok(200, "POST", "/v1/topup/recipients", f.owner, map[string]any{"emails": []string{"it@acme.example"}}, nil)

	var q topup.Quote
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/enroll/preview", f.owner, map[string]int64{"quantity": 4}, &q)
	assert.Equal(t, int64(2), q.Shortfall)
	assert.Equal(t, int64(5), q.Added)
	assert.Equal(t, int64(15), q.NewTotal)
	assert.Equal(t, int64(3), q.NewAvailable)
	assert.False(t, q.Refused)

	var res lkhttp.EnrollView
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/enroll", f.owner, map[string]int64{"quantity": 4}, &res)
	assert.Equal(t, q.Added, res.ToppedUp, "the preview equals the commit")
	assert.Equal(t, int64(5), res.ToppedUp)
	assert.Equal(t, int64(15), *res.Site.Licenses)
	assert.Equal(t, int64(12), res.Site.Enrolled)
	assert.Equal(t, int64(3), *res.Site.Licenses-res.Site.Enrolled)

	var outbox []topup.OutboxEntry
	f.list("/v1/topup/notifications", f.owner, &outbox)
	require.Len(t, outbox, 1)
	assert.Equal(t, []string{"it@acme.example"}, outbox[0].Recipients)

	f.ok(200, "POST", "/v1/topup/disable", f.owner, nil, &st)
	assert.False(t, st.Enabled)
}

// Event log: the log shows the changes; exports are CSV of the current
// view (chosen columns, search) or of all original data.
func TestEventLogQueryAndExport(t *testing.T) { forEachStore(t, testEventLogQueryAndExport) }

func testEventLogQueryAndExport(t *testing.T, f *fixture) {
	from := f.site("North", ptr[int64](30))
	to := f.site("South", ptr[int64](10))
	f.ok(200, "POST", "/v1/sites/"+from.ID+"/purchase", f.owner, map[string]int64{"quantity": 5}, nil)
	f.ok(200, "POST", "/v1/transfers", f.owner, map[string]any{"from": from.ID, "to": to.ID, "quantity": 3}, nil)

	var page lkhttp.EventPage
	f.ok(200, "GET", "/v1/events?search=license.&sort=time&desc=true&columns=type,source,target,count,actor", f.owner, nil, &page)
	require.Len(t, page.Rows, 2)
	assert.Equal(t, []string{"license.transfer", "North", "South", "3", "ann@acme.example"}, page.Rows[0])
	assert.Equal(t, "license.purchase", page.Rows[1][0])

	// Cursor paging.
	var p1, p2 lkhttp.EventPage
	f.ok(200, "GET", "/v1/events?limit=1&search=license.", f.owner, nil, &p1)
	require.Len(t, p1.Items, 1)
	require.NotEmpty(t, p1.NextCursor)
	f.ok(200, "GET", "/v1/events?limit=1&search=license.&cursor="+p1.NextCursor, f.owner, nil, &p2)
	require.Len(t, p2.Items, 1)
	assert.NotEqual(t, p1.Items[0].ID, p2.Items[0].ID)

	r := f.ok(200, "GET", "/v1/events/export?view=current&search=transfer&columns=type,count", f.owner, nil, nil)
	assert.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"))
	assert.Contains(t, r.header.Get("Content-Disposition"), "attachment;")
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"Event type", "License count"}, {"license.transfer", "3"}}, rows)

	r = f.ok(200, "GET", "/v1/events/export?view=original", f.owner, nil, nil)
	rows, err = csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	require.NoError(t, err)
	require.Greater(t, len(rows), 4) // header, company, sites, purchase, transfer, ...
	assert.Len(t, rows[0], len(eventlog.AllColumns))

	for _, bad := range []string{"?sort=nope", "?limit=x", "?limit=5000", "?columns=type,type", "?cursor=garbage", "?bogus=1", "?desc=maybe"} {
		r := f.do("GET", "/v1/events"+bad, f.owner, nil)
		assert.Equal(t, 400, r.status, bad+": "+string(r.body))
	}
	r = f.do("GET", "/v1/events/export?view=sideways", f.owner, nil)
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid", r.errCode(t), "a refused export is a problem, not a CSV")
}

func TestIdempotencyOverHTTP(t *testing.T) { forEachStore(t, testIdempotencyOverHTTP) }

func testIdempotencyOverHTTP(t *testing.T, f *fixture) {
	s := f.site("North", ptr[int64](10))
	path := "/v1/sites/" + s.ID + "/purchase"
	r1 := f.ok(200, "POST", path, f.owner, map[string]int64{"quantity": 5}, nil, "Idempotency-Key", "buy-1")
	r2 := f.ok(200, "POST", path, f.owner, map[string]int64{"quantity": 5}, nil, "Idempotency-Key", "buy-1")
	assert.JSONEq(t, string(r1.body), string(r2.body))
	r := f.do("POST", path, f.owner, map[string]int64{"quantity": 6}, "Idempotency-Key", "buy-1")
	assert.Equal(t, 409, r.status)
	assert.Contains(t, string(r.body), `"field":"idempotency_key"`)
	var got lkhttp.SiteView
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	assert.Equal(t, int64(15), *got.Licenses, "the retried purchase added licenses once")

	// Without a key, each request is a new purchase.
	f.ok(200, "POST", path, f.owner, map[string]int64{"quantity": 1}, nil)
	f.ok(200, "POST", path, f.owner, map[string]int64{"quantity": 1}, nil)
	f.ok(200, "GET", "/v1/sites/"+s.ID, f.owner, nil, &got)
	assert.Equal(t, int64(17), *got.Licenses)
}

func TestRoles(t *testing.T) { forEachStore(t, testRoles) }

func testRoles(t *testing.T, f *fixture) {
	s := f.site("North", ptr[int64](10))
	viewer := f.key("vera@acme.example", license.Viewer)
	editor := f.key("ed@acme.example", license.Editor)
	admin := f.key("ada@acme.example", license.Admin)

	r := f.do("POST", "/v1/sites/"+s.ID+"/purchase", viewer, map[string]int64{"quantity": 1})
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "forbidden", r.errCode(t))
	r = f.do("POST", "/v1/sites/"+s.ID+"/purchase", editor, map[string]int64{"quantity": 1})
	assert.Equal(t, 403, r.status)
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/purchase", admin, map[string]int64{"quantity": 1}, nil)

	// Unit prices only for roles that may see them.
	rv := f.ok(200, "GET", "/v1/sites/"+s.ID, viewer, nil, nil)
	assert.NotContains(t, string(rv.body), "unit_price")
	re := f.ok(200, "GET", "/v1/sites/"+s.ID, editor, nil, nil)
	assert.Contains(t, string(re.body), `"unit_price":{"amount":"2.50","currency":"USD"}`)
	assert.Equal(t, 403, f.do("GET", "/v1/company/invoice-estimate", viewer, nil).status)

	// Keys: only an owner creates them; the key is shown once and works.
	assert.Equal(t, 403, f.do("POST", "/v1/apikeys", admin, map[string]string{"email": "x@acme.example", "role": "viewer"}).status)
	var ck lkhttp.CreatedAPIKey
	f.ok(201, "POST", "/v1/apikeys", f.owner, map[string]string{"email": "new@acme.example", "role": "viewer", "name": "ci"}, &ck)
	assert.Regexp(t, `^lk_[A-Za-z0-9_-]{43}$`, ck.Key)
	f.ok(200, "GET", "/v1/sites", ck.Key, nil, nil)
	var keys []lkhttp.APIKey
	r = f.ok(200, "GET", "/v1/apikeys", f.owner, nil, nil)
	f.list("/v1/apikeys", f.owner, &keys)
	require.NotEmpty(t, keys)
	assert.NotContains(t, string(r.body), ck.Key)
	assert.NotContains(t, string(r.body), "hash")
	f.ok(200, "DELETE", "/v1/apikeys/"+ck.APIKey.ID, f.owner, nil, nil)
	assert.Equal(t, 401, f.do("GET", "/v1/sites", ck.Key, nil).status, "a revoked key no longer works")
}

// The event chain of a company verifies over HTTP, for owners only (admins
// manage licenses but do not audit the log's integrity).
func TestEventChainVerifies(t *testing.T) {
	f := newFixture(t)
	s := f.site("North", ptr[int64](10))
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/purchase", f.owner, map[string]int64{"quantity": 5}, nil)
	var v eventlog.Verification
	f.ok(200, "GET", "/v1/events/verify", f.owner, nil, &v)
	assert.True(t, v.Intact, "%+v", v)
	assert.Equal(t, countEvents(t, f.store, f.company), v.Checked)
	assert.Equal(t, f.company, v.Company)
	assert.Equal(t, 403, f.do("GET", "/v1/events/verify", f.key("vera@acme.example", license.Viewer), nil).status)
	assert.Equal(t, 403, f.do("GET", "/v1/events/verify", f.key("adam@acme.example", license.Admin), nil).status)
}

// The CSV export streams: a large log arrives complete, chunked rather than
// buffered to compute a Content-Length.
func TestEventExportStreams(t *testing.T) {
	f := newFixture(t)
	const n = 20000
	require.NoError(t, f.store.Update(context.Background(), func(tx storage.Tx) error {
		for i := range n {
			if _, err := tx.AppendEvent(context.Background(), eventlog.Event{ID: license.NewID(), Company: f.company, Time: testStart,
				Type: "license.purchase", Target: "North", Count: int64(i), Actor: "ann@acme.example"}); err != nil {
				return err
			}
		}
		return nil
	}))
	r := f.ok(200, "GET", "/v1/events/export?view=original", f.owner, nil, nil)
	assert.Empty(t, r.header.Get("Content-Length"))
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, 1+int(countEvents(t, f.store, f.company)))
	assert.Greater(t, len(rows), n)
}
