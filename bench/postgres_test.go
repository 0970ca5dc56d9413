package bench

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/licensekit/licensekit/bench/loadgen"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/topup"
)

// spreadPools is how many pools the spread runs allocate from.
const spreadPools = 64

// runClients runs b.N operations from clients goroutines (bounded at 10
// minutes) and fails the benchmark on any error.
func runClients(b *testing.B, clients int, op loadgen.Op) loadgen.Result {
	b.Helper()
	b.ResetTimer()
	res, err := loadgen.Run(context.Background(), loadgen.Config{Clients: clients, Requests: int64(b.N), Duration: 10 * time.Minute}, op)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.TimedOut {
		b.Fatalf("only %d of %d operations within the time bound", res.Ops, b.N)
	}
	reportRate(b, res.Ops, res.Elapsed)
	return res
}

// BenchmarkPostgresAllocate measures committed allocations
// (pool.Service.Allocate of one license to a new asset on storage/postgres)
// beside the bare transaction BEGIN; UPDATE one counter row; INSERT one event
// row; COMMIT (READ COMMITTED, as the store) on the same pgx pool, with 1, 4
// and 16 connections and as many concurrent clients, on one hot pool (every
// allocation locks the same row) and spread over 64 pools. Targets: the
// service at least half the baseline's rate; spread throughput growing with
// connections. Skipped without a PostgreSQL DSN.
func BenchmarkPostgresAllocate(b *testing.B) {
	for _, layout := range []string{"hot", "spread", "tenants"} {
		pools := 1
		if layout != "hot" {
			pools = spreadPools
		}
		for _, conns := range []int{1, 4, 16} {
			prefix := name("%s/conns=%d/", layout, conns)
			b.Run(prefix+"service", func(b *testing.B) {
				var stmts statementCounter
				s := postgresStore(b, int32(conns), stmts.option())
				svc := &pool.Service{Store: s}
				actors := make([]license.Actor, pools)
				ids := make([]string, pools)
				a := owner()
				for k := range ids {
					if layout == "tenants" {
						a = owner()
					}
					actors[k], ids[k] = a, newPool(b, svc, a, license.InstalledInstance, pool.MaxCount)
				}
				run := license.NewID()[:8]
				stmts.reset()
				runClients(b, conns, func(ctx context.Context, _ int, i int64) error {
					k := i % int64(pools)
					_, err := svc.Allocate(ctx, actors[k], ids[k], pool.AllocateRequest{Consumer: license.Consumer{Asset: run + "-" + strconv.FormatInt(i, 10)}})
					return err
				})
				stmts.report(b)
			})
			b.Run(prefix+"base-tx", func(b *testing.B) {
				ctx := context.Background()
				var stmts statementCounter
				s := postgresStore(b, int32(conns), stmts.option())
				db := s.Pool()
				if _, err := db.Exec(ctx, `CREATE TABLE counters (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)`); err != nil {
					b.Fatal(err)
				}
				if _, err := db.Exec(ctx, `INSERT INTO counters SELECT g, 0 FROM generate_series(0, $1::bigint) g`, pools-1); err != nil {
					b.Fatal(err)
				}
				stmts.reset()
				defer stmts.report(b)
				runClients(b, conns, func(ctx context.Context, _ int, i int64) error {
					return pgx.BeginTxFunc(ctx, db, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
						if _, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, i%int64(pools)); err != nil {
							return err
						}
						_, err := tx.Exec(ctx, `INSERT INTO events (id, company, "time", "type", "count", actor, subject) VALUES ($1, 'acme', $2, 'pool.allocated', 1, 'bench@acme.example', 'p')`,
							license.NewID(), time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z"))
						return err
					})
				})
			})
		}
	}
}

// statementCounter counts the statements (BEGIN and COMMIT included) the
// store's connections send, and the round trips they take: a pgx batch is
// one round trip for all its statements.
type statementCounter struct{ n, trips atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	c.trips.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.n.Add(int64(d.Batch.Len()))
	c.trips.Add(1)
	return ctx
}

func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (c *statementCounter) reset() {
	c.n.Store(0)
	c.trips.Store(0)
}

// report adds stmts/op and trips/op (round trips) to b's results.
func (c *statementCounter) report(b *testing.B) {
	b.ReportMetric(float64(c.n.Load())/float64(b.N), "stmts/op")
	b.ReportMetric(float64(c.trips.Load())/float64(b.N), "trips/op")
}

func (c *statementCounter) option() postgres.Option {
	return postgres.WithPoolConfig(func(pc *pgxpool.Config) { pc.ConnConfig.Tracer = c })
}

// BenchmarkPostgresTopUp measures enrolments that each trigger an automatic
// top-up (billing.Service with topup.Overflow at the default increment of 5:
// every enrolment of 5 devices finds no license free and buys 5, writing the site, an invoice adjustment,
// an outbox notification and two events), from 16 concurrent clients on one
// site, beside the same enrolments on a site with licenses to spare
// (base-enroll, no top-up). Reported: ops/s, retries/op (Update re-running
// its function after a serialization failure or deadlock) and
// lockwait-ms/op (time spent in GetForUpdate, mostly waiting for the site's
// row lock). Afterwards the site must hold exactly the licenses the top-ups
// added and every enrolled device.
func BenchmarkPostgresTopUp(b *testing.B) {
	const clients, devices = 16, topup.DefaultIncrement
	for _, topUp := range []bool{true, false} {
		leaf := "clients=16/enroll-topup"
		if !topUp {
			leaf = "clients=16/base-enroll"
		}
		b.Run(leaf, func(b *testing.B) {
			ctx := context.Background()
			s := &countingStore{Store: postgresStore(b, clients)}
			bill := &billing.Service{Store: s, Overflow: topup.Overflow()}
			top := &topup.Service{Store: s}
			a := owner()
			if _, err := bill.CreateCompany(ctx, a, "Bench MSP"); err != nil {
				b.Fatal(err)
			}
			licenses := int64(0)
			if !topUp {
				licenses = 1 << 39
			}
			site, err := bill.CreateSite(ctx, a, billing.NewSite{Name: "Hot site", Plan: "standard", Group: "north", PaymentType: billing.MonthlyInvoice,
				UnitPrice: license.NewMoney(decimal.RequireFromString("2.50"), "USD"), Licenses: &licenses})
			if err != nil {
				b.Fatal(err)
			}
			if topUp {
				if _, err := top.Enable(ctx, a, topup.EnableRequest{AcceptedTermsVersion: "2026-01"}); err != nil {
					b.Fatal(err)
				}
			}
			s.updates.Store(0)
			s.runs.Store(0)
			s.lockWait.Store(0)
			var toppedUp int64
			counts := make([]int64, clients)
			runClients(b, clients, func(ctx context.Context, c int, _ int64) error {
				r, err := bill.Enroll(ctx, a, billing.EnrollRequest{Site: site.ID, Devices: devices})
				if err != nil {
					return err
				}
				if topUp && r.ToppedUp != devices {
					return license.Errorf(license.Internal, "", "enrolment topped up %d licenses, want %d", r.ToppedUp, devices)
				}
				counts[c] += r.ToppedUp
				return nil
			})
			for _, n := range counts {
				toppedUp += n
			}
			b.ReportMetric(float64(s.retries())/float64(b.N), "retries/op")
			b.ReportMetric(float64(s.lockWait.Load())/1e6/float64(b.N), "lockwait-ms/op")
			got, err := bill.GetSite(ctx, a, site.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.Enrolled != int64(b.N)*devices || got.LicenseCount() != licenses+toppedUp || got.Enrolled > got.LicenseCount() {
				b.Fatalf("site after %d enrolments: %d enrolled, %d licenses (%d topped up from %d)", b.N, got.Enrolled, got.LicenseCount(), toppedUp, licenses)
			}
		})
	}
}
