package http_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// populateLists gives every list route of the company several items.
func (f *fixture) populateLists() world {
	f.t.Helper()
	w := f.populate()
	for i := range 3 {
		f.site(fmt.Sprintf("Extra site %d", i), ptr[int64](5))
		f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]string{"email": fmt.Sprintf("m%d@acme.example", i), "role": "owner"}, nil)
		f.ok(201, "POST", "/v1/apikeys", f.owner, map[string]string{"email": fmt.Sprintf("k%d@acme.example", i), "role": "viewer"}, nil)
		f.ok(201, "POST", "/v1/pools/"+w.pool+"/allocations", f.owner, map[string]any{"consumer": map[string]any{"user": fmt.Sprintf("user-%d", i)}}, nil)
		f.ok(201, "POST", "/v1/pools/"+w.leasePool+"/leases", f.owner, map[string]any{"consumer": map[string]any{"user": fmt.Sprintf("user-%d", i)}}, nil)
		f.ok(200, "POST", "/v1/topup/recipients", f.owner, map[string]any{"emails": []string{fmt.Sprintf("r%d@acme.example", i)}}, nil)
		f.ok(201, "POST", "/v1/customers", f.owner, map[string]any{"legal_name": fmt.Sprintf("Customer %d Oy", i),
			"allocations": []map[string]any{{"license": w.volumeLicense, "seats": 10}}}, nil)
		f.ok(201, "POST", "/v1/volume-licenses", f.owner, map[string]any{"product": fmt.Sprintf("Product %d", i), "seats": 20,
			"renewal_date": "2027-06-30", "price_per_user": map[string]string{"amount": "4.00", "currency": "USD"}}, nil)
		f.ok(201, "POST", "/v1/subscriptions/purchase", f.owner, map[string]any{"type": "user", "quantity": 1, "billing_period": "monthly",
			"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}}, nil)
		f.ok(200, "POST", "/v1/subscriptions/assign", f.owner, map[string]any{"type": "user",
			"consumer": map[string]string{"user": fmt.Sprintf("user-%d", i)}}, nil)
	}
	return w
}

// pagedRoutes are the routes that take limit and cursor.
func pagedRoutes(h *lkhttp.Handler) []lkhttp.Route {
	var out []lkhttp.Route
	for _, rt := range h.Routes() {
		var limit, cursor bool
		for _, q := range rt.Query {
			limit = limit || q.Name == "limit"
			cursor = cursor || q.Name == "cursor"
		}
		if limit && cursor {
			out = append(out, rt)
		}
	}
	return out
}

func concretePath(t *testing.T, w world, rt lkhttp.Route) string {
	return pathParam.ReplaceAllStringFunc(rt.Path, func(m string) string {
		v := pathValue(w, rt.Path, strings.Trim(m, "{}"))
		require.NotEmpty(t, v, "no value for %s in %s", m, rt.Path)
		return v
	})
}

// Every list answers the same envelope, and no route answers a bare JSON
// array: a list that is not paged would be one.
func TestEveryListIsPaged(t *testing.T) {
	f := newFixture(t)
	paged := map[string]bool{}
	for _, rt := range pagedRoutes(f.h) {
		paged[rt.Method+" "+rt.Path] = true
	}
	for _, rt := range f.h.Routes() {
		if rt.Response == nil {
			continue
		}
		key := rt.Method + " " + rt.Path
		assert.NotEqual(t, reflect.Slice, rt.Response.Kind(), "%s answers a bare array", key)
		if rt.Response.Kind() != reflect.Struct {
			continue
		}
		items, ok := rt.Response.FieldByName("Items")
		if ok && items.Type.Kind() == reflect.Slice {
			assert.True(t, paged[key], "%s lists items without limit and cursor", key)
			_, next := rt.Response.FieldByName("NextCursor")
			assert.True(t, next, "%s has no next_cursor", key)
		}
	}
	assert.GreaterOrEqual(t, len(paged), 15, "the list routes")
}

// A walk of every list route with a small limit, following the Link header,
// collects every item exactly once: the same items as one large page.
func TestPagingWalksEveryList(t *testing.T) { forEachStore(t, testPagingWalksEveryList) }

var linkNext = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

func testPagingWalksEveryList(t *testing.T, f *fixture) {
	w := f.populateLists()
	walked := 0
	for _, rt := range pagedRoutes(f.h) {
		path := concretePath(t, w, rt)
		t.Run(rt.Path, func(t *testing.T) {
			var whole listPage
			r := f.ok(200, "GET", path+"?limit=1000", f.owner, nil, &whole)
			assert.Empty(t, whole.NextCursor, "one large page holds everything")
			assert.Empty(t, r.header.Get("Link"))

			seen := map[string]int{}
			pages := 0
			next := path + "?limit=2"
			for next != "" {
				pages++
				require.Less(t, pages, 1000)
				var p listPage
				r := f.ok(200, "GET", next, f.owner, nil, &p)
				require.LessOrEqual(t, len(p.Items), 2)
				for _, it := range p.Items {
					seen[string(it)]++
				}
				link := r.header.Get("Link")
				if p.NextCursor == "" {
					assert.Empty(t, link, "the last page has no next link")
					next = ""
					continue
				}
				m := linkNext.FindStringSubmatch(link)
				require.NotNil(t, m, "Link %q", link)
				u, err := url.Parse(m[1])
				require.NoError(t, err)
				assert.Equal(t, path, u.Path)
				assert.Equal(t, p.NextCursor, u.Query().Get("cursor"))
				assert.Equal(t, "2", u.Query().Get("limit"), "the link keeps the query")
				next = u.RequestURI()
			}
			require.Len(t, seen, len(whole.Items), "%s: every item once", path)
			for _, it := range whole.Items {
				assert.Equal(t, 1, seen[string(it)], "%s: item seen %d times: %s", path, seen[string(it)], it)
			}
			if len(whole.Items) > 2 {
				assert.Greater(t, pages, 1, "%s: several pages", path)
			}
		})
		walked++
	}
	assert.GreaterOrEqual(t, walked, 15)
}

// A list grown between two pages loses nothing that existed at the start
// and repeats nothing.
func TestPagingSurvivesInserts(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.site(fmt.Sprintf("Site %d", i), ptr[int64](1))
	}
	var first listPage
	f.ok(200, "GET", "/v1/sites?limit=2", f.owner, nil, &first)
	require.Len(t, first.Items, 2)
	for i := range 3 {
		f.site(fmt.Sprintf("Later %d", i), ptr[int64](1))
	}
	var all []lkhttp.SiteView
	f.list("/v1/sites?limit=2", f.owner, &all)
	ids := map[string]bool{}
	for _, s := range all {
		assert.False(t, ids[s.ID], "repeated %s", s.ID)
		ids[s.ID] = true
	}
	assert.Len(t, ids, 8)
}

// A limit out of range, a cursor this API did not give and an unknown query
// parameter are refused on every list route, with the field at fault.
func TestPagingRefusesBadLimitAndCursor(t *testing.T) {
	f := newFixture(t)
	w := f.populate()
	foreign := base64.RawURLEncoding.EncodeToString([]byte("someone else's position"))
	for _, rt := range pagedRoutes(f.h) {
		path := concretePath(t, w, rt)
		for _, q := range []string{"limit=0", "limit=-1", "limit=1001", "limit=ten", "limit=1&limit=2"} {
			r := f.do("GET", path+"?"+q, f.owner, nil)
			requireRefused(t, r, "limit")
		}
		for _, c := range []string{"!!!", foreign, "bGsxOg"} { // bGsxOg is the prefix with no key
			r := f.do("GET", path+"?cursor="+url.QueryEscape(c), f.owner, nil)
			requireRefused(t, r, "cursor")
		}
		requireRefused(t, f.do("GET", path+"?limt=5", f.owner, nil), "limt")
	}
}

// Unknown query parameters are refused on every route, lists or not.
func TestUnknownQueryParametersRefusedEverywhere(t *testing.T) {
	f := newFixture(t)
	w := f.populate()
	bodies := sampleBodies(w)
	for _, rt := range f.h.Routes() {
		if rt.Access == lkhttp.Public && rt.Path != "/healthz" {
			continue
		}
		r := f.do(rt.Method, concretePath(t, w, rt)+"?bogus=1", f.owner, bodies[rt.Method+" "+rt.Path])
		requireRefused(t, r, "bogus")
	}
}

// listSpy records the list queries its transactions run.
type listSpy struct {
	storage.Store
	mu      sync.Mutex
	queries []storage.ListQuery
}

type listSpyTx struct {
	storage.Tx
	s *listSpy
}

func (s *listSpy) View(ctx context.Context, fn func(tx storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error { return fn(listSpyTx{tx, s}) })
}

func (t listSpyTx) List(ctx context.Context, q storage.ListQuery) ([]storage.Record, error) {
	t.s.mu.Lock()
	t.s.queries = append(t.s.queries, q)
	t.s.mu.Unlock()
	return t.Tx.List(ctx, q)
}

func (s *listSpy) last(kind storage.Kind) storage.ListQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.queries) - 1; i >= 0; i-- {
		if s.queries[i].Kind == kind {
			return s.queries[i]
		}
	}
	return storage.ListQuery{}
}

// Lists the store can page (allocations, leases, volume licenses, customers)
// read one page from it: the keys after the cursor, one more than the limit.
func TestKeysetListsReadOnePageFromTheStore(t *testing.T) {
	spy := &listSpy{Store: memory.New()}
	f := newFixtureOn(t, spy)
	w := f.populateLists()
	for _, c := range []struct {
		path string
		kind storage.Kind
	}{
		{"/v1/customers", volume.KindCustomer},
		{"/v1/volume-licenses", volume.KindLicense},
		{"/v1/pools/" + w.pool + "/allocations", pool.KindAllocation},
		{"/v1/pools/" + w.leasePool + "/leases", pool.KindLease},
	} {
		var p listPage
		f.ok(200, "GET", c.path+"?limit=2", f.owner, nil, &p)
		q := spy.last(c.kind)
		assert.Equal(t, 3, q.Limit, "%s asks the store for one page", c.path)
		assert.Empty(t, q.AfterID)
		require.NotEmpty(t, p.NextCursor, c.path)
		f.ok(200, "GET", c.path+"?limit=2&cursor="+url.QueryEscape(p.NextCursor), f.owner, nil, &p)
		q = spy.last(c.kind)
		assert.Equal(t, 3, q.Limit)
		assert.NotEmpty(t, q.AfterID, "%s starts after the cursor's key", c.path)
	}
}
