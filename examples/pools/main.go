// Command pools is a walkthrough of licensekit's license pools on the in-memory
// store: it creates pools, buys licenses, allocates them automatically (from a
// software-inventory fact) and manually, releases one early into quarantine,
// holds concurrent-user leases, and prints the item status pane along the way.
//
//	go run ./examples/pools
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

func main() {
	if _, err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pools:", err)
		os.Exit(1)
	}
}

// start is the walkthrough's (fake) clock start, so the output is reproducible.
var start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// run performs the walkthrough, writing to w, and returns the final status panes
// by pool name.
func run(ctx context.Context, w io.Writer) (map[string]pool.Pane, error) {
	store := memory.New()
	defer store.Close()
	clock := licensetest.NewClock(start)
	svc := &pool.Service{Store: store, Clock: clock, Blobs: pool.NewMemoryBlobs(0)}
	admin := license.Actor{Company: "acme", Email: "it-admin@acme.example", Role: license.LicenseAdmin}
	panes := map[string]pool.Pane{}

	show := func(p *pool.Pool) error {
		pane, err := svc.Status(ctx, admin, p.ID)
		if err != nil {
			return err
		}
		c := pane.Counts
		fmt.Fprintf(w, "  %-22s total %d | quarantined %d | available %d | allocated automatically %d | allocated manually %d",
			p.Name, c.Total, c.Quarantined, c.Available, c.AllocatedAutomatically, c.AllocatedManually)
		if c.Shortfall > 0 {
			fmt.Fprintf(w, " | SHORTFALL %d", c.Shortfall)
		}
		fmt.Fprintln(w)
		panes[p.Name] = pane
		return nil
	}

	// 1. Two pools grant Office; the main one has the higher priority and a
	// 30-day minimum allocation time.
	mainSpec := pool.Spec{
		Name: "Office main", Model: license.Perpetual, Metric: license.InstalledInstance,
		Software: []string{"Office 2026"}, Priority: 10, MinAllocationDays: 30,
		Automatic:   pool.Automatic{Enabled: true, Rule: pool.RuleSoftwareInventory},
		Responsible: pool.Responsible{Purchase: "paula", Technical: "tom", Owner: "olga"},
	}
	office, err := svc.Create(ctx, admin, pool.CreateRequest{Spec: mainSpec})
	if err != nil {
		return nil, err
	}
	spareSpec := mainSpec
	spareSpec.Name, spareSpec.Priority, spareSpec.MinAllocationDays = "Office spare", 1, 0
	spare, err := svc.Create(ctx, admin, pool.CreateRequest{Spec: spareSpec})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "%s created pools %q (priority 10) and %q (priority 1), status %s\n", clock.Now().Format("2006-01-02"), office.Name, spare.Name, office.Status)

	// 2. Buy licenses.
	price, _ := license.ParseMoney("12.50", "EUR")
	if _, err := svc.AddTransaction(ctx, admin, office.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 4, UnitPrice: &price, OrderNumber: "PO-1001"}); err != nil {
		return nil, err
	}
	if _, err := svc.AddTransaction(ctx, admin, spare.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 2, OrderNumber: "PO-1002"}); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "bought 4 licenses for Office main at 12.50 EUR and 2 for Office spare")

	// 3. The product reports what its inventory found: the highest-priority pool
	// with a free license is used, then the next.
	for _, asset := range []string{"pc-01", "pc-02", "pc-03", "pc-04", "pc-05"} {
		out, err := svc.Reconcile(ctx, admin, pool.Fact{Kind: pool.FactInstalled, Software: "Office 2026", Consumer: license.Consumer{Asset: asset}})
		if err != nil {
			return nil, err
		}
		name := office.Name
		if out.Allocated.Pool == spare.ID {
			name = spare.Name
		}
		fmt.Fprintf(w, "inventory found Office on %s: allocated automatically from %s\n", asset, name)
	}
	// 4. A manual allocation to an asset the inventory has not seen yet.
	manual, err := svc.Allocate(ctx, admin, spare.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "lab-07"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "allocated manually to lab-07 from Office spare")
	if _, err := svc.Allocate(ctx, admin, spare.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "lab-08"}}); err != nil {
		fmt.Fprintf(w, "allocating to lab-08 refused: %s (%s)\n", license.ErrorMessage(err), license.ErrorCode(err))
	}
	if err := show(office); err != nil {
		return nil, err
	}
	if err := show(spare); err != nil {
		return nil, err
	}

	// 5. Ten days later pc-02 is uninstalled: released before the 30-day minimum
	// allocation time, its license goes into quarantine.
	clock.Advance(10 * 24 * time.Hour)
	out, err := svc.Reconcile(ctx, admin, pool.Fact{Kind: pool.FactUninstalled, Software: "Office 2026", Consumer: license.Consumer{Asset: "pc-02"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "%s pc-02 uninstalled: %d license quarantined until %s\n", clock.Now().Format("2006-01-02"), out.Released[0].Quarantined, out.Released[0].Until.Format("2006-01-02"))
	if _, err := svc.Reconcile(ctx, admin, pool.Fact{Kind: pool.FactInstalled, Software: "Office 2026", Consumer: license.Consumer{Asset: "pc-06"}}); err != nil {
		fmt.Fprintf(w, "inventory found Office on pc-06: %s (%s)\n", license.ErrorMessage(err), license.ErrorCode(err))
	}
	if _, err := svc.Release(ctx, admin, spare.ID, manual.ID); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "released lab-07's license (Office spare has no minimum allocation time: no quarantine)")
	if err := show(office); err != nil {
		return nil, err
	}
	if err := show(spare); err != nil {
		return nil, err
	}

	// 6. After the minimum allocation time the quarantine ends.
	clock.Advance(25 * 24 * time.Hour)
	fmt.Fprintf(w, "%s quarantine over\n", clock.Now().Format("2006-01-02"))
	if err := show(office); err != nil {
		return nil, err
	}

	// 7. Concurrent users: a rental pool of 2 seats, leases with a heartbeat.
	cad, err := svc.Create(ctx, admin, pool.CreateRequest{Spec: pool.Spec{Name: "CAD floating", Model: license.Rental, Metric: license.ConcurrentUser,
		Software: []string{"CAD Pro"}, LeaseTTL: 15 * time.Minute}})
	if err != nil {
		return nil, err
	}
	now := clock.Now()
	if _, err := svc.AddTransaction(ctx, admin, cad.ID, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: 2,
		Period: license.Period{Start: now, End: license.AddMonths(now, 12)}, OrderNumber: "RENT-7"}); err != nil {
		return nil, err
	}
	for _, u := range []string{"ann", "bob", "cat"} {
		if _, err := svc.AcquireLease(ctx, admin, cad.ID, pool.LeaseRequest{Consumer: license.Consumer{User: u}}); err != nil {
			fmt.Fprintf(w, "%s cannot start CAD: %s (%s)\n", u, license.ErrorMessage(err), license.ErrorCode(err))
			continue
		}
		fmt.Fprintf(w, "%s started CAD (lease for 15 minutes)\n", u)
	}
	clock.Advance(20 * time.Minute)
	if _, err := svc.AcquireLease(ctx, admin, cad.ID, pool.LeaseRequest{Consumer: license.Consumer{User: "cat"}}); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "20 minutes later without heartbeats: the lapsed leases are culled and cat gets a seat")
	if err := show(cad); err != nil {
		return nil, err
	}

	// 8. The chart data of the status pane: licenses total per month.
	fmt.Fprintln(w, "Office main, licenses per month:")
	for _, m := range panes[office.Name].PerMonth {
		fmt.Fprintf(w, "  %s purchased %d, total %d\n", m.Month, m.Purchased, m.Total)
	}
	return panes, nil
}
