package reliability_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/adapters/http/client"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// serveEnv makes the test binary a server: the adapters/http handler over the
// SQLite file it names, on a free port printed as "listening <base URL>".
const serveEnv = "LICENSEKIT_RELIABILITY_SERVE_SQLITE"

func TestMain(m *testing.M) {
	if path := os.Getenv(serveEnv); path != "" {
		if err := serveSQLite(path); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(2)
		}
		return
	}
	code := m.Run()
	removeServerBinary()
	os.Exit(code)
}

func serveSQLite(path string) error {
	store, err := sqlite.Open(path)
	if err != nil {
		return err
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := lkhttp.New(lkhttp.Config{Store: store, Logger: log,
		Services: lkhttp.Services{Pools: &pool.Service{Store: store, Blobs: pool.NewMemoryBlobs(1 << 20)}}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	return http.Serve(ln, h)
}

// child is a server subprocess.
type child struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
}

func startChild(t *testing.T, path string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c := &child{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = c.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if base, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- base
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case c.base = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not start: %s", c.stderr.String())
	}
	return c
}

// kill sends SIGKILL and waits for the process to go.
func (c *child) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Kill())
	_ = c.cmd.Wait()
}

// restartOp is one request of the mixed load and what came back.
type restartOp struct {
	op      string // purchase, decrease, transfer, enroll, allocate
	site    int    // purchase, decrease, enroll; transfer source
	to      int    // transfer target
	n       int64
	user    string // allocate
	idem    string // Idempotency-Key ("" where the route refuses one)
	status  int    // 0: no answer (the server died)
	body    []byte
	method  string
	path    string
	reqBody any
	settled bool // an unanswered keyed request retried after the restart
}

// The server is SIGKILLed during a mixed load from several clients and
// restarted on the same SQLite file: every request that got a 2xx is
// reflected (a retry with its Idempotency-Key returns the same answer, and its
// event is there), none that did not is half-applied (each change has its
// event and each event its change, idempotency records are all complete), and
// the stored counts equal those recomputed from the records and events.
func TestRestartAfterSIGKILL(t *testing.T) {
	path := t.TempDir() + "/licensekit.db"
	st, err := sqlite.Open(path)
	require.NoError(t, err)
	company, key := newCompany(t, st, license.SystemClock{}, "Phoenix Oy", "pia@phoenix.example")
	require.NoError(t, st.Close())

	c := startChild(t, path)
	okAt := func(base string, status int, method, p string, body, out any, headers ...string) resp {
		t.Helper()
		r, err := call(context.Background(), http.DefaultClient, base, method, p, key, body, headers...)
		require.NoError(t, err)
		require.Equal(t, status, r.status, "%s %s: %s", method, p, r.body)
		if out != nil {
			require.NoError(t, json.Unmarshal(r.body, out))
		}
		return r
	}
	// Enrolment takes an Idempotency-Key where the API document says so.
	var doc struct {
		Paths map[string]map[string]struct {
			Retry string `json:"x-retry"`
		} `json:"paths"`
	}
	okAt(c.base, 200, "GET", "/openapi.json", nil, &doc)
	enrolKeyed := doc.Paths["/v1/sites/{id}/enroll"]["post"].Retry == string(lkhttp.RetryKey)
	const nSites = 4
	const initial = int64(1000)
	// The set-up goes through the typed client; the load below stays raw
	// (method, path and body kept per request), because every request is
	// replayed byte for byte with its Idempotency-Key after the restart and
	// its raw answer compared.
	api, err := client.New(c.base, key)
	require.NoError(t, err)
	ctx := context.Background()
	sites := make([]string, nSites)
	for i := range sites {
		v, err := api.PostV1SitesWithResponse(ctx, nil, client.PostV1SitesJSONRequestBody{
			Name: client.Ptr(fmt.Sprintf("Phoenix %d", i)), Plan: client.Ptr("business"), PaymentType: client.Ptr(client.BillingNewSiteInputPaymentTypeMonthlyInvoice),
			Group: client.Ptr("main"), UnitPrice: &client.LicenseMoney{Amount: "2.50", Currency: "USD"}, Licenses: client.Ptr(int(initial))})
		require.NoError(t, err)
		require.NoError(t, client.Check(v, 201))
		sites[i] = v.JSON201.Id.String()
	}
	pl, err := api.PostV1PoolsWithResponse(ctx, nil, client.PostV1PoolsJSONRequestBody{
		Name: client.Ptr("Phoenix seats"), Model: client.Ptr(client.HttpPoolSpecBodyInputModelPerpetual), Metric: client.Ptr(client.HttpPoolSpecBodyInputMetricNamedUser),
		Software: &[]string{"office"}, FormAllocations: client.Ptr(true)})
	require.NoError(t, err)
	require.NoError(t, client.Check(pl, 201))
	poolID := pl.JSON201.Id.String()
	tx, err := api.PostV1PoolsIdTransactionsWithResponse(ctx, poolID, nil, client.PostV1PoolsIdTransactionsJSONRequestBody{
		Kind: client.Ptr(client.HttpTransactionBodyInputKindPurchase), Count: client.Ptr(100000)})
	require.NoError(t, err)
	require.NoError(t, client.Check(tx, 201))

	var (
		mu        sync.Mutex
		ops       []*restartOp
		completed atomic.Int64
		dead      atomic.Bool
		seq       atomic.Int64
	)
	client := &http.Client{Timeout: 20 * time.Second}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for !dead.Load() {
				o := &restartOp{site: rng.IntN(nSites), n: int64(1 + rng.IntN(3))}
				o.idem = fmt.Sprintf("load-%d", seq.Add(1))
				switch rng.IntN(5) {
				case 0:
					o.op, o.method, o.path, o.reqBody = "purchase", "POST", "/v1/sites/"+sites[o.site]+"/purchase", map[string]int64{"quantity": o.n}
				case 1:
					o.op, o.method, o.path, o.reqBody = "decrease", "POST", "/v1/sites/"+sites[o.site]+"/decrease", map[string]int64{"quantity": o.n}
				case 2:
					o.to = (o.site + 1 + rng.IntN(nSites-1)) % nSites
					o.op, o.method, o.path = "transfer", "POST", "/v1/transfers"
					o.reqBody = map[string]any{"from": sites[o.site], "to": sites[o.to], "quantity": o.n}
				case 3:
					o.op, o.method, o.path, o.reqBody = "enroll", "POST", "/v1/sites/"+sites[o.site]+"/enroll", map[string]int64{"quantity": o.n}
					if !enrolKeyed {
						o.idem = ""
					}
				case 4:
					o.user = "user-" + o.idem
					o.op, o.method, o.path = "allocate", "POST", "/v1/pools/"+poolID+"/allocations"
					o.reqBody = map[string]any{"consumer": map[string]string{"user": o.user}}
				}
				var hdr []string
				if o.idem != "" {
					hdr = []string{"Idempotency-Key", o.idem}
				}
				r, err := call(context.Background(), client, c.base, o.method, o.path, key, o.reqBody, hdr...)
				if err == nil {
					o.status, o.body = r.status, r.body
					completed.Add(1)
				}
				mu.Lock()
				ops = append(ops, o)
				mu.Unlock()
				if err != nil {
					return // the server is gone
				}
			}
		}()
	}
	// Kill it mid-load.
	deadline := time.Now().Add(30 * time.Second)
	for completed.Load() < 150 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.kill(t)
	dead.Store(true)
	wg.Wait()

	tally := map[string]map[string]int{} // op -> "ok"/"refused"/"unknown" -> n
	for _, o := range ops {
		k := "unknown"
		switch {
		case o.status >= 200 && o.status < 300:
			k = "ok"
		case o.status >= 400 && o.status < 500:
			k = "refused"
		case o.status >= 500:
			k = "5xx"
		}
		if tally[o.op] == nil {
			tally[o.op] = map[string]int{}
		}
		tally[o.op][k]++
	}
	require.GreaterOrEqual(t, int(completed.Load()), 150, "load before the kill")

	// Restart on the same file: every keyed 2xx answers the same again.
	c2 := startChild(t, path)
	retried := 0
	for _, o := range ops {
		if o.status < 200 || o.status >= 300 || o.idem == "" {
			continue
		}
		r, err := call(context.Background(), http.DefaultClient, c2.base, o.method, o.path, key, o.reqBody, "Idempotency-Key", o.idem)
		require.NoError(t, err)
		require.Equal(t, o.status, r.status, "%s %s after the restart: %s", o.op, o.idem, r.body)
		require.JSONEq(t, string(o.body), string(r.body), "%s %s: the remembered answer", o.op, o.idem)
		retried++
	}
	// The unanswered keyed requests, retried with their keys, are applied
	// exactly once: either before the kill (the remembered answer comes back)
	// or now.
	settled := 0
	for _, o := range ops {
		if (o.status != 0 && o.status < 500) || o.idem == "" {
			continue
		}
		r, err := call(context.Background(), http.DefaultClient, c2.base, o.method, o.path, key, o.reqBody, "Idempotency-Key", o.idem)
		require.NoError(t, err)
		require.Less(t, r.status, 500, "%s %s retried after the restart: %s", o.op, o.idem, r.body)
		o.status, o.body, o.settled = r.status, r.body, true
		settled++
	}
	c2.kill(t)
	for _, logs := range []string{c.stderr.String(), c2.stderr.String()} {
		require.Contains(t, logs, "/v1/sites", "the servers logged their requests")
		require.NotContains(t, logs, key, "a server's log holds the API key")
	}

	// Recount from the file.
	st, err = sqlite.Open(path)
	require.NoError(t, err)
	defer st.Close()
	owner := license.Actor{Company: company, Email: "pia@phoenix.example", Role: license.Owner}
	licenses := map[string]int64{}
	enrolled := map[string]int64{}
	for _, s := range sites {
		licenses[s] = initial
	}
	events := map[string]map[string]int{} // op -> site/pool -> events
	count := func(op, subject string) {
		if events[op] == nil {
			events[op] = map[string]int{}
		}
		events[op][subject]++
	}
	require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: company}, func(e eventlog.Event) error {
			switch e.Type {
			case billing.EventPurchase:
				licenses[e.Subject] += e.Count
				count("purchase", e.Subject)
			case billing.EventDecrease:
				licenses[e.Subject] -= e.Count
				count("decrease", e.Subject)
			case billing.EventTransfer:
				var q billing.TransferQuote
				if err := json.Unmarshal(e.Details, &q); err != nil {
					return err
				}
				licenses[q.From.Site] -= q.Transferred
				licenses[q.To.Site] += q.Transferred
				count("transfer", q.From.Site)
			case billing.EventEnroll:
				enrolled[e.Subject] += e.Count
				count("enroll", e.Subject)
			case pool.EventAllocated:
				count("allocate", poolID)
			}
			return nil
		})
	}))
	for _, id := range sites {
		s, err := (&billing.Service{Store: st}).GetSite(ctx, owner, id)
		require.NoError(t, err)
		assert.Equal(t, licenses[id], s.LicenseCount(), "site %s: stored licenses equal the initial ones plus the events", id)
		assert.Equal(t, enrolled[id], s.Enrolled, "site %s: stored enrolments equal the events", id)
	}
	// Per operation and resource: the 2xx answers are all there, the refusals
	// none, the unanswered ones either.
	for _, op := range []string{"purchase", "decrease", "transfer", "enroll", "allocate"} {
		subjects := map[string][2]int{} // subject -> [ok, unknown]
		for _, o := range ops {
			if o.op != op {
				continue
			}
			subj := poolID
			if op != "allocate" {
				subj = sites[o.site]
			}
			v := subjects[subj]
			switch {
			case o.status >= 200 && o.status < 300:
				v[0]++
			case o.status == 0 || o.status >= 500:
				v[1]++
			}
			subjects[subj] = v
		}
		for subj, v := range subjects {
			got := events[op][subj]
			assert.GreaterOrEqual(t, got, v[0], "%s on %s: every 2xx has its event", op, subj)
			assert.LessOrEqual(t, got, v[0]+v[1], "%s on %s: no refused request left an event", op, subj)
			if v[1] == 0 {
				assert.Equal(t, v[0], got, "%s on %s: every applied request has exactly one event", op, subj)
			}
		}
	}
	audit, err := (&pool.Service{Store: st}).Audit(ctx, owner, poolID)
	require.NoError(t, err)
	assert.True(t, audit.Consistent(), "pool counters %+v, recount %+v", audit.Stored, audit.Recomputed)
	assert.Equal(t, int64(events["allocate"][poolID]), audit.Recomputed.AllocatedManual, "one allocation record per pool.allocated event")
	// No idempotency record was left claimed without its result.
	require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
		recs, err := tx.List(ctx, storage.ListQuery{Company: company, Kind: storage.KindIdempotency})
		if err != nil {
			return err
		}
		for _, r := range recs {
			var v struct {
				Done bool `json:"done"`
			}
			if err := json.Unmarshal(r.Data, &v); err != nil {
				return err
			}
			assert.True(t, v.Done, "idempotency record %s is complete", r.ID)
		}
		return nil
	}))
	t.Logf("restart: %d requests before SIGKILL (%v), %d keyed 2xx answered the same after the restart, %d unanswered ones settled by their key",
		len(ops), tally, retried, settled)
}
