package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/topup"
	"github.com/licensekit/licensekit/webhook"
)

// Three reference server processes on one PostgreSQL database, 32 clients
// spread over them:
//   - the lease, allocation and site history is linearizable across the
//     processes (porcupine, the model of linearizability_test.go), and the
//     pools read back from the store hold no more than their seats;
//   - a key revoked through one process is refused by all three once
//     lkhttp.DefaultKeyCacheTTL has passed (by the revoking one at once);
//   - every background job does each item once across the processes: each
//     webhook delivery reaches the receiver once (one attempt each), each
//     top-up notification is sent once (one attempt, one log line), a due
//     subscription renews once, and each event-chain checkpoint (one per
//     chain position) is made by one process.
func TestThreeServersOnOnePostgres(t *testing.T) {
	dsn, _ := postgresDatabase(t)
	dir := t.TempDir()
	common := []string{"-postgres", dsn, "-interval", "500ms", "-attachments", filepath.Join(dir, "attachments"),
		"-webhook-key", filepath.Join(dir, "webhook.key"), "-webhook-allow-http", "-webhook-allow-private", "-webhook-timeout", "5s",
		"-checkpoint-key", filepath.Join(dir, "checkpoint.key"), "-checkpoint-interval", "500ms"}
	// One at a time: the first creates the schema, the demo data and the key files.
	procs := []*proc{startServer(t, append(common, "-owner-key-file", filepath.Join(dir, "owner.key"))...)}
	procs = append(procs, startServer(t, common...), startServer(t, common...))
	bases := []string{procs[0].base, procs[1].base, procs[2].base}
	ctx := context.Background()

	pg, err := postgres.Open(ctx, dsn, postgres.WithMaxConns(8))
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	store := webhook.Wrap(pg)

	rc := newHookReceiver(t, false)
	rc.delay = 10 * time.Millisecond
	var linCompany, hookID string
	checkLinearizable(t, store, linOptions{bases: bases, clients: 32, onWorld: func(company, key string) {
		linCompany = company
		var c webhook.Created
		r := mustCall(t, bases[1], "POST", "/v1/webhooks", key, map[string]any{"url": rc.URL, "events": []string{"*"}}, 201)
		require.NoError(t, json.Unmarshal(r.body, &c))
		rc.setSecret(c.Secret)
		hookID = c.ID
		checkRevocation(t, bases, key)
	}})

	// A second company for the top-up and subscription jobs (its top-up
	// would change the enrolment rules the model above assumes).
	company, key := newCompany(t, store, license.SystemClock{}, "Jobs Oy", "jobs@jobs.example")
	mustCall(t, bases[0], "POST", "/v1/topup/enable", key, map[string]string{"accepted_terms_version": "2026-01"}, 200)
	mustCall(t, bases[1], "POST", "/v1/topup/recipients", key, map[string]any{"emails": []string{"it@jobs.example"}}, 200)
	for i := range 6 {
		var site struct{ ID string }
		r := mustCall(t, bases[i%3], "POST", "/v1/sites", key, siteBody(fmt.Sprintf("Jobs %d", i), 5), 201)
		require.NoError(t, json.Unmarshal(r.body, &site))
		mustCall(t, bases[(i+1)%3], "POST", "/v1/sites/"+site.ID+"/enroll", key, map[string]int64{"quantity": 8}, 200)
	}
	var issued subscription.Issued
	r := mustCall(t, bases[2], "POST", "/v1/subscriptions/purchase", key, map[string]any{"type": "computer", "quantity": 2,
		"billing_period": "monthly", "unit_price": map[string]string{"amount": "5.00", "currency": "USD"}}, 201)
	require.NoError(t, json.Unmarshal(r.body, &issued))
	// Make both licenses due for renewal now.
	for _, l := range issued.Licenses {
		require.NoError(t, store.Update(ctx, func(tx storage.Tx) error {
			cur, rec, err := storage.Load[subscription.License](ctx, tx, company, subscription.KindLicense, l.ID, true)
			if err != nil {
				return err
			}
			cur.ExpirationDate, cur.AutoRenew = time.Now().Add(-time.Minute), true
			return storage.Save(ctx, tx, rec, cur)
		}))
	}

	waitStart := time.Now()
	var state string
	defer func() {
		if t.Failed() {
			all := procs[0].stderr.String() + procs[1].stderr.String() + procs[2].stderr.String()
			var failed []string
			for _, l := range strings.Split(all, "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					failed = append(failed, l)
				}
			}
			t.Logf("last state: %s; %d warnings and errors logged, the last ones: %v", state, len(failed), failed[max(0, len(failed)-5):])
		}
	}()
	waitFor(t, "every background job", func() bool {
		var queued, pendingTopUps, renewed int
		var cps [2]int
		err := store.View(ctx, func(tx storage.Tx) error {
			q, err := tx.List(ctx, storage.ListQuery{AllCompanies: true, Kind: webhook.KindQueue})
			queued = len(q)
			if err != nil {
				return err
			}
			p, err := tx.List(ctx, storage.ListQuery{Company: company, Kind: topup.KindOutbox, Parent: string(topup.StatusPending)})
			pendingTopUps = len(p)
			if err != nil {
				return err
			}
			ls, err := storage.ListOf[subscription.License](ctx, tx, storage.ListQuery{Company: company, Kind: subscription.KindLicense})
			for _, l := range ls {
				if l.Renewals > 0 {
					renewed++
				}
			}
			if err != nil {
				return err
			}
			for i, c := range []string{linCompany, company} {
				cs, err := storage.Checkpoints(ctx, tx, c)
				if err != nil {
					return err
				}
				cps[i] = len(cs)
			}
			return nil
		})
		state = fmt.Sprintf("err %v, webhook deliveries queued %d, top-ups pending %d, renewed %d, checkpoints %v", err, queued, pendingTopUps, renewed, cps)
		return err == nil && queued == 0 && pendingTopUps == 0 && renewed == 2 && cps[0] > 0 && cps[1] > 0
	})
	drained := time.Since(waitStart)
	for _, p := range procs {
		p.stop(t)
	}
	logs := procs[0].stderr.String() + procs[1].stderr.String() + procs[2].stderr.String()

	// Webhooks: one request per delivery, one attempt each.
	_, ids := rc.subjects()
	_, bad := rc.received()
	assert.Empty(t, bad, "every delivery verifies")
	deliveries := listDeliveries(t, store)
	require.NotEmpty(t, deliveries)
	for _, d := range deliveries {
		if d.Endpoint != hookID {
			continue
		}
		assert.Equal(t, webhook.StatusDelivered, d.Status, d.ID)
		assert.Equal(t, 1, d.Attempts, "delivery %s", d.ID)
		assert.Equal(t, 1, ids[d.ID], "delivery %s reached the receiver %d times", d.ID, ids[d.ID])
	}

	t.Logf("three servers: %d webhook deliveries (receiver answering after %v), each sent once; the background jobs were done %v after the last request",
		len(ids), rc.delay, drained.Round(time.Millisecond))

	// Top-up notifications: one attempt and one log line each.
	outbox, err := storage.ViewList[topup.OutboxEntry](ctx, store, storage.ListQuery{Company: company, Kind: topup.KindOutbox})
	require.NoError(t, err)
	require.Len(t, outbox, 6)
	for _, o := range outbox {
		assert.Equal(t, topup.StatusDelivered, o.Status)
		assert.Equal(t, 1, o.Attempts, "notification %s", o.ID)
		assert.Equal(t, 1, strings.Count(logs, "notification="+o.ID), "notification %s logged once", o.ID)
	}

	// Subscription tick: each due license renewed once.
	var renewals int64
	require.NoError(t, store.View(ctx, func(tx storage.Tx) error {
		var err error
		renewals, err = tx.CountEvents(ctx, eventlog.Filter{Company: company, Types: []eventlog.Type{subscription.EventRenewed}})
		return err
	}))
	assert.Equal(t, int64(2), renewals, "two due licenses, two renewals")

	// Checkpoints: one per chain position, whichever process made it (a
	// round cut short by its deadline may fail, as unavailable, and the next
	// one carries on; a conflict would mean a chain that broke).
	assert.NotRegexp(t, `checkpoint refused.*error_code=conflict`, logs)
	for _, c := range []string{linCompany, company} {
		var cps []eventlog.Checkpoint
		require.NoError(t, store.View(ctx, func(tx storage.Tx) error {
			var err error
			cps, err = storage.Checkpoints(ctx, tx, c)
			return err
		}))
		stored := map[string]bool{}
		for _, cp := range cps {
			stored[fmt.Sprint(cp.Chain)] = true
		}
		logged := map[string]int{}
		for _, m := range regexp.MustCompile(`msg="event chain checkpoint" company=`+c+` chain=(\d+) `).FindAllStringSubmatch(logs, -1) {
			logged[m[1]]++
		}
		require.NotEmpty(t, logged)
		for chain, n := range logged {
			assert.Equal(t, 1, n, "checkpoint %s of %s made by %d processes", chain, c, n)
			assert.True(t, stored[chain], "checkpoint %s of %s logged, not stored", chain, c)
		}
	}
}

// checkRevocation issues a key, has each process authenticate it (so each
// caches it), revokes it through the first and checks who refuses it when.
func checkRevocation(t *testing.T, bases []string, owner string) {
	t.Helper()
	var k lkhttp.CreatedAPIKey
	r := mustCall(t, bases[0], "POST", "/v1/apikeys", owner, map[string]string{"email": "temp@linear.example", "role": "viewer"}, 201)
	require.NoError(t, json.Unmarshal(r.body, &k))
	for _, b := range bases {
		mustCall(t, b, "GET", "/v1/sites", k.Key, nil, 200)
	}
	mustCall(t, bases[0], "DELETE", "/v1/apikeys/"+k.APIKey.ID, owner, nil, 200)
	revoked := time.Now()
	mustCall(t, bases[0], "GET", "/v1/sites", k.Key, nil, 401) // the revoking process at once
	time.Sleep(time.Until(revoked.Add(lkhttp.DefaultKeyCacheTTL + 50*time.Millisecond)))
	for _, b := range bases {
		mustCall(t, b, "GET", "/v1/sites", k.Key, nil, 401)
	}
}

func mustCall(t *testing.T, base, method, path, key string, body any, status int) resp {
	t.Helper()
	r, err := call(context.Background(), http.DefaultClient, base, method, path, key, body)
	require.NoError(t, err)
	require.Equal(t, status, r.status, "%s %s on %s: %s", method, path, base, r.body)
	return r
}
