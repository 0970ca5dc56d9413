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

// A product validates its license key at start-up: valid on the computer it is
// assigned to, with the features the vendor's terms grant, and within the
// grace period after it expires.
func ExampleService_ValidateKey() {
	ctx := context.Background()
	clock := licensetest.NewClock(time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC))
	s := subscription.New(memory.New(), clock)
	msp := license.Actor{Company: "msp-1", Email: "admin@msp.example", Role: license.Admin}
	out, _ := s.Purchase(ctx, msp, subscription.Purchase{
		Type: subscription.PerComputer, Quantity: 1, Period: subscription.Monthly, NoAutoRenew: true,
		UnitPrice: license.NewMoney(decimal.RequireFromString("5.99"), "USD"),
	})
	l, key := out.Licenses[0], out.Keys[0]
	_, _ = s.Assign(ctx, msp, subscription.AssignRequest{Type: subscription.PerComputer, License: l.ID,
		Consumer: license.Consumer{Asset: "pc-1", User: "ann"}})
	_, _ = s.SetTerms(ctx, msp, l.ID, subscription.TermsInput{Entitlements: []string{"backup", "sso"}, GraceDays: 7})

	me := license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "pc-1"}, Features: []string{"backup"}}
	v, _ := s.ValidateKey(ctx, msp, key, me)
	fmt.Println(v.Code, "until", v.ExpiresAt.Format(time.RFC3339))
	v, _ = s.ValidateKey(ctx, msp, key, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "pc-2"}})
	fmt.Println(v.Code)
	v, _ = s.ValidateKey(ctx, msp, key, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "pc-1"}, Features: []string{"audit"}})
	fmt.Println(v.Code, v.Missing)
	clock.Set(time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC))
	v, _ = s.ValidateKey(ctx, msp, key, me)
	fmt.Println(v.Code, "grace ends", v.GraceEnds.Format(time.RFC3339))
	clock.Set(time.Date(2026, 3, 8, 9, 0, 0, 1, time.UTC))
	v, _ = s.ValidateKey(ctx, msp, key, me)
	fmt.Println(v.Code)
	// Output:
	// valid until 2026-02-28T09:00:00Z
	// no_allocation
	// entitlements_missing [audit]
	// in_grace grace ends 2026-03-07T09:00:00Z
	// expired
}
