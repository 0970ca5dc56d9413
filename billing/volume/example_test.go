package volume_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

// Two customers with 100 users each leave 1790 of 1990 seats unallocated.
func ExampleService_Onboard() {
	ctx := context.Background()
	s := volume.New(memory.New(), licensetest.NewClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)))
	partner := license.Actor{Company: "partner-1", Email: "owner@partner.example", Role: license.Owner}
	mdr, _ := s.CreateLicense(ctx, partner, volume.NewLicense{
		Product: "MDR Complete", Seats: 1990, RenewalDate: time.Date(2027, 5, 4, 0, 0, 0, 0, time.UTC),
		PricePerUser: license.NewMoney(decimal.RequireFromString("4.50"), "USD"),
	})
	for _, name := range []string{"Northwind Traders", "Contoso Ltd"} {
		if _, err := s.Onboard(ctx, partner, volume.Onboarding{LegalName: name, Allocations: []volume.Seats{{License: mdr.ID, Seats: 100}}}); err != nil {
			fmt.Println(err)
		}
	}
	_, err := s.Onboard(ctx, partner, volume.Onboarding{LegalName: "contoso LTD", Allocations: []volume.Seats{{License: mdr.ID, Seats: 1}}})
	fmt.Println(license.ErrorCode(err))

	p, _ := s.Page(ctx, partner, mdr.ID, volume.Query{Sort: volume.SortName})
	m := p.Metrics
	fmt.Printf("seats %d, allocated %d, unallocated %d, customers %d, %s per user, renews %s\n",
		m.Seats, m.Allocated, m.Unallocated, m.Customers, m.PricePerUser, m.RenewalDate.Format(time.RFC3339))
	for _, r := range p.Customers {
		fmt.Println(r.LegalName, r.Seats)
	}
	// Output:
	// conflict
	// seats 1990, allocated 200, unallocated 1790, customers 2, 4.50 USD per user, renews 2027-05-04T23:59:59Z
	// Contoso Ltd 100
	// Northwind Traders 100
}

// A customer holds the main license and a cloud add-on; one edit changes both,
// and the edit view shows what remains of each.
func ExampleService_Edit() {
	ctx := context.Background()
	s := volume.New(memory.New(), licensetest.NewClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)))
	partner := license.Actor{Company: "partner-1", Email: "owner@partner.example", Role: license.Owner}
	price := license.NewMoney(decimal.RequireFromString("4.50"), "USD")
	mdr, _ := s.CreateLicense(ctx, partner, volume.NewLicense{Product: "MDR Complete", Seats: 1990, RenewalDate: time.Date(2027, 5, 4, 0, 0, 0, 0, time.UTC), PricePerUser: price})
	cloud, _ := s.CreateLicense(ctx, partner, volume.NewLicense{Product: "MDR Cloud", Seats: 500, RenewalDate: time.Date(2027, 5, 4, 0, 0, 0, 0, time.UTC), PricePerUser: price})
	c, _ := s.Onboard(ctx, partner, volume.Onboarding{LegalName: "Contoso Ltd", Allocations: []volume.Seats{{License: mdr.ID, Seats: 100}}})
	_ = s.ReportUsage(ctx, license.System(partner.Company), c.ID, mdr.ID, 90)

	_, err := s.Edit(ctx, partner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: mdr.ID, Seats: 80}}})
	fmt.Println(license.ErrorCode(err))
	_, err = s.Edit(ctx, partner, c.ID, volume.Edit{LegalName: "Contoso Limited", Allocations: []volume.Seats{{License: mdr.ID, Seats: 120}, {License: cloud.ID, Seats: 50}}})
	fmt.Println(err)
	v, _ := s.EditView(ctx, partner, c.ID)
	fmt.Println(v.Customer.LegalName)
	for _, l := range v.Licenses {
		fmt.Printf("%s: %d of %d seats, %d unallocated\n", l.Product, l.Customer, l.Seats, l.Unallocated)
	}
	// Output:
	// below_enrolled
	// <nil>
	// Contoso Limited
	// MDR Complete: 120 of 1990 seats, 1870 unallocated
	// MDR Cloud: 50 of 500 seats, 450 unallocated
}
