package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/adapters/metrics"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/topup"
)

// scrape returns the exposition text of m.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	return rec.Body.String()
}

// The middleware counts by the route label it is given, never the path,
// with the status the handler wrote; unknown methods share one label.
func TestMiddlewareLabels(t *testing.T) {
	m := metrics.New()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/missing") {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}), func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/v1/sites/") && !strings.HasSuffix(r.URL.Path, "/missing") {
			return "GET /v1/sites/{id}"
		}
		return ""
	})
	for _, p := range []string{"/v1/sites/a", "/v1/sites/b", "/x/missing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/v1/sites/c", nil))
	text := scrape(t, m)
	assert.Contains(t, text, `licensekit_http_requests_total{method="GET",route="GET /v1/sites/{id}",status="200"} 2`)
	assert.Contains(t, text, `licensekit_http_requests_total{method="GET",route="unmatched",status="404"} 1`)
	assert.Contains(t, text, `licensekit_http_requests_total{method="other",route="GET /v1/sites/{id}",status="200"} 1`)
	assert.NotContains(t, text, "/v1/sites/a")
}

// The store observer counts a SQLite store's reads, writes, failed writes
// and group-commit batches.
func TestStoreObserver(t *testing.T) {
	m := metrics.New()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "lk.db"), sqlite.WithObserver(m.StoreObserver()))
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Insert(ctx, storage.Record{Company: "c", Kind: "k", ID: "1", Data: []byte(`{}`)})
	}))
	assert.Error(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Insert(ctx, storage.Record{Company: "c", Kind: "k", ID: "1", Data: []byte(`{}`)})
	}), "a duplicate")
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error { _, err := tx.Get(ctx, "c", "k", "1"); return err }))
	text := scrape(t, m)
	assert.Contains(t, text, `licensekit_store_transactions_total{kind="write",outcome="ok"} 1`)
	assert.Contains(t, text, `licensekit_store_transactions_total{kind="write",outcome="error"} 1`)
	assert.Contains(t, text, `licensekit_store_transactions_total{kind="read",outcome="ok"} 1`)
	assert.Contains(t, text, "licensekit_store_group_commit_batch_size_count 1", "one committed batch: the failed write's was rolled back")
}

// Refresh counts the domain over every company, and the dispatcher's rounds
// count delivery outcomes.
func TestRefreshAndNotifications(t *testing.T) {
	m := metrics.New()
	store := memory.New()
	ctx := context.Background()
	b := &billing.Service{Store: store}
	n10 := int64(10)
	for i := range 2 {
		owner := license.Actor{Company: license.NewID(), Email: "o@example.com", Role: license.Owner}
		_, err := b.CreateCompany(ctx, owner, fmt.Sprintf("Company %d", i))
		require.NoError(t, err)
		price, _ := license.ParseMoney("1.00", "EUR")
		s, err := b.CreateSite(ctx, owner, billing.NewSite{Name: "HQ", Plan: "P", UnitPrice: price, PaymentType: billing.MonthlyInvoice, Licenses: &n10})
		require.NoError(t, err)
		_, err = b.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 3})
		require.NoError(t, err)
	}
	require.NoError(t, m.Refresh(ctx, store, time.Unix(1700000000, 0)))
	m.ObserveNotifications(topup.Report{Delivered: 2, Retrying: 1})
	text := scrape(t, m)
	for _, want := range []string{`licensekit_domain_records{what="companies"} 2`, `licensekit_domain_records{what="sites"} 2`,
		`licensekit_domain_records{what="site_licenses"} 20`, `licensekit_domain_records{what="site_enrolled"} 6`,
		`licensekit_topup_outbox{status="pending"} 0`, `licensekit_topup_notifications_total{outcome="delivered"} 2`,
		`licensekit_topup_notifications_total{outcome="retrying"} 1`, `licensekit_topup_notifications_total{outcome="failed"} 0`,
		"licensekit_domain_refreshed_timestamp_seconds 1.7e+09"} {
		assert.Contains(t, text, want)
	}
	assert.Equal(t, 1, testutil.CollectAndCount(m.Registry(), "go_build_info"))
}

// Serve a store's metrics next to a handler: the middleware on the API, the
// observer on the store, Refresh in a background loop, Handler on an
// operators-only address.
func Example() {
	m := metrics.New()
	dir := exampleDir()
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(filepath.Join(dir, "lk.db"), sqlite.WithObserver(m.StoreObserver()))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	api := m.Middleware(http.NotFoundHandler(), func(*http.Request) string { return "" })
	api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/nothing", nil))
	if err := m.Refresh(context.Background(), store, time.Now()); err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, "licensekit_http_requests_total") || strings.HasPrefix(l, `licensekit_domain_records{what="companies"}`) {
			fmt.Println(l)
		}
	}
	// Output:
	// licensekit_domain_records{what="companies"} 0
	// licensekit_http_requests_total{method="GET",route="unmatched",status="404"} 1
}

// exampleDir is a temporary directory for the example's database.
func exampleDir() string {
	d, err := os.MkdirTemp("", "lkmetrics")
	if err != nil {
		panic(err)
	}
	return d
}
