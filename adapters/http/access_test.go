package http_test

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/license"
)

// The roles, in the order the access table lists them.
var allRoles = []license.Role{license.Owner, license.Admin, license.Editor, license.LicenseAdmin, license.Viewer}

// Role sets of the expected-access table, spelled out role by role.
var (
	everyone = []license.Role{license.Owner, license.Admin, license.Editor, license.LicenseAdmin, license.Viewer}
	editors  = []license.Role{license.Owner, license.Admin, license.Editor, license.LicenseAdmin}
	managers = []license.Role{license.Owner, license.Admin}
	owners   = []license.Role{license.Owner}
	noKey    []license.Role // public: no API key needed (any role may call it too)
)

// expectedAccess is who may call each route: method and path pattern -> the
// roles allowed. It is written out here on purpose, not derived from the
// route table, so that lowering or raising a route's access in the table (or
// adding a route without deciding its access) fails TestRouteAccessTable.
var expectedAccess = map[string][]license.Role{
	"GET /healthz":      noKey,
	"GET /readyz":       noKey,
	"GET /openapi.json": noKey,

	"POST /v1/apikeys":        owners,
	"GET /v1/apikeys":         owners,
	"DELETE /v1/apikeys/{id}": owners,

	"POST /v1/company":                 owners,
	"GET /v1/company":                  everyone,
	"GET /v1/company/members":          managers,
	"PUT /v1/company/members":          managers,
	"GET /v1/company/invoice-estimate": editors,

	"POST /v1/sites":                                       managers,
	"GET /v1/sites":                                        everyone,
	"GET /v1/sites/{id}":                                   everyone,
	"PATCH /v1/sites/{id}":                                 managers,
	"POST /v1/sites/{id}/enroll":                           editors,
	"POST /v1/sites/{id}/unenroll":                         editors,
	"POST /v1/sites/{id}/purchase/preview":                 managers,
	"POST /v1/sites/{id}/purchase":                         managers,
	"POST /v1/sites/{id}/decrease/preview":                 managers,
	"POST /v1/sites/{id}/decrease":                         managers,
	"POST /v1/transfers/preview":                           managers,
	"POST /v1/transfers":                                   managers,
	"POST /v1/sites/{id}/enroll/preview":                   everyone,
	"GET /v1/topup":                                        everyone,
	"POST /v1/topup/enable":                                managers,
	"POST /v1/topup/disable":                               managers,
	"PUT /v1/topup/sites/{id}/increment":                   managers,
	"GET /v1/topup/recipients":                             managers,
	"POST /v1/topup/recipients":                            managers,
	"DELETE /v1/topup/recipients/{email}":                  managers,
	"GET /v1/topup/owners":                                 managers,
	"GET /v1/topup/notifications":                          managers,
	"GET /v1/pools":                                        everyone,
	"POST /v1/pools":                                       editors,
	"GET /v1/pools/{id}":                                   everyone,
	"PUT /v1/pools/{id}":                                   editors,
	"POST /v1/pools/{id}/close":                            editors,
	"POST /v1/pools/{id}/retire":                           editors,
	"GET /v1/pools/{id}/status":                            everyone,
	"GET /v1/pools/{id}/audit":                             everyone,
	"POST /v1/pools/{id}/transactions":                     editors,
	"POST /v1/pools/{id}/reassign":                         editors,
	"POST /v1/pools/{id}/comments":                         editors,
	"GET /v1/pools/{id}/allocations":                       everyone,
	"POST /v1/pools/{id}/allocations":                      editors,
	"POST /v1/pools/{id}/allocations/preview":              editors,
	"POST /v1/pools/{id}/allocations/{allocation}/release": editors,
	"POST /v1/reconcile":                                   editors,
	"GET /v1/pools/{id}/leases":                            everyone,
	"POST /v1/pools/{id}/leases":                           editors,
	"POST /v1/pools/{id}/leases/{lease}/heartbeat":         editors,
	"DELETE /v1/pools/{id}/leases/{lease}":                 editors,
	"POST /v1/pools/{id}/leases/cull":                      editors,
	"POST /v1/pools/{id}/attachments":                      editors,
	"GET /v1/pools/{id}/attachments/{attachment}":          everyone,
	"DELETE /v1/pools/{id}/attachments/{attachment}":       editors,
	"POST /v1/pools/{id}/validate":                         everyone,
	"POST /v1/pools/{id}/validate-and-allocate":            editors,
	"POST /v1/pools/{id}/deactivate":                       editors,
	"POST /v1/pools/{id}/borrow":                           editors,
	"POST /v1/pools/{id}/suspend":                          managers,
	"POST /v1/pools/{id}/unsuspend":                        managers,

	"POST /v1/volume-licenses":            managers,
	"GET /v1/volume-licenses":             everyone,
	"GET /v1/volume-licenses/{id}":        everyone,
	"GET /v1/volume-licenses/{id}/export": everyone,
	"PUT /v1/volume-licenses/{id}/seats":  managers,
	"GET /v1/customers":                   everyone,
	"POST /v1/customers":                  managers,
	"GET /v1/customers/{id}":              everyone,
	"GET /v1/customers/{id}/edit":         everyone,
	"PATCH /v1/customers/{id}":            managers,
	"DELETE /v1/customers/{id}":           managers,
	"POST /v1/customers/{id}/usage":       editors,

	"GET /v1/subscriptions/licenses":                 everyone,
	"GET /v1/subscriptions/licenses/{id}":            everyone,
	"POST /v1/subscriptions/purchase":                managers,
	"POST /v1/subscriptions/trials":                  managers,
	"POST /v1/subscriptions/activate":                editors,
	"POST /v1/subscriptions/assign":                  editors,
	"POST /v1/subscriptions/unassign":                editors,
	"GET /v1/subscriptions/assignments":              everyone,
	"PUT /v1/subscriptions/licenses/{id}/auto-renew": managers,
	"GET /v1/subscriptions/settings":                 everyone,
	"PUT /v1/subscriptions/settings/auto-exchange":   managers,
	"PUT /v1/subscriptions/user-settings":            managers,
	"PUT /v1/subscriptions/company-settings":         managers,
	"POST /v1/subscriptions/bulk-delete":             managers,
	"GET /v1/subscriptions/charges":                  editors,
	"POST /v1/subscriptions/licenses/{id}/validate":  everyone,
	"POST /v1/subscriptions/validate-key":            everyone,
	"GET /v1/subscriptions/licenses/{id}/terms":      everyone,
	"PUT /v1/subscriptions/licenses/{id}/terms":      managers,
	"POST /v1/subscriptions/licenses/{id}/suspend":   managers,
	"POST /v1/subscriptions/licenses/{id}/unsuspend": managers,

	"POST /v1/subscriptions/licenses/{id}/reissue-key": managers,

	"GET /v1/events":        managers,
	"GET /v1/events/export": managers,
	"GET /v1/events/verify": owners,

	"POST /v1/webhooks":                                      owners,
	"GET /v1/webhooks":                                       owners,
	"GET /v1/webhooks/{id}":                                  owners,
	"PATCH /v1/webhooks/{id}":                                owners,
	"DELETE /v1/webhooks/{id}":                               owners,
	"POST /v1/webhooks/{id}/rotate-secret":                   owners,
	"GET /v1/webhooks/{id}/deliveries":                       owners,
	"POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver": owners,
	"POST /v1/events/checkpoints":                            owners,
}

var routeParam = regexp.MustCompile(`\{[a-z_]+\}`)

// routePath fills a route's path parameters with values that name nothing,
// so an allowed call fails in the domain (not found, invalid) and changes
// nothing, while a refused call is answered 403 by the access check.
func routePath(rt lkhttp.Route) string {
	return routeParam.ReplaceAllStringFunc(rt.Path, func(p string) string {
		if p == "{email}" {
			return "nobody@acme.example"
		}
		return license.NewID()
	})
}

// callAs calls rt with key and says whether the call got past access control.
func (f *fixture) callAs(rt lkhttp.Route, key string) resp {
	f.t.Helper()
	var body any
	switch {
	case rt.Consumes != "":
		body = "raw bytes"
	case rt.Request != nil:
		body = map[string]any{}
	}
	return f.do(rt.Method, routePath(rt), key, body)
}

// checkRouteAccess calls every route with key and requires the answer the
// table gives for role: refused (403) when role is not among the route's
// roles, and otherwise neither 401 nor 403.
func (f *fixture) checkRouteAccess(t *testing.T, who string, key string, role license.Role) {
	t.Helper()
	for _, rt := range f.h.Routes() {
		name := rt.Method + " " + rt.Path
		want, ok := expectedAccess[name]
		if !ok {
			continue // TestRouteAccessTable reports it
		}
		r := f.callAs(rt, key)
		if want == nil || slices.Contains(want, role) {
			assert.NotContains(t, []int{401, 403}, r.status, "%s (%s) must be allowed %s: %s", who, role, name, r.body)
		} else if assert.Equal(t, 403, r.status, "%s (%s) must be refused %s: %s", who, role, name, r.body) {
			assert.Equal(t, "forbidden", r.errCode(t), name)
		}
	}
}

// TestRouteAccessTable checks the access of every route against
// expectedAccess: every route is in the table and every entry is a route;
// the route table's access level allows exactly the table's roles; and over
// HTTP a key of each role is refused (403) or let through exactly as the
// table says, public routes answer without a key and the others want one.
func TestRouteAccessTable(t *testing.T) {
	f := newFixture(t)
	routes := f.h.Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		name := rt.Method + " " + rt.Path
		seen[name] = true
		want, ok := expectedAccess[name]
		if !assert.True(t, ok, "route %s is missing from expectedAccess: decide who may call it", name) {
			continue
		}
		assert.Equal(t, want == nil, rt.Access == lkhttp.Public, "%s: public in the table iff public in the route table (%s)", name, rt.Access)
		if want != nil {
			var allowed []license.Role
			for _, role := range allRoles {
				if rt.Access.Allows(role) {
					allowed = append(allowed, role)
				}
			}
			assert.Equal(t, want, allowed, "%s: roles the route table's %q access allows", name, rt.Access)
		}
	}
	for name := range expectedAccess {
		assert.True(t, seen[name], "expectedAccess lists %s, which is no route", name)
	}

	// Without a key (on a handler of the same store whose failed-authentication
	// limit is off, so that every route answers for itself).
	open, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock, Limits: lkhttp.Limits{FailedAuth: lkhttp.NoLimit}})
	require.NoError(t, err)
	for _, rt := range routes {
		rec := httptest.NewRecorder()
		validating(t, open).ServeHTTP(rec, httptest.NewRequest(rt.Method, routePath(rt), nil))
		if want, ok := expectedAccess[rt.Method+" "+rt.Path]; ok && want == nil {
			assert.Less(t, rec.Code, 400, "%s %s without a key: %s", rt.Method, rt.Path, rec.Body)
		} else {
			assert.Equal(t, 401, rec.Code, "%s %s without a key: %s", rt.Method, rt.Path, rec.Body)
		}
	}
	for _, role := range allRoles {
		email := fmt.Sprintf("%s@acme.example", role)
		// A member with that stored role, holding a key of the same role.
		f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]any{"email": email, "role": role}, nil)
		f.checkRouteAccess(t, email, f.key(email, role), role)
	}
}

// TestDemotedKeyLosesItsPowersOverHTTP is the repro of a demoted member who
// kept their key's powers: the owner issues an admin key for alice, then
// demotes alice to viewer. With the same key (cached by the handler), every
// route now answers as for a viewer — every mutating route family and the
// event log are refused 403 — and promoting alice back restores the admin's
// access at once.
func TestDemotedKeyLosesItsPowersOverHTTP(t *testing.T) {
	f := newFixture(t)
	var k lkhttp.CreatedAPIKey
	f.ok(201, "POST", "/v1/apikeys", f.owner, map[string]any{"email": "alice@acme.example", "role": "admin"}, &k)
	alice := k.Key
	f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]any{"email": "alice@acme.example", "role": "admin"}, nil)

	// Real requests of each family, valid for an admin.
	spec := map[string]any{"name": "Alice's pool", "model": "perpetual", "metric": "named_user", "software": []string{"office"}}
	var p struct{ ID string }
	f.ok(201, "POST", "/v1/pools", f.owner, spec, &p)
	var vl struct{ ID string }
	f.ok(201, "POST", "/v1/volume-licenses", f.owner, map[string]any{"product": "MDR", "seats": 100,
		"renewal_date": "2027-06-30", "price_per_user": map[string]string{"amount": "4.00", "currency": "USD"}}, &vl)
	s := f.site("North", ptr(int64(10)))
	n := 0
	real := func() []struct {
		method, path string
		body         any
	} {
		n++
		return []struct {
			method, path string
			body         any
		}{
			{"POST", "/v1/pools", map[string]any{"name": fmt.Sprintf("Pool %d", n), "model": "perpetual", "metric": "named_user", "software": []string{"office"}}},
			{"POST", "/v1/pools/" + p.ID + "/comments", map[string]any{"text": "hello"}},
			{"PUT", "/v1/volume-licenses/" + vl.ID + "/seats", map[string]any{"seats": 100 + n}},
			{"POST", "/v1/customers", map[string]any{"legal_name": fmt.Sprintf("Customer %d", n), "allocations": []map[string]any{{"license": vl.ID, "seats": 1}}}},
			{"POST", "/v1/subscriptions/purchase", map[string]any{"type": "computer", "quantity": 1, "billing_period": "monthly",
				"unit_price": map[string]string{"amount": "5.99", "currency": "USD"}}},
			{"POST", "/v1/sites/" + s.ID + "/purchase", map[string]any{"quantity": 1}},
			{"GET", "/v1/events", nil},
			{"GET", "/v1/events/export", nil},
			{"GET", "/v1/company/members", nil},
		}
	}
	for _, c := range real() {
		r := f.do(c.method, c.path, alice, c.body)
		require.Less(t, r.status, 300, "%s %s as admin: %s", c.method, c.path, r.body)
	}

	price := func() *license.Money {
		var v lkhttp.SiteView
		f.ok(200, "GET", "/v1/sites/"+s.ID, alice, nil, &v)
		return v.UnitPrice
	}
	require.NotNil(t, price(), "an admin sees the site's price")

	f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]any{"email": "alice@acme.example", "role": "viewer"}, nil)
	assert.Nil(t, price(), "the demoted key no longer sees prices")
	for _, c := range real() {
		r := f.do(c.method, c.path, alice, c.body)
		assert.Equal(t, 403, r.status, "%s %s with the demoted key: %s", c.method, c.path, r.body)
	}
	f.checkRouteAccess(t, "alice's admin key, demoted", alice, license.Viewer)

	f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]any{"email": "alice@acme.example", "role": "admin"}, nil)
	assert.NotNil(t, price(), "promoted back, the key sees prices again")
	for _, c := range real() {
		r := f.do(c.method, c.path, alice, c.body)
		assert.Less(t, r.status, 300, "%s %s once promoted back: %s", c.method, c.path, r.body)
	}
	f.checkRouteAccess(t, "alice's admin key, promoted back", alice, license.Admin)
}

// The lease routes skip the adapter's early read of the effective role (the
// pool service checks it first in its own transaction). A key whose member
// was demoted below editor is still refused 403 on each of them, whatever
// else is wrong with the request, and changes nothing: a free seat is not
// taken, another user's lease is neither renewed nor released. Promoted
// back, the same key works at once.
func TestLeaseRoutesRefuseADemotedKey(t *testing.T) {
	f := newFixture(t)
	var lp struct{ ID string }
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Seats", "perpetual", "concurrent_user", 0), &lp)
	f.ok(201, "POST", "/v1/pools/"+lp.ID+"/transactions", f.owner, map[string]any{"kind": "purchase", "count": 2}, nil)
	var held struct{ ID string }
	f.ok(201, "POST", "/v1/pools/"+lp.ID+"/leases", f.owner, map[string]any{"consumer": map[string]string{"user": "held"}}, &held)

	f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]any{"email": "bob@acme.example", "role": "editor"}, nil)
	bob := f.key("bob@acme.example", license.Editor)
	f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]any{"email": "bob@acme.example", "role": "viewer"}, nil)

	leases := func() []string {
		var page struct{ Items []struct{ ID string } }
		f.ok(200, "GET", "/v1/pools/"+lp.ID+"/leases", f.owner, nil, &page)
		var ids []string
		for _, l := range page.Items {
			ids = append(ids, l.ID)
		}
		return ids
	}
	before := leases()
	require.Equal(t, []string{held.ID}, before)
	acquire := "/v1/pools/" + lp.ID + "/leases"
	lease := "/v1/pools/" + lp.ID + "/leases/" + held.ID
	for _, c := range []struct {
		name, method, path string
		body               any
		headers            []string
	}{
		{"acquire a free seat", "POST", acquire, map[string]any{"consumer": map[string]string{"user": "bob"}}, nil},
		{"acquire with a malformed body", "POST", acquire, `{"consumer":`, nil},
		{"acquire with an unknown field", "POST", acquire, map[string]any{"consumer": map[string]string{"user": "bob"}, "seats": 3}, nil},
		{"acquire with a bad consumer", "POST", acquire, map[string]any{"consumer": map[string]string{}}, nil},
		{"acquire with an unknown query parameter", "POST", acquire + "?x=1", map[string]any{"consumer": map[string]string{"user": "bob"}}, nil},
		{"acquire with a too long idempotency key", "POST", acquire, map[string]any{"consumer": map[string]string{"user": "bob"}}, []string{"Idempotency-Key", strings.Repeat("k", 300)}},
		{"acquire on a malformed pool ID", "POST", "/v1/pools/%20/leases", map[string]any{"consumer": map[string]string{"user": "bob"}}, nil},
		{"renew another user's lease", "POST", lease + "/heartbeat", nil, nil},
		{"release another user's lease", "DELETE", lease, nil, nil},
		{"release with a body", "DELETE", lease, `{"x":1}`, nil},
	} {
		r := f.do(c.method, c.path, bob, c.body, c.headers...)
		if assert.Equal(t, 403, r.status, "%s: %s", c.name, r.body) {
			assert.Equal(t, "forbidden", r.errCode(t), c.name)
		}
	}
	assert.Equal(t, before, leases(), "nothing changed")

	f.ok(200, "PUT", "/v1/company/members", f.owner, map[string]any{"email": "bob@acme.example", "role": "editor"}, nil)
	var mine struct{ ID string }
	f.ok(201, "POST", acquire, bob, map[string]any{"consumer": map[string]string{"user": "bob"}}, &mine)
	f.ok(200, "POST", "/v1/pools/"+lp.ID+"/leases/"+mine.ID+"/heartbeat", bob, nil, nil)
	f.ok(200, "DELETE", "/v1/pools/"+lp.ID+"/leases/"+mine.ID, bob, nil, nil)
}
