package pool_test

import (
	"context"
	"fmt"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

var exampleAdmin = license.Actor{Company: "acme", Email: "admin@acme.example", Role: license.Admin}

func exampleService() (*pool.Service, *licensetest.Clock) {
	clock := licensetest.NewClock(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	return &pool.Service{Store: memory.New(), Clock: clock, Blobs: pool.NewMemoryBlobs(0)}, clock
}

// Create a pool, buy licenses, allocate and read the status pane.
func ExampleService_Allocate() {
	ctx := context.Background()
	svc, _ := exampleService()
	p, _ := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: pool.Spec{
		Name: "Office", Model: license.Perpetual, Metric: license.NamedUser, Software: []string{"Office 2026"},
	}})
	_, _ = svc.AddTransaction(ctx, exampleAdmin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 2})
	al, _ := svc.Allocate(ctx, exampleAdmin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "ann", Asset: "laptop", UserAssets: []string{"desktop"}}})
	fmt.Println(p.Status, al.Key, al.Units, al.Covers)
	_, err := svc.Allocate(ctx, exampleAdmin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "ann", Asset: "desktop"}})
	fmt.Println(license.ErrorCode(err))
	pane, _ := svc.Status(ctx, exampleAdmin, p.ID)
	fmt.Printf("total %d, available %d, allocated manually %d\n", pane.Counts.Total, pane.Counts.Available, pane.Counts.AllocatedManually)
	// Output:
	// active user:ann 1 [laptop desktop]
	// conflict
	// total 2, available 1, allocated manually 1
}

// A license released before the minimum allocation time is quarantined.
func ExampleService_Release() {
	ctx := context.Background()
	svc, clock := exampleService()
	p, _ := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: pool.Spec{
		Name: "Visio", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"Visio"}, MinAllocationDays: 30,
	}})
	_, _ = svc.AddTransaction(ctx, exampleAdmin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1})
	al, _ := svc.Allocate(ctx, exampleAdmin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc-1"}})
	clock.Advance(7 * 24 * time.Hour)
	rel, _ := svc.Release(ctx, exampleAdmin, p.ID, al.ID)
	fmt.Println("quarantined", rel.Quarantined, "until", rel.Until.Format("2006-01-02"))
	_, err := svc.Allocate(ctx, exampleAdmin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc-2"}})
	fmt.Println(license.ErrorCode(err))
	clock.Advance(23 * 24 * time.Hour)
	_, err = svc.Allocate(ctx, exampleAdmin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc-2"}})
	fmt.Println(err)
	// Output:
	// quarantined 1 until 2026-02-04
	// quarantined
	// <nil>
}

// Automatic allocation from facts the product reports, by pool priority.
func ExampleService_Reconcile() {
	ctx := context.Background()
	svc, _ := exampleService()
	mk := func(name string, prio int) *pool.Pool {
		p, _ := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: pool.Spec{
			Name: name, Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"Office"}, Priority: prio,
			Automatic: pool.Automatic{Enabled: true, Rule: pool.RulePackageDistribution},
		}})
		_, _ = svc.AddTransaction(ctx, exampleAdmin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1})
		return p
	}
	low, high := mk("low", 1), mk("high", 5)
	for _, asset := range []string{"pc-1", "pc-2", "pc-3"} {
		out, err := svc.Reconcile(ctx, exampleAdmin, pool.Fact{Kind: pool.FactDistributed, Software: "Office", Consumer: license.Consumer{Asset: asset}})
		switch {
		case err != nil:
			fmt.Println(asset, "->", license.ErrorCode(err))
		case out.Allocated.Pool == high.ID:
			fmt.Println(asset, "-> high")
		case out.Allocated.Pool == low.ID:
			fmt.Println(asset, "-> low")
		}
	}
	// Output:
	// pc-1 -> high
	// pc-2 -> low
	// pc-3 -> insufficient_licenses
}

// Concurrent users hold leases kept alive by heartbeats.
func ExampleService_AcquireLease() {
	ctx := context.Background()
	svc, clock := exampleService()
	p, _ := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: pool.Spec{
		Name: "CAD", Model: license.Perpetual, Metric: license.ConcurrentUser, Software: []string{"CAD"}, LeaseTTL: time.Minute,
	}})
	_, _ = svc.AddTransaction(ctx, exampleAdmin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1})
	l, _ := svc.AcquireLease(ctx, exampleAdmin, p.ID, pool.LeaseRequest{Consumer: license.Consumer{User: "ann"}})
	_, err := svc.AcquireLease(ctx, exampleAdmin, p.ID, pool.LeaseRequest{Consumer: license.Consumer{User: "bob"}})
	fmt.Println(license.ErrorCode(err))
	clock.Advance(2 * time.Minute)
	_, err = svc.Heartbeat(ctx, exampleAdmin, p.ID, l.ID)
	fmt.Println(license.ErrorCode(err))
	_, err = svc.AcquireLease(ctx, exampleAdmin, p.ID, pool.LeaseRequest{Consumer: license.Consumer{User: "bob"}})
	fmt.Println(err)
	// Output:
	// insufficient_licenses
	// expired
	// <nil>
}
