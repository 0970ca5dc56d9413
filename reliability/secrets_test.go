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
	"github.com/licensekit/licensekit/adapters/http/client"
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

	ctx := context.Background()
	api, as := s.api, client.Bearer
	var keys []client.PostV1ApikeysResponse
	for _, role := range []string{"admin", "viewer", "editor"} {
		ck, err := api.PostV1ApikeysWithResponse(ctx, nil, client.PostV1ApikeysJSONRequestBody{
			Email: client.Ptr(role + "@secretive.example"), Role: client.Ptr(client.ApikeyNewInputRole(role))}, as(owner))
		s.must(ck, err, 201)
		require.True(t, strings.HasPrefix(*ck.JSON201.Key, lkhttp.KeyPrefix))
		keys = append(keys, *ck)
		apiKeys = append(apiKeys, *ck.JSON201.Key)
	}
	admin, viewer := *keys[0].JSON201.Key, *keys[1].JSON201.Key
	// A replayed creation answers without the key (and remembers none).
	bot := client.PostV1ApikeysJSONRequestBody{Email: client.Ptr("bot@secretive.example"), Role: client.Ptr(client.ApikeyNewInputRoleViewer)}
	botKey := &client.PostV1ApikeysParams{IdempotencyKey: client.Ptr("bot-1")}
	made, err := api.PostV1ApikeysWithResponse(ctx, botKey, bot, as(owner))
	s.must(made, err, 201)
	require.NotEmpty(t, *made.JSON201.Key)
	apiKeys = append(apiKeys, *made.JSON201.Key)
	replay, err := api.PostV1ApikeysWithResponse(ctx, botKey, bot, as(owner))
	s.must(replay, err, 201)
	assert.Empty(t, replay.JSON201.Key, "a replayed creation shows no key")
	assert.True(t, *replay.JSON201.Replayed)
	site := s.newSite(admin, "Vault", 10)
	two := client.PostV1SitesIdPurchaseJSONRequestBody{Quantity: client.Ptr(2)}
	bought, err := api.PostV1SitesIdPurchaseWithResponse(ctx, site, &client.PostV1SitesIdPurchaseParams{IdempotencyKey: client.Ptr("buy-1")}, two, as(admin))
	s.must(bought, err, 200)
	refused, err := api.PostV1SitesIdPurchaseWithResponse(ctx, site, nil, two, as(viewer))
	s.must(refused, err, 403)
	sites, err := api.GetV1SitesWithResponse(ctx, nil, as(viewer))
	s.must(sites, err, 200)
	// Mistyped and malformed keys: 401, and neither logged nor echoed.
	for _, bad := range []string{admin + "x", admin[:len(admin)-1], strings.ToUpper(admin), "lk_" + strings.Repeat("A", 43)} {
		r, err := api.GetV1SitesWithResponse(ctx, nil, as(bad))
		s.must(r, err, 401)
		assert.NotContains(t, string(r.Body), bad)
		apiKeys = append(apiKeys, bad)
	}
	basic, err := api.GetV1SitesWithResponse(ctx, nil, client.Header("Authorization", "Basic "+admin))
	s.must(basic, err, 401)
	// A revoked key stops working.
	revoked, err := api.DeleteV1ApikeysIdWithResponse(ctx, keys[2].JSON201.ApiKey.Id, nil, as(owner))
	s.must(revoked, err, 200)
	sites, err = api.GetV1SitesWithResponse(ctx, nil, as(*keys[2].JSON201.Key))
	s.must(sites, err, 401)

	// Subscription licenses: keys shown once; activation by key.
	buy := client.PostV1SubscriptionsPurchaseJSONRequestBody{Type: client.Ptr(client.HttpSubscriptionPurchaseInputTypeComputer), Quantity: client.Ptr(3),
		BillingPeriod: client.Ptr(client.HttpSubscriptionPurchaseInputBillingPeriodMonthly), UnitPrice: &client.LicenseMoney{Amount: "5.00", Currency: "USD"}, ManualActivation: client.Ptr(true)}
	subsKey := &client.PostV1SubscriptionsPurchaseParams{IdempotencyKey: client.Ptr("subs-1")}
	bought2, err := api.PostV1SubscriptionsPurchaseWithResponse(ctx, subsKey, buy, as(admin))
	s.must(bought2, err, 201)
	issued := bought2.JSON201
	require.Len(t, *issued.Keys, 3)
	issuedKeys, issuedLicenses := *issued.Keys, *issued.Licenses
	licenseKeys = append(licenseKeys, issuedKeys...)
	again, err := api.PostV1SubscriptionsPurchaseWithResponse(ctx, subsKey, buy, as(admin))
	s.must(again, err, 201)
	assert.Empty(t, again.JSON201.Keys, "a retried purchase does not show the keys again")
	activate := func(key string) (*client.PostV1SubscriptionsActivateResponse, error) {
		return api.PostV1SubscriptionsActivateWithResponse(ctx, nil, client.PostV1SubscriptionsActivateJSONRequestBody{Key: client.Ptr(key)}, as(admin))
	}
	act, err := activate(issuedKeys[0])
	s.must(act, err, 200)
	act, err = activate(issuedKeys[0])
	require.NoError(t, err)
	assert.Less(t, act.StatusCode(), 500)
	assert.NotContains(t, string(act.Body), issuedKeys[0], "a refused activation does not echo the key")
	// A key of another shape and a nearly right key are refused without being echoed.
	last := "0" // change the last character to one it is not
	if strings.HasSuffix(issuedKeys[1], last) {
		last = "1"
	}
	wrong := []string{"ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ", issuedKeys[1][:len(issuedKeys[1])-1] + last}
	for _, w := range wrong {
		r, err := activate(w)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, r.StatusCode(), 400)
		assert.Less(t, r.StatusCode(), 500)
		assert.NotContains(t, string(r.Body), w)
		licenseKeys = append(licenseKeys, w)
	}
	// A lost license key is re-issued: the new key is shown once, stored as a hash.
	rekey := &client.PostV1SubscriptionsLicensesIdReissueKeyParams{IdempotencyKey: client.Ptr("rekey-1")}
	rk, err := api.PostV1SubscriptionsLicensesIdReissueKeyWithResponse(ctx, issuedLicenses[2].Id.String(), rekey, as(admin))
	s.must(rk, err, 200)
	require.NotEmpty(t, *rk.JSON200.Key)
	licenseKeys = append(licenseKeys, *rk.JSON200.Key)
	rk2, err := api.PostV1SubscriptionsLicensesIdReissueKeyWithResponse(ctx, issuedLicenses[2].Id.String(), rekey, as(admin))
	s.must(rk2, err, 200)
	assert.Empty(t, rk2.JSON200.Key, "a replayed re-issue shows no key")
	trial, err := api.PostV1SubscriptionsTrialsWithResponse(ctx, nil, client.PostV1SubscriptionsTrialsJSONRequestBody{
		Type: client.Ptr(client.HttpTrialBodyInputTypeUser), Quantity: client.Ptr(1), EndsOn: client.Ptr("2026-12-31")}, as(admin))
	s.must(trial, err, 201)
	licenseKeys = append(licenseKeys, *trial.JSON201.Keys...)

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
	for _, k := range append(issuedKeys[:2:2], *rk.JSON200.Key) { // the third key was re-issued
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
