package http_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/webhook"
)

func (f *fixture) refused(status int, code, field, method, path, key string, body any) {
	f.t.Helper()
	r := f.do(method, path, key, body)
	require.Equal(f.t, status, r.status, "%s %s: %s", method, path, r.body)
	p := r.problem(f.t)
	assert.Equal(f.t, code, p.Code)
	assert.Equal(f.t, field, p.Field)
}

func TestWebhooksOverHTTP(t *testing.T) { forEachStore(t, testWebhooksOverHTTP) }

func testWebhooksOverHTTP(t *testing.T, f *fixture) {
	var c webhook.Created
	r := f.do("POST", "/v1/webhooks", f.owner, map[string]any{"url": "https://hooks.acme.example/lk", "events": []string{"site.created"}},
		"Idempotency-Key", "wh-1")
	require.Equal(t, 201, r.status, "%s", r.body)
	r.json(t, &c)
	assert.NotEmpty(t, c.Secret)
	assert.Equal(t, "webhooks/"+c.ID, r.header.Get("Location"))
	// The replay answers the endpoint without its secret.
	var again webhook.Created
	f.ok(201, "POST", "/v1/webhooks", f.owner, map[string]any{"url": "https://hooks.acme.example/lk", "events": []string{"site.created"}}, &again,
		"Idempotency-Key", "wh-1")
	assert.Empty(t, again.Secret)
	assert.True(t, again.Replayed)
	assert.Equal(t, c.ID, again.ID)

	f.refused(400, "invalid", "url", "POST", "/v1/webhooks", f.owner, map[string]any{"url": "http://hooks.acme.example/lk", "events": []string{"*"}})
	f.refused(403, "forbidden", "role", "GET", "/v1/webhooks", f.key("ed@acme.example", license.Admin), nil)

	f.site("Acme Oulu", ptr[int64](5)) // a site.created event
	var ds lkhttp.List[webhook.Delivery]
	f.ok(200, "GET", "/v1/webhooks/"+c.ID+"/deliveries?status=pending", f.owner, nil, &ds)
	require.Len(t, ds.Items, 1)
	assert.Equal(t, eventlog.Type("site.created"), ds.Items[0].EventType)
	assert.NotContains(t, string(f.do("GET", "/v1/webhooks/"+c.ID, f.owner, nil).body), c.Secret[len(webhook.SecretPrefix):])

	var rot webhook.Created
	f.ok(200, "POST", "/v1/webhooks/"+c.ID+"/rotate-secret", f.owner, map[string]any{"overlap_seconds": 3600}, &rot)
	assert.NotEqual(t, c.Secret, rot.Secret)
	assert.Equal(t, testStart.Add(3600e9), rot.PreviousSecretExpiresAt)

	var red webhook.Delivery
	f.ok(200, "POST", "/v1/webhooks/"+c.ID+"/deliveries/"+ds.Items[0].ID+"/redeliver", f.owner, nil, &red)
	assert.Equal(t, webhook.StatusPending, red.Status)

	var ep webhook.Endpoint
	f.ok(200, "PATCH", "/v1/webhooks/"+c.ID, f.owner, map[string]any{"enabled": false}, &ep)
	assert.False(t, ep.Enabled)
	f.refused(409, "conflict", "enabled", "POST", "/v1/webhooks/"+c.ID+"/deliveries/"+ds.Items[0].ID+"/redeliver", f.owner, nil)
	f.ok(200, "DELETE", "/v1/webhooks/"+c.ID, f.owner, nil, &ep)
	f.refused(404, "not_found", "id", "GET", "/v1/webhooks/"+c.ID, f.owner, nil)
}
