package reliability_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
)

// Secrets: a full run of the server on SQLite, with API keys issued, used,
// mistyped and revoked, and subscription licenses bought, activated by key,
// activated with a wrong key and retried. The server's log (debug level) never
// holds an API key or a license key in plain text, no answer echoes a key
// that was sent, and the store holds only their SHA-256 hashes: no record,
// event, nor byte of the database file contains a plain key.
func TestSecretsNeverLoggedOrStored(t *testing.T) {
	st, path := sqliteStore(t)
	s := newServer(t, st)
	company, owner := s.company("Secretive Ltd", "sam@secretive.example")
	apiKeys := []string{owner}
	licenseKeys := []string{}

	var keys []lkhttp.CreatedAPIKey
	for _, role := range []string{"admin", "viewer", "editor"} {
		var ck lkhttp.CreatedAPIKey
		s.ok(201, "POST", "/v1/apikeys", owner, map[string]string{"email": role + "@secretive.example", "role": role}, &ck)
		require.True(t, strings.HasPrefix(ck.Key, lkhttp.KeyPrefix))
		keys = append(keys, ck)
		apiKeys = append(apiKeys, ck.Key)
	}
	admin, viewer := keys[0].Key, keys[1].Key
	// A replayed creation answers without the key (and remembers none).
	var made, replay lkhttp.CreatedAPIKey
	bot := map[string]string{"email": "bot@secretive.example", "role": "viewer"}
	s.ok(201, "POST", "/v1/apikeys", owner, bot, &made, "Idempotency-Key", "bot-1")
	require.NotEmpty(t, made.Key)
	apiKeys = append(apiKeys, made.Key)
	s.ok(201, "POST", "/v1/apikeys", owner, bot, &replay, "Idempotency-Key", "bot-1")
	assert.Empty(t, replay.Key, "a replayed creation shows no key")
	assert.True(t, replay.Replayed)
	site := s.newSite(admin, "Vault", 10)
	s.ok(200, "POST", "/v1/sites/"+site+"/purchase", admin, map[string]int64{"quantity": 2}, nil, "Idempotency-Key", "buy-1")
	s.ok(403, "POST", "/v1/sites/"+site+"/purchase", viewer, map[string]int64{"quantity": 2}, nil)
	s.ok(200, "GET", "/v1/sites", viewer, nil, nil)
	// Mistyped and malformed keys: 401, and neither logged nor echoed.
	for _, bad := range []string{admin + "x", admin[:len(admin)-1], strings.ToUpper(admin), "lk_" + strings.Repeat("A", 43)} {
		r := s.do("GET", "/v1/sites", bad, nil)
		require.Equal(t, 401, r.status, "%s", r.body)
		assert.NotContains(t, string(r.body), bad)
		apiKeys = append(apiKeys, bad)
	}
	r := s.do("GET", "/v1/sites", "", nil, "Authorization", "Basic "+admin)
	require.Equal(t, 401, r.status)
	// A revoked key stops working.
	s.ok(200, "DELETE", "/v1/apikeys/"+keys[2].APIKey.ID, owner, nil, nil)
	s.ok(401, "GET", "/v1/sites", keys[2].Key, nil, nil)

	// Subscription licenses: keys shown once; activation by key.
	var issued subscription.Issued
	buy := map[string]any{"type": "computer", "quantity": 3, "billing_period": "monthly",
		"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}, "manual_activation": true}
	s.ok(201, "POST", "/v1/subscriptions/purchase", admin, buy, &issued, "Idempotency-Key", "subs-1")
	require.Len(t, issued.Keys, 3)
	licenseKeys = append(licenseKeys, issued.Keys...)
	var again subscription.Issued
	s.ok(201, "POST", "/v1/subscriptions/purchase", admin, buy, &again, "Idempotency-Key", "subs-1")
	assert.Empty(t, again.Keys, "a retried purchase does not show the keys again")
	s.ok(200, "POST", "/v1/subscriptions/activate", admin, map[string]any{"key": issued.Keys[0]}, nil)
	r = s.do("POST", "/v1/subscriptions/activate", admin, map[string]any{"key": issued.Keys[0]})
	assert.Less(t, r.status, 500)
	assert.NotContains(t, string(r.body), issued.Keys[0], "a refused activation does not echo the key")
	// A key of another shape and a nearly right key are refused without being echoed.
	wrong := []string{"ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ", issued.Keys[1][:len(issued.Keys[1])-1] + "0"}
	for _, w := range wrong {
		r := s.do("POST", "/v1/subscriptions/activate", admin, map[string]any{"key": w})
		assert.GreaterOrEqual(t, r.status, 400)
		assert.Less(t, r.status, 500)
		assert.NotContains(t, string(r.body), w)
		licenseKeys = append(licenseKeys, w)
	}
	// A lost license key is re-issued: the new key is shown once, stored as a hash.
	var rk subscription.Reissued
	s.ok(200, "POST", "/v1/subscriptions/licenses/"+issued.Licenses[2].ID+"/reissue-key", admin, nil, &rk, "Idempotency-Key", "rekey-1")
	require.NotEmpty(t, rk.Key)
	licenseKeys = append(licenseKeys, rk.Key)
	var rk2 subscription.Reissued
	s.ok(200, "POST", "/v1/subscriptions/licenses/"+issued.Licenses[2].ID+"/reissue-key", admin, nil, &rk2, "Idempotency-Key", "rekey-1")
	assert.Empty(t, rk2.Key, "a replayed re-issue shows no key")
	var trial subscription.Issued
	s.ok(201, "POST", "/v1/subscriptions/trials", admin, map[string]any{"type": "user", "quantity": 1, "ends_on": "2026-12-31"}, &trial)
	licenseKeys = append(licenseKeys, trial.Keys...)

	// The plain texts to look for: as given and, for license keys, normalised.
	var plain []string
	plain = append(plain, apiKeys...)
	for _, k := range licenseKeys {
		plain = append(plain, k, strings.ReplaceAll(strings.ToUpper(k), "-", ""))
	}
	logs := s.logs.String()
	require.NotEmpty(t, logs)
	require.Contains(t, logs, "/v1/subscriptions/activate", "the requests were logged")
	for _, p := range plain {
		assert.NotContains(t, logs, p, "the server's log holds a key in plain text")
	}

	// The store: every record and event of every kind, and the database file.
	ctx := context.Background()
	var stored strings.Builder
	hashes := map[string]bool{}
	require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
		for _, k := range kinds {
			recs, err := tx.List(ctx, storage.ListQuery{Kind: k, AllCompanies: true})
			if err != nil {
				return err
			}
			for _, r := range recs {
				stored.WriteString(r.ID + "\x00" + r.Unique + "\x00" + r.Parent + "\x00" + string(r.Data) + "\n")
				hashes[r.ID], hashes[r.Unique] = true, true
			}
		}
		return tx.Events(ctx, eventlog.Filter{Company: company}, func(e eventlog.Event) error {
			stored.WriteString(e.Subject + e.Source + e.Target + string(e.Details) + "\n")
			return nil
		})
	}))
	for _, p := range plain {
		assert.NotContains(t, stored.String(), p, "a record or event holds a key in plain text")
	}
	for _, k := range apiKeys[:3] { // owner, admin, viewer (the editor key was revoked)
		sum := sha256.Sum256([]byte(k))
		assert.True(t, hashes[hex.EncodeToString(sum[:])], "the API key is stored as its SHA-256 hash")
	}
	for _, k := range append(issued.Keys[:2:2], rk.Key) { // the third key was re-issued
		sum := sha256.Sum256([]byte(strings.ReplaceAll(strings.ToUpper(k), "-", "")))
		assert.True(t, hashes[hex.EncodeToString(sum[:])], "the license key is stored as its SHA-256 hash")
	}
	var raw []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err == nil {
			raw = append(raw, b...)
		}
	}
	require.Greater(t, len(raw), 4096)
	for _, p := range plain {
		assert.NotContains(t, string(raw), p, "the SQLite file holds a key in plain text")
	}
	t.Logf("secrets: %d API keys and %d license keys (%d plain texts) absent from %d bytes of log, %d bytes of records and events, %d bytes of database file",
		len(apiKeys), len(licenseKeys), len(plain), len(logs), stored.Len(), len(raw))
}
