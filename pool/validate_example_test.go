package pool_test

import (
	"context"
	"fmt"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// A product checks, at start-up, whether this machine may run it: the first
// Validate with Allocate takes a license, Validate then answers from the
// allocation without changing anything.
func ExampleService_Validate_allocate() {
	ctx := context.Background()
	svc, _ := exampleService()
	p, _ := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: pool.Spec{
		Name: "Backup Pro", Model: license.Perpetual, Metric: license.InstalledInstance,
		Software: []string{"backup"}, Entitlements: []string{"sso", "reports"},
	}})
	_, _ = svc.AddTransaction(ctx, exampleAdmin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1})
	me := license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "machine-42"}, Software: "backup", Features: []string{"sso"}}

	v, _ := svc.Validate(ctx, exampleAdmin, p.ID, me)
	fmt.Println(v.Valid, v.Code)
	first := me
	first.Allocate = true // take a license when this machine has none
	v, _ = svc.Validate(ctx, exampleAdmin, p.ID, first)
	fmt.Println(v.Valid, v.Code)
	v, _ = svc.Validate(ctx, exampleAdmin, p.ID, me)
	fmt.Println(v.Valid, v.Code)
	v, _ = svc.Validate(ctx, exampleAdmin, p.ID, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "machine-7"}, Allocate: true})
	fmt.Println(v.Valid, v.Code)
	me.Features = []string{"sso", "audit"}
	v, _ = svc.Validate(ctx, exampleAdmin, p.ID, me)
	fmt.Println(v.Valid, v.Code, v.Missing)
	// Output:
	// false no_allocation
	// true valid
	// true valid
	// false seats_exhausted
	// false entitlements_missing [audit]
}

// A rental pool stays valid during its grace period after the last rental
// period ends; a period ending at midnight ends at the end of the day before.
func ExampleService_Validate_grace() {
	ctx := context.Background()
	svc, clock := exampleService()
	p, _ := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: pool.Spec{
		Name: "CAD rental", Model: license.Rental, Metric: license.NamedUser, Software: []string{"CAD"}, GraceDays: 3,
	}})
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, _ = svc.AddTransaction(ctx, exampleAdmin, p.ID, pool.TransactionInput{
		Kind: pool.TxRentalPeriod, Count: 5, Period: license.Period{Start: jan, End: jan.AddDate(0, 1, 0)},
	})
	ann := license.ValidationRequest{Consumer: license.Consumer{User: "ann"}}
	_, _ = svc.Validate(ctx, exampleAdmin, p.ID, license.ValidationRequest{Consumer: ann.Consumer, Allocate: true})
	for _, at := range []time.Time{
		time.Date(2026, 1, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 2, 2, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC),
	} {
		clock.Set(at)
		v, _ := svc.Validate(ctx, exampleAdmin, p.ID, ann)
		line := fmt.Sprintf("%s %s expires %s", at.Format("01-02 15:04"), v.Code, v.ExpiresAt.Format(time.RFC3339Nano))
		if v.GraceEnds != nil {
			line += " grace ends " + v.GraceEnds.Format(time.RFC3339Nano)
		}
		fmt.Println(line)
	}
	// Output:
	// 01-31 23:59 valid expires 2026-01-31T23:59:59.999999999Z
	// 02-02 12:00 in_grace expires 2026-01-31T23:59:59.999999999Z grace ends 2026-02-03T23:59:59.999999999Z
	// 02-04 00:00 expired expires 2026-01-31T23:59:59.999999999Z
}
