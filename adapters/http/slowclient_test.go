package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// watchedStore counts the read transactions of a store and how many are open
// (inside their function) right now.
type watchedStore struct {
	storage.Store
	views atomic.Int64
	open  atomic.Int64
}

func (s *watchedStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	s.views.Add(1)
	return s.Store.View(ctx, func(tx storage.Tx) error {
		s.open.Add(1)
		defer s.open.Add(-1)
		return fn(tx)
	})
}

// smallBuffers accepts connections with a small kernel send buffer, so that a
// response to a client that does not read blocks the handler after a few
// kilobytes instead of filling megabytes of socket buffers.
type smallBuffers struct {
	net.Listener
	size int
}

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && l.size > 0 {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// bufferSize is the socket buffer size of an edge fixture's connections (both
// ends): small, so that a client that does not read blocks the server soon.
// A test of a client that does read uses larger ones, as tiny windows make
// loopback TCP wait on delayed acknowledgements.
var bufferSize = map[bool]int{false: 4096, true: 64 << 10}

// slowFixture is a fixture whose handler is configured by the test, served with
// small socket buffers, counting the requests in flight per path.
type slowFixture struct {
	*fixture
	watched  *watchedStore
	inflight sync.Map // path -> *atomic.Int64
	addr     string
	buffers  int // socket buffer size of both ends
}

func newSlowFixture(t *testing.T, store storage.Store, tune func(*lkhttp.Config)) *slowFixture {
	return newSlowFixtureBuffers(t, store, tune, bufferSize[false])
}

func newSlowFixtureBuffers(t *testing.T, store storage.Store, tune func(*lkhttp.Config), buffers int) *slowFixture {
	t.Helper()
	e := &slowFixture{watched: &watchedStore{Store: store}, buffers: buffers}
	f := &fixture{t: t, store: e.watched, clock: licensetest.NewClock(testStart), logs: &bytes.Buffer{}}
	cfg := lkhttp.Config{Store: f.store, Clock: f.clock, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Services: lkhttp.Services{Pools: &pool.Service{Store: f.store, Clock: f.clock, Blobs: pool.NewMemoryBlobs(1 << 20)}}}
	if tune != nil {
		tune(&cfg)
	}
	h, err := lkhttp.New(cfg)
	require.NoError(t, err)
	f.h = h
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.counter(r.URL.Path)
		n.Add(1)
		defer n.Add(-1)
		h.ServeHTTP(w, r)
	}))
	f.srv.Listener = smallBuffers{Listener: f.srv.Listener, size: buffers}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	e.addr = f.srv.Listener.Addr().String()
	e.fixture = f
	f.company, f.owner = f.newCompany("acme", "ann@acme.example")
	return e
}

func (e *slowFixture) counter(path string) *atomic.Int64 {
	n, _ := e.inflight.LoadOrStore(path, new(atomic.Int64))
	return n.(*atomic.Int64)
}

// bigLog appends n events of about 400 bytes each to the company's log.
func (e *slowFixture) bigLog(n int) {
	e.t.Helper()
	pad := strings.Repeat("p", 300)
	require.NoError(e.t, e.store.Update(context.Background(), func(tx storage.Tx) error {
		for i := range n {
			_, err := tx.AppendEvent(context.Background(), eventlog.Event{ID: license.NewID(), Company: e.company,
				Time: testStart.Add(time.Duration(i) * time.Second), Type: "test.bulk", Target: "site " + strconv.Itoa(i),
				Count: int64(i), Actor: "system", Details: []byte(`{"pad":"` + pad + `"}`)})
			if err != nil {
				return err
			}
		}
		return nil
	}))
}

// stalledExport asks for the original-data export on a raw connection with a
// small receive buffer and never reads the answer.
func (e *slowFixture) stalledExport() net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	require.NoError(e.t, err)
	if e.buffers > 0 {
		require.NoError(e.t, c.(*net.TCPConn).SetReadBuffer(e.buffers))
	}
	e.t.Cleanup(func() { _ = c.Close() })
	_, err = fmt.Fprintf(c, "GET /v1/events/export?view=original HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", e.addr, e.owner)
	require.NoError(e.t, err)
	return c
}

// settle waits until want exports are in flight, stuck on their sockets: the
// store has seen no new read transaction for a while. A stuck export that
// holds a read transaction (the bug this guards against) never settles; the
// test then fails with the number held.
func (e *slowFixture) settle(want int64) {
	e.t.Helper()
	exports := e.counter("/v1/events/export")
	deadline := time.Now().Add(15 * time.Second)
	last, since := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		v := e.watched.views.Load()
		if v != last || e.watched.open.Load() != 0 {
			last, since = v, time.Now()
		}
		if exports.Load() == want && time.Since(since) > 400*time.Millisecond {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("the exports never settled with no read transaction open: %d exports in flight (want %d), %d read transactions open",
		exports.Load(), want, e.watched.open.Load())
}

// prompt sends a request that must be answered with status within 3 seconds.
func (e *slowFixture) prompt(status int, method, path, key, body string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 3 * time.Second}
	start := time.Now()
	res, err := client.Do(req)
	require.NoError(e.t, err, "%s %s while exports are stalled", method, path)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(e.t, status, res.StatusCode, "%s %s: %s", method, path, b)
	e.t.Logf("%s %s answered %d in %s", method, path, res.StatusCode, time.Since(start).Round(time.Millisecond))
}

// sqliteStore opens a SQLite store in a temporary directory.
func sqliteStore(t *testing.T, opts ...sqlite.Option) storage.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "licensekit.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Six clients start the export of a large log and never read. Every export
// is then stuck writing to its socket, and none holds a read transaction, so
// readiness, authentication (the key cache is off: every request reads the
// store) and a purchase are answered at once. The store has four reader
// connections (SQLite) or a pool of four (PostgreSQL on two cores): before
// exports read in short transactions, the stalled ones took them all.
func TestStalledExportsDoNotStarveTheAPI(t *testing.T) {
	run := func(t *testing.T, store storage.Store) {
		e := newSlowFixture(t, store, func(c *lkhttp.Config) { c.KeyCacheTTL = -1; c.WriteTimeout = time.Minute })
		site := e.site("North", ptr[int64](10))
		e.bigLog(6000)
		const stalled = 6
		for range stalled {
			e.stalledExport()
		}
		e.settle(stalled)
		assert.Zero(t, e.watched.open.Load(), "stalled exports hold read transactions")
		e.prompt(200, "GET", "/readyz", "", "")
		e.prompt(200, "GET", "/v1/sites", e.owner, "")
		e.prompt(200, "POST", "/v1/sites/"+site.ID+"/purchase", e.owner, `{"quantity":1}`)
		assert.Equal(t, int64(stalled), e.counter("/v1/events/export").Load(), "the exports are still stalled, not finished")
	}
	t.Run("sqlite", func(t *testing.T) { run(t, sqliteStore(t)) })
	t.Run("postgres", func(t *testing.T) { run(t, postgresStore(t)) })
}

// An export blocked on a client that does not read holds no store
// transaction: it has read a page, let the transaction go, and waits on the
// socket with nothing of the store in hand.
func TestBlockedExportHoldsNoTransaction(t *testing.T) {
	e := newSlowFixture(t, sqliteStore(t), func(c *lkhttp.Config) { c.WriteTimeout = time.Minute })
	e.bigLog(3000)
	before := e.watched.views.Load()
	e.stalledExport()
	e.settle(1)
	require.Greater(t, e.watched.views.Load(), before+1, "the export read the log")
	assert.Zero(t, e.watched.open.Load(), "the blocked export holds a read transaction")
}

// holdConnections takes n read transactions of store and keeps them until the
// test ends (or release is called).
func holdConnections(t *testing.T, store storage.Store, n int) (release func()) {
	t.Helper()
	var held, done sync.WaitGroup
	stop := make(chan struct{})
	for range n {
		held.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			_ = store.View(context.Background(), func(storage.Tx) error {
				held.Done()
				<-stop
				return nil
			})
		}()
	}
	held.Wait()
	var once sync.Once
	release = func() { once.Do(func() { close(stop); done.Wait() }) }
	t.Cleanup(release)
	return release
}

// /readyz reports a store whose connections are all taken as unavailable,
// with the reason, within its bounded time; once a connection is free again
// it is ready.
func TestReadyzReportsSaturatedStore(t *testing.T) {
	run := func(t *testing.T, store storage.Store) {
		e := newSlowFixture(t, store, func(c *lkhttp.Config) { c.ReadyTimeout = 300 * time.Millisecond })
		e.prompt(200, "GET", "/readyz", "", "")
		release := holdConnections(t, store, 2)
		client := &http.Client{Timeout: 3 * time.Second}
		start := time.Now()
		res, err := client.Get(e.srv.URL + "/readyz")
		require.NoError(t, err, "/readyz waits for a connection of a saturated store")
		took := time.Since(start)
		var body lkhttp.Problem
		require.NoError(t, decodeBody(res, &body))
		require.Equal(t, 503, res.StatusCode)
		assert.Equal(t, "unavailable", body.Code)
		assert.Contains(t, body.Detail, "saturated")
		assert.Less(t, took, 2*time.Second)
		release()
		e.prompt(200, "GET", "/readyz", "", "")
	}
	t.Run("sqlite", func(t *testing.T) { run(t, sqliteStore(t, sqlite.WithReaders(2))) })
	t.Run("postgres", func(t *testing.T) { run(t, postgresStore(t, postgres.WithMaxConns(2))) })
}

// A client that stops reading is cut off within about the write timeout: the
// handler returns and its goroutine is freed.
func TestStalledClientIsCutOffByTheWriteDeadline(t *testing.T) {
	e := newSlowFixture(t, memory.New(), func(c *lkhttp.Config) { c.WriteTimeout = 300 * time.Millisecond })
	e.bigLog(3000)
	e.stalledExport()
	exports := e.counter("/v1/events/export")
	require.Eventually(t, func() bool { return exports.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	start := time.Now()
	require.Eventually(t, func() bool { return exports.Load() == 0 }, 5*time.Second, 10*time.Millisecond,
		"the export to a client that does not read never ended")
	t.Logf("stalled export ended %s after it started", time.Since(start).Round(time.Millisecond))
}

// slowReader hands out at most 4 KiB per read, after a pause.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	if len(p) > 4096 {
		p = p[:4096]
	}
	return s.r.Read(p)
}

// A client that reads, slowly, gets an export that takes many times the
// write timeout: the deadline is extended as the response progresses.
func TestSlowReaderGetsTheWholeExport(t *testing.T) {
	const timeout = 400 * time.Millisecond
	e := newSlowFixtureBuffers(t, memory.New(), func(c *lkhttp.Config) { c.WriteTimeout = timeout }, bufferSize[true])
	const n = 10000
	e.bigLog(n)
	c := e.stalledExport()
	start := time.Now()
	res, err := http.ReadResponse(bufio.NewReaderSize(slowReader{c}, 4096), nil)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	rows, err := csv.NewReader(res.Body).ReadAll()
	require.NoError(t, err, "the export was cut short")
	took := time.Since(start)
	bulk := 0
	for _, r := range rows {
		if len(r) > 2 && r[2] == "test.bulk" {
			bulk++
		}
	}
	require.Equal(t, n, bulk, "every event is exported")
	assert.Greater(t, took, 2*timeout, "the test reads slowly enough to outlast a fixed deadline")
	t.Logf("read %d rows in %s", len(rows), took.Round(time.Millisecond))
}

// Every answer of an authenticated route, errors included, says no-store; so
// does any answer to a request with credentials.
func TestAuthenticatedResponsesAreNotStored(t *testing.T) {
	f := newFixture(t)
	viewer := f.key("vic@acme.example", license.Viewer)
	checked := 0
	for _, rt := range f.h.Routes() {
		if rt.Access == lkhttp.Public {
			continue
		}
		path := pathParam.ReplaceAllString(rt.Path, "nope")
		for _, key := range []string{f.owner, viewer, "", "lk_unknown"} {
			r := f.do(rt.Method, path, key, nil)
			assert.Equal(t, "no-store", r.header.Get("Cache-Control"), "%s %s (status %d)", rt.Method, path, r.status)
			checked++
		}
	}
	require.Greater(t, checked, 100)
	r := f.do("GET", "/v1/no-such-thing", f.owner, nil)
	require.Equal(t, 404, r.status)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	r = f.do("GET", "/v1/sites", f.owner, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
}

// A query pair that Go's parser would drop (a semicolon, a malformed escape)
// is refused with the pair's name, instead of being ignored.
func TestQueryPairsThatWouldBeDroppedAreRefused(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ query, field string }{
		{"sort=time;DROP%20TABLE%20events", "sort"},
		{"limit=5&sort=time;desc=true", "sort"},
		{"x;y=1", "x"},
		{"sort=%zz", "sort"},
		{"so%zzrt=time", "query"},
	} {
		r := f.do("GET", "/v1/events?"+tc.query, f.owner, nil)
		require.Equal(t, 400, r.status, "%s: %s", tc.query, r.body)
		body := r.problem(t)
		assert.Equal(t, "invalid", body.Code, tc.query)
		assert.Equal(t, tc.field, body.Field, tc.query)
	}
	r := f.do("GET", "/v1/sites?x=1;2", f.owner, nil)
	assert.Equal(t, 400, r.status, "every route")
	r = f.do("GET", "/v1/events?search=a%3Bb&sort=time", f.owner, nil)
	assert.Equal(t, 200, r.status, "an escaped semicolon is a value like any other: %s", r.body)
}

// Two Authorization headers are refused, whichever of them is valid.
func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	f := newFixture(t)
	viewer := f.key("vic@acme.example", license.Viewer)
	for _, keys := range [][2]string{{f.owner, viewer}, {viewer, f.owner}, {f.owner, f.owner}, {f.owner, "lk_unknown"}} {
		req, err := http.NewRequest("GET", f.srv.URL+"/v1/sites", nil)
		require.NoError(t, err)
		req.Header.Add("Authorization", "Bearer "+keys[0])
		req.Header.Add("Authorization", "Bearer "+keys[1])
		res, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 400, res.StatusCode, "%s", b)
		body := mustProblem(t, b)
		assert.Equal(t, "invalid", body.Code)
		assert.Equal(t, "Authorization", body.Field)
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	}
}

// A declared Content-Length over the route's limit is refused with 413 at
// once: the body (never sent here) is not waited for.
func TestDeclaredOversizedBodyIsRefusedAtOnce(t *testing.T) {
	f := newFixture(t) // MaxBodyBytes 64 KiB
	s := f.site("North", ptr[int64](10))
	addr := f.srv.Listener.Addr().String()
	for _, path := range []string{"/v1/sites/" + s.ID + "/purchase", "/v1/sites"} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
			path, addr, f.owner, 10<<20)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(3*time.Second)))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err, "no answer before the body: the server waits for it")
		var body lkhttp.Problem
		require.NoError(t, decodeBody(res, &body))
		assert.Equal(t, 413, res.StatusCode)
		assert.Equal(t, lkhttp.CodeTooLarge, body.Code)
		assert.Equal(t, "body", body.Field)
	}
	// A declared length within the limit is served as before.
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/purchase", f.owner, map[string]int{"quantity": 1}, nil)
}
