package http_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// Every route that issues a secret answers a replay (same Idempotency-Key)
// with the same metadata, no secret, "replayed": true and the header
// Idempotency-Replayed: true; the SQLite file holds none of the secrets.
func TestSecretIssuingReplaysShowNoSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licensekit.db")
	st, err := sqlite.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := newFixtureOn(t, st)
	var secrets []string

	body := map[string]string{"email": "ci@acme.example", "role": "viewer", "name": "ci"}
	var first, again lkhttp.CreatedAPIKey
	r := f.ok(201, "POST", "/v1/apikeys", f.owner, body, &first, "Idempotency-Key", "key-1")
	require.True(t, strings.HasPrefix(first.Key, lkhttp.KeyPrefix))
	assert.Empty(t, r.header.Get(lkhttp.IdempotencyReplayedHeader))
	secrets = append(secrets, first.Key)
	r = f.ok(201, "POST", "/v1/apikeys", f.owner, body, &again, "Idempotency-Key", "key-1")
	assert.Equal(t, "true", r.header.Get(lkhttp.IdempotencyReplayedHeader))
	assert.NotContains(t, string(r.body), `"key":`, "the replay carries no key")
	assert.Contains(t, string(r.body), `"replayed":true`)
	assert.Equal(t, first.APIKey, again.APIKey)
	f.ok(200, "GET", "/v1/sites", first.Key, nil, nil)

	buy := map[string]any{"type": "computer", "quantity": 2, "billing_period": "monthly",
		"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}, "manual_activation": true}
	var issued, re subscription.Issued
	f.ok(201, "POST", "/v1/subscriptions/purchase", f.owner, buy, &issued, "Idempotency-Key", "buy-1")
	require.Len(t, issued.Keys, 2)
	secrets = append(secrets, issued.Keys...)
	r = f.ok(201, "POST", "/v1/subscriptions/purchase", f.owner, buy, &re, "Idempotency-Key", "buy-1")
	assert.Equal(t, "true", r.header.Get(lkhttp.IdempotencyReplayedHeader))
	assert.Empty(t, re.Keys)
	assert.True(t, re.Replayed)

	trial := map[string]any{"type": "user", "quantity": 1, "ends_on": "2026-12-31"}
	var tr subscription.Issued
	f.ok(201, "POST", "/v1/subscriptions/trials", f.owner, trial, &tr, "Idempotency-Key", "trial-1")
	require.Len(t, tr.Keys, 1)
	secrets = append(secrets, tr.Keys...)
	r = f.ok(201, "POST", "/v1/subscriptions/trials", f.owner, trial, nil, "Idempotency-Key", "trial-1")
	assert.Equal(t, "true", r.header.Get(lkhttp.IdempotencyReplayedHeader))
	assert.NotContains(t, string(r.body), `"keys"`)

	// Re-issue: the lost key stops working, the new one works, a replay shows none.
	id := issued.Licenses[0].ID
	var rk subscription.Reissued
	r = f.ok(200, "POST", "/v1/subscriptions/licenses/"+id+"/reissue-key", f.owner, nil, &rk, "Idempotency-Key", "rekey-1")
	require.NotEmpty(t, rk.Key)
	assert.Empty(t, r.header.Get(lkhttp.IdempotencyReplayedHeader))
	secrets = append(secrets, rk.Key)
	r = f.ok(200, "POST", "/v1/subscriptions/licenses/"+id+"/reissue-key", f.owner, nil, nil, "Idempotency-Key", "rekey-1")
	assert.Equal(t, "true", r.header.Get(lkhttp.IdempotencyReplayedHeader))
	assert.NotContains(t, string(r.body), `"key":`)
	viewer := f.key("vera@acme.example", license.Viewer)
	r = f.do("POST", "/v1/subscriptions/licenses/"+id+"/reissue-key", viewer, nil)
	assert.Equal(t, 403, r.status)
	assert.Equal(t, 404, f.do("POST", "/v1/subscriptions/activate", f.owner, map[string]string{"key": issued.Keys[0]}).status, "the old key")
	var l subscription.License
	f.ok(200, "POST", "/v1/subscriptions/activate", f.owner, map[string]string{"key": rk.Key}, &l)
	assert.Equal(t, id, l.ID)

	require.NoError(t, st.Close())
	var raw []byte
	for _, p := range []string{path, path + "-wal"} {
		if b, err := os.ReadFile(p); err == nil {
			raw = append(raw, b...)
		}
	}
	require.Greater(t, len(raw), 4096)
	for _, s := range secrets {
		assert.NotContains(t, string(raw), s, "the database file holds a secret")
		assert.NotContains(t, string(raw), strings.ReplaceAll(s, "-", ""), "the database file holds a secret")
	}
}

// Expired and revoked keys are refused 401 with their own codes; revoked keys
// stay listed with revoked_at; only owners manage keys over HTTP.
func TestKeyExpiryAndRevocation(t *testing.T) {
	f := newFixture(t)
	exp := f.clock.Now().Add(time.Hour)
	var temp lkhttp.CreatedAPIKey
	f.ok(201, "POST", "/v1/apikeys", f.owner, map[string]any{"email": "tmp@acme.example", "role": "viewer", "expires_at": exp}, &temp)
	require.NotNil(t, temp.APIKey.ExpiresAt)
	assert.Equal(t, 400, f.do("POST", "/v1/apikeys", f.owner, map[string]any{"email": "tmp@acme.example", "role": "viewer",
		"expires_at": f.clock.Now().Add(-time.Minute)}).status)
	f.ok(200, "GET", "/v1/sites", temp.Key, nil, nil)
	f.clock.Advance(time.Hour)
	r := f.do("GET", "/v1/sites", temp.Key, nil)
	assert.Equal(t, 401, r.status)
	assert.Equal(t, string(license.KeyExpired), r.errCode(t), "cached or not, an expired key is refused")

	vera := f.key("vera@acme.example", license.Viewer)
	var all []lkhttp.APIKey
	f.list("/v1/apikeys", f.owner, &all)
	ids := map[string]lkhttp.APIKey{}
	for _, k := range all {
		ids[k.Email] = k
	}
	assert.Equal(t, 403, f.do("GET", "/v1/apikeys", vera, nil).status)
	assert.Equal(t, 403, f.do("DELETE", "/v1/apikeys/"+ids["ann@acme.example"].ID, vera, nil).status, "a viewer cannot revoke the owner's key")
	f.ok(200, "GET", "/v1/sites", f.owner, nil, nil)
	f.ok(200, "DELETE", "/v1/apikeys/"+ids["vera@acme.example"].ID, f.owner, nil, nil)
	r = f.do("GET", "/v1/sites", vera, nil)
	assert.Equal(t, 401, r.status)
	assert.Equal(t, string(license.KeyRevoked), r.errCode(t))
	assert.Equal(t, 409, f.do("DELETE", "/v1/apikeys/"+ids["vera@acme.example"].ID, f.owner, nil).status, "already revoked")
	f.list("/v1/apikeys", f.owner, &all)
	for _, k := range all {
		if k.ID == ids["vera@acme.example"].ID {
			require.NotNil(t, k.RevokedAt, "a revoked key stays listed with revoked_at")
			assert.Equal(t, "ann@acme.example", k.RevokedBy)
		}
	}
}

// countingStore counts write transactions.
type countingStore struct {
	storage.Store
	updates atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	c.updates.Add(1)
	return c.Store.Update(ctx, fn)
}

// A key's last use is written at most once a minute per key and process, not
// once per request.
func TestLastUsedWrittenOncePerMinute(t *testing.T) {
	f := newFixture(t)
	cs := &countingStore{Store: f.store}
	h, err := lkhttp.New(lkhttp.Config{Store: cs, Clock: f.clock})
	require.NoError(t, err)
	get := func() {
		req := httptest.NewRequest("GET", "/v1/sites", nil)
		req.Header.Set("Authorization", "Bearer "+f.owner)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, 200, rec.Code)
	}
	lastUsed := func() *time.Time {
		var keys []lkhttp.APIKey
		f.list("/v1/apikeys", f.owner, &keys)
		require.Len(t, keys, 1)
		return keys[0].LastUsedAt
	}
	t0 := f.clock.Now()
	for range 50 {
		get()
	}
	assert.Equal(t, int64(1), cs.updates.Load(), "one write for 50 requests")
	f.clock.Advance(59 * time.Second)
	for range 50 {
		get()
	}
	assert.Equal(t, int64(1), cs.updates.Load(), "none within the minute")
	f.clock.Advance(time.Second)
	get()
	assert.Equal(t, int64(2), cs.updates.Load(), "one once the minute is over")
	got := lastUsed()
	require.NotNil(t, got)
	assert.True(t, got.After(t0), "last_used_at follows the uses: %s", got)
}

// The key cache lifetime is bounded.
func TestKeyCacheTTLBounded(t *testing.T) {
	f := newFixture(t)
	_, err := lkhttp.New(lkhttp.Config{Store: f.store, KeyCacheTTL: lkhttp.MaxKeyCacheTTL + time.Second})
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	_, err = lkhttp.New(lkhttp.Config{Store: f.store, KeyCacheTTL: lkhttp.MaxKeyCacheTTL})
	assert.NoError(t, err)
}

var _ http.Handler = (*lkhttp.Handler)(nil)
