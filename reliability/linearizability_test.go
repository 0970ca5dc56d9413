package reliability_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/adapters/http/client"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/storagetest"
)

// The linearizability check drives the reference server with 16 concurrent
// clients and checks the recorded history against a sequential model of the
// domain. The world is split into independent parts, so porcupine checks each
// part on its own (Partition):
//   - site pairs: purchase, decrease, enrol, unenrol and read on either site,
//     transfer between the two (licenses 10 each at the start, no top-up);
//   - named-user pools (4 licenses, 6 users): allocate and release, status;
//   - concurrent-user pools (3 seats, 6 users): lease acquire, heartbeat and
//     release, status.
//
// A call that fails in transport, times out or answers 5xx has an unknown
// outcome: the model lets it have been applied or not, and it may take effect
// at any time after its call.

const (
	linClients   = 16
	linOpsPerRun = 1500 // requests per store, over all clients
	linSiteStart = int64(10)
	linPoolTotal = 4
	linSeats     = 3
	linUsers     = 6
)

type partKind int

const (
	partSites partKind = iota
	partNamed
	partConcurrent
)

// linPart is one independent part of the world.
type linPart struct {
	kind  partKind
	sites [2]string // partSites
	pool  string    // partNamed, partConcurrent
	total int64
}

type linInput struct {
	Part int
	Op   string // purchase, decrease, transfer, enroll, unenroll, site; allocate, release, lease, heartbeat, unlease, status
	A, B int    // site index (A; B is the transfer target) or user index (A)
	N    int64
}

// linOutput is what a call returned. Status 0 means unknown (transport error,
// timeout or 5xx).
type linOutput struct {
	Status int
	Code   string
	// Observed figures (when the call succeeded).
	L, E   int64 // licenses and enrolled of site A (purchase, decrease, enroll, unenroll, site)
	L2     int64 // licenses of site B after a transfer
	Held   int64 // allocated (status)
	Avail  int64 // available (status)
	LeaseU string
	Bad    string // a 2xx whose body contradicts the request: never linearizable
}

// linState is the sequential model of one part. Parts start uninitialised and
// take their initial value from their first input's part.
type linState struct {
	Init   bool
	L, E   [2]int64
	Holder uint8 // bitmask of users holding an allocation or a lease
	Total  int64
}

func holds(s linState, u int) bool { return s.Holder&(1<<u) != 0 }
func heldCount(s linState) int64 {
	n := int64(0)
	for u := range linUsers {
		if holds(s, u) {
			n++
		}
	}
	return n
}

// linApply runs in on s: whether it succeeds, the error code when it does not,
// and the next state.
func linApply(s linState, in linInput) (bool, string, linState) {
	a, b := in.A, in.B
	switch in.Op {
	case "purchase":
		s.L[a] += in.N
		return true, "", s
	case "decrease":
		if s.L[a]-in.N < s.E[a] {
			return false, "below_enrolled", s
		}
		s.L[a] -= in.N
		return true, "", s
	case "transfer":
		if in.N > s.L[a]-s.E[a] {
			return false, "below_enrolled", s
		}
		s.L[a] -= in.N
		s.L[b] += in.N
		return true, "", s
	case "enroll":
		if s.E[a]+in.N > s.L[a] {
			return false, "insufficient_licenses", s
		}
		s.E[a] += in.N
		return true, "", s
	case "unenroll":
		if in.N > s.E[a] {
			return false, "invalid", s
		}
		s.E[a] -= in.N
		return true, "", s
	case "site", "status":
		return true, "", s
	case "allocate":
		if holds(s, a) {
			return false, "conflict", s
		}
		if heldCount(s) >= s.Total {
			return false, "insufficient_licenses", s
		}
		s.Holder |= 1 << a
		return true, "", s
	case "lease":
		if holds(s, a) {
			return true, "", s // renewed
		}
		if heldCount(s) >= s.Total {
			return false, "insufficient_licenses", s
		}
		s.Holder |= 1 << a
		return true, "", s
	case "heartbeat":
		if !holds(s, a) {
			return false, "not_found", s
		}
		return true, "", s
	case "release", "unlease":
		if !holds(s, a) {
			return false, "not_found", s
		}
		s.Holder &^= 1 << a
		return true, "", s
	}
	panic("unknown op " + in.Op)
}

// linObserved reports whether out's figures match the state after a successful in.
func linObserved(after linState, in linInput, out linOutput) bool {
	switch in.Op {
	case "purchase", "decrease":
		return out.L == after.L[in.A]
	case "enroll", "unenroll", "site":
		return out.L == after.L[in.A] && out.E == after.E[in.A]
	case "transfer":
		return out.L == after.L[in.A] && out.L2 == after.L[in.B]
	case "status":
		return out.Held == heldCount(after) && out.Avail == after.Total-heldCount(after)
	}
	return true
}

// linModel is the model of parts. With rolledBack5xx, a 5xx answer means the
// operation was not applied (the server answers 5xx only when the store's
// transaction failed and rolled back, which holds where no commit can succeed
// unseen: SQLite, injected faults); otherwise a 5xx is an unknown outcome.
func linModel(parts []linPart, rolledBack5xx bool) porcupine.Model {
	init := func(s linState, part int) linState {
		if s.Init {
			return s
		}
		s = linState{Init: true, Total: parts[part].total}
		s.L = [2]int64{linSiteStart, linSiteStart}
		return s
	}
	m := &porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			by := map[int][]porcupine.Operation{}
			for _, op := range h {
				p := op.Input.(linInput).Part
				by[p] = append(by[p], op)
			}
			out := make([][]porcupine.Operation, 0, len(by))
			for _, ops := range by {
				out = append(out, ops)
			}
			return out
		},
		Init: func() []any { return []any{linState{}} },
		Step: func(state, input, output any) []any {
			in, out := input.(linInput), output.(linOutput)
			s := init(state.(linState), in.Part)
			ok, code, next := linApply(s, in)
			switch {
			case out.Status >= 500 && rolledBack5xx:
				return []any{s}
			case out.Status == 0 || out.Status >= 500: // unknown: applied or not
				if ok {
					return []any{s, next}
				}
				return []any{s}
			case out.Bad != "":
			case out.Status < 300:
				if ok && linObserved(next, in, out) {
					return []any{next}
				}
			default:
				if !ok && out.Code == code {
					return []any{s}
				}
			}
			return nil
		},
		DescribeOperation: func(input, output any) string {
			return fmt.Sprintf("%+v -> %+v", input, output)
		},
		DescribeState: func(state any) string { return fmt.Sprintf("%+v", state) },
	}
	return m.ToModel()
}

// linWorld creates the parts over HTTP for the company of key.
func linWorld(s *server, key string) []linPart {
	var parts []linPart
	for i := range 2 {
		parts = append(parts, linPart{kind: partSites, sites: [2]string{
			s.newSite(key, fmt.Sprintf("Pair %d east", i), linSiteStart),
			s.newSite(key, fmt.Sprintf("Pair %d west", i), linSiteStart)}})
	}
	for i := range 2 {
		parts = append(parts, linPart{kind: partNamed, total: linPoolTotal,
			pool: s.newPool(key, fmt.Sprintf("Named %d", i), "named_user", linPoolTotal)})
	}
	for i := range 2 {
		parts = append(parts, linPart{kind: partConcurrent, total: linSeats,
			pool: s.newPool(key, fmt.Sprintf("Seats %d", i), "concurrent_user", linSeats)})
	}
	return parts
}

func user(u int) string { return fmt.Sprintf("user-%d", u) }

// linCall sends in to the server through the typed client and returns what
// came back. The request is sent with the client's plain methods and the
// answer decoded with its Parse functions, so a failed exchange (status 0,
// unknown outcome) stays apart from a 2xx whose body does not decode (Bad).
func linCall(ctx context.Context, api *client.ClientWithResponses, parts []linPart, in linInput) linOutput {
	p := parts[in.Part]
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	q := client.PostV1SitesIdPurchaseJSONRequestBody{Quantity: client.Ptr(int(in.N))}
	consumer := &client.LicenseConsumerInput{User: client.Ptr(user(in.A))}
	var res *http.Response
	var err error
	switch in.Op {
	case "purchase":
		res, err = api.PostV1SitesIdPurchase(cctx, p.sites[in.A], nil, q)
	case "decrease":
		res, err = api.PostV1SitesIdDecrease(cctx, p.sites[in.A], nil, q)
	case "enroll":
		res, err = api.PostV1SitesIdEnroll(cctx, p.sites[in.A], nil, q)
	case "unenroll":
		res, err = api.PostV1SitesIdUnenroll(cctx, p.sites[in.A], nil, q)
	case "transfer":
		res, err = api.PostV1Transfers(cctx, nil, client.PostV1TransfersJSONRequestBody{
			From: &p.sites[in.A], To: &p.sites[in.B], Quantity: client.Ptr(int(in.N))})
	case "site":
		res, err = api.GetV1SitesId(cctx, p.sites[in.A], nil)
	case "status":
		res, err = api.GetV1PoolsIdStatus(cctx, p.pool, nil)
	case "allocate":
		res, err = api.PostV1PoolsIdAllocations(cctx, p.pool, nil, client.PostV1PoolsIdAllocationsJSONRequestBody{Consumer: consumer})
	case "release":
		res, err = api.PostV1PoolsIdAllocationsAllocationRelease(cctx, p.pool, pool.AllocationID(p.pool, "user:"+user(in.A)), nil)
	case "lease":
		res, err = api.PostV1PoolsIdLeases(cctx, p.pool, nil, client.PostV1PoolsIdLeasesJSONRequestBody{Consumer: consumer})
	case "heartbeat":
		res, err = api.PostV1PoolsIdLeasesLeaseHeartbeat(cctx, p.pool, leaseID(p.pool, in.A), nil)
	case "unlease":
		res, err = api.DeleteV1PoolsIdLeasesLease(cctx, p.pool, leaseID(p.pool, in.A), nil)
	}
	if err != nil {
		return linOutput{}
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return linOutput{}
	}
	out := linOutput{Status: res.StatusCode}
	if res.StatusCode >= 300 {
		out.Code = client.ErrorOf(res.StatusCode, body).Code
		return out
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	n := func(p *int) int64 {
		if p == nil {
			return 0
		}
		return int64(*p)
	}
	var decodeErr error
	// decoded records why an answer did not decode (err), or that it had no
	// body for its status (!ok), and reports whether it did.
	decoded := func(err error, ok bool) bool {
		switch {
		case err != nil:
			decodeErr = err
		case !ok:
			decodeErr = errors.New("no JSON body for this status")
		}
		return err == nil && ok
	}
	switch in.Op {
	case "purchase":
		r, err := client.ParsePostV1SitesIdPurchaseResponse(res)
		if decoded(err, r != nil && r.JSON200 != nil) {
			out.L = int64(r.JSON200.NewTotal)
		}
	case "decrease":
		r, err := client.ParsePostV1SitesIdDecreaseResponse(res)
		if decoded(err, r != nil && r.JSON200 != nil) {
			out.L = int64(r.JSON200.NewTotal)
		}
	case "transfer":
		r, err := client.ParsePostV1TransfersResponse(res)
		if decoded(err, r != nil && r.JSON200 != nil) {
			out.L, out.L2 = int64(r.JSON200.From.TotalAfter), int64(r.JSON200.To.TotalAfter)
		}
	case "enroll":
		r, err := client.ParsePostV1SitesIdEnrollResponse(res)
		if decoded(err, r != nil && r.JSON200 != nil) {
			out.L, out.E = n(r.JSON200.Site.Licenses), int64(r.JSON200.Site.Enrolled)
		}
	case "unenroll":
		r, err := client.ParsePostV1SitesIdUnenrollResponse(res)
		if decoded(err, r != nil && r.JSON200 != nil) {
			out.L, out.E = n(r.JSON200.Licenses), int64(r.JSON200.Enrolled)
		}
	case "site":
		r, err := client.ParseGetV1SitesIdResponse(res)
		if decoded(err, r != nil && r.JSON200 != nil) {
			out.L, out.E = n(r.JSON200.Licenses), int64(r.JSON200.Enrolled)
		}
	case "status":
		r, err := client.ParseGetV1PoolsIdStatusResponse(res)
		if decoded(err, r != nil && r.JSON200 != nil) {
			out.Held, out.Avail = int64(r.JSON200.Counts.Allocated), int64(r.JSON200.Counts.Available)
		}
	case "lease", "heartbeat":
		var l *client.HttpLeaseView
		var err error
		if in.Op == "lease" {
			var r *client.PostV1PoolsIdLeasesResponse
			if r, err = client.ParsePostV1PoolsIdLeasesResponse(res); err == nil {
				l = r.JSON201
			}
		} else {
			var r *client.PostV1PoolsIdLeasesLeaseHeartbeatResponse
			if r, err = client.ParsePostV1PoolsIdLeasesLeaseHeartbeatResponse(res); err == nil {
				l = r.JSON200
			}
		}
		if decoded(err, l != nil) {
			out.LeaseU = l.User
			if l.User != user(in.A) || l.Id != leaseID(p.pool, in.A) {
				out.Bad = "another lease: " + l.Id
			}
		}
	}
	if decodeErr != nil {
		out.Bad = "undecodable: " + decodeErr.Error()
	}
	return out
}

func leaseID(poolID string, u int) string { return pool.AllocationID(poolID, "lease:user:"+user(u)) }

// linRandomInput picks an operation on a random part.
func linRandomInput(rng *rand.Rand, parts []linPart) linInput {
	in := linInput{Part: rng.IntN(len(parts))}
	switch parts[in.Part].kind {
	case partSites:
		in.A = rng.IntN(2)
		in.B = 1 - in.A
		in.N = int64(1 + rng.IntN(4))
		in.Op = []string{"purchase", "decrease", "decrease", "transfer", "transfer", "enroll", "enroll", "unenroll", "site"}[rng.IntN(9)]
	case partNamed:
		in.A = rng.IntN(linUsers)
		in.Op = []string{"allocate", "allocate", "release", "status"}[rng.IntN(4)]
	case partConcurrent:
		in.A = rng.IntN(linUsers)
		in.Op = []string{"lease", "lease", "heartbeat", "unlease", "status"}[rng.IntN(5)]
	}
	return in
}

// checkLinearizable records a history of linOpsPerRun calls from linClients
// clients against the server over store and checks it.
// linOptions vary a run.
type linOptions struct {
	// faults, when set, is the store under the server; a fault is armed every
	// few milliseconds during the run, and 5xx answers must be rolled back.
	faults *storagetest.Faulty
	// bases, when set, are the servers the clients call (client c calls
	// bases[c % len(bases)]), all on the store; the handler over the store
	// in this process then only sets the world up and reads it back.
	bases []string
	// clients is the number of concurrent clients (0: linClients).
	clients int
	// onWorld, when set, is called with the company and its owner key once
	// the world is made, before the clients start.
	onWorld func(company, key string)
}

func checkLinearizable(t *testing.T, store storage.Store, opt linOptions) {
	s := newServer(t, store)
	company, key := s.company("Linear Oy", "lin@linear.example")
	parts := linWorld(s, key)
	if opt.onWorld != nil {
		opt.onWorld(company, key)
	}

	var (
		mu      sync.Mutex
		history []porcupine.Operation
		issued  atomic.Int64
		unknown atomic.Int64
	)
	epoch := time.Now()
	deadline := epoch.Add(40 * time.Second)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: linClients}}
	defer hc.CloseIdleConnections()
	clients := cmp.Or(opt.clients, linClients)
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	bases := opt.bases
	if len(bases) == 0 {
		bases = []string{s.srv.URL}
	}
	var wg sync.WaitGroup
	for c := range clients {
		api, err := client.New(bases[c%len(bases)], key, client.WithHTTPClient(hc))
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(epoch.UnixNano())))
			for issued.Add(1) <= linOpsPerRun && time.Now().Before(deadline) {
				in := linRandomInput(rng, parts)
				begin := time.Since(epoch).Nanoseconds()
				out := linCall(context.Background(), api, parts, in)
				end := time.Since(epoch).Nanoseconds()
				if out.Status == 0 || (out.Status >= 500 && opt.faults == nil) {
					unknown.Add(1)
					end = math.MaxInt64 // it may take effect at any later time
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: begin, Output: out, Return: end})
				mu.Unlock()
			}
		}()
	}
	stopFaults := make(chan struct{})
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		if opt.faults == nil {
			return
		}
		rng := rand.New(rand.NewPCG(1, uint64(epoch.UnixNano())))
		for {
			select {
			case <-stopFaults:
				opt.faults.Disarm()
				return
			case <-time.After(time.Duration(2+rng.IntN(8)) * time.Millisecond):
				if rng.IntN(4) == 0 {
					opt.faults.FailCommit(1 + rng.IntN(3))
				} else {
					opt.faults.FailWrite(1 + rng.IntN(12))
				}
			}
		}
	}()
	wg.Wait()
	close(stopFaults)
	<-faultsDone
	recorded := time.Since(epoch)

	counts := map[string]int{}
	for _, op := range history {
		o := op.Output.(linOutput)
		switch {
		case o.Status == 0:
			counts["unknown"]++
		case o.Status >= 500:
			counts["5xx"]++
		case o.Status < 300:
			counts["ok"]++
		default:
			counts[o.Code]++
		}
	}
	require.GreaterOrEqual(t, len(history), linOpsPerRun/2, "too few requests before the deadline")
	require.Greater(t, counts["ok"], len(history)/4, "most requests should succeed: %v", counts)
	if opt.faults != nil {
		require.Greater(t, counts["5xx"], 10, "the injected faults reached the clients: %v", counts)
	}
	require.Less(t, int(unknown.Load()), len(history)/10, "too many unknown outcomes: %v", counts)

	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(linModel(parts, opt.faults != nil), history, 60*time.Second)
	if res != porcupine.Ok {
		if os.Getenv("LICENSEKIT_PORCUPINE_HTML") != "" {
			_ = porcupine.VisualizePath(linModel(parts, opt.faults != nil), info, os.Getenv("LICENSEKIT_PORCUPINE_HTML"))
		}
		for i, p := range parts {
			var ops []porcupine.Operation
			for _, op := range history {
				if op.Input.(linInput).Part == i {
					ops = append(ops, op)
				}
			}
			if !porcupine.CheckOperations(linModel(parts, opt.faults != nil), ops) {
				t.Logf("part %d (kind %d) is not linearizable (%d operations)", i, p.kind, len(ops))
			}
		}
		t.Fatalf("history of %d operations is %s (outcomes %v); set LICENSEKIT_PORCUPINE_HTML=file.html to see it", len(history), res, counts)
	}
	if opt.faults != nil {
		t.Logf("faults injected during the run: %d", opt.faults.Injected())
	}
	t.Logf("linearizability: %d operations checked (%d clients on %d server(s), %d parts, recorded in %v, checked in %v); outcomes %v",
		len(history), clients, len(bases), len(parts), recorded.Round(time.Millisecond), time.Since(checkStart).Round(time.Millisecond), counts)

	// The final state read directly agrees with the model's bounds: transfers
	// create and destroy nothing beyond purchases and decreases, pools hold no
	// more than their licenses.
	for _, p := range parts {
		if p.kind == partSites {
			continue
		}
		var a pool.Audit
		s.ok(200, "GET", "/v1/pools/"+p.pool+"/audit", key, nil, &a)
		require.True(t, a.Consistent(), "pool %s: stored %+v, recomputed %+v", p.pool, a.Stored, a.Recomputed)
		var pane pool.Pane
		s.ok(200, "GET", "/v1/pools/"+p.pool+"/status", key, nil, &pane)
		require.LessOrEqual(t, pane.Counts.Allocated, p.total)
		require.Equal(t, pane.Counts.Total, pane.Counts.Allocated+pane.Counts.Quarantined+pane.Counts.Available)
	}
}

func TestLinearizableSQLite(t *testing.T) {
	st, _ := sqliteStore(t)
	checkLinearizable(t, st, linOptions{})
}

// The same on SQLite with storage faults injected at random writes and
// commits while the clients run: every 5xx must have been rolled back
// entirely (the model takes it as not applied), and the rest stays
// linearizable.
func TestLinearizableSQLiteWithFaults(t *testing.T) {
	st, _ := sqliteStore(t)
	f := storagetest.NewFaulty(st)
	checkLinearizable(t, f, linOptions{faults: f})
}

func TestLinearizablePostgres(t *testing.T) {
	st, _ := postgresStore(t)
	checkLinearizable(t, st, linOptions{})
}

// The model refuses histories a broken store would produce, and accepts an
// unknown outcome either way.
func TestLinearizabilityModel(t *testing.T) {
	parts := []linPart{{kind: partSites}, {kind: partNamed, total: 1}}
	model := linModel(parts, false)
	op := func(c int, in linInput, out linOutput, begin, end int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: in, Output: out, Call: begin, Return: end}
	}
	buy := linInput{Part: 0, Op: "purchase", A: 0, N: 1}
	// Lost update: two overlapping purchases of 1 both report 11 licenses.
	lost := []porcupine.Operation{
		op(0, buy, linOutput{Status: 200, L: 11}, 0, 10),
		op(1, buy, linOutput{Status: 200, L: 11}, 1, 9),
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(model, lost, time.Second))
	// Stale read after a completed purchase.
	stale := []porcupine.Operation{
		op(0, buy, linOutput{Status: 200, L: 11}, 0, 1),
		op(1, linInput{Part: 0, Op: "site", A: 0}, linOutput{Status: 200, L: 10}, 2, 3),
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(model, stale, time.Second))
	// Oversubscription: two users hold the pool's one license.
	over := []porcupine.Operation{
		op(0, linInput{Part: 1, Op: "allocate", A: 0}, linOutput{Status: 201}, 0, 5),
		op(1, linInput{Part: 1, Op: "allocate", A: 1}, linOutput{Status: 201}, 1, 6),
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(model, over, time.Second))
	// An unknown purchase may or may not have happened: both later reads are fine.
	for _, seen := range []int64{10, 11} {
		h := []porcupine.Operation{
			op(0, buy, linOutput{}, 0, math.MaxInt64),
			op(1, linInput{Part: 0, Op: "site", A: 0}, linOutput{Status: 200, L: seen}, 2, 3),
		}
		require.Equal(t, porcupine.Ok, porcupine.CheckOperationsTimeout(model, h, time.Second), "read %d", seen)
	}
	// A 5xx is unknown, unless 5xx answers are known to roll back: then a read
	// that sees its effect is illegal.
	half := []porcupine.Operation{
		op(0, buy, linOutput{Status: 503, Code: "unavailable"}, 0, 1),
		op(1, linInput{Part: 0, Op: "site", A: 0}, linOutput{Status: 200, L: 11}, 2, 3),
	}
	require.Equal(t, porcupine.Ok, porcupine.CheckOperationsTimeout(model, half, time.Second))
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(linModel(parts, true), half, time.Second))
	// A refusal must carry the code the model expects.
	wrongCode := []porcupine.Operation{
		op(0, linInput{Part: 0, Op: "decrease", A: 0, N: 11}, linOutput{Status: 409, Code: "insufficient_licenses"}, 0, 1),
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(model, wrongCode, time.Second))
}
