package http_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
)

// edge is a handler over the fixture's store with its own configuration and
// log, called directly so that each request can come from any address.
type edge struct {
	t    *testing.T
	h    *lkhttp.Handler
	logs *bytes.Buffer
}

func newEdge(f *fixture, tune func(*lkhttp.Config)) *edge {
	f.t.Helper()
	e := &edge{t: f.t, logs: &bytes.Buffer{}}
	cfg := lkhttp.Config{Store: f.store, Clock: f.clock, Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}
	if tune != nil {
		tune(&cfg)
	}
	h, err := lkhttp.New(cfg)
	require.NoError(f.t, err)
	e.h = h
	return e
}

// send serves one request from addr (host:port) with the Bearer key (none
// when ""), the JSON body (none when nil) and extra headers.
func (e *edge) send(addr, method, path, key string, body any, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.RemoteAddr = addr
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	validating(e.t, e.h).ServeHTTP(rec, req)
	return rec
}

// logLines are the JSON log lines with message msg.
func (e *edge) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func wrongKey(i int) string { return fmt.Sprintf("lk_w%06d%s", i, strings.Repeat("x", 30)) }

// 500 wrong keys from one address: refused with 429 and Retry-After once the
// default limit (burst 20) is spent; another address is still answered 401,
// and a good key works from either address.
func TestFailedAuthLimitedPerAddressByDefault(t *testing.T) {
	f := newFixture(t)
	e := newEdge(f, nil)
	const attacker, other = "203.0.113.7:4000", "198.51.100.2:5000"
	counts := map[int]int{}
	var first429 *httptest.ResponseRecorder
	for i := 0; i < 500; i++ {
		// Each attempt from a fresh port, with a forged X-Forwarded-For, under a different key prefix.
		rec := e.send(fmt.Sprintf("203.0.113.7:%d", 4000+i), "GET", "/v1/sites", fmt.Sprintf("lk_%07d%s", i, strings.Repeat("y", 30)), nil,
			"X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i%250))
		counts[rec.Code]++
		if rec.Code == 429 && first429 == nil {
			first429 = rec
		}
	}
	assert.Equal(t, map[int]int{401: lkhttp.DefaultFailedAuth.Burst, 429: 500 - lkhttp.DefaultFailedAuth.Burst}, counts)
	require.NotNil(t, first429)
	assert.Equal(t, "6", first429.Header().Get("Retry-After"), "10 a minute: one more in 6 s")
	assert.Contains(t, first429.Body.String(), `"code":"rate_limited"`)

	assert.Equal(t, 401, e.send(other, "GET", "/v1/sites", wrongKey(1), nil).Code, "another address is not affected")
	assert.Equal(t, 200, e.send(attacker, "GET", "/v1/sites", f.owner, nil).Code, "a good key works from the refused address")
	assert.Equal(t, 200, e.send(other, "GET", "/v1/sites", f.owner, nil).Code)

	f.clock.Advance(6 * time.Second)
	assert.Equal(t, 401, e.send(attacker, "GET", "/v1/sites", wrongKey(2), nil).Code, "one token refilled")
	assert.Equal(t, 429, e.send(attacker, "GET", "/v1/sites", wrongKey(3), nil).Code)
}

func TestFailedAuthLimitOff(t *testing.T) {
	f := newFixture(t)
	e := newEdge(f, func(c *lkhttp.Config) { c.Limits.FailedAuth = lkhttp.NoLimit })
	for i := 0; i < 100; i++ {
		require.Equal(t, 401, e.send("203.0.113.7:1", "GET", "/v1/sites", wrongKey(i), nil).Code)
	}
}

// The same key prefix tried from many addresses is refused as well.
func TestFailedAuthLimitedPerKeyPrefix(t *testing.T) {
	f := newFixture(t)
	e := newEdge(f, func(c *lkhttp.Config) { c.Limits.FailedAuth = lkhttp.Rate{PerMinute: 1, Burst: 5} })
	prefix := "lk_Target_"
	codes := []int{}
	for i := 0; i < 8; i++ {
		codes = append(codes, e.send(fmt.Sprintf("192.0.2.%d:1", i+1), "GET", "/v1/sites", prefix+strconv.Itoa(i)+strings.Repeat("z", 30), nil).Code)
	}
	assert.Equal(t, []int{401, 401, 401, 401, 401, 429, 429, 429}, codes)
	assert.Equal(t, "60", e.send("192.0.2.99:1", "GET", "/v1/sites", prefix+"Q", nil).Header().Get("Retry-After"))
	assert.Equal(t, 401, e.send("192.0.2.100:1", "GET", "/v1/sites", "lk_Another"+strings.Repeat("z", 30), nil).Code,
		"another prefix from a fresh address")
}

// X-Forwarded-For names the client only when the peer is a trusted proxy.
func TestClientAddressTrustsOnlyListedProxies(t *testing.T) {
	f := newFixture(t)
	proxy := "10.0.0.5:443"
	limit := lkhttp.Rate{PerMinute: 1, Burst: 2}
	t.Run("trusted", func(t *testing.T) {
		e := newEdge(f, func(c *lkhttp.Config) {
			c.Limits.FailedAuth = limit
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		})
		for i := 0; i < 2; i++ {
			require.Equal(t, 401, e.send(proxy, "GET", "/v1/sites", wrongKey(i), nil, "X-Forwarded-For", "203.0.113.1, 10.9.9.9").Code)
		}
		// The client's forged left-hand entries do not matter: the proxy appended 203.0.113.1.
		assert.Equal(t, 429, e.send(proxy, "GET", "/v1/sites", wrongKey(3), nil, "X-Forwarded-For", "1.2.3.4, 203.0.113.1").Code)
		assert.Equal(t, 401, e.send(proxy, "GET", "/v1/sites", wrongKey(4), nil, "X-Forwarded-For", "203.0.113.2").Code,
			"another client behind the same proxy")
		lines := e.logLines("http request")
		require.NotEmpty(t, lines)
		assert.Equal(t, "203.0.113.2", lines[len(lines)-1]["client"])
	})
	t.Run("untrusted", func(t *testing.T) {
		e := newEdge(f, func(c *lkhttp.Config) { c.Limits.FailedAuth = limit })
		for i := 0; i < 2; i++ {
			require.Equal(t, 401, e.send(proxy, "GET", "/v1/sites", wrongKey(i), nil, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i)).Code)
		}
		assert.Equal(t, 429, e.send(proxy, "GET", "/v1/sites", wrongKey(3), nil, "X-Forwarded-For", "203.0.113.50").Code,
			"the header is ignored: the peer is the client")
		lines := e.logLines("http request")
		assert.Equal(t, "10.0.0.5", lines[len(lines)-1]["client"])
	})
	t.Run("ipv6 counts by /64", func(t *testing.T) {
		e := newEdge(f, func(c *lkhttp.Config) { c.Limits.FailedAuth = limit })
		for i := 0; i < 2; i++ {
			require.Equal(t, 401, e.send(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), "GET", "/v1/sites", wrongKey(i), nil).Code)
		}
		assert.Equal(t, 429, e.send("[2001:db8:1:2:ffff::9]:1", "GET", "/v1/sites", wrongKey(3), nil).Code)
		assert.Equal(t, 401, e.send("[2001:db8:1:3::1]:1", "GET", "/v1/sites", wrongKey(4), nil).Code)
	})
}

// A 401 is logged with the client address: the access log line and a WARN
// line with the key prefix, never the key.
func TestUnauthorizedLogsClientAddress(t *testing.T) {
	f := newFixture(t)
	e := newEdge(f, nil)
	key := wrongKey(7)
	require.Equal(t, 401, e.send("203.0.113.77:999", "GET", "/v1/pools/p1", key, nil).Code)
	access := e.logLines("http request")
	require.Len(t, access, 1)
	assert.Equal(t, "203.0.113.77", access[0]["client"])
	assert.Equal(t, 401.0, access[0]["status"])
	warn := e.logLines("authentication failed")
	require.Len(t, warn, 1)
	assert.Equal(t, "WARN", warn[0]["level"])
	assert.Equal(t, "203.0.113.77", warn[0]["client"])
	assert.Equal(t, key[:lkhttp.KeyPrefixLen], warn[0]["key_prefix"])
	assert.Equal(t, "GET /v1/pools/{id}", warn[0]["route"])
	assert.NotContains(t, e.logs.String(), key)

	// The WARN lines are limited per address; the next one says how many were left out.
	e = newEdge(f, func(c *lkhttp.Config) { c.Limits.Audit = lkhttp.Rate{PerMinute: 1, Burst: 2} })
	for i := 0; i < 10; i++ {
		e.send("203.0.113.78:1", "GET", "/v1/sites", wrongKey(i), nil)
	}
	assert.Len(t, e.logLines("authentication failed"), 2)
	f.clock.Advance(time.Minute)
	e.send("203.0.113.78:1", "GET", "/v1/sites", wrongKey(99), nil)
	warn = e.logLines("authentication failed")
	require.Len(t, warn, 3)
	assert.Equal(t, 8.0, warn[2]["unlogged_before"])
}

// A 403 writes an access.denied event in the actor's company's log, which its
// owner sees; a flood of them writes at most the audit burst, and the next
// event counts the ones left out.
func TestForbiddenIsAudited(t *testing.T) { forEachStore(t, testForbiddenIsAudited) }

func testForbiddenIsAudited(t *testing.T, f *fixture) {
	e := newEdge(f, func(c *lkhttp.Config) { c.Limits.Audit = lkhttp.Rate{PerMinute: 1, Burst: 3} })
	viewer := f.key("vic@acme.example", license.Viewer)
	var keys []lkhttp.APIKey
	f.list("/v1/apikeys", f.owner, &keys)
	var viewerID string
	for _, k := range keys {
		if k.Email == "vic@acme.example" {
			viewerID = k.ID
		}
	}
	require.NotEmpty(t, viewerID)

	rec := e.send("203.0.113.30:1234", "GET", "/v1/apikeys", viewer, nil)
	require.Equal(t, 403, rec.Code)
	denied := func() []eventlog.Event {
		var page lkhttp.EventPage
		f.ok(200, "GET", "/v1/events?types=access.denied", f.owner, nil, &page)
		slices.SortFunc(page.Items, func(a, b eventlog.Event) int { return cmp.Compare(a.Seq, b.Seq) })
		return page.Items
	}
	evs := denied()
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.Equal(t, f.company, ev.Company)
	assert.Equal(t, "vic@acme.example", ev.Actor)
	assert.Equal(t, viewerID, ev.Subject)
	assert.True(t, ev.Time.Equal(f.clock.Now()))
	var d map[string]any
	require.NoError(t, json.Unmarshal(ev.Details, &d))
	assert.Equal(t, "203.0.113.30", d["client"])
	assert.Equal(t, "GET /v1/apikeys", d["route"])
	assert.Equal(t, "viewer", d["role"])
	assert.Equal(t, "forbidden", d["error_code"])

	for i := 0; i < 50; i++ {
		require.Equal(t, 403, e.send("203.0.113.30:1234", "DELETE", "/v1/apikeys/key_x", viewer, nil).Code)
	}
	assert.Len(t, denied(), 3, "the audit burst, not 51 events")
	f.clock.Advance(time.Minute)
	require.Equal(t, 403, e.send("203.0.113.30:1234", "POST", "/v1/apikeys", viewer, map[string]string{"email": "x@acme.example", "role": "owner"}).Code)
	evs = denied()
	require.Len(t, evs, 4)
	require.NoError(t, json.Unmarshal(evs[3].Details, &d))
	assert.Equal(t, 48.0, d["unrecorded"])
	assert.Equal(t, "POST /v1/apikeys", d["route"])
}

// Validating one pool or one license key over and over is refused for it
// (default limit: burst 100), while another pool or license is still served.
func TestValidationLimitedPerLicenseByDefault(t *testing.T) {
	f := newFixture(t)
	w := f.populate()
	e := newEdge(f, nil)
	const addr = "203.0.113.40:1"
	body := map[string]any{"consumer": map[string]any{"user": "northwind-user-1"}}
	hammer := func(path string, body any) (ok, limited int, last *httptest.ResponseRecorder) {
		for i := 0; i < lkhttp.DefaultValidation.Burst+20; i++ {
			rec := e.send(addr, "POST", path, f.owner, body)
			switch rec.Code {
			case 200:
				ok++
			case 429:
				limited++
				last = rec
			default:
				t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
			}
		}
		return ok, limited, last
	}
	ok, limited, last := hammer("/v1/pools/"+w.pool+"/validate", body)
	assert.Equal(t, lkhttp.DefaultValidation.Burst, ok)
	assert.Equal(t, 20, limited)
	require.NotNil(t, last)
	assert.Equal(t, "1", last.Header().Get("Retry-After"), "600 a minute: one more in 0.1 s")
	assert.Contains(t, last.Body.String(), `"code":"rate_limited"`)
	assert.Equal(t, 200, e.send(addr, "POST", "/v1/pools/"+w.poolB+"/validate", f.owner, body).Code, "another pool")

	keyBody := map[string]any{"key": w.subKey, "consumer": map[string]any{"asset": "pc-1"}}
	ok, limited, _ = hammer("/v1/subscriptions/validate-key", keyBody)
	assert.Equal(t, lkhttp.DefaultValidation.Burst, ok)
	assert.Equal(t, 20, limited)
	assert.Equal(t, 200, e.send(addr, "POST", "/v1/subscriptions/licenses/"+w.subLicense+"/validate", f.owner,
		map[string]any{"consumer": map[string]any{"asset": "northwind-pc"}}).Code, "another license")

	// Activation attempts of one key are limited by the same rate.
	e = newEdge(f, func(c *lkhttp.Config) { c.Limits.Validation = lkhttp.Rate{PerMinute: 1, Burst: 2} })
	guess := map[string]any{"key": "NOPE-NOPE-NOPE-NOPE"}
	assert.Equal(t, 404, e.send(addr, "POST", "/v1/subscriptions/activate", f.owner, guess).Code)
	assert.Equal(t, 404, e.send(addr, "POST", "/v1/subscriptions/activate", f.owner, guess).Code)
	rec := e.send(addr, "POST", "/v1/subscriptions/activate", f.owner, guess)
	assert.Equal(t, 429, rec.Code)
	assert.Equal(t, "60", rec.Header().Get("Retry-After"))
}

func TestValidationLimitOff(t *testing.T) {
	f := newFixture(t)
	w := f.populate()
	e := newEdge(f, func(c *lkhttp.Config) { c.Limits.Validation = lkhttp.NoLimit })
	body := map[string]any{"consumer": map[string]any{"user": "northwind-user-1"}}
	for i := 0; i < lkhttp.DefaultValidation.Burst+20; i++ {
		require.Equal(t, 200, e.send("203.0.113.40:1", "POST", "/v1/pools/"+w.pool+"/validate", f.owner, body).Code)
	}
}

// Many goroutines from many addresses: the limiters stay within MaxKeys and
// the race detector finds nothing.
func TestFailedAuthConcurrentBounded(t *testing.T) {
	f := newFixture(t)
	e := newEdge(f, func(c *lkhttp.Config) { c.Limits.MaxKeys = 64 })
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				req := httptest.NewRequest("GET", "/v1/sites", nil)
				req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", g, i/250, i%250)
				req.Header.Set("Authorization", "Bearer "+wrongKey(g*1000+i))
				rec := httptest.NewRecorder()
				validating(t, e.h).ServeHTTP(rec, req)
				if rec.Code != 401 && rec.Code != 429 {
					t.Errorf("status %d", rec.Code)
				}
			}
		}()
	}
	wg.Wait()
	addrs, prefixes := lkhttp.LimiterSizes(e.h)
	assert.LessOrEqual(t, addrs, 64)
	assert.LessOrEqual(t, prefixes, 64)
	assert.Positive(t, addrs)
}

// A Rate with only PerMinute keeps the default burst.
func TestRateZeroFieldsTakeDefaults(t *testing.T) {
	f := newFixture(t)
	e := newEdge(f, func(c *lkhttp.Config) { c.Limits.FailedAuth = lkhttp.Rate{PerMinute: 60} })
	n := 0
	for ; n < 100; n++ {
		rec := e.send("203.0.113.5:1", "GET", "/v1/sites", wrongKey(n), nil)
		if rec.Code == 429 {
			assert.Equal(t, "1", rec.Header().Get("Retry-After"))
			break
		}
	}
	assert.Equal(t, lkhttp.DefaultFailedAuth.Burst, n)
}
