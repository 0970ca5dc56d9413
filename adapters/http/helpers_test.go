package http_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/webhook"
)

// webhookTestKey derives the webhook secrets of the tests' handlers.
var webhookTestKey = []byte("http-tests-webhook-key-0123456789")

// fixture is an API over a memory store with one company ("acme") and its
// owner's key, served by an httptest server.
type fixture struct {
	t       *testing.T
	store   storage.Store
	clock   *licensetest.Clock
	h       *lkhttp.Handler
	srv     *httptest.Server
	company string
	owner   string // API key of the owner
	logs    *bytes.Buffer
}

var testStart = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

// testLicenseKey signs the files of borrowed seats in tests.
var testLicenseKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, memory.New()) }

// newFixtureOn is newFixture over the given store.
func newFixtureOn(t *testing.T, store storage.Store) *fixture {
	t.Helper()
	store = webhook.Wrap(store)
	f := &fixture{t: t, store: store, clock: licensetest.NewClock(testStart), logs: &bytes.Buffer{}}
	h, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock,
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil)), MaxBodyBytes: 64 << 10, LicenseKey: testLicenseKey,
		Services: lkhttp.Services{Pools: &pool.Service{Store: f.store, Clock: f.clock, Blobs: pool.NewMemoryBlobs(1 << 20)},
			Webhooks: &webhook.Service{Store: f.store, Clock: f.clock, Key: webhookTestKey}}})
	require.NoError(t, err)
	f.h = h
	f.srv = httptest.NewServer(newConventionRecorder(t, validating(t, h)))
	t.Cleanup(f.srv.Close)
	f.company, f.owner = f.newCompany("acme", "ann@acme.example")
	return f
}

// newCompany creates a company with an owner and returns its ID and the owner's key.
func (f *fixture) newCompany(name, email string) (string, string) {
	f.t.Helper()
	ctx := context.Background()
	company := license.NewID()
	owner := license.Actor{Company: company, Email: email, Role: license.Owner}
	b := &billing.Service{Store: f.store, Clock: f.clock}
	_, err := b.CreateCompany(ctx, owner, name)
	require.NoError(f.t, err)
	k, err := lkhttp.IssueKey(ctx, f.store, f.clock, company, email, license.Owner, "test", license.SystemEmail)
	require.NoError(f.t, err)
	return company, k.Key
}

// key issues a key of role in the fixture's company.
func (f *fixture) key(email string, role license.Role) string {
	f.t.Helper()
	k, err := lkhttp.IssueKey(context.Background(), f.store, f.clock, f.company, email, role, "", license.SystemEmail)
	require.NoError(f.t, err)
	return k.Key
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

func (r resp) errCode(t *testing.T) string {
	t.Helper()
	return r.problem(t).Code
}

// problem decodes an error response, requiring the problem+json media type.
func (r resp) problem(t *testing.T) lkhttp.Problem {
	t.Helper()
	require.Equal(t, lkhttp.ProblemContentType, r.header.Get("Content-Type"), "body: %s", r.body)
	return mustProblem(t, r.body)
}

// mustProblem is the one decoder of error bodies in these tests: an RFC 9457
// problem whose type, title and status agree with its code.
func mustProblem(t *testing.T, body []byte) lkhttp.Problem {
	t.Helper()
	p, err := lkhttp.ParseProblem(body)
	require.NoError(t, err, "body: %s", body)
	require.Equal(t, lkhttp.ProblemTypeBase+p.Code, p.Type, "body: %s", body)
	require.NotEmpty(t, p.Title, "body: %s", body)
	require.NotEmpty(t, p.Detail, "body: %s", body)
	return p
}

// do sends a request; body may be nil, a string (sent as is) or a value (JSON).
func (f *fixture) do(method, path, key string, body any, headers ...string) resp {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(f.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	require.NoError(f.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := f.srv.Client().Do(req)
	require.NoError(f.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(f.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// ok sends a request and requires the status, decoding the body into out.
func (f *fixture) ok(status int, method, path, key string, body, out any, headers ...string) resp {
	f.t.Helper()
	r := f.do(method, path, key, body, headers...)
	require.Equal(f.t, status, r.status, "%s %s: %s", method, path, r.body)
	if out != nil {
		r.json(f.t, out)
	}
	return r
}

// site creates a monthly-invoice site at 2.50 USD.
func (f *fixture) site(name string, licenses *int64) lkhttp.SiteView {
	f.t.Helper()
	var s lkhttp.SiteView
	f.ok(201, "POST", "/v1/sites", f.owner, map[string]any{
		"name": name, "plan": "business", "payment_type": "monthly_invoice", "group": "main",
		"unit_price": map[string]string{"amount": "2.50", "currency": "USD"}, "licenses": licenses,
	}, &s)
	return s
}

func ptr[T any](v T) *T { return &v }

func decodeBody(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}
