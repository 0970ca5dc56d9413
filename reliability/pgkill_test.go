package reliability_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/adapters/http/client"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
)

// holdStore holds a transaction open after its nth write, when armed, until
// released: the test kills its connection meanwhile.
type holdStore struct {
	storage.Store
	mu      sync.Mutex
	after   int // 0: not armed
	held    chan struct{}
	release chan struct{}
}

func (s *holdStore) arm(after int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.after, s.held, s.release = after, make(chan struct{}), make(chan struct{})
}

func (s *holdStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error { return fn(&holdTx{Tx: tx, s: s}) })
}

type holdTx struct {
	storage.Tx
	s      *holdStore
	writes int
}

func (t *holdTx) wrote(err error) error {
	if err != nil {
		return err
	}
	t.writes++
	t.s.mu.Lock()
	hold := t.s.after != 0 && t.writes == t.s.after
	var held, release chan struct{}
	if hold {
		t.s.after = 0
		held, release = t.s.held, t.s.release
	}
	t.s.mu.Unlock()
	if hold {
		close(held)
		<-release
	}
	return nil
}

func (t *holdTx) Put(ctx context.Context, r storage.Record) error { return t.wrote(t.Tx.Put(ctx, r)) }
func (t *holdTx) Insert(ctx context.Context, r storage.Record) error {
	return t.wrote(t.Tx.Insert(ctx, r))
}
func (t *holdTx) Delete(ctx context.Context, c string, k storage.Kind, id string) error {
	return t.wrote(t.Tx.Delete(ctx, c, k, id))
}
func (t *holdTx) AppendEvent(ctx context.Context, e eventlog.Event) (int64, error) {
	seq, err := t.Tx.AppendEvent(ctx, e)
	return seq, t.wrote(err)
}

// A PostgreSQL connection killed (pg_terminate_backend) while a purchase's
// transaction is open after its 1st, 2nd, ... write leaves no partial change:
// the client gets a 5xx, every record and event is as before, and a retry with
// the same Idempotency-Key then applies the purchase once.
func TestPostgresBackendKilledMidTransaction(t *testing.T) {
	pg, dbName := postgresStore(t)
	hs := &holdStore{Store: pg}
	s := newServer(t, hs)
	company, key := s.company("Killjoy AB", "kim@killjoy.example")
	site := s.newSite(key, "Killjoy", 10)
	admin, err := pgx.Connect(context.Background(), postgresDSN(t))
	require.NoError(t, err)
	defer admin.Close(context.Background())

	ctx := context.Background()
	purchase := func(idem string) (*client.PostV1SitesIdPurchaseResponse, error) {
		return s.api.PostV1SitesIdPurchaseWithResponse(ctx, site, &client.PostV1SitesIdPurchaseParams{IdempotencyKey: &idem},
			client.PostV1SitesIdPurchaseJSONRequestBody{Quantity: client.Ptr(5)}, client.Bearer(key))
	}
	licenses := 10
	kills := 0
	var before snapshot
writes:
	for after := 1; ; after++ {
		before = dump(t, pg, company)
		hs.arm(after)
		idem := "kill-" + string(rune('0'+after))
		done := make(chan client.Response, 1)
		go func() {
			r, err := purchase(idem)
			if err != nil {
				done <- &client.PostV1SitesIdPurchaseResponse{Body: []byte(err.Error()), HTTPResponse: &http.Response{StatusCode: -1}}
				return
			}
			done <- r
		}()
		select {
		case <-hs.held:
		case r := <-done:
			// The purchase has fewer writes than after: it committed untouched.
			require.NoError(t, client.Check(r, 200))
			licenses += 5
			hs.mu.Lock()
			hs.after = 0
			hs.mu.Unlock()
			require.Greater(t, after, 2, "a purchase writes more than twice")
			break writes
		case <-time.After(20 * time.Second):
			t.Fatal("the purchase never reached its write")
		}
		// Exactly one backend of the test database is inside a transaction: the held one.
		var pids []int32
		rows, err := admin.Query(context.Background(),
			`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`, dbName)
		require.NoError(t, err)
		for rows.Next() {
			var pid int32
			require.NoError(t, rows.Scan(&pid))
			pids = append(pids, pid)
		}
		require.NoError(t, rows.Err())
		require.Len(t, pids, 1, "one transaction is held open after write %d", after)
		var terminated bool
		require.NoError(t, admin.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", pids[0]).Scan(&terminated))
		require.True(t, terminated)
		kills++
		close(hs.release)
		r := <-done
		require.GreaterOrEqual(t, r.StatusCode(), 500, "killed after write %d: %s", after, r.Bytes())
		_, err = lkhttp.ParseProblem(r.Bytes())
		require.NoError(t, err, "%s", r.Bytes())
		require.Equal(t, before, dump(t, pg, company), "a connection killed after write %d left a partial change", after)

		// The store recovers, and the retry applies the purchase once.
		r, err = purchase(idem)
		s.must(r, err, 200)
		licenses += 5
		r, err = purchase(idem)
		s.must(r, err, 200)
		v, err := s.api.GetV1SitesIdWithResponse(ctx, site, nil, client.Bearer(key))
		s.must(v, err, 200)
		require.Equal(t, licenses, *v.JSON200.Licenses)
		require.Equal(t, before.Events[company]+1, dump(t, pg, company).Events[company], "one event for the purchase")
	}
	// The purchase that ran to its end untouched bought its licenses once and
	// logged it once.
	v, err := s.api.GetV1SitesIdWithResponse(ctx, site, nil, client.Bearer(key))
	s.must(v, err, 200)
	require.Equal(t, licenses, *v.JSON200.Licenses, "the uninterrupted purchase's licenses")
	require.Equal(t, before.Events[company]+1, dump(t, pg, company).Events[company], "one event for the uninterrupted purchase")
	var last []eventlog.Event
	require.NoError(t, pg.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: company, Sort: eventlog.ColSeq, Desc: true, Limit: 1}, func(e eventlog.Event) error {
			last = append(last, e)
			return nil
		})
	}))
	require.Len(t, last, 1)
	require.Equal(t, billing.EventPurchase, last[0].Type, "the uninterrupted purchase's event type")
	require.EqualValues(t, 5, last[0].Count, "the uninterrupted purchase's event count")
	require.Equal(t, "Killjoy", last[0].Target, "the uninterrupted purchase's event names the site")
	require.GreaterOrEqual(t, kills, 3)
	t.Logf("PostgreSQL backends terminated mid-transaction: %d (after writes 1..%d of a purchase)", kills, kills)
}
