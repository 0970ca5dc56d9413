package reliability_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/storagetest"
)

// faultOp is one mutating operation of the API, sent afresh for attempt i.
type faultOp struct {
	name  string
	route string // "POST /v1/sites/{id}/purchase": its Retry kind comes from the route table
	// retry is the route's lkhttp.Retry: "key" (Idempotency-Key honoured: the
	// second retry answers the same body), "safe" (a repeat is refused), "unsafe"
	// (the route refuses Idempotency-Key; a plain retry applies it).
	retry string
	// prepare runs before attempt i, without faults, and returns the request.
	prepare func(i int) (method, path string, body any)
	// repeat is the status of a repeat after success on a "safe" route.
	repeat int
}

// Faults under the HTTP server: for each mutating operation, a storage fault
// at each of its writes and at its commit gives the client a 5xx with an error
// code and leaves the store exactly as it was (every record, every event); a
// retry with the same Idempotency-Key then applies it exactly once.
func TestFaultsUnderHTTPSQLite(t *testing.T) {
	st, _ := sqliteStore(t)
	faultsUnderHTTP(t, st)
}

func TestFaultsUnderHTTPPostgres(t *testing.T) {
	st, _ := postgresStore(t)
	faultsUnderHTTP(t, st)
}

func faultsUnderHTTP(t *testing.T, base storage.Store) {
	f := storagetest.NewFaulty(base)
	s := newServer(t, f)
	company, key := s.company("Faulty GmbH", "fa@faulty.example")
	buy := s.newSite(key, "Buyer", 10)
	shrink := s.newSite(key, "Shrinker", 500)
	from := s.newSite(key, "Giver", 500)
	to := s.newSite(key, "Taker", 10)
	enrol := s.newSite(key, "Enroller", 500)
	named := s.newPool(key, "Faulty seats", "named_user", 500)

	q1 := map[string]int64{"quantity": 1}
	ops := []faultOp{
		{name: "purchase", route: "POST /v1/sites/{id}/purchase", prepare: func(int) (string, string, any) { return "POST", "/v1/sites/" + buy + "/purchase", q1 }},
		{name: "decrease", route: "POST /v1/sites/{id}/decrease", prepare: func(int) (string, string, any) { return "POST", "/v1/sites/" + shrink + "/decrease", q1 }},
		{name: "transfer", route: "POST /v1/transfers", prepare: func(int) (string, string, any) {
			return "POST", "/v1/transfers", map[string]any{"from": from, "to": to, "quantity": 1}
		}},
		{name: "enroll", route: "POST /v1/sites/{id}/enroll", prepare: func(int) (string, string, any) { return "POST", "/v1/sites/" + enrol + "/enroll", q1 }},
		{name: "allocate", route: "POST /v1/pools/{id}/allocations", prepare: func(i int) (string, string, any) {
			return "POST", "/v1/pools/" + named + "/allocations", map[string]any{"consumer": map[string]string{"user": fmt.Sprintf("alloc-%d", i)}}
		}},
		{name: "release", route: "POST /v1/pools/{id}/allocations/{allocation}/release", repeat: 404, prepare: func(i int) (string, string, any) {
			u := fmt.Sprintf("release-%d", i)
			s.ok(201, "POST", "/v1/pools/"+named+"/allocations", key, map[string]any{"consumer": map[string]string{"user": u}}, nil)
			return "POST", "/v1/pools/" + named + "/allocations/" + pool.AllocationID(named, "user:"+u) + "/release", nil
		}},
		{name: "pool purchase", route: "POST /v1/pools/{id}/transactions", prepare: func(int) (string, string, any) {
			return "POST", "/v1/pools/" + named + "/transactions", map[string]any{"kind": "purchase", "count": 1}
		}},
	}

	retryOf := map[string]string{}
	for _, rt := range s.h.Routes() {
		retryOf[rt.Method+" "+rt.Path] = string(rt.Retry)
	}
	total := 0
	for _, op := range ops {
		op.retry = retryOf[op.route]
		require.Contains(t, []string{"key", "safe", "unsafe"}, op.retry, "%s is a mutating route of the table", op.route)
		attempt := 0
		steps := 0
		// Writes 1, 2, ... until an attempt runs out of writes to fail; then the commit.
		for step := 1; ; step++ {
			attempt++
			method, path, body := op.prepare(attempt)
			idem := fmt.Sprintf("%s-%d", op.name, attempt)
			headers := []string{"Idempotency-Key", idem}
			if op.retry == "unsafe" {
				headers = nil
				// The route refuses a key rather than ignore it, and changes nothing.
				before := dump(t, base, company)
				r := s.do(method, path, key, body, "Idempotency-Key", idem)
				require.Equal(t, 400, r.status, "%s with Idempotency-Key: %s", op.name, r.body)
				require.Equal(t, before, dump(t, base, company))
			}
			fired := f.Injected()
			before := dump(t, base, company)
			f.FailWrite(step)
			r := s.do(method, path, key, body, headers...)
			f.Disarm()
			if f.Injected() == fired {
				// The operation has fewer than step writes: it ran normally.
				require.Less(t, r.status, 300, "%s: %s", op.name, r.body)
				require.Greater(t, step, 1, "%s wrote nothing", op.name)
				break
			}
			steps++
			faultApplied(t, s, f, base, company, op, fmt.Sprintf("write %d", step), before, r, method, path, key, body, headers)
		}
		// The commit.
		attempt++
		method, path, body := op.prepare(attempt)
		headers := []string{"Idempotency-Key", fmt.Sprintf("%s-%d", op.name, attempt)}
		if op.retry == "unsafe" {
			headers = nil
		}
		before := dump(t, base, company)
		fired := f.Injected()
		f.FailCommit(1)
		r := s.do(method, path, key, body, headers...)
		f.Disarm()
		require.Equal(t, fired+1, f.Injected(), "%s: the commit fault fired", op.name)
		steps++
		faultApplied(t, s, f, base, company, op, "commit", before, r, method, path, key, body, headers)
		t.Logf("%s (retry %s): %d faults (every write and the commit)", op.name, op.retry, steps)
		total += steps
	}
	require.Equal(t, total, f.Injected())
	t.Logf("faults injected under the HTTP server: %d", f.Injected())
}

// faultApplied checks one injected fault: 5xx with a code, nothing changed,
// then a retry applies the operation exactly once.
func faultApplied(t *testing.T, s *server, f *storagetest.Faulty, base storage.Store, company string, op faultOp, at string,
	before snapshot, r resp, method, path, key string, body any, headers []string) {
	t.Helper()
	require.GreaterOrEqual(t, r.status, 500, "%s, fault at %s: %s", op.name, at, r.body)
	require.NotEmpty(t, r.code(), "%s, fault at %s: the 5xx carries an error code: %s", op.name, at, r.body)
	require.Equal(t, before, dump(t, base, company), "%s, fault at %s changed the store", op.name, at)

	first := s.do(method, path, key, body, headers...)
	require.Less(t, first.status, 300, "%s retry after a fault at %s: %s", op.name, at, first.body)
	applied := dump(t, base, company)
	require.Greater(t, applied.Events[company], before.Events[company], "%s: the retry appended its event", op.name)
	require.NotEqual(t, before.Records, applied.Records, "%s: the retry changed the records", op.name)

	switch op.retry {
	case "key":
		again := s.do(method, path, key, body, headers...)
		require.Equal(t, first.status, again.status, "%s: second retry", op.name)
		require.JSONEq(t, string(first.body), string(again.body), "%s: the second retry returns the first result", op.name)
	case "safe":
		again := s.do(method, path, key, body, headers...)
		require.Equal(t, op.repeat, again.status, "%s: a repeat is refused: %s", op.name, again.body)
	case "unsafe":
		return // a repeat would apply it again, as the route documents
	}
	require.Equal(t, applied, dump(t, base, company), "%s: the second retry changed nothing (no duplicate event)", op.name)
}
