package console_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/adapters/console"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
)

// parts is the fixture of the pool, volume and subscription pages: the
// company of newFixture, a clock the test moves, and the services.
type parts struct {
	*fixture
	clock *licensetest.Clock
	pools *pool.Service
	vol   *volume.Service
	subs  *subscription.Service
}

func newParts(t *testing.T) *parts {
	t.Helper()
	f := newFixture(t)
	p := &parts{fixture: f, clock: licensetest.NewClock(time.Now())}
	p.pools = &pool.Service{Store: f.store, Clock: p.clock, Blobs: &pool.MemoryBlobs{}}
	p.vol = volume.New(f.store, p.clock)
	p.subs = subscription.New(f.store, p.clock)
	h, err := console.New(console.Config{Store: f.store, Clock: p.clock, Billing: f.bill, Logger: slog.New(slog.DiscardHandler),
		Pools: p.pools, Volume: p.vol, Subscriptions: p.subs})
	require.NoError(t, err)
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return p
}

// pool creates a perpetual named-user pool with 25 licenses at 32.00 USD.
func (p *parts) pool(t *testing.T, minDays int) *pool.Pool {
	t.Helper()
	ctx := context.Background()
	pl, err := p.pools.Create(ctx, p.owner, pool.CreateRequest{Spec: pool.Spec{Name: "Visio", Model: license.Perpetual, Metric: license.NamedUser,
		Software: []string{"Visio"}, FormAllocations: true, MinAllocationDays: minDays}})
	require.NoError(t, err)
	price, _ := license.ParseMoney("32.00", "USD")
	_, err = p.pools.AddTransaction(ctx, p.owner, pl.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 25, UnitPrice: &price})
	require.NoError(t, err)
	return pl
}

func specForm(csrf string, pl *pool.Pool, metric string) url.Values {
	return url.Values{"csrf": {csrf}, "name": {pl.Name}, "model": {string(pl.Model)}, "metric": {metric}, "software": {strings.Join(pl.Software, "\n")},
		"priority": {"0"}, "min_allocation_days": {"0"}, "lease_ttl": {"300"}, "form_allocations": {"1"}}
}

func TestPoolFormCreatesPoolAndRefusesViewersAndMissingCSRF(t *testing.T) {
	p := newParts(t)
	c := browser(t)
	csrf := p.signIn(t, c, p.keys[license.Owner])
	form := url.Values{"csrf": {csrf}, "name": {"Project 2026"}, "model": {"perpetual"}, "metric": {"named_user"}, "software": {"Project"}}
	resp, _ := post(t, c, p.srv.URL+"/pools", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/pools/"), loc)
	id := strings.TrimPrefix(loc, "/pools/")
	status, page := get(t, c, p.srv.URL+loc)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, `<option value="named_user" selected>`, "the stored metric is selected")

	// A purchase without the CSRF token is refused and records nothing.
	resp, _ = post(t, c, p.srv.URL+loc+"/transactions", url.Values{"kind": {"purchase"}, "count": {"5"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	v := browser(t)
	vcsrf := p.signIn(t, v, p.keys[license.Viewer])
	status, page = get(t, v, p.srv.URL+loc)
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, page, "Add transaction", "a viewer gets no change forms")
	assert.Contains(t, page, "<fieldset class=\"plain\" disabled>", "a viewer sees the pool's attributes read-only")
	resp, _ = post(t, v, p.srv.URL+loc+"/transactions", url.Values{"csrf": {vcsrf}, "kind": {"purchase"}, "count": {"5"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	got, err := p.pools.Get(context.Background(), p.owner, id)
	require.NoError(t, err)
	assert.Empty(t, got.Transactions, "nothing recorded")

	resp, body := post(t, c, p.srv.URL+loc+"/transactions", url.Values{"csrf": {csrf}, "kind": {"purchase"}, "count": {"5"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	got, _ = p.pools.Get(context.Background(), p.owner, id)
	assert.Len(t, got.Transactions, 1)
}

func TestPoolMetricChangeWithAllocationIsRefusedOnTheField(t *testing.T) {
	p := newParts(t)
	pl := p.pool(t, 0)
	_, err := p.pools.Allocate(context.Background(), p.owner, pl.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "bob"}})
	require.NoError(t, err)
	c := browser(t)
	csrf := p.signIn(t, c, p.keys[license.Owner])
	resp, body := post(t, c, p.srv.URL+"/pools/"+pl.ID+"/edit", specForm(csrf, pl, "installed_instance"))
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Regexp(t, `id="spec-metric-error" class="error" role="alert">[^<]*unallocate`, body)
	assert.Regexp(t, `id="p-metric" name="metric" aria-invalid="true" aria-describedby="spec-metric-error"`, body)
	assert.Contains(t, body, `<option value="installed_instance" selected>`, "the form keeps what was typed")
	got, err := p.pools.Get(context.Background(), p.owner, pl.ID)
	require.NoError(t, err)
	assert.Equal(t, license.NamedUser, got.Metric, "nothing changed")

	// Without the allocation the same change is saved.
	as, _ := p.pools.Allocations(context.Background(), p.owner, pl.ID)
	_, err = p.pools.Release(context.Background(), p.owner, pl.ID, as[0].ID)
	require.NoError(t, err)
	resp, _ = post(t, c, p.srv.URL+"/pools/"+pl.ID+"/edit", specForm(csrf, pl, "installed_instance"))
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	got, _ = p.pools.Get(context.Background(), p.owner, pl.ID)
	assert.Equal(t, license.InstalledInstance, got.Metric)
}

var monthRE = regexp.MustCompile(`data-month="(\d{4}-\d\d)" data-licenses="(\d+)" data-allocated="(\d+)"`)

func TestStatusPaneAndChartFollowAllocationsAndQuarantine(t *testing.T) {
	p := newParts(t)
	pl := p.pool(t, 30)
	c := browser(t)
	csrf := p.signIn(t, c, p.keys[license.Owner])
	resp, body := post(t, c, p.srv.URL+"/pools/"+pl.ID+"/allocate", url.Values{"csrf": {csrf}, "consumer.user": {"bob"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	_, page := get(t, c, p.srv.URL+"/pools/"+pl.ID)
	m := monthRE.FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, m)
	last := m[len(m)-1]
	assert.Equal(t, []string{p.clock.Now().Format("2006-01"), "25", "1"}, last[1:], "this month: 25 licenses, 1 allocated")
	assert.Contains(t, page, `<dd id="pane-manual">1</dd>`)
	assert.Contains(t, page, `<dd id="pane-available">24</dd>`)
	assert.Contains(t, page, `<title id="chart-title">`)
	assert.Contains(t, page, `<desc id="chart-desc">`)

	// Released the same day: quarantined for the minimum allocation time.
	as, _ := p.pools.Allocations(context.Background(), p.owner, pl.ID)
	resp, _ = post(t, c, p.srv.URL+"/pools/"+pl.ID+"/release", url.Values{"csrf": {csrf}, "allocation": {as[0].ID}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = get(t, c, p.srv.URL+"/pools/"+pl.ID)
	assert.Contains(t, page, `<dd id="pane-quarantined">1</dd>`)
	assert.Contains(t, page, `<dd id="pane-available">24</dd>`)
	assert.Contains(t, page, "quarantined until", "the notice says until when")
}

func TestChartCountsMonthsFromTheLedger(t *testing.T) {
	p := newParts(t)
	pl := p.pool(t, 0)
	// 10 more, dated two months ago: the chart starts then with 10.
	_, err := p.pools.AddTransaction(context.Background(), p.owner, pl.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 10,
		Date: license.AddMonths(p.clock.Now(), -2)})
	require.NoError(t, err)
	c := browser(t)
	p.signIn(t, c, p.keys[license.Owner])
	_, page := get(t, c, p.srv.URL+"/pools/"+pl.ID)
	m := monthRE.FindAllStringSubmatch(page, -1)
	require.Len(t, m, 3)
	assert.Equal(t, "10", m[0][2])
	assert.Equal(t, "10", m[1][2])
	assert.Equal(t, "35", m[2][2])
}

func TestUnitPricesHiddenFromViewers(t *testing.T) {
	p := newParts(t)
	pl := p.pool(t, 0)
	ctx := context.Background()
	price, _ := license.ParseMoney("4.00", "USD")
	_, err := p.vol.CreateLicense(ctx, p.owner, volume.NewLicense{Product: "MDR", Seats: 10, RenewalDate: p.clock.Now().AddDate(1, 0, 0), PricePerUser: price})
	require.NoError(t, err)
	_, err = p.subs.Purchase(ctx, p.owner, subscription.Purchase{Type: subscription.PerUser, Quantity: 1, Period: subscription.Monthly, UnitPrice: price})
	require.NoError(t, err)
	pages := []string{"/pools/" + pl.ID, "/volume", "/subscriptions", "/volume/export.csv"}

	c := browser(t)
	p.signIn(t, c, p.keys[license.Owner])
	for _, u := range pages[:3] {
		_, page := get(t, c, p.srv.URL+u)
		assert.Contains(t, page, " USD", "an owner sees prices on %s", u)
	}
	v := browser(t)
	p.signIn(t, v, p.keys[license.Viewer])
	for _, u := range pages {
		status, page := get(t, v, p.srv.URL+u)
		require.Equal(t, http.StatusOK, status, u)
		assert.NotContains(t, page, "USD", "a viewer sees no price on %s", u)
		assert.NotRegexp(t, `(?i)unit price|price per user`, page, u)
	}
}

func TestVolumeOnboardingBeyondUnallocatedIsRefused(t *testing.T) {
	p := newParts(t)
	ctx := context.Background()
	price, _ := license.ParseMoney("4.00", "USD")
	l, err := p.vol.CreateLicense(ctx, p.owner, volume.NewLicense{Product: "MDR", Seats: 10, RenewalDate: p.clock.Now().AddDate(1, 0, 0), PricePerUser: price})
	require.NoError(t, err)
	c := browser(t)
	csrf := p.signIn(t, c, p.keys[license.Owner])
	resp, body := post(t, c, p.srv.URL+"/volume/onboard", url.Values{"csrf": {csrf}, "legal_name": {"Initech"}, "seats:" + l.ID: {"11"}})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Regexp(t, `id="onboard-seats-`+l.ID+`-error" class="error" role="alert">`, body, "the refusal is on the seats field")
	cs, _ := p.vol.Customers(ctx, p.owner)
	assert.Empty(t, cs, "nobody onboarded")

	resp, _ = post(t, c, p.srv.URL+"/volume/onboard", url.Values{"csrf": {csrf}, "legal_name": {"Initech"}, "seats:" + l.ID: {"10"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page := get(t, c, p.srv.URL+"/volume")
	assert.Contains(t, page, `<dd id="m-unallocated">0</dd>`)

	v := browser(t)
	vcsrf := p.signIn(t, v, p.keys[license.Viewer])
	resp, _ = post(t, v, p.srv.URL+"/volume/onboard", url.Values{"csrf": {vcsrf}, "legal_name": {"Other"}, "seats:" + l.ID: {"0"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestBulkDeleteDeletesTheConfirmedCount(t *testing.T) {
	p := newParts(t)
	ctx := context.Background()
	price, _ := license.ParseMoney("5.00", "USD")
	_, err := p.subs.Purchase(ctx, p.owner, subscription.Purchase{Type: subscription.PerComputer, Quantity: 3, Period: subscription.Monthly, UnitPrice: price, NoAutoRenew: true})
	require.NoError(t, err)
	p.clock.Advance(45 * 24 * time.Hour)
	_, err = p.subs.Tick(ctx, p.clock.Now())
	require.NoError(t, err)
	c := browser(t)
	csrf := p.signIn(t, c, p.keys[license.Owner])
	_, page := get(t, c, p.srv.URL+"/subscriptions?delete=expired")
	assert.Contains(t, page, "This deletes <strong>3</strong> license(s)")
	assert.Contains(t, page, `name="count" value="3"`)

	// A stale confirmation (another count) deletes nothing and asks again.
	resp, body := post(t, c, p.srv.URL+"/subscriptions/bulk-delete", url.Values{"csrf": {csrf}, "mode": {"expired"}, "count": {"2"}})
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Contains(t, body, "changed to 3")
	ls, _ := p.subs.Licenses(ctx, p.owner)
	assert.Len(t, ls, 3)

	resp, _ = post(t, c, p.srv.URL+"/subscriptions/bulk-delete", url.Values{"csrf": {csrf}, "mode": {"expired"}, "count": {"3"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	ls, _ = p.subs.Licenses(ctx, p.owner)
	assert.Empty(t, ls)

	v := browser(t)
	vcsrf := p.signIn(t, v, p.keys[license.Viewer])
	resp, _ = post(t, v, p.srv.URL+"/subscriptions/bulk-delete", url.Values{"csrf": {vcsrf}, "mode": {"expired"}, "count": {"0"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func upload(t *testing.T, c *http.Client, u, csrf, name string, data []byte) *http.Response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("csrf", csrf))
	fw, err := mw.CreateFormFile("file", name)
	require.NoError(t, err)
	_, _ = fw.Write(data)
	require.NoError(t, mw.Close())
	resp, err := c.Post(u, mw.FormDataContentType(), &buf)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestAttachmentUploadAndDownload(t *testing.T) {
	p := newParts(t)
	pl := p.pool(t, 0)
	c := browser(t)
	csrf := p.signIn(t, c, p.keys[license.Owner])
	base := p.srv.URL + "/pools/" + pl.ID
	require.Equal(t, http.StatusForbidden, upload(t, c, base+"/attachments", "wrong", "a.txt", []byte("x")).StatusCode, "CSRF checked on uploads too")
	require.Equal(t, http.StatusSeeOther, upload(t, c, base+"/attachments", csrf, "<b>quote</b>.html", []byte("<script>1</script>")).StatusCode)
	got, _ := p.pools.Get(context.Background(), p.owner, pl.ID)
	require.Len(t, got.Attachments, 1)
	resp, err := c.Get(base + "/attachments/" + got.Attachments[0].ID)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "<script>1</script>", string(b))
	assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"), "never rendered in the console's origin")
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;"))

	big := make([]byte, pool.MaxAttachmentSize+1<<17)
	assert.Equal(t, http.StatusRequestEntityTooLarge, upload(t, c, base+"/attachments", csrf, "big.bin", big).StatusCode)
	resp2 := upload(t, c, base+"/attachments", csrf, "edge.bin", make([]byte, pool.MaxAttachmentSize+1))
	assert.Equal(t, http.StatusUnprocessableEntity, resp2.StatusCode, "just over the limit: the service's refusal")
	got, _ = p.pools.Get(context.Background(), p.owner, pl.ID)
	assert.Len(t, got.Attachments, 1)
}
