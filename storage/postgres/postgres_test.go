package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/storagetest"
)

// dsnEnv names the variable holding the test database's DSN.
const dsnEnv = "LICENSEKIT_TEST_POSTGRES_DSN"

var (
	adminOnce sync.Once
	admin     *pgxpool.Pool
	adminErr  error
)

// testDSN returns the DSN of the test database, skipping the test when none is
// configured outside CI and failing it under CI (CI=true) or when the database
// cannot be reached.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; under CI the PostgreSQL tests must run (see .ci/run)", dsnEnv)
		}
		t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them", dsnEnv)
	}
	adminOnce.Do(func() {
		admin, adminErr = pgxpool.New(context.Background(), dsn)
		if adminErr == nil {
			adminErr = admin.Ping(context.Background())
		}
	})
	if adminErr != nil {
		t.Fatalf("PostgreSQL at %s=%q cannot be reached: %v", dsnEnv, dsn, adminErr)
	}
	return dsn
}

// freshSchema creates an empty schema for one test and drops it at cleanup.
func freshSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	dsn = testDSN(t)
	schema = fmt.Sprintf("lk_test_%d_%08x", os.Getpid(), rand.Uint32())
	_, err := admin.Exec(context.Background(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		require.NoError(t, err)
	})
	return dsn, schema
}

func newStore(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	dsn, schema := freshSchema(t)
	// Suites may open many stores in one test (one per rapid check); idle
	// connections of abandoned stores are closed quickly so that they do not
	// exhaust the server's max_connections.
	small := postgres.WithPoolConfig(func(c *pgxpool.Config) {
		c.MaxConns = 8
		c.MaxConnIdleTime = 300 * time.Millisecond
		c.HealthCheckPeriod = 200 * time.Millisecond
	})
	s, err := postgres.Open(context.Background(), dsn, append([]postgres.Option{postgres.WithSchema(schema), small}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storagetest.RunWith(t, func(t testing.TB) storage.Store { return newStore(t) },
		storagetest.Features{Parallel: true, Short: testing.Short()})
}

// TestQueuedWriteFailure makes a Put that the database refuses (a parent
// that is not valid UTF-8). Put queues its write for the next round trip, so
// the failure surfaces at the transaction's next statement or at commit; in
// both cases Update fails and nothing of the transaction is stored.
func TestQueuedWriteFailure(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	good := storage.Record{Company: "acme", Kind: "pool", ID: "good", Data: []byte(`{}`)}
	bad := storage.Record{Company: "acme", Kind: "pool", ID: "bad", Parent: "\xff", Data: []byte(`{}`)}

	// Failure reported by commit: fn ignores nothing, Put itself succeeded.
	err := s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, good); err != nil {
			return err
		}
		return tx.Put(ctx, bad)
	})
	require.Error(t, err)
	require.Equal(t, license.Internal, license.ErrorCode(err), "%v", err)

	// Failure reported by the next statement; fn swallowing it does not
	// let the transaction commit.
	var nextErr error
	err = s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, good); err != nil {
			return err
		}
		if err := tx.Put(ctx, bad); err != nil {
			return err
		}
		_, nextErr = tx.Get(ctx, "acme", "pool", "good")
		_, _ = tx.AppendEvent(ctx, eventlog.Event{ID: "e1", Company: "acme", Time: time.Now(), Type: "test.event"})
		return nil
	})
	require.Error(t, nextErr, "the queued write's failure surfaces at the next statement")
	require.Error(t, err, "a transaction whose queued write failed must not commit")

	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		_, err := tx.Get(ctx, "acme", "pool", "good")
		require.True(t, storage.IsNotFound(err), "nothing of the failed transactions is stored: %v", err)
		n, err := tx.CountEvents(ctx, eventlog.Filter{Company: "acme"})
		require.NoError(t, err)
		require.Zero(t, n)
		return nil
	}))
	// The store (and its connections) still work.
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, good) }))
}

// tripCounter counts round trips: a statement sent alone or a batch.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestAllocationRoundTrips checks that the storage work of an allocation
// (lock the pool, insert the allocation, update the pool, append its event,
// commit) takes three round trips once the connection's statements are
// prepared: BEGIN with the lock; the insert with the event chain head; the
// pool update, the linked event and the head's move with COMMIT.
func TestAllocationRoundTrips(t *testing.T) {
	ctx := context.Background()
	var trips tripCounter
	s := newStore(t, postgres.WithMaxConns(1), postgres.WithPoolConfig(func(c *pgxpool.Config) { c.ConnConfig.Tracer = &trips }))
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Record{Company: "acme", Kind: "pool", ID: "p1", Data: []byte(`{"allocated":0}`)})
	}))
	for i := range int64(3) { // warm up: prepare the statements, create the chain head
		require.NoError(t, allocate(ctx, s, "acme", "p1", i))
	}
	trips.n.Store(0)
	for i := range int64(10) {
		require.NoError(t, allocate(ctx, s, "acme", "p1", 100+i))
	}
	require.EqualValues(t, 30, trips.n.Load(), "round trips for 10 allocations")
	require.EqualValues(t, 13, requireIntact(t, s, "acme").Checked)
}
