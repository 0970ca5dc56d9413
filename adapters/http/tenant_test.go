package http_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// sampleBodies are valid request bodies per route, so that a refusal is about
// the resource, not the input. References to resources are filled from w.
func sampleBodies(w world) map[string]any {
	site := map[string]any{"name": "Other site", "plan": "business", "payment_type": "monthly_invoice", "group": "main",
		"unit_price": map[string]string{"amount": "2.50", "currency": "USD"}, "licenses": 5}
	q := map[string]int64{"quantity": 1}
	return map[string]any{
		"POST /v1/apikeys":                                     map[string]string{"email": "x@other.example", "role": "viewer"},
		"POST /v1/company":                                     map[string]string{"name": "Other"},
		"PUT /v1/company/members":                              map[string]string{"email": "m@other.example", "role": "viewer"},
		"POST /v1/sites":                                       site,
		"PATCH /v1/sites/{id}":                                 map[string]string{"plan": "pro"},
		"POST /v1/sites/{id}/enroll":                           q,
		"POST /v1/sites/{id}/unenroll":                         q,
		"POST /v1/sites/{id}/purchase/preview":                 q,
		"POST /v1/sites/{id}/purchase":                         q,
		"POST /v1/sites/{id}/decrease/preview":                 q,
		"POST /v1/sites/{id}/decrease":                         q,
		"POST /v1/transfers/preview":                           map[string]any{"from": w.siteA, "to": w.siteB, "quantity": 1},
		"POST /v1/transfers":                                   map[string]any{"from": w.siteA, "to": w.siteB, "quantity": 1},
		"POST /v1/topup/enable":                                map[string]string{"accepted_terms_version": "2026-01"},
		"PUT /v1/topup/sites/{id}/increment":                   map[string]int64{"increment": 10},
		"POST /v1/topup/recipients":                            map[string]any{"emails": []string{"r@other.example"}},
		"POST /v1/pools":                                       poolSpec("Other pool", "perpetual", "named_user", 0),
		"PUT /v1/pools/{id}":                                   poolSpec("Renamed", "perpetual", "named_user", 0),
		"POST /v1/pools/{id}/transactions":                     map[string]any{"kind": "purchase", "count": 1},
		"POST /v1/pools/{id}/reassign":                         map[string]any{"to": w.poolB, "count": 1},
		"POST /v1/pools/{id}/comments":                         map[string]string{"text": "hello"},
		"POST /v1/pools/{id}/allocations":                      map[string]any{"consumer": map[string]string{"user": "u-other"}},
		"POST /v1/pools/{id}/validate":                         map[string]any{"consumer": map[string]string{"user": "northwind-user-1"}, "software": "office"},
		"POST /v1/pools/{id}/validate-and-allocate":            map[string]any{"consumer": map[string]string{"user": "northwind-user-9"}, "software": "office"},
		"POST /v1/pools/{id}/suspend":                          map[string]string{"reason": "other"},
		"POST /v1/subscriptions/licenses/{id}/validate":        map[string]any{"consumer": map[string]string{"asset": "northwind-pc"}},
		"POST /v1/subscriptions/validate-key":                  map[string]any{"key": w.subKey, "consumer": map[string]string{"asset": "northwind-pc"}},
		"PUT /v1/subscriptions/licenses/{id}/terms":            map[string]any{"entitlements": []string{"backup"}, "grace_days": 3},
		"POST /v1/subscriptions/licenses/{id}/suspend":         map[string]string{"reason": "other"},
		"POST /v1/pools/{id}/allocations/preview":              map[string]any{"consumer": map[string]string{"user": "u-other"}},
		"POST /v1/sites/{id}/enroll/preview":                   map[string]int64{"quantity": 1},
		"PUT /v1/volume-licenses/{id}/seats":                   map[string]int64{"seats": 3000},
		"POST /v1/reconcile":                                   map[string]any{"kind": "installed", "software": "office", "consumer": map[string]string{"user": "u", "asset": "a"}},
		"POST /v1/pools/{id}/leases":                           map[string]any{"consumer": map[string]string{"user": "u-other"}},
		"POST /v1/pools/{id}/deactivate":                       map[string]any{"consumer": map[string]string{"user": "northwind-user-9"}},
		"POST /v1/pools/{id}/borrow":                           map[string]any{"consumer": map[string]string{"user": "u-other"}, "days": 3},
		"POST /v1/volume-licenses":                             map[string]any{"product": "Other MDR", "seats": 5, "renewal_date": "2027-01-31", "price_per_user": map[string]string{"amount": "1", "currency": "USD"}},
		"POST /v1/customers":                                   map[string]any{"legal_name": "Other Customer", "allocations": []map[string]any{{"license": w.volumeLicense, "seats": 1}}},
		"PATCH /v1/customers/{id}":                             map[string]string{"legal_name": "Renamed Oy"},
		"POST /v1/customers/{id}/usage":                        map[string]any{"license": w.volumeLicense, "users": 1},
		"POST /v1/pools/{id}/allocations/{allocation}/release": nil,
		"POST /v1/pools/{id}/attachments":                      "other bytes",
		"POST /v1/subscriptions/purchase": map[string]any{"type": "computer", "quantity": 1, "billing_period": "monthly",
			"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}},
		"POST /v1/subscriptions/trials":   map[string]any{"type": "user", "quantity": 1, "ends_on": "2026-12-31"},
		"POST /v1/subscriptions/activate": map[string]any{"key": w.subKey},
		"POST /v1/subscriptions/assign": map[string]any{"type": "computer", "license": w.subLicense,
			"consumer": map[string]string{"asset": "pc-other", "user": "u-other"}},
		"POST /v1/subscriptions/unassign": map[string]any{"type": "computer",
			"consumer": map[string]string{"asset": "northwind-pc", "user": "northwind-user-3"}},
		"PUT /v1/subscriptions/licenses/{id}/auto-renew": map[string]bool{"on": false},
		"PUT /v1/subscriptions/settings/auto-exchange":   map[string]bool{"on": false},
		"PUT /v1/subscriptions/user-settings":            map[string]any{"user": "u-other", "allocation": map[string]any{"mode": "user", "limit": 1}},
		"PUT /v1/subscriptions/company-settings":         map[string]any{"company": "Other customer", "allocation": map[string]any{"mode": "global"}},
		"POST /v1/subscriptions/bulk-delete":             map[string]string{"mode": "expired"},
		"POST /v1/webhooks":                              map[string]any{"url": "https://hooks.other.example/x", "events": []string{"*"}},
		"PATCH /v1/webhooks/{id}":                        map[string]any{"enabled": false},
		"POST /v1/webhooks/{id}/rotate-secret":           map[string]any{"overlap_seconds": 60},
	}
}

// refersToOthers lists routes without path values whose body names the other
// company's resources: they must answer 404 too.
var refersToOthers = map[string]bool{"POST /v1/transfers/preview": true, "POST /v1/transfers": true, "POST /v1/customers": true,
	"POST /v1/subscriptions/activate": true, "POST /v1/subscriptions/validate-key": true, "POST /v1/subscriptions/assign": true, "POST /v1/subscriptions/unassign": true}

func pathValue(w world, path, name string) string {
	switch name {
	case "allocation":
		return w.allocation
	case "lease":
		return w.lease
	case "attachment":
		return w.attachment
	case "email":
		return w.recipientEmail
	case "delivery":
		return w.delivery
	case "id":
		switch {
		case strings.HasPrefix(path, "/v1/pools/{id}/leases"):
			return w.leasePool
		case strings.HasPrefix(path, "/v1/pools/"):
			return w.pool
		case strings.HasPrefix(path, "/v1/sites/"), strings.HasPrefix(path, "/v1/topup/sites/"):
			return w.siteA
		case strings.HasPrefix(path, "/v1/customers/"):
			return w.customer
		case strings.HasPrefix(path, "/v1/volume-licenses/"):
			return w.volumeLicense
		case strings.HasPrefix(path, "/v1/subscriptions/licenses/"):
			return w.subLicense
		case strings.HasPrefix(path, "/v1/webhooks/"):
			return w.webhook
		case strings.HasPrefix(path, "/v1/apikeys/"):
			return w.apiKey
		}
	}
	return ""
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func countEvents(t *testing.T, s storage.Store, company string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		n, err = tx.CountEvents(context.Background(), eventlog.Filter{Company: company})
		return err
	}))
	return n
}

// Every route, called with another company's owner key on this company's
// resources: no 2xx shows this company's data, resource routes answer 404,
// and nothing of this company changes (its event log stays as it was).
func TestTenantIsolationOnEveryRoute(t *testing.T) { forEachStore(t, tenantIsolation) }

// forEachStore runs fn on a fixture over the memory store, a SQLite file and
// (when LICENSEKIT_TEST_POSTGRES_DSN is set; always under CI) PostgreSQL.
func forEachStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("memory", func(t *testing.T) { fn(t, newFixture(t)) })
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "licensekit.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		fn(t, newFixtureOn(t, s))
	})
	t.Run("postgres", func(t *testing.T) { fn(t, newFixtureOn(t, postgresStore(t))) })
}

// postgresStore opens a PostgreSQL store in a fresh schema of the database at
// LICENSEKIT_TEST_POSTGRES_DSN; without it the test is skipped, except under
// CI=true where it fails. opts are passed on to postgres.Open.
func postgresStore(t *testing.T, opts ...postgres.Option) storage.Store {
	t.Helper()
	dsn := os.Getenv("LICENSEKIT_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("LICENSEKIT_TEST_POSTGRES_DSN is not set; under CI the PostgreSQL tests must run (see .ci/run)")
		}
		t.Skip("set LICENSEKIT_TEST_POSTGRES_DSN to run the HTTP tests on PostgreSQL")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	schema := fmt.Sprintf("lk_http_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	_, err = admin.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	s, err := postgres.Open(ctx, dsn, append([]postgres.Option{postgres.WithSchema(schema)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Close()
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = admin.Close(context.Background())
	})
	return s
}

func tenantIsolation(t *testing.T, f *fixture) {
	w := f.populate()
	_, other := f.newCompany("Other Ltd", "olga@other.example")
	// The other company has top-up enabled too, so the increment route reaches the site lookup.
	f.ok(200, "POST", "/v1/topup/enable", other, map[string]string{"accepted_terms_version": "2026-01"}, nil)

	before := countEvents(t, f.store, f.company)
	var sitesBefore []lkhttp.SiteView
	f.list("/v1/sites", f.owner, &sitesBefore)

	bodies := sampleBodies(w)
	walked := 0
	for _, rt := range f.h.Routes() {
		if rt.Access == lkhttp.Public {
			continue
		}
		key := rt.Method + " " + rt.Path
		path := pathParam.ReplaceAllStringFunc(rt.Path, func(m string) string {
			v := pathValue(w, rt.Path, strings.Trim(m, "{}"))
			require.NotEmpty(t, v, "no value for %s in %s", m, key)
			return v
		})
		if rt.Consumes != "" {
			path += "?name=other.txt"
		}
		body, hasBody := bodies[key]
		if rt.Request != nil || rt.Consumes != "" {
			require.True(t, hasBody, "add a sample body for %s", key)
		}
		var hdr []string
		if rt.IfMatchRequired {
			hdr = []string{"If-Match", "*"}
		}
		r := f.do(rt.Method, path, other, body, hdr...)
		walked++
		if rt.Tag == "validation" && r.status == 200 {
			// A validation answers 200 with a typed code: another company's
			// license must look exactly like one that does not exist.
			assert.Contains(t, string(r.body), `"valid":false`, key)
			assert.Contains(t, string(r.body), `"code":"not_found"`, "%s with another company's key: %s", key, r.body)
			for _, s := range w.names {
				if !strings.Contains(path, s) { // the ID asked about may be echoed
					assert.NotContains(t, string(r.body), s, "%s leaked another company's data", key)
				}
			}
			continue
		}
		if strings.Contains(rt.Path, "{") || refersToOthers[key] {
			assert.Equal(t, 404, r.status, "%s with another company's key: %s", key, r.body)
			continue
		}
		if r.status < 300 {
			for _, s := range w.names {
				assert.NotContains(t, string(r.body), s, "%s leaked another company's data", key)
			}
		}
	}
	assert.Greater(t, walked, 40)

	assert.Equal(t, before, countEvents(t, f.store, f.company), "the other company changed nothing here")
	var sitesAfter []lkhttp.SiteView
	f.list("/v1/sites", f.owner, &sitesAfter)
	assert.Equal(t, sitesBefore, sitesAfter)
}
