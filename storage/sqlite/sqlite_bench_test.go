package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// allocate is the storage work of one license allocation: lock the pool's
// counter, insert the allocation, write the counter back, append the event.
func allocate(ctx context.Context, s storage.Store, i int) error {
	return s.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, "acme", "pool", "p1")
		if err != nil {
			return err
		}
		id := "alloc-" + strconv.Itoa(i)
		if err := tx.Insert(ctx, storage.Record{Company: "acme", Kind: "allocation", ID: id, Parent: "p1", Data: []byte(`{"consumer":"` + id + `"}`)}); err != nil {
			return err
		}
		r.Data = []byte(`{"allocated":` + strconv.Itoa(i) + `}`)
		if err := tx.Put(ctx, r); err != nil {
			return err
		}
		_, err = tx.AppendEvent(ctx, eventlog.Event{ID: id, Company: "acme", Time: time.Now(), Type: "pool.allocated", Count: 1, Actor: "bench@example.com", Subject: "p1"})
		return err
	})
}

// BenchmarkAllocation compares committed allocations through the store with
// a bare BEGIN IMMEDIATE; UPDATE one row; INSERT one event; COMMIT loop on a
// file with the same pragmas, at synchronous FULL and NORMAL.
//
//	go test -run '^$' -bench Allocation -benchtime 2s ./storage/sqlite/
func BenchmarkAllocation(b *testing.B) {
	ctx := context.Background()
	for _, sync := range []sqlite.Synchronous{sqlite.Full, sqlite.Normal} {
		b.Run(fmt.Sprintf("sync=%s/store", sync), func(b *testing.B) {
			s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sync))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Update(ctx, func(tx storage.Tx) error {
				return tx.Put(ctx, storage.Record{Company: "acme", Kind: "pool", ID: "p1", Data: []byte(`{"allocated":0}`)})
			}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := allocate(ctx, s, i); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("sync=%s/baseline", sync), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bare.db")
			s, err := sqlite.Open(path) // same schema (events table and indexes)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous("+string(sync)+")&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counters VALUES (1, 0)`); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE counters SET n = n + 1 WHERE id = 1`); err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, company, "time", "type", "count", actor, subject) VALUES ($1, 'acme', $2, 'pool.allocated', 1, 'bench@example.com', 'p1')`,
					"alloc-"+strconv.Itoa(i), time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGroupCommit runs allocations (see allocate) from 1, 8 and 32
// goroutines at once on one pool, with group commit on and off side by side,
// at synchronous FULL and NORMAL. Run it several times, interleaved, for
// benchstat:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench GroupCommit -benchtime 1s ./storage/sqlite/; done | tee gc.txt
//	benchstat -col /group gc.txt
func BenchmarkGroupCommit(b *testing.B) {
	ctx := context.Background()
	for _, sync := range []sqlite.Synchronous{sqlite.Full, sqlite.Normal} {
		for _, clients := range []int{1, 8, 32} {
			for _, group := range []bool{false, true} {
				name := fmt.Sprintf("sync=%s/clients=%d/group=%s", sync, clients, map[bool]string{false: "off", true: "on"}[group])
				b.Run(name, func(b *testing.B) {
					s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sync), sqlite.WithGroupCommit(group))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					if err := s.Update(ctx, func(tx storage.Tx) error {
						return tx.Put(ctx, storage.Record{Company: "acme", Kind: "pool", ID: "p1", Data: []byte(`{"allocated":0}`)})
					}); err != nil {
						b.Fatal(err)
					}
					var next atomic.Int64
					var wg gosync.WaitGroup
					errs := make(chan error, clients)
					b.ResetTimer()
					for range clients {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for {
								i := next.Add(1)
								if i > int64(b.N) {
									return
								}
								if err := allocate(ctx, s, int(i)); err != nil {
									errs <- err
									return
								}
							}
						}()
					}
					wg.Wait()
					b.StopTimer()
					close(errs)
					for err := range errs {
						b.Fatal(err)
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
				})
			}
		}
	}
}
