package topup_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/topup"
)

// printer is a Notifier that prints what it would send.
type printer struct{}

func (printer) Notify(_ context.Context, n topup.Notification) error {
	fmt.Println("to:", n.Recipients)
	fmt.Println("subject:", n.Subject())
	return nil
}

func exampleSetup() (context.Context, *billing.Service, *topup.Service, license.Actor) {
	ctx := context.Background()
	store := memory.New()
	clock := licensetest.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	bill := &billing.Service{Store: store, Clock: clock, Overflow: topup.Overflow()}
	top := &topup.Service{Store: store, Clock: clock}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	if _, err := bill.CreateCompany(ctx, owner, "Acme MSP"); err != nil {
		fmt.Println(err) // fails the example's output check
	}
	return ctx, bill, top, owner
}

func site(ctx context.Context, bill *billing.Service, owner license.Actor, name, group string, p billing.PaymentType, licenses int64) billing.Site {
	s, err := bill.CreateSite(ctx, owner, billing.NewSite{Name: name, Plan: "standard", Group: group, PaymentType: p,
		UnitPrice: license.NewMoney(decimal.RequireFromString("2.50"), "USD"), Licenses: &licenses})
	if err != nil {
		fmt.Println(err) // fails the example's output check
	}
	return s
}

// Increment 5, 2 licenses available, 4 devices enrolled: the shortfall of 2
// is covered by one increment, 5 licenses.
func ExampleOverflow() {
	ctx, bill, top, owner := exampleSetup()
	s := site(ctx, bill, owner, "Helsinki", "north", billing.MonthlyInvoice, 10)
	if _, err := bill.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 8}); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := top.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"}); err != nil {
		fmt.Println(err)
		return
	}
	r, err := bill.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("added:", r.ToppedUp, "in use:", r.Site.Enrolled, "available:", r.Site.Available())
	// Output: added: 5 in use: 12 available: 3
}

func ExampleService_Enable() {
	ctx, bill, top, owner := exampleSetup()
	site(ctx, bill, owner, "Helsinki", "north", billing.MonthlyInvoice, 10)
	site(ctx, bill, owner, "Oslo", "south", billing.MonthlyInvoice, 10)
	site(ctx, bill, owner, "Riga", "north", billing.Card, 10)
	_, err := top.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	var pe *topup.PrerequisiteError
	if errors.As(err, &pe) {
		fmt.Println(license.ErrorCode(err), license.ErrorField(err))
		for _, p := range pe.Problems {
			fmt.Println(p.SiteName, p.Problem)
		}
	}
	// Output:
	// conflict sites
	// Oslo other_group
	// Riga payment_type
}

func ExampleService_SetIncrement() {
	ctx, bill, top, owner := exampleSetup()
	s := site(ctx, bill, owner, "Helsinki", "north", billing.MonthlyInvoice, 0)
	if _, err := top.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"}); err != nil {
		fmt.Println(err)
		return
	}
	_, err := top.SetIncrement(ctx, owner, s.ID, 12)
	fmt.Println(license.ErrorCode(err), license.ErrorField(err))
	inc, _ := top.SetIncrement(ctx, owner, s.ID, 20)
	r, _ := bill.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 21})
	fmt.Println(inc.Increment, r.ToppedUp)
	// Output:
	// invalid increment
	// 20 40
}

func ExampleService_AddRecipients() {
	ctx, _, top, owner := exampleSetup()
	owners, _ := top.Owners(ctx, owner)
	list, err := top.AddRecipients(ctx, owner, owners[0], "Finance@Partner.example", "finance@partner.example")
	fmt.Println(list, err)
	// Output: [owner@acme.example Finance@partner.example] <nil>
}

func ExampleDispatcher_RunOnce() {
	ctx, bill, top, owner := exampleSetup()
	s := site(ctx, bill, owner, "Helsinki", "north", billing.MonthlyInvoice, 2)
	if _, err := top.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"}); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := top.AddRecipients(ctx, owner, "ops@acme.example"); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := bill.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 4}); err != nil {
		fmt.Println(err)
		return
	}
	d := &topup.Dispatcher{Store: bill.Store, Notifier: printer{}}
	rep, err := d.RunOnce(ctx, time.Date(2026, 11, 21, 10, 1, 0, 0, time.UTC))
	fmt.Printf("%+v %v\n", rep, err)
	// Output:
	// to: [ops@acme.example]
	// subject: Automatic top-up: 5 licenses added to site Helsinki
	// {Delivered:1 Retrying:0 Failed:0} <nil>
}

func ExampleService_Preview() {
	ctx, bill, top, owner := exampleSetup()
	s := site(ctx, bill, owner, "Oslo", "north", billing.MonthlyInvoice, 20)
	if _, err := top.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"}); err != nil {
		fmt.Println(err)
		return
	}
	q, _ := top.Preview(ctx, owner, s.ID, 32)
	r, _ := bill.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 32})
	fmt.Println(q.Shortfall, q.Added, q.NewTotal, r.ToppedUp)
	// Output: 12 15 35 15
}
