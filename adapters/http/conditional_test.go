package http_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
)

// jsonAt is the answer with its body replaced by the body's member name (the
// ETag of a page is the version of the object it shows).
func (r resp) jsonAt(t *testing.T, name string) resp {
	t.Helper()
	var m map[string]json.RawMessage
	r.json(t, &m)
	require.Contains(t, m, name)
	r.body = m[name]
	return r
}

// versionOf reads the ETag of an answer and checks it matches the body's version.
func versionOf(t *testing.T, r resp) string {
	t.Helper()
	tag := r.header.Get("ETag")
	require.Regexp(t, `^"[1-9][0-9]*"$`, tag, "ETag of %s", r.body)
	var body struct {
		Version int64 `json:"version"`
	}
	r.json(t, &body)
	assert.Equal(t, strings.Trim(tag, `"`), strconv.FormatInt(body.Version, 10), "the body's version is the ETag")
	return tag
}

func TestPoolPutNeedsCurrentIfMatch(t *testing.T) { forEachStore(t, testPoolPutNeedsCurrentIfMatch) }

func testPoolPutNeedsCurrentIfMatch(t *testing.T, f *fixture) {
	var p lkhttp.PoolView
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Office", "perpetual", "named_user", 0), &p)
	v1 := versionOf(t, f.ok(200, "GET", "/v1/pools/"+p.ID, f.owner, nil, nil))

	// Without If-Match: 428, nothing changed.
	r := f.do("PUT", "/v1/pools/"+p.ID, f.owner, poolSpec("Renamed", "perpetual", "named_user", 0))
	require.Equal(t, 428, r.status, "%s", r.body)
	assert.Equal(t, "precondition_required", r.errCode(t))

	// With the version read: applied, a new version.
	r = f.ok(200, "PUT", "/v1/pools/"+p.ID, f.owner, poolSpec("Renamed", "perpetual", "named_user", 0), nil, "If-Match", v1)
	v2 := versionOf(t, r)
	assert.NotEqual(t, v1, v2)
	assert.Equal(t, v2, versionOf(t, f.ok(200, "GET", "/v1/pools/"+p.ID, f.owner, nil, nil)), "the PUT answer's ETag is the GET's")

	// A stale writer: 412, its change is not applied.
	r = f.do("PUT", "/v1/pools/"+p.ID, f.owner, poolSpec("Stale", "perpetual", "named_user", 0), "If-Match", v1)
	require.Equal(t, 412, r.status, "%s", r.body)
	assert.Equal(t, "precondition_failed", r.errCode(t))
	var now lkhttp.PoolView
	f.ok(200, "GET", "/v1/pools/"+p.ID, f.owner, nil, &now)
	assert.Equal(t, "Renamed", now.Name)

	// Malformed or weak tags are refused.
	for _, bad := range []string{"3", `W/"3"`, `"x"`, `"0"`} {
		r = f.do("PUT", "/v1/pools/"+p.ID, f.owner, poolSpec("Bad", "perpetual", "named_user", 0), "If-Match", bad)
		requireRefused(t, r, "If-Match")
	}
}

// Optional If-Match: PATCH and DELETE work without it, and refuse a stale one.
func TestPatchAndDeleteHonourIfMatch(t *testing.T) { forEachStore(t, testPatchAndDeleteHonourIfMatch) }

func testPatchAndDeleteHonourIfMatch(t *testing.T, f *fixture) {
	w := f.populate()
	site := "/v1/sites/" + w.siteA
	v1 := versionOf(t, f.ok(200, "GET", site, f.owner, nil, nil))
	v2 := versionOf(t, f.ok(200, "PATCH", site, f.owner, map[string]string{"plan": "pro"}, nil))
	assert.Equal(t, v2, versionOf(t, f.ok(200, "GET", site, f.owner, nil, nil)), "the PATCH answer's ETag is the GET's")
	r := f.do("PATCH", site, f.owner, map[string]string{"plan": "stale"}, "If-Match", v1)
	require.Equal(t, 412, r.status, "%s", r.body)
	var s lkhttp.SiteView
	f.ok(200, "GET", site, f.owner, nil, &s)
	assert.Equal(t, "pro", s.Plan)
	versionOf(t, f.ok(200, "PATCH", site, f.owner, map[string]string{"plan": "enterprise"}, nil, "If-Match", v2))

	cu := "/v1/customers/" + w.customer
	c1 := versionOf(t, f.ok(200, "GET", cu, f.owner, nil, nil))
	c2 := versionOf(t, f.ok(200, "PATCH", cu, f.owner, map[string]string{"legal_name": "Renamed Oy"}, nil, "If-Match", c1))
	assert.Equal(t, c2, versionOf(t, f.ok(200, "GET", cu, f.owner, nil, nil)), "the PATCH answer's ETag is the GET's")
	r = f.do("DELETE", cu, f.owner, nil, "If-Match", c1)
	require.Equal(t, 412, r.status, "%s", r.body)
	f.ok(200, "GET", cu, f.owner, nil, nil)
	f.ok(200, "DELETE", cu, f.owner, nil, nil, "If-Match", c2)
	assert.Equal(t, 404, f.do("GET", cu, f.owner, nil).status)

	vl := "/v1/volume-licenses/" + w.volumeLicense
	l1 := versionOf(t, f.ok(200, "GET", vl, f.owner, nil, nil).jsonAt(t, "license"))
	l2 := versionOf(t, f.ok(200, "PUT", vl+"/seats", f.owner, map[string]int64{"seats": 2500}, nil, "If-Match", l1))
	r = f.do("PUT", vl+"/seats", f.owner, map[string]int64{"seats": 3000}, "If-Match", l1)
	require.Equal(t, 412, r.status, "%s", r.body)
	assert.Equal(t, l2, versionOf(t, f.ok(200, "GET", vl, f.owner, nil, nil).jsonAt(t, "license")))

	sub := "/v1/subscriptions/licenses/" + w.subLicense
	s1 := versionOf(t, f.ok(200, "GET", sub, f.owner, nil, nil))
	s2 := versionOf(t, f.ok(200, "PUT", sub+"/auto-renew", f.owner, map[string]bool{"on": false}, nil, "If-Match", s1))
	r = f.do("PUT", sub+"/auto-renew", f.owner, map[string]bool{"on": true}, "If-Match", s1)
	require.Equal(t, 412, r.status, "%s", r.body)
	assert.Equal(t, s2, versionOf(t, f.ok(200, "GET", sub, f.owner, nil, nil)))

	// A write route without a version refuses If-Match rather than ignore it.
	r = f.do("PUT", "/v1/topup/sites/"+w.siteA+"/increment", f.owner, map[string]int64{"increment": 10}, "If-Match", `"1"`)
	requireRefused(t, r, "If-Match")
}

// Writers that read the same version race: exactly one of them wins, the
// others get 412, and the pool holds the winner's change.
func TestConcurrentWritersOneWins(t *testing.T) { forEachStore(t, testConcurrentWritersOneWins) }

func testConcurrentWritersOneWins(t *testing.T, f *fixture) {
	var p lkhttp.PoolView
	f.ok(201, "POST", "/v1/pools", f.owner, poolSpec("Contended", "perpetual", "named_user", 0), &p)
	for round := range 5 {
		tag := versionOf(t, f.ok(200, "GET", "/v1/pools/"+p.ID, f.owner, nil, nil))
		const writers = 6
		status := make([]int, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status[i] = f.do("PUT", "/v1/pools/"+p.ID, f.owner, poolSpec(fmt.Sprintf("Writer %d.%d", round, i), "perpetual", "named_user", 0), "If-Match", tag).status
			}()
		}
		close(start)
		wg.Wait()
		won := -1
		for i, s := range status {
			switch s {
			case 200:
				require.Equal(t, -1, won, "round %d: two writers won: %v", round, status)
				won = i
			case 412:
			default:
				t.Fatalf("round %d: writer %d answered %d", round, i, s)
			}
		}
		require.NotEqual(t, -1, won, "round %d: nobody won: %v", round, status)
		var now lkhttp.PoolView
		f.ok(200, "GET", "/v1/pools/"+p.ID, f.owner, nil, &now)
		assert.Equal(t, fmt.Sprintf("Writer %d.%d", round, won), now.Name)
	}
}
