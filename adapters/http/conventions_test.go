package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// conventionRecorder checks every answer the adapter tests receive against the
// HTTP conventions that hold for all routes:
//
//   - no JSON answer holds a zero time (0001-01-01T00:00:00Z);
//   - durations are whole seconds in fields named *_seconds: a number in a
//     field whose name says duration (ttl, duration, timeout, interval, delay)
//     without that suffix is a Go time.Duration in nanoseconds leaking out;
//   - fields that are calendar dates (renewal_date, ends_on) are YYYY-MM-DD.
//
// Violations fail the test that made the request.
type conventionRecorder struct {
	t    testing.TB
	next http.Handler

	mu       sync.Mutex
	problems []string
}

func newConventionRecorder(t testing.TB, next http.Handler) *conventionRecorder {
	c := &conventionRecorder{t: t, next: next}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.problems {
			t.Errorf("HTTP convention: %s", p)
		}
	})
	return c
}

func (c *conventionRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, r)
	res := rec.Result()
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(res.StatusCode)
	body := rec.Body.Bytes()
	_, _ = w.Write(body)
	for _, p := range conventionProblems(res.StatusCode, res.Header, body) {
		c.mu.Lock()
		c.problems = append(c.problems, fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, p))
		c.mu.Unlock()
	}
}

var (
	durationName = regexp.MustCompile(`(^|_)(ttl|duration|timeout|interval|delay)(_|$)`)
	dateOnly     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	dateFields   = map[string]bool{"renewal_date": true, "ends_on": true}
)

// conventionProblems lists what an answer breaks of the conventions above.
func conventionProblems(status int, h http.Header, body []byte) []string {
	var out []string
	if !strings.HasPrefix(h.Get("Content-Type"), "application/json") || len(body) == 0 {
		return out
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return append(out, "a JSON answer that is not JSON")
	}
	if bytes.Contains(body, []byte("0001-01-01T00:00:00Z")) {
		keys := []string{}
		walkJSON(v, func(key string, val any) {
			if val == "0001-01-01T00:00:00Z" {
				keys = append(keys, key)
			}
		})
		out = append(out, fmt.Sprintf("a zero time in %v", keys))
	}
	walkJSON(v, func(key string, val any) {
		if _, isNum := val.(float64); isNum && durationName.MatchString(key) && !strings.HasSuffix(key, "_seconds") {
			out = append(out, fmt.Sprintf("duration %q is not in whole seconds (%v)", key, val))
		}
		if s, isStr := val.(string); isStr && dateFields[key] && !dateOnly.MatchString(s) {
			out = append(out, fmt.Sprintf("date %q is not YYYY-MM-DD (%q)", key, s))
		}
	})
	return out
}

func walkJSON(v any, fn func(key string, val any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			fn(k, val)
			if k == "details" {
				// An event's details are the document recorded with it,
				// as it was stored; only zero times are checked there.
				continue
			}
			walkJSON(val, fn)
		}
	case []any:
		for _, val := range x {
			walkJSON(val, fn)
		}
	}
}

// The recorder itself: it sees each convention broken.
func TestConventionRecorderSeesViolations(t *testing.T) {
	js := http.Header{"Content-Type": {"application/json"}}
	cases := map[string]struct {
		status int
		h      http.Header
		body   string
	}{
		"zero time":         {200, js, `{"created_at":"0001-01-01T00:00:00Z"}`},
		"nanoseconds":       {200, js, `{"items":[{"lease_ttl":300000000000}]}`},
		"timestamp as date": {200, js, `{"renewal_date":"2027-06-30T23:59:59Z"}`},
	}
	for name, c := range cases {
		if len(conventionProblems(c.status, c.h, []byte(c.body))) == 0 {
			t.Errorf("%s: not seen", name)
		}
	}
	good := `{"lease_ttl_seconds":300,"renewal_date":"2027-06-30","created_at":"2026-11-10T09:00:00Z"}`
	if p := conventionProblems(200, js, []byte(good)); len(p) > 0 {
		t.Errorf("a good answer refused: %v", p)
	}
}
