package billing_test

import (
	"context"
	"fmt"
	"time"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

// A purchase on a site with no license amount set and 20 devices enrolled:
// buying 30 adds the cost of the 10 beyond the enrolled devices.
func ExampleService_PreviewPurchase() {
	ctx := context.Background()
	svc := &billing.Service{Store: memory.New(), Clock: licensetest.NewClock(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	_, _ = svc.CreateCompany(ctx, owner, "Acme MSP")
	price, _ := license.ParseMoney("2.50", "EUR")
	site, _ := svc.CreateSite(ctx, owner, billing.NewSite{Name: "Helsinki", Plan: "business", UnitPrice: price, PaymentType: billing.MonthlyInvoice})
	_, _ = svc.Enroll(ctx, license.System("acme"), billing.EnrollRequest{Site: site.ID, Devices: 20})

	q, err := svc.PreviewPurchase(ctx, owner, billing.PurchaseRequest{Site: site.ID, Quantity: 30})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("new total:", q.NewTotal, "new available:", q.NewAvailable)
	fmt.Println("current estimate:", q.CurrentEstimate)
	fmt.Println("added licenses:", q.AddedLicenses, "added cost:", q.AddedCost)
	fmt.Println("estimated total:", q.EstimatedTotal)

	done, _ := svc.Purchase(ctx, owner, billing.PurchaseRequest{Site: site.ID, Quantity: 30, IdempotencyKey: "order-42"})
	fmt.Println("committed total:", done.NewTotal)
	// Output:
	// new total: 30 new available: 10
	// current estimate: 75.00 EUR
	// added licenses: 30 added cost: 25.00 EUR
	// estimated total: 75.00 EUR
	// committed total: 30
}

// A decrease on a site with 30 licenses and 20 devices enrolled: 11 would go
// below the enrolled devices, 10 is allowed.
func ExampleService_Decrease() {
	ctx := context.Background()
	svc := &billing.Service{Store: memory.New()}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	_, _ = svc.CreateCompany(ctx, owner, "Acme MSP")
	price, _ := license.ParseMoney("2.50", "EUR")
	thirty := int64(30)
	site, _ := svc.CreateSite(ctx, owner, billing.NewSite{Name: "Oulu", Plan: "business", UnitPrice: price, PaymentType: billing.MonthlyInvoice, Licenses: &thirty})
	_, _ = svc.Enroll(ctx, license.System("acme"), billing.EnrollRequest{Site: site.ID, Devices: 20})

	_, err := svc.Decrease(ctx, owner, billing.DecreaseRequest{Site: site.ID, Quantity: 11})
	fmt.Println(license.ErrorCode(err))
	q, _ := svc.Decrease(ctx, owner, billing.DecreaseRequest{Site: site.ID, Quantity: 10})
	fmt.Println(q.NewTotal, q.NewAvailable, q.CurrentEstimate, q.DecreasedCost, q.EstimatedTotal)
	// Output:
	// below_enrolled
	// 20 0 75.00 EUR 25.00 EUR 50.00 EUR
}

func ExampleService_Transfer() {
	ctx := context.Background()
	svc := &billing.Service{Store: memory.New()}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	_, _ = svc.CreateCompany(ctx, owner, "Acme MSP")
	price, _ := license.ParseMoney("2.50", "EUR")
	ten := int64(10)
	a, _ := svc.CreateSite(ctx, owner, billing.NewSite{Name: "Helsinki", Plan: "business", UnitPrice: price, PaymentType: billing.MonthlyInvoice, Licenses: &ten})
	b, _ := svc.CreateSite(ctx, owner, billing.NewSite{Name: "Oulu", Plan: "business", UnitPrice: price, PaymentType: billing.MonthlyInvoice, Licenses: &ten})
	_, _ = svc.Enroll(ctx, license.System("acme"), billing.EnrollRequest{Site: a.ID, Devices: 4})

	q, _ := svc.Transfer(ctx, owner, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 6, IdempotencyKey: "move-1"})
	fmt.Printf("%s: available %d, in use %d, total %d\n", q.From.SiteName, q.From.AvailableAfter, q.From.InUse, q.From.TotalAfter)
	fmt.Printf("%s: available %d, in use %d, total %d\n", q.To.SiteName, q.To.AvailableAfter, q.To.InUse, q.To.TotalAfter)
	fmt.Println("transferred:", q.Transferred)
	// Output:
	// Helsinki: available 0, in use 4, total 4
	// Oulu: available 16, in use 0, total 16
	// transferred: 6
}

func ExampleService_Estimate() {
	ctx := context.Background()
	clock := licensetest.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	svc := &billing.Service{Store: memory.New(), Clock: clock}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	_, _ = svc.CreateCompany(ctx, owner, "Acme MSP")
	eur, _ := license.ParseMoney("1.005", "EUR")
	usd, _ := license.ParseMoney("3", "USD")
	three := int64(3)
	a, _ := svc.CreateSite(ctx, owner, billing.NewSite{Name: "Helsinki", Plan: "business", UnitPrice: eur, PaymentType: billing.MonthlyInvoice, Licenses: &three})
	_, _ = svc.CreateSite(ctx, owner, billing.NewSite{Name: "Boston", Plan: "business", UnitPrice: usd, PaymentType: billing.MonthlyInvoice, Licenses: &three})
	_, _ = svc.Purchase(ctx, owner, billing.PurchaseRequest{Site: a.ID, Quantity: 6})

	inv, _ := svc.Estimate(ctx, owner, billing.EstimateOptions{Prorate: true})
	fmt.Println("invoice for", inv.Period)
	for _, l := range inv.Lines {
		fmt.Printf("%-10s %-50s %s\n", l.Kind, l.Description, l.Amount)
	}
	for _, t := range inv.Totals {
		fmt.Println("total", t)
	}
	// Output:
	// invoice for 2026-12
	// licenses   Helsinki: 9 licenses                               9.05 EUR
	// licenses   Boston: 3 licenses                                 9.00 USD
	// adjustment Helsinki: 6 licenses purchased on 2026-11-21 (10/30 of the month) 2.01 EUR
	// total 11.06 EUR
	// total 9.00 USD
}
