package bench

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/semaphore"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// BenchmarkMemoryAllocateRelease measures an allocate+release pair of one
// license (two transactions, events included) on the memory store, beside a
// bare mutex-guarded map update (base-map) and a
// golang.org/x/sync/semaphore TryAcquire+Release (base-sem). Target: the pair
// within 200x of base-map. serial/base-json and serial/base-encode are for
// reading the result: a map of JSON documents where each half of the pair
// decodes the pool's stored record, changes a counter and encodes it back, or
// only encodes it (what a store of documents must at least do; the memory
// store, which holds values, now does neither on this path).
//
// serial: one goroutine. parallel64/pools=1: 64 goroutines contend for the 32
// seats of one pool (an attempt that finds no free seat is counted in
// refused/op and is not an error). parallel64/pools=64: the 64 goroutines
// spread over 64 pools. Every parallel run asserts afterwards that no pool ever
// held more than its seats, that the pool.allocated events equal the
// allocations that succeeded, and that the stored counters equal a recount.
func BenchmarkMemoryAllocateRelease(b *testing.B) {
	b.Run("serial/pool", func(b *testing.B) {
		ctx := context.Background()
		svc := &pool.Service{Store: memory.New()}
		a := owner()
		id := newPool(b, svc, a, license.InstalledInstance, 10)
		req := pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc-1"}}
		b.ReportAllocs()
		for b.Loop() {
			al, err := svc.Allocate(ctx, a, id, req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Release(ctx, a, id, al.ID); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		checkPool(b, svc, a, id)
	})
	b.Run("serial/base-map", func(b *testing.B) {
		var mu sync.Mutex
		held := map[string]int64{}
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			held["pool"]++
			mu.Unlock()
			mu.Lock()
			held["pool"]--
			mu.Unlock()
		}
	})
	b.Run("serial/base-json", func(b *testing.B) {
		// The least a store of JSON documents does for the pair: decode the
		// pool's record, change its counter, encode it back, twice.
		ctx := context.Background()
		store := memory.New()
		a := owner()
		id := newPool(b, &pool.Service{Store: store}, a, license.InstalledInstance, 10)
		var rec storage.Record
		if err := store.View(ctx, func(tx storage.Tx) error {
			var err error
			rec, err = tx.Get(ctx, a.Company, pool.KindPool, id)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		docs := map[string][]byte{id: rec.Data}
		step := func(d int64) {
			mu.Lock()
			defer mu.Unlock()
			var p pool.Pool
			if err := json.Unmarshal(docs[id], &p); err != nil {
				b.Fatal(err)
			}
			p.AllocatedManual += d
			data, err := json.Marshal(&p)
			if err != nil {
				b.Fatal(err)
			}
			docs[id] = data
		}
		b.ReportAllocs()
		for b.Loop() {
			step(1)
			step(-1)
		}
	})
	b.Run("serial/base-encode", func(b *testing.B) {
		// The least a store of JSON documents does for the pair when it
		// never decodes (values kept beside their documents, as
		// storage.SaveKept does): encode the pool's record after each of
		// the two changes.
		ctx := context.Background()
		svc := &pool.Service{Store: memory.New()}
		a := owner()
		id := newPool(b, svc, a, license.InstalledInstance, 10)
		p, err := svc.Get(ctx, a, id)
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		docs := map[string][]byte{}
		step := func(d int64) {
			mu.Lock()
			defer mu.Unlock()
			p.AllocatedManual += d
			data, err := json.Marshal(p)
			if err != nil {
				b.Fatal(err)
			}
			docs[id] = data
		}
		b.ReportAllocs()
		for b.Loop() {
			step(1)
			step(-1)
		}
	})
	b.Run("serial/base-sem", func(b *testing.B) {
		sem := semaphore.NewWeighted(10)
		b.ReportAllocs()
		for b.Loop() {
			if !sem.TryAcquire(1) {
				b.Fatal("semaphore full")
			}
			sem.Release(1)
		}
	})
	for _, pools := range []int{1, 64} {
		seats := int64(max(1, 32/pools)) // one pool: 32 seats for 64 goroutines
		prefix := name("parallel64/pools=%d/", pools)
		b.Run(prefix+"pool", func(b *testing.B) {
			ctx := context.Background()
			store := memory.New()
			svc := &pool.Service{Store: store}
			a := owner()
			ids := make([]string, pools)
			hw := make([]highWater, pools)
			for i := range ids {
				ids[i] = newPool(b, svc, a, license.InstalledInstance, seats)
			}
			var worker, ok, refused atomic.Int64
			b.SetParallelism(parallelism(64))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := worker.Add(1) - 1
				k := int(w) % pools
				req := pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc-" + strconv.FormatInt(w, 10)}}
				for pb.Next() {
					al, err := svc.Allocate(ctx, a, ids[k], req)
					if isCode(err, license.InsufficientLicenses) {
						refused.Add(1)
						continue
					}
					if err != nil {
						b.Error(err)
						return
					}
					ok.Add(1)
					hw[k].add()
					hw[k].done()
					if _, err := svc.Release(ctx, a, ids[k], al.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
			for k, id := range ids {
				if p := hw[k].peak.Load(); p > seats {
					b.Fatalf("pool %d held %d licenses at once; it has %d", k, p, seats)
				}
				checkPool(b, svc, a, id)
			}
			var events int64
			if err := store.View(ctx, func(tx storage.Tx) error {
				var err error
				events, err = tx.CountEvents(ctx, eventlog.Filter{Company: a.Company, Types: []eventlog.Type{pool.EventAllocated}})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if events != ok.Load() {
				b.Fatalf("%d pool.allocated events for %d successful allocations", events, ok.Load())
			}
		})
		b.Run(prefix+"base-map", func(b *testing.B) {
			var mu sync.Mutex
			held := map[int]int64{}
			var worker, refused atomic.Int64
			var peak atomic.Int64
			b.SetParallelism(parallelism(64))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				k := int(worker.Add(1)-1) % pools
				for pb.Next() {
					mu.Lock()
					if held[k] >= seats {
						mu.Unlock()
						refused.Add(1)
						continue
					}
					held[k]++
					if held[k] > peak.Load() {
						peak.Store(held[k])
					}
					mu.Unlock()
					mu.Lock()
					held[k]--
					mu.Unlock()
				}
			})
			b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
			if peak.Load() > seats {
				b.Fatalf("map held %d of %d", peak.Load(), seats)
			}
		})
		b.Run(prefix+"base-sem", func(b *testing.B) {
			sems := make([]*semaphore.Weighted, pools)
			for i := range sems {
				sems[i] = semaphore.NewWeighted(seats)
			}
			var worker, refused atomic.Int64
			b.SetParallelism(parallelism(64))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				s := sems[int(worker.Add(1)-1)%pools]
				for pb.Next() {
					if !s.TryAcquire(1) {
						refused.Add(1)
						continue
					}
					s.Release(1)
				}
			})
			b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
		})
	}
}

// parallelism is the b.SetParallelism argument that gives about n goroutines.
func parallelism(n int) int { return max(1, n/runtime.GOMAXPROCS(0)) }
