package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/adapters/http/client"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/storage/storagetest"
	"github.com/licensekit/licensekit/webhook"
)

// start is the fake clock's time in every test: frozen, so leases never lapse
// and quarantines never end while a history is recorded.
var start = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is the reference handler over a store, served by httptest.
type server struct {
	t     *testing.T
	store storage.Store // what the handler runs on
	clock *licensetest.Clock
	h     *lkhttp.Handler
	srv   *httptest.Server
	logs  *syncBuffer
	// api is the typed client of srv; it sends no key of its own, each call
	// names one (client.Bearer).
	api *client.ClientWithResponses
}

func newServer(t *testing.T, store storage.Store) *server {
	t.Helper()
	// Event appends write webhook deliveries, as in the reference server.
	store = webhook.Wrap(store)
	s := &server{t: t, store: store, clock: licensetest.NewClock(start), logs: &syncBuffer{}}
	h, err := lkhttp.New(lkhttp.Config{Store: store, Clock: s.clock,
		Logger: slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Services: lkhttp.Services{Pools: &pool.Service{Store: store, Clock: s.clock, Blobs: pool.NewMemoryBlobs(1 << 20)},
			Webhooks: &webhook.Service{Store: store, Clock: s.clock, Key: []byte("reliability-tests-webhook-key-0123")}}})
	require.NoError(t, err)
	s.h = h
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	s.api, err = client.New(s.srv.URL, "", client.WithHTTPClient(s.srv.Client()))
	require.NoError(t, err)
	return s
}

// company creates a company with an owner and returns its ID and the owner's API key.
func (s *server) company(name, email string) (string, string) {
	s.t.Helper()
	return newCompany(s.t, s.store, s.clock, name, email)
}

func newCompany(t *testing.T, store storage.Store, clock license.Clock, name, email string) (string, string) {
	t.Helper()
	ctx := context.Background()
	company := license.NewID()
	owner := license.Actor{Company: company, Email: email, Role: license.Owner}
	_, err := (&billing.Service{Store: store, Clock: clock}).CreateCompany(ctx, owner, name)
	require.NoError(t, err)
	k, err := lkhttp.IssueKey(ctx, store, clock, company, email, license.Owner, "reliability", license.SystemEmail)
	require.NoError(t, err)
	return company, k.Key
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) code() string {
	p, err := lkhttp.ParseProblem(r.body)
	if err != nil {
		return ""
	}
	return p.Code
}

// call sends one request to base; body is nil, a string or []byte (sent as
// is) or a value sent as JSON. It never fails the test, so goroutines may use it.
func call(ctx context.Context, client *http.Client, base, method, path, key string, body any, headers ...string) (resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return resp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

func (s *server) do(method, path, key string, body any, headers ...string) resp {
	s.t.Helper()
	r, err := call(context.Background(), s.srv.Client(), s.srv.URL, method, path, key, body, headers...)
	require.NoError(s.t, err, "%s %s", method, path)
	return r
}

// ok sends a request, requires status and decodes the body into out (when not nil).
func (s *server) ok(status int, method, path, key string, body, out any, headers ...string) resp {
	s.t.Helper()
	r := s.do(method, path, key, body, headers...)
	require.Equal(s.t, status, r.status, "%s %s: %s", method, path, r.body)
	if out != nil {
		require.NoError(s.t, json.Unmarshal(r.body, out), "%s", r.body)
	}
	return r
}

func siteBody(name string, licenses int64) map[string]any {
	return map[string]any{"name": name, "plan": "business", "payment_type": "monthly_invoice", "group": "main",
		"unit_price": map[string]string{"amount": "2.50", "currency": "USD"}, "licenses": licenses}
}

func poolSpec(name, metric string) map[string]any {
	return map[string]any{"name": name, "model": "perpetual", "metric": metric, "software": []string{"office"},
		"responsible": map[string]any{}, "restrictions": map[string]any{}, "automatic": map[string]any{"enabled": false},
		"priority": 0, "form_allocations": true, "min_allocation_days": 0}
}

// must requires that a call of the typed client got an answer of status.
func (s *server) must(rsp client.Response, err error, status int) {
	s.t.Helper()
	require.NoError(s.t, err)
	require.NoError(s.t, client.Check(rsp, status))
}

// newSite creates a monthly-invoice site with licenses (the site siteBody
// describes) through the typed client.
func (s *server) newSite(key, name string, licenses int64) string {
	s.t.Helper()
	rsp, err := s.api.PostV1SitesWithResponse(context.Background(), nil, client.PostV1SitesJSONRequestBody{
		Name: client.Ptr(name), Plan: client.Ptr("business"), PaymentType: client.Ptr(client.BillingNewSiteInputPaymentTypeMonthlyInvoice), Group: client.Ptr("main"),
		UnitPrice: &client.LicenseMoney{Amount: "2.50", Currency: "USD"}, Licenses: client.Ptr(int(licenses))}, client.Bearer(key))
	s.must(rsp, err, 201)
	return rsp.JSON201.Id.String()
}

// newPool creates a perpetual pool of metric holding count licenses (the pool
// poolSpec describes) through the typed client.
func (s *server) newPool(key, name, metric string, count int64) string {
	s.t.Helper()
	ctx := context.Background()
	p, err := s.api.PostV1PoolsWithResponse(ctx, nil, client.PostV1PoolsJSONRequestBody{
		Name: client.Ptr(name), Model: client.Ptr(client.HttpPoolSpecBodyInputModelPerpetual), Metric: client.Ptr(client.HttpPoolSpecBodyInputMetric(metric)), Software: &[]string{"office"},
		FormAllocations: client.Ptr(true)}, client.Bearer(key))
	s.must(p, err, 201)
	tx, err := s.api.PostV1PoolsIdTransactionsWithResponse(ctx, p.JSON201.Id.String(), nil, client.PostV1PoolsIdTransactionsJSONRequestBody{
		Kind: client.Ptr(client.HttpTransactionBodyInputKindPurchase), Count: client.Ptr(int(count))}, client.Bearer(key))
	s.must(tx, err, 201)
	return p.JSON201.Id.String()
}

func sqliteStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "licensekit.db")
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// postgresDSN returns LICENSEKIT_TEST_POSTGRES_DSN; without it the test is
// skipped, except under CI=true where it fails.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("LICENSEKIT_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("LICENSEKIT_TEST_POSTGRES_DSN is not set; under CI the PostgreSQL tests must run")
		}
		t.Skip("set LICENSEKIT_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL reliability tests")
	}
	return dsn
}

// postgresDatabase creates a fresh database for the test, dropped in
// t.Cleanup (storagetest.PostgresDatabase), and returns its DSN and its name.
func postgresDatabase(t *testing.T) (string, string) {
	t.Helper()
	dsn := storagetest.PostgresDatabase(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	return dsn, strings.TrimPrefix(u.Path, "/")
}

func postgresStore(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	dsn, name := postgresDatabase(t)
	s, err := postgres.Open(context.Background(), dsn, postgres.WithMaxConns(24))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, name
}

// kinds are the record kinds a dump reads: every kind the domain packages and
// the HTTP adapter declare.
var kinds = []storage.Kind{"company", "member", "site", "billing_adjustment", "pool", "allocation", "lease",
	"topup_settings", "topup_outbox", "volume_license", "volume_customer", "subscription_license",
	"subscription_assignment", "subscription_settings", "subscription_user", "subscription_company",
	"subscription_charge", storage.KindIdempotency, lkhttp.KindAPIKey}

// snapshot is every record of the given kinds (all companies) and every event
// of the given companies.
type snapshot struct {
	Records map[string]string
	Events  map[string]int64
}

func dump(t *testing.T, store storage.Store, companies ...string) snapshot {
	t.Helper()
	ctx := context.Background()
	snap := snapshot{Records: map[string]string{}, Events: map[string]int64{}}
	require.NoError(t, store.View(ctx, func(tx storage.Tx) error {
		for _, k := range kinds {
			recs, err := tx.List(ctx, storage.ListQuery{Kind: k, AllCompanies: true})
			if err != nil {
				return err
			}
			for _, r := range recs {
				snap.Records[r.Company+"/"+string(r.Kind)+"/"+r.ID] = string(r.Data)
			}
		}
		for _, c := range companies {
			n, err := tx.CountEvents(ctx, eventlog.Filter{Company: c})
			if err != nil {
				return err
			}
			snap.Events[c] = n
		}
		return nil
	}))
	return snap
}
