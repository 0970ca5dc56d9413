package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// fzLog is a log buffer safe for the handler's writes.
type fzLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *fzLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *fzLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fzEnv is a handler over a memory store with one company, its owner key and
// a resource of each kind, so that fuzzed requests reach the domain.
type fzEnv struct {
	h       *lkhttp.Handler
	store   storage.Store
	company string
	key     string
	ids     map[string]string
	logs    *fzLog
}

var fzParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func newFzEnv(f *testing.F) *fzEnv {
	store := memory.New()
	clock := licensetest.NewClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	e := &fzEnv{store: store, ids: map[string]string{}, logs: &fzLog{}}
	h, err := lkhttp.New(lkhttp.Config{Store: store, Clock: clock, MaxBodyBytes: 4096,
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Services: lkhttp.Services{Pools: &pool.Service{Store: store, Clock: clock, Blobs: pool.NewMemoryBlobs(1 << 16)}}})
	require.NoError(f, err)
	e.h = h
	ctx := context.Background()
	e.company = license.NewID()
	owner := license.Actor{Company: e.company, Email: "fay@fuzz.example", Role: license.Owner}
	_, err = (&billing.Service{Store: store, Clock: clock}).CreateCompany(ctx, owner, "Fuzz Oy")
	require.NoError(f, err)
	k, err := lkhttp.IssueKey(ctx, store, clock, e.company, owner.Email, license.Owner, "", license.SystemEmail)
	require.NoError(f, err)
	e.key = k.Key

	mk := func(status int, method, path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		rec := e.serve(f, method, path, "Bearer "+e.key, b)
		require.Equal(f, status, rec.Code, "%s %s: %s", method, path, rec.Body)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out
	}
	site := mk(201, "POST", "/v1/sites", map[string]any{"name": "Fuzz site", "plan": "business", "payment_type": "monthly_invoice",
		"unit_price": map[string]string{"amount": "2.50", "currency": "USD"}, "licenses": 50})
	e.ids["site"] = site["id"].(string)
	spec := func(name, metric string) map[string]any {
		return map[string]any{"name": name, "model": "perpetual", "metric": metric, "software": []string{"office"},
			"responsible": map[string]any{}, "restrictions": map[string]any{}, "automatic": map[string]any{"enabled": false}, "form_allocations": true}
	}
	e.ids["pool"] = mk(201, "POST", "/v1/pools", spec("Fuzz pool", "named_user"))["id"].(string)
	e.ids["leasePool"] = mk(201, "POST", "/v1/pools", spec("Fuzz seats", "concurrent_user"))["id"].(string)
	for _, p := range []string{e.ids["pool"], e.ids["leasePool"]} {
		mk(201, "POST", "/v1/pools/"+p+"/transactions", map[string]any{"kind": "purchase", "count": 20})
	}
	e.ids["allocation"] = mk(201, "POST", "/v1/pools/"+e.ids["pool"]+"/allocations", map[string]any{"consumer": map[string]string{"user": "u1"}})["id"].(string)
	e.ids["lease"] = mk(201, "POST", "/v1/pools/"+e.ids["leasePool"]+"/leases", map[string]any{"consumer": map[string]string{"user": "u2"}})["id"].(string)
	e.ids["volumeLicense"] = mk(201, "POST", "/v1/volume-licenses", map[string]any{"product": "Fuzz MDR", "seats": 100,
		"renewal_date": "2027-06-30", "price_per_user": map[string]string{"amount": "4.00", "currency": "USD"}})["id"].(string)
	e.ids["customer"] = mk(201, "POST", "/v1/customers", map[string]any{"legal_name": "Fuzz Customer",
		"allocations": []map[string]any{{"license": e.ids["volumeLicense"], "seats": 5}}})["id"].(string)
	return e
}

// serve sends one request through the contract checker (validating).
func (e *fzEnv) serve(t testing.TB, method, path, auth string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://licensekit.test"+path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	validating(t, e.h).ServeHTTP(rec, req)
	return rec
}

// path fills the route's parameters with the environment's ids ("x" for the rest).
func (e *fzEnv) path(rt lkhttp.Route) string {
	return fzParam.ReplaceAllStringFunc(rt.Path, func(m string) string {
		switch name := strings.Trim(m, "{}"); {
		case name != "id":
			if v := e.ids[name]; v != "" {
				return v
			}
		case strings.HasPrefix(rt.Path, "/v1/pools/{id}/leases"):
			return e.ids["leasePool"]
		case strings.HasPrefix(rt.Path, "/v1/pools/"):
			return e.ids["pool"]
		case strings.HasPrefix(rt.Path, "/v1/sites/"), strings.HasPrefix(rt.Path, "/v1/topup/sites/"):
			return e.ids["site"]
		case strings.HasPrefix(rt.Path, "/v1/customers/"):
			return e.ids["customer"]
		case strings.HasPrefix(rt.Path, "/v1/volume-licenses/"):
			return e.ids["volumeLicense"]
		}
		return "x"
	})
}

func (e *fzEnv) events(t *testing.T) int64 {
	var n int64
	require.NoError(t, e.store.View(context.Background(), func(tx storage.Tx) error {
		var err error
		n, err = tx.CountEvents(context.Background(), eventlog.Filter{Company: e.company})
		return err
	}))
	return n
}

// checkAnswer is the contract of every answer: never a 5xx, and an error is
// an RFC 9457 problem (application/problem+json) whose status is the answer's.
func checkAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Less(t, rec.Code, 500, "%s: %s", what, rec.Body)
	if rec.Code >= 400 {
		require.Equal(t, lkhttp.ProblemContentType, rec.Header().Get("Content-Type"), what)
		eb := mustProblem(t, rec.Body.Bytes())
		require.Equal(t, rec.Code, eb.Status, what)
	}
}

// FuzzEveryRouteBody sends arbitrary bodies to every route of the table that
// takes a JSON body, with real ids in its path: never a 5xx, errors are coded
// JSON, and a refused body changes nothing (no event).
func FuzzEveryRouteBody(f *testing.F) {
	for _, s := range []string{`{"quantity":5}`, `{"quantity":-1}`, `{"consumer":{"user":"u9"}}`, `{"kind":"purchase","count":1}`,
		`{"name":"x","model":"perpetual","metric":"named_user","software":["a"]}`, `{"from":"a","to":"b","quantity":1}`,
		`{"emails":["a@b.example"]}`, `{"on":true}`, `{"legal_name":"","allocations":[]}`, `{`, `null`, `[]`, "\x00", `{"a":1}`} {
		for r := range 4 {
			f.Add(uint8(r*17), []byte(s))
		}
	}
	e := newFzEnv(f)
	var routes []lkhttp.Route
	for _, rt := range e.h.Routes() {
		if rt.Request != nil {
			routes = append(routes, rt)
		}
	}
	require.Greater(f, len(routes), 30)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		before := e.events(t)
		rec := e.serve(t, rt.Method, e.path(rt), "Bearer "+e.key, body)
		what := rt.Method + " " + rt.Path
		checkAnswer(t, what, rec)
		if rec.Code >= 400 {
			require.Equal(t, before, e.events(t), "%s refused %q and still appended an event", what, body)
		}
	})
}

// FuzzQueryParameters sends arbitrary query strings to every GET route that
// documents query parameters (event log query and export, volume page and
// export, pool list, invoice estimate, ...): never a 5xx, and a refusal is
// invalid (400).
func FuzzQueryParameters(f *testing.F) {
	for _, s := range []string{"", "search=x&sort=time&desc=true", "limit=-1", "limit=1e9", "columns=type,,type", "cursor=%ff%00",
		"month=2026-13", "prorate=maybe", "include_retired=1", "software=%00", "format=xlsx", "format=pdf", "sort=seats&desc=2", "a=b&a=c"} {
		for r := range 3 {
			f.Add(uint8(r*5), s)
		}
	}
	e := newFzEnv(f)
	var routes []lkhttp.Route
	for _, rt := range e.h.Routes() {
		if rt.Method == "GET" && len(rt.Query) > 0 {
			routes = append(routes, rt)
		}
	}
	require.GreaterOrEqual(f, len(routes), 4)
	f.Fuzz(func(t *testing.T, route uint8, raw string) {
		rt := routes[int(route)%len(routes)]
		if strings.ContainsAny(raw, " #\x7f") || strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 }) {
			return // not a query string a client can send
		}
		rec := e.serve(t, "GET", e.path(rt)+"?"+raw, "Bearer "+e.key, nil)
		what := "GET " + rt.Path + "?" + raw
		checkAnswer(t, what, rec)
		if rec.Code == 400 {
			eb := mustProblem(t, rec.Body.Bytes())
			require.Contains(t, []string{string(license.Invalid), lkhttp.CodeTooLarge}, eb.Code, what)
		}
	})
}

// FuzzAuthorization sends arbitrary Authorization headers: only the owner's
// key is let in, everything else is 401 (never a 5xx), and a key-like token
// is neither echoed nor logged.
func FuzzAuthorization(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer ", "bearer lk_x", "Basic dXNlcjpwYXNz", "Bearer lk_" + strings.Repeat("A", 43),
		"Bearer  lk_abc", "Bearer lk_\x00", "Token lk_abc", "Bearer " + strings.Repeat("x", 5000)} {
		f.Add(s)
	}
	e := newFzEnv(f)
	f.Fuzz(func(t *testing.T, auth string) {
		rec := e.serve(t, "GET", "/v1/sites", auth, nil)
		checkAnswer(t, "Authorization "+auth, rec)
		if rec.Code == http.StatusOK {
			_, tok, _ := strings.Cut(strings.TrimSpace(auth), " ")
			require.Equal(t, e.key, strings.TrimSpace(tok), "only the issued key is accepted")
			return
		}
		require.Contains(t, []int{401, 429}, rec.Code, "%q: %s", auth, rec.Body)
		if i := strings.Index(auth, "lk_"); i >= 0 && len(auth)-i >= 12 {
			tok := auth[i:]
			require.NotContains(t, rec.Body.String(), tok, "the answer echoes the key")
			require.NotContains(t, e.logs.String(), tok, "the log holds the key")
		}
	})
}
