package bench

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/licensekit/licensekit/bench/loadgen"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// BenchmarkSQLiteLeases measures claim-and-release through the reference
// server (adapters/http on a loopback listener) on SQLite at synchronous FULL
// and NORMAL, with 10 and 64 seats and 1, 8 and 32 clients, beside base-tx:
// a bare sequential loop of BEGIN IMMEDIATE; UPDATE one row; INSERT one
// event row; COMMIT on a file with the same pragmas. Each client claims a
// seat for a user of its own and, when it got one, releases it; a claim
// refused for want of a free seat (409 insufficient_licenses) is counted in
// refused/op and the client tries again. One op is one claim, granted or
// refused; pairs/s counts the granted claims released. Every run asserts
// that the store (polled every 2 ms) never showed more leases held than
// seats, nor the clients, and that the pool's counters equal a recount
// afterwards. cpu-µs/op is the CPU time of the whole process (server, clients
// and the seat watch) per op, which moves much less than the wall time on a
// shared machine; store-calls/op counts the storage.Tx calls of the server
// (and the watch) per op. p99-µs is the 99th percentile of an op's latency (a claim,
// and its release when granted). With 10 seats the layouts run twice: "http"
// clients claim again at once when refused, "http-wait" clients ask the
// server to wait up to 10 s for a seat (wait_seconds); see leaseModes.
//
// Targets: at 32 clients, pairs/s at least 0.5x base-tx's transactions/s at
// FULL and 0.1x at NORMAL; 32 clients at least 0.9x the rate of 8.
func BenchmarkSQLiteLeases(b *testing.B) {
	for _, sync := range []sqlite.Synchronous{sqlite.Full, sqlite.Normal} {
		prefix := "sync=" + string(sync) + "/"
		b.Run(prefix+"base-tx", func(b *testing.B) { bareSQLiteLoop(b, sync) })
		for _, seats := range []int64{10, 64} {
			for _, clients := range clientCounts {
				for _, mode := range leaseModes(seats) {
					b.Run(name("%sseats=%d/clients=%d/%s", prefix, seats, clients, mode), func(b *testing.B) {
						s, err := sqlite.Open(filepath.Join(b.TempDir(), "leases.db"), sqlite.WithSynchronous(sync))
						if err != nil {
							b.Fatal(err)
						}
						b.Cleanup(func() { s.Close() })
						calls := &callStore{Store: s}
						srv := newServer(b, calls)
						svc := &pool.Service{Store: s}
						id := newPool(b, svc, srv.actor, license.ConcurrentUser, seats)
						cl := srv.client(clients)
						var hw highWater
						var refused, pairs atomic.Int64
						watch := watchSeats(b, svc, srv.actor, id)
						calls.n.Store(0)
						cpu0 := cpuTime()
						res := runClients(b, clients, func(ctx context.Context, c int, _ int64) error {
							var lease string
							var err error
							if mode == "http-wait" {
								lease, err = cl.AcquireLeaseWaiting(ctx, id, "u"+strconv.Itoa(c), 10*time.Second)
							} else {
								lease, err = cl.AcquireLease(ctx, id, "u"+strconv.Itoa(c))
							}
							if refusal(err) {
								refused.Add(1)
								return nil
							}
							if err != nil {
								return err
							}
							hw.add()
							hw.done()
							if err := cl.ReleaseLease(ctx, id, lease); err != nil {
								return err
							}
							pairs.Add(1)
							return nil
						})
						cpu, n := cpuTime()-cpu0, calls.n.Load()
						watch.check(b, hw.peak.Load(), seats)
						checkPool(b, svc, srv.actor, id)
						if res.Elapsed > 0 {
							b.ReportMetric(float64(pairs.Load())/res.Elapsed.Seconds(), "pairs/s")
						}
						b.ReportMetric(float64(refused.Load())/float64(max(res.Ops, 1)), "refused/op")
						b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
						b.ReportMetric(float64(cpu.Microseconds())/float64(max(res.Ops, 1)), "cpu-µs/op")
						b.ReportMetric(float64(n)/float64(max(res.Ops, 1)), "store-calls/op")
					})
				}
			}
		}
	}
}

// leaseModes are the client behaviours measured on a pool of seats: "http"
// claims and, when refused, claims again at once; "http-wait" claims with
// wait_seconds, so that a client finding no seat free waits on the server
// for the next release. With 64 seats no claim is refused at up to 32
// clients and the two are the same, so only "http" runs there.
func leaseModes(seats int64) []string {
	if seats < 32 {
		return []string{"http", "http-wait"}
	}
	return []string{"http"}
}

// refusal reports whether err is the server's answer that no seat is free.
func refusal(err error) bool {
	var se *loadgen.StatusError
	return errors.As(err, &se) && se.Status == 409 && strings.Contains(se.Body, string(license.InsufficientLicenses))
}

// bareSQLiteLoop runs b.N bare transactions (BEGIN IMMEDIATE; UPDATE one
// counter row; INSERT one event row; COMMIT) with prepared statements on one
// connection to a file with the store's schema and pragmas, and reports
// tx/s.
func bareSQLiteLoop(b *testing.B, sync sqlite.Synchronous) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bare.db")
	s, err := sqlite.Open(path) // the store's schema: events table, indexes
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+string(sync)+")")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	c, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counters VALUES ('p1', 0)`); err != nil {
		b.Fatal(err)
	}
	upd, err := c.PrepareContext(ctx, `UPDATE counters SET n = n + 1 WHERE id = ?`)
	if err != nil {
		b.Fatal(err)
	}
	ins, err := c.PrepareContext(ctx, `INSERT INTO events (id, company, "time", "type", "count", actor, subject) VALUES (?, 'acme', ?, 'pool.allocated', 1, 'bench@acme.example', 'p1')`)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			b.Fatal(err)
		}
		if _, err := upd.ExecContext(ctx, "p1"); err != nil {
			b.Fatal(err)
		}
		if _, err := ins.ExecContext(ctx, license.NewID(), time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, int64(b.N), time.Since(start))
}

// cpuTime returns the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// callStore counts the storage.Tx calls made through it.
type callStore struct {
	storage.Store
	n atomic.Int64
}

func (s *callStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error { return fn(&callTx{tx, s}) })
}

func (s *callStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error { return fn(&callTx{tx, s}) })
}

type callTx struct {
	storage.Tx
	s *callStore
}

func (t *callTx) count() { t.s.n.Add(1) }

func (t *callTx) Get(ctx context.Context, company string, kind storage.Kind, id string) (storage.Record, error) {
	t.count()
	return t.Tx.Get(ctx, company, kind, id)
}

func (t *callTx) GetForUpdate(ctx context.Context, company string, kind storage.Kind, id string) (storage.Record, error) {
	t.count()
	return t.Tx.GetForUpdate(ctx, company, kind, id)
}

func (t *callTx) GetByUnique(ctx context.Context, company string, kind storage.Kind, unique string) (storage.Record, error) {
	t.count()
	return t.Tx.GetByUnique(ctx, company, kind, unique)
}

func (t *callTx) List(ctx context.Context, q storage.ListQuery) ([]storage.Record, error) {
	t.count()
	return t.Tx.List(ctx, q)
}

func (t *callTx) Put(ctx context.Context, r storage.Record) error {
	t.count()
	return t.Tx.Put(ctx, r)
}

func (t *callTx) Insert(ctx context.Context, r storage.Record) error {
	t.count()
	return t.Tx.Insert(ctx, r)
}

func (t *callTx) Delete(ctx context.Context, company string, kind storage.Kind, id string) error {
	t.count()
	return t.Tx.Delete(ctx, company, kind, id)
}

func (t *callTx) AppendEvent(ctx context.Context, e eventlog.Event) (int64, error) {
	t.count()
	return t.Tx.AppendEvent(ctx, e)
}
