package reliability_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/webhook"
)

// hookReceiver is a webhook endpoint that records every request; while
// hanging it holds each request open until the sender gives up.
type hookReceiver struct {
	*httptest.Server
	secret  string
	mu      sync.Mutex
	got     []webhook.Body
	ok      map[string]bool // event subjects of requests answered 2xx
	bad     []string        // requests whose signature did not verify
	hanging bool
	hung    chan struct{} // closed at the first held request
	delay   time.Duration // before each answer: widens the window in which a second sender could claim the same delivery
}

func newHookReceiver(t *testing.T, hanging bool) *hookReceiver {
	r := &hookReceiver{hanging: hanging, hung: make(chan struct{}), ok: map[string]bool{}}
	var once sync.Once
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var body webhook.Body
		_ = json.Unmarshal(b, &body)
		r.mu.Lock()
		if err := webhook.Verify(r.secret, b, req.Header.Get(webhook.SignatureHeader), time.Now(), 0); err != nil ||
			req.Header.Get(webhook.DeliveryHeader) != body.ID {
			r.bad = append(r.bad, string(b))
		}
		r.got = append(r.got, body)
		hang := r.hanging
		if !hang {
			r.ok[body.Event.Subject] = true
		}
		r.mu.Unlock()
		if hang {
			once.Do(func() { close(r.hung) })
			<-req.Context().Done()
			return
		}
		time.Sleep(r.delay)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) setSecret(s string) { r.mu.Lock(); r.secret = s; r.mu.Unlock() }
func (r *hookReceiver) answer()            { r.mu.Lock(); r.hanging = false; r.mu.Unlock() }

func (r *hookReceiver) received() ([]webhook.Body, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Body(nil), r.got...), append([]string(nil), r.bad...)
}

// subjects is the set of event subjects received, and how many requests
// each delivery ID got.
func (r *hookReceiver) subjects() (map[string]bool, map[string]int) {
	got, _ := r.received()
	subj, ids := map[string]bool{}, map[string]int{}
	for _, b := range got {
		subj[b.Event.Subject] = true
		ids[b.ID]++
	}
	return subj, ids
}

// waitFor polls cond until it holds or a minute passes (a liveness bound, not
// a speed claim).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ownerKey(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// The server is SIGKILLed while a webhook delivery is in flight (claimed,
// sent, not yet recorded) with more deliveries pending, and restarted on the
// same SQLite file: every change's delivery arrives, signed, the one in
// flight again under the same delivery ID (at least once; receivers
// de-duplicate on the ID).
func TestWebhookDeliveryNeverLostAcrossSIGKILL(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "owner.key")
	args := []string{"-sqlite", filepath.Join(dir, "licensekit.db"), "-owner-key-file", keyFile, "-interval", "50ms",
		"-webhook-allow-http", "-webhook-allow-private", "-webhook-timeout", "500ms"}
	rc := newHookReceiver(t, true)
	a := startServer(t, args...)
	owner := ownerKey(t, keyFile)
	ctx := context.Background()

	r, err := call(ctx, http.DefaultClient, a.base, "POST", "/v1/webhooks", owner,
		map[string]any{"url": rc.URL + "/hook", "events": []string{"site.created"}})
	require.NoError(t, err)
	require.Equal(t, 201, r.status, "%s", r.body)
	var created webhook.Created
	require.NoError(t, json.Unmarshal(r.body, &created))
	rc.setSecret(created.Secret)

	var sites []string
	newSite := func(base, name string) {
		r, err := call(ctx, http.DefaultClient, base, "POST", "/v1/sites", owner, siteBody(name, 5))
		require.NoError(t, err)
		require.Equal(t, 201, r.status, "%s", r.body)
		var s struct{ ID string }
		require.NoError(t, json.Unmarshal(r.body, &s))
		sites = append(sites, s.ID)
	}
	for i := range 5 {
		newSite(a.base, "Before "+string(rune('A'+i)))
	}
	select {
	case <-rc.hung:
	case <-time.After(time.Minute):
		t.Fatal("no delivery reached the receiver")
	}
	a.kill()
	got, _ := rc.received()
	require.Len(t, got, 1, "the first delivery is held when the server dies")
	inFlight := got[0].ID

	rc.answer()
	b := startServer(t, args...)
	for i := range 3 {
		newSite(b.base, "After "+string(rune('A'+i)))
	}
	waitFor(t, "every site's delivery answered", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, s := range sites {
			if !rc.ok[s] {
				return false
			}
		}
		return true
	})
	waitFor(t, "no delivery left pending", func() bool {
		r, err := call(ctx, http.DefaultClient, b.base, "GET", "/v1/webhooks/"+created.ID+"/deliveries?status=pending", owner, nil)
		return err == nil && r.status == 200 && strings.Contains(string(r.body), `"items":[]`)
	})
	b.kill()

	subj, ids := rc.subjects()
	assert.Len(t, subj, len(sites), "exactly the created sites")
	assert.GreaterOrEqual(t, ids[inFlight], 2, "the delivery in flight at the kill is sent again, under its ID")
	_, bad := rc.received()
	assert.Empty(t, bad, "every request verifies with the endpoint's secret and carries its delivery ID")

	st, err := sqlite.Open(filepath.Join(dir, "licensekit.db"))
	require.NoError(t, err)
	defer st.Close()
	status := map[webhook.Status]int{}
	for _, d := range listDeliveries(t, st) {
		status[d.Status]++
	}
	assert.Equal(t, map[webhook.Status]int{webhook.StatusDelivered: len(sites)}, status, "every delivery is recorded delivered")
}

// listDeliveries reads every webhook delivery of the store.
func listDeliveries(t *testing.T, st storage.Store) []webhook.Delivery {
	t.Helper()
	var out []webhook.Delivery
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		var err error
		out, err = storage.ListOf[webhook.Delivery](context.Background(), tx, storage.ListQuery{AllCompanies: true, Kind: webhook.KindDelivery})
		return err
	}))
	return out
}
