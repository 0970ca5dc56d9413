package postgres_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
)

const benchCounters = 64

// allocate is the storage work of one license allocation on pool p of company.
func allocate(ctx context.Context, s storage.Store, company, p string, i int64) error {
	return s.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, company, "pool", p)
		if err != nil {
			return err
		}
		id := "alloc-" + strconv.FormatInt(i, 10)
		if err := tx.Insert(ctx, storage.Record{Company: company, Kind: "allocation", ID: id, Parent: p, Data: []byte(`{"consumer":"` + id + `"}`)}); err != nil {
			return err
		}
		r.Data = []byte(`{"allocated":` + strconv.FormatInt(i, 10) + `}`)
		if err := tx.Put(ctx, r); err != nil {
			return err
		}
		_, err = tx.AppendEvent(ctx, eventlog.Event{ID: id, Company: company, Time: time.Now(), Type: "pool.allocated", Count: 1, Actor: "bench@example.com", Subject: p})
		return err
	})
}

// BenchmarkAllocation compares committed allocations through the store with a
// bare BEGIN; UPDATE ... WHERE id=$1; INSERT event; COMMIT on the same pgx pool,
// with 1, 4 and 16 connections: on one hot counter ("hot"), spread over 64
// counters of one company ("spread"), and over 64 counters in 16 companies
// ("tenants"). One transaction of a company at a time holds its event chain
// head (from its first write to commit); the others skip it and append
// unlinked, for the next holder to link, so "spread" shows the cost of that
// contention and "tenants" the scaling across companies.
//
//	LICENSEKIT_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench Allocation -benchtime 2s ./storage/postgres/
func BenchmarkAllocation(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"hot", "spread", "tenants"} {
		for _, conns := range []int{1, 4, 16} {
			name := fmt.Sprintf("%s/conns=%d", mode, conns)
			counter := func(i int64) int64 {
				if mode != "hot" {
					return i % benchCounters
				}
				return 0
			}
			company := func(k int64) string {
				if mode == "tenants" {
					return "acme" + strconv.FormatInt(k%16, 10)
				}
				return "acme"
			}
			setup := func(b *testing.B) *postgres.Store {
				s := newStore(b, postgres.WithMaxConns(int32(conns)))
				if err := s.Update(ctx, func(tx storage.Tx) error {
					for k := range int64(benchCounters) {
						if err := tx.Put(ctx, storage.Record{Company: company(k), Kind: "pool", ID: "p" + strconv.FormatInt(k, 10), Data: []byte(`{"allocated":0}`)}); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				b.SetParallelism(max(1, (conns+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
				return s
			}
			b.Run(name+"/store", func(b *testing.B) {
				s := setup(b)
				var n atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						k := counter(i)
						if err := allocate(ctx, s, company(k), "p"+strconv.FormatInt(k, 10), i); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run(name+"/baseline", func(b *testing.B) {
				s := setup(b)
				pool := s.Pool()
				if _, err := pool.Exec(ctx, `CREATE TABLE counters (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)`); err != nil {
					b.Fatal(err)
				}
				if _, err := pool.Exec(ctx, `INSERT INTO counters SELECT g, 0 FROM generate_series(0, $1) g`, benchCounters-1); err != nil {
					b.Fatal(err)
				}
				var n atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
							if _, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, counter(i)); err != nil {
								return err
							}
							_, err := tx.Exec(ctx, `INSERT INTO events (id, company, "time", "type", "count", actor, subject) VALUES ($1, $2, $3, 'pool.allocated', 1, 'bench@example.com', 'p')`,
								"alloc-"+strconv.FormatInt(i, 10), company(counter(i)), time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z"))
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
