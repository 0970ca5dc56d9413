package pool_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

// BenchmarkAllocateRelease measures an allocate+release pair (two transactions,
// events included) on the memory store. Compare with BenchmarkBareMapBaseline:
// the performance target is within 200x (bench/README.md).
func BenchmarkAllocateRelease(b *testing.B) {
	ctx := context.Background()
	svc := &pool.Service{Store: memory.New(), Clock: licensetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	a := license.Actor{Company: "acme", Email: "bench@acme.example", Role: license.Admin}
	p, err := svc.Create(ctx, a, pool.CreateRequest{Spec: pool.Spec{Name: "bench", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"S"}}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.AddTransaction(ctx, a, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 10}); err != nil {
		b.Fatal(err)
	}
	req := pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc"}}
	b.ReportAllocs()
	for b.Loop() {
		al, err := svc.Allocate(ctx, a, p.ID, req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Release(ctx, a, p.ID, al.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareMapBaseline is the baseline: a mutex-guarded map update standing
// for an allocate+release pair (two updates).
func BenchmarkBareMapBaseline(b *testing.B) {
	var mu sync.Mutex
	m := map[string]int64{}
	for b.Loop() {
		for _, d := range []int64{1, -1} {
			mu.Lock()
			m["pool"] += d
			mu.Unlock()
		}
	}
}
