package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
)

// owner returns an Owner actor of a fresh company.
func owner() license.Actor {
	return license.Actor{Company: license.NewID(), Email: "bench@acme.example", Role: license.Owner}
}

// newPool creates an active pool of metric m holding seats licenses.
func newPool(b *testing.B, svc *pool.Service, a license.Actor, m license.Metric, seats int64) string {
	b.Helper()
	ctx := context.Background()
	p, err := svc.Create(ctx, a, pool.CreateRequest{Spec: pool.Spec{Name: "bench " + license.NewID()[:8], Model: license.Perpetual, Metric: m, Software: []string{"cad"}}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.AddTransaction(ctx, a, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: seats}); err != nil {
		b.Fatal(err)
	}
	return p.ID
}

// isCode reports whether err is a *license.Error with code.
func isCode(err error, code license.Code) bool {
	var le *license.Error
	return errors.As(err, &le) && le.Code == code
}

// highWater counts what is held right now and remembers the most ever held.
// Callers add after an acquire committed and subtract before its release
// starts, so the count never exceeds what the store holds.
type highWater struct{ now, peak atomic.Int64 }

func (h *highWater) add() {
	n := h.now.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (h *highWater) done() { h.now.Add(-1) }

// checkPool asserts that pool id's stored counters equal a recount of its
// records and that nothing is allocated or leased any more.
func checkPool(b *testing.B, svc *pool.Service, a license.Actor, id string) pool.Audit {
	b.Helper()
	au, err := svc.Audit(context.Background(), a, id)
	if err != nil {
		b.Fatal(err)
	}
	if !au.Consistent() {
		b.Fatalf("pool %s: stored counters %+v differ from the recount %+v", id, au.Stored, au.Recomputed)
	}
	if au.Counts.Allocated != 0 {
		b.Fatalf("pool %s: after the run %d of %d licenses are still allocated", id, au.Counts.Allocated, au.Counts.Total)
	}
	return au
}

// postgresDSN returns the database for the PostgreSQL benchmarks or skips.
func postgresDSN(b *testing.B) string {
	for _, v := range []string{"LICENSEKIT_BENCH_POSTGRES_DSN", "LICENSEKIT_TEST_POSTGRES_DSN"} {
		if dsn := os.Getenv(v); dsn != "" {
			return dsn
		}
	}
	b.Skip("PostgreSQL benchmarks need LICENSEKIT_BENCH_POSTGRES_DSN or LICENSEKIT_TEST_POSTGRES_DSN")
	return ""
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// postgresStore opens a store in a fresh schema (dropped afterwards) with
// opts; conns sizes its pgx pool.
func postgresStore(b *testing.B, conns int32, opts ...postgres.Option) *postgres.Store {
	b.Helper()
	ctx := context.Background()
	dsn := postgresDSN(b)
	schema := "bench_" + unsafeName.ReplaceAllString(strings.ToLower(license.NewID()), "")[:20]
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
		_ = admin.Close(context.WithoutCancel(ctx))
	})
	s, err := postgres.Open(ctx, dsn, append([]postgres.Option{postgres.WithSchema(schema), postgres.WithMaxConns(conns)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// countingStore counts how often Update runs its function (more runs than
// Updates are retries) and how long GetForUpdate waits.
type countingStore struct {
	storage.Store
	updates, runs, lockWait atomic.Int64 // lockWait in nanoseconds
}

func (s *countingStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		s.runs.Add(1)
		return fn(&timedTx{Tx: tx, wait: &s.lockWait})
	})
}

func (s *countingStore) retries() int64 { return s.runs.Load() - s.updates.Load() }

type timedTx struct {
	storage.Tx
	wait *atomic.Int64
}

func (t *timedTx) GetForUpdate(ctx context.Context, company string, kind storage.Kind, id string) (storage.Record, error) {
	t0 := time.Now()
	r, err := t.Tx.GetForUpdate(ctx, company, kind, id)
	t.wait.Add(int64(time.Since(t0)))
	return r, err
}

// reportRate adds ops/s to the benchmark's output.
func reportRate(b *testing.B, ops int64, d time.Duration) {
	if d > 0 {
		b.ReportMetric(float64(ops)/d.Seconds(), "ops/s")
	}
}

func name(format string, args ...any) string { return fmt.Sprintf(format, args...) }
