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

// A confirmation states how many licenses a bulk delete removes before it
// runs: DeleteMode.Selects is the rule BulkDelete applies.
func ExampleDeleteMode_Selects() {
	ctx := context.Background()
	clock := licensetest.NewClock(time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC))
	s := subscription.New(memory.New(), clock)
	msp := license.Actor{Company: "msp-1", Email: "admin@msp.example", Role: license.Admin}
	_, _ = s.Purchase(ctx, msp, subscription.Purchase{Type: subscription.PerComputer, Quantity: 2, Period: subscription.Monthly,
		UnitPrice: license.NewMoney(decimal.RequireFromString("5.99"), "USD"), NoAutoRenew: true})
	_, _ = s.Tick(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) // both expire
	ls, _ := s.Licenses(ctx, msp)
	for _, m := range []subscription.DeleteMode{subscription.AllExpired, subscription.ExpiredAutoRenew, subscription.ExpiredUnassigned} {
		n := 0
		for _, l := range ls {
			if m.Selects(l) {
				n++
			}
		}
		fmt.Println(m, n)
	}
	res, _ := s.BulkDelete(ctx, msp, subscription.AllExpired)
	fmt.Println("deleted", res.Deleted)
	// Output:
	// expired 2
	// expired_auto_renew 0
	// expired_unassigned 2
	// deleted 2
}
