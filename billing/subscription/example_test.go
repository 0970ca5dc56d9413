package subscription_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

// A monthly license bought on 31 January renews on the last day of February,
// then on 31 March again: renewals count months from the purchase date.
func ExampleService_Tick() {
	ctx := context.Background()
	clock := licensetest.NewClock(time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC))
	s := subscription.New(memory.New(), clock)
	msp := license.Actor{Company: "msp-1", Email: "admin@msp.example", Role: license.Admin}
	out, _ := s.Purchase(ctx, msp, subscription.Purchase{
		Type: subscription.PerComputer, Quantity: 1, Period: subscription.Monthly,
		UnitPrice: license.NewMoney(decimal.RequireFromString("5.99"), "USD"),
	})
	l := out.Licenses[0]
	fmt.Println(l.Type, "counts by", l.Metric, "- expires", l.ExpirationDate.Format(time.DateOnly), "- auto-renew", l.AutoRenew)
	for _, at := range []time.Time{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)} {
		r, _ := s.Tick(ctx, at)
		l, _ = s.License(ctx, msp, l.ID)
		fmt.Println("renewed", r.Renewed, "- now expires", l.ExpirationDate.Format(time.DateOnly))
	}
	charges, _ := s.Charges(ctx, msp)
	for _, c := range charges {
		fmt.Println(c.Reason, c.From.Format(time.DateOnly), "to", c.To.Format(time.DateOnly), c.Amount)
	}
	// Output:
	// computer counts by Installed instance - expires 2026-02-28 - auto-renew true
	// renewed 1 - now expires 2026-03-31
	// renewed 1 - now expires 2026-04-30
	// purchase 2026-01-31 to 2026-02-28 5.99 USD
	// renewal 2026-02-28 to 2026-03-31 5.99 USD
	// renewal 2026-03-31 to 2026-04-30 5.99 USD
}

// When an assigned license expires, its computer moves to an available license
// of the same type from the global pool.
func ExampleService_Assign() {
	ctx := context.Background()
	clock := licensetest.NewClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	s := subscription.New(memory.New(), clock)
	msp := license.Actor{Company: "msp-1", Email: "admin@msp.example", Role: license.Admin}
	price := license.NewMoney(decimal.RequireFromString("5.99"), "USD")
	old, _ := s.Purchase(ctx, msp, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, Period: subscription.Monthly, UnitPrice: price, NoAutoRenew: true})
	pc := license.Consumer{Asset: "PC-0042", User: "ann@customer.example"}
	if _, err := s.Assign(ctx, msp, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: pc}); err != nil {
		fmt.Println(err)
	}
	clock.Set(time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC))
	spare, _ := s.Purchase(ctx, msp, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, UnitPrice: price})

	r, _ := s.Tick(ctx, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC))
	fmt.Printf("expired %d, exchanged %d\n", r.Expired, r.Exchanged)
	l, _ := s.License(ctx, msp, spare.Licenses[0].ID)
	fmt.Println(l.Assignee.Asset, "now uses the spare license:", l.ID == spare.Licenses[0].ID)
	res, _ := s.BulkDelete(ctx, msp, subscription.ExpiredUnassigned)
	fmt.Println("deleted", res.Deleted, "expired unassigned license; was it the old one?", res.Licenses[0] == old.Licenses[0].ID)
	// Output:
	// expired 1, exchanged 1
	// PC-0042 now uses the spare license: true
	// deleted 1 expired unassigned license; was it the old one? true
}

// Keys are shown once; an unknown key fails without saying why.
func ExampleService_Activate() {
	ctx := context.Background()
	s := subscription.New(memory.New(), licensetest.NewClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)))
	msp := license.Actor{Company: "msp-1", Email: "admin@msp.example", Role: license.Admin}
	out, _ := s.Purchase(ctx, msp, subscription.Purchase{Type: subscription.PerHost, Quantity: 1, Period: subscription.Yearly,
		UnitPrice: license.NewMoney(decimal.RequireFromString("99"), "EUR"), ManualActivation: true})
	fmt.Println("activated at purchase:", out.Licenses[0].Activated, "- key length:", len(out.Keys[0]))
	_, err := s.Activate(ctx, msp, subscription.Activation{Key: "0000-0000-0000-0000-0000-0000-0000-0000"})
	fmt.Println(err)
	l, err := s.Activate(ctx, msp, subscription.Activation{Key: out.Keys[0]})
	fmt.Println(l.Activated, err)
	// Output:
	// activated at purchase: false - key length: 39
	// licensekit not_found: no license matches this key (field key)
	// true <nil>
}
