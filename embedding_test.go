package licensekit_test

import (
	"context"
	"fmt"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// embed opens a store, starts a company (tenant) and uses pools and billing in it.
func embed(ctx context.Context, dbPath string) error {
	store, err := sqlite.Open(dbPath) // or memory.New(), or postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	clock := license.SystemClock{}

	// Every call names its company through the actor. The embedding product
	// chooses the company's ID (here a new UUID) and keeps it for that customer.
	companyID := license.NewID()
	admin := license.Actor{Company: companyID, Email: "ann@example.com", Role: license.Admin}

	// Pools need no company record.
	pools := &pool.Service{Store: store, Clock: clock}
	p, err := pools.Create(ctx, admin, pool.CreateRequest{Spec: pool.Spec{Name: "Office", Model: license.Perpetual,
		Metric: license.NamedUser, Software: []string{"Office 2026"}, MinAllocationDays: 30}})
	if err != nil {
		return err
	}
	if _, err := pools.AddTransaction(ctx, admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 25}); err != nil {
		return err
	}
	if _, err := pools.Allocate(ctx, admin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "ann", Asset: "laptop"}}); err != nil {
		return err
	}
	pane, err := pools.Status(ctx, admin, p.ID)
	if err != nil {
		return err
	}
	fmt.Println("pool:", pane.Counts.Total, "total,", pane.Counts.Allocated, "allocated,", pane.Counts.Available, "available")

	// Billing (sites, purchases, top-up) needs the company created first; its
	// creator becomes the company's first Owner.
	sites := &billing.Service{Store: store, Clock: clock}
	if _, err := sites.CreateCompany(ctx, admin, "Acme MSP"); err != nil {
		return err
	}
	price, err := license.ParseMoney("2.50", "EUR")
	if err != nil {
		return err
	}
	site, err := sites.CreateSite(ctx, admin, billing.NewSite{Name: "Helsinki", Plan: "business",
		UnitPrice: price, PaymentType: billing.MonthlyInvoice})
	if err != nil {
		return err
	}
	if _, err := sites.Enroll(ctx, admin, billing.EnrollRequest{Site: site.ID, Devices: 20}); err != nil {
		return err
	}
	q, err := sites.Purchase(ctx, admin, billing.PurchaseRequest{Site: site.ID, Quantity: 30, IdempotencyKey: "order-1"})
	if err != nil {
		return err
	}
	fmt.Println("site:", q.NewTotal, "licenses,", q.NewAvailable, "available, adds", q.AddedCost, "a month")

	// Errors are *license.Error values with a code; a refused call changes nothing.
	_, err = sites.Decrease(ctx, admin, billing.DecreaseRequest{Site: site.ID, Quantity: 11})
	fmt.Println("decrease by 11:", license.ErrorCode(err))
	return nil
}
