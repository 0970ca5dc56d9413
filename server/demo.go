package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
)

// Demo is the demo data's identifiers, remembered in the store (never the key).
type Demo struct {
	Company       string   `json:"company"`
	CompanyName   string   `json:"company_name"`
	Owner         string   `json:"owner"`
	Helsinki      string   `json:"helsinki"` // 30 licenses, 20 enrolled
	Tampere       string   `json:"tampere"`  // 10 licenses, 8 enrolled (4 more enrolments top it up by 5)
	Oulu          string   `json:"oulu"`     // no license amount set, 20 enrolled (buying 30 leaves 10 available)
	Pools         []string `json:"pools"`
	VolumeLicense string   `json:"volume_license"`
	Customers     []string `json:"customers"`
	Key           string   `json:"-"` // this run's owner key, never stored
}

const kindDemo storage.Kind = "demo"

// EnsureDemo returns the demo data, creating it when the store has none
// (fresh reports that). The marker record is written last, so a start that
// failed half-way creates a new demo company next time.
func EnsureDemo(ctx context.Context, store storage.Store, clock license.Clock) (Demo, bool, error) {
	var d Demo
	err := store.View(ctx, func(tx storage.Tx) error {
		var err error
		d, _, err = storage.Load[Demo](ctx, tx, storage.SystemCompany, kindDemo, "demo", false)
		return err
	})
	if err == nil {
		return d, false, nil
	}
	if !storage.IsNotFound(err) {
		return d, false, err
	}
	d, err = createDemo(ctx, store, clock)
	if err != nil {
		return d, false, err
	}
	err = store.Update(ctx, func(tx storage.Tx) error {
		b, _ := json.Marshal(d)
		return tx.Insert(ctx, storage.Record{Company: storage.SystemCompany, Kind: kindDemo, ID: "demo", Data: b})
	})
	return d, true, err
}

func createDemo(ctx context.Context, store storage.Store, clock license.Clock) (Demo, error) {
	d := Demo{Company: license.NewID(), CompanyName: "Demo MSP", Owner: "owner@demo.example"}
	owner := license.Actor{Company: d.Company, Email: d.Owner, Role: license.Owner}
	b := &billing.Service{Store: store, Clock: clock}
	if _, err := b.CreateCompany(ctx, owner, d.CompanyName); err != nil {
		return d, err
	}
	price, err := license.ParseMoney("2.50", "USD")
	if err != nil {
		return d, err
	}
	site := func(name string, licenses *int64, enrolled int64) (string, error) {
		s, err := b.CreateSite(ctx, owner, billing.NewSite{Name: name, Plan: "Business", UnitPrice: price,
			PaymentType: billing.MonthlyInvoice, Group: "Nordics", Licenses: licenses})
		if err != nil {
			return "", err
		}
		if enrolled > 0 {
			if _, err := b.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: enrolled}); err != nil {
				return "", err
			}
		}
		return s.ID, nil
	}
	n30, n10 := int64(30), int64(10)
	if d.Helsinki, err = site("Helsinki", &n30, 20); err != nil {
		return d, err
	}
	if d.Tampere, err = site("Tampere", &n10, 8); err != nil {
		return d, err
	}
	if d.Oulu, err = site("Oulu", nil, 20); err != nil {
		return d, err
	}

	p := &pool.Service{Store: store, Clock: clock}
	office, err := p.Create(ctx, owner, pool.CreateRequest{Spec: pool.Spec{Name: "Microsoft 365 E3", Model: license.Perpetual, Metric: license.NamedUser,
		Software: []string{"Microsoft 365"}, Priority: 10, FormAllocations: true, MinAllocationDays: 30}})
	if err != nil {
		return d, err
	}
	seatPrice, _ := license.ParseMoney("32.00", "USD")
	if _, err := p.AddTransaction(ctx, owner, office.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 50,
		UnitPrice: &seatPrice, OrderNumber: "PO-1001"}); err != nil {
		return d, err
	}
	if _, err := p.Allocate(ctx, owner, office.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "anna"}}); err != nil {
		return d, err
	}
	cad, err := p.Create(ctx, owner, pool.CreateRequest{Spec: pool.Spec{Name: "AutoCAD", Model: license.Perpetual, Metric: license.ConcurrentUser,
		Software: []string{"AutoCAD"}, FormAllocations: true, LeaseTTL: 5 * time.Minute}})
	if err != nil {
		return d, err
	}
	if _, err := p.AddTransaction(ctx, owner, cad.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 5, OrderNumber: "PO-1002"}); err != nil {
		return d, err
	}
	d.Pools = []string{office.ID, cad.ID}

	v := volume.New(store, clock)
	perUser, _ := license.ParseMoney("4.00", "USD")
	vl, err := v.CreateLicense(ctx, owner, volume.NewLicense{Product: "MDR Complete", Seats: 1990,
		RenewalDate: license.AddYears(clock.Now().UTC(), 1), PricePerUser: perUser})
	if err != nil {
		return d, err
	}
	d.VolumeLicense = vl.ID
	for _, name := range []string{"Contoso Oy", "Fabrikam Ab"} {
		c, err := v.Onboard(ctx, owner, volume.Onboarding{LegalName: name, Allocations: []volume.Seats{{License: vl.ID, Seats: 100}}})
		if err != nil {
			return d, err
		}
		d.Customers = append(d.Customers, c.ID)
	}
	return d, nil
}
