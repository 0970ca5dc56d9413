package topup

import (
	"context"
	"time"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Amount returns the licenses one top-up adds for a shortfall: the smallest
// positive multiple of increment that is at least shortfall, or 0 when nothing
// is missing. It is the pure rule the Policy applies: increment 5 and 2 missing
// adds 5; 12 missing adds 15.
func Amount(shortfall, increment int64) int64 {
	if shortfall <= 0 || increment <= 0 {
		return 0
	}
	return (shortfall + increment - 1) / increment * increment
}

// Policy is the billing.OverflowPolicy of automatic top-up. Set it as
// billing.Service.Overflow; billing calls Cover inside the enrolment's
// transaction, so the licenses added, the invoice adjustment, the
// topup.triggered event and the outbox notification commit or roll back with
// the enrolment. The zero value is ready to use.
//
// Cover adds nothing (and billing then refuses the enrolment with
// insufficient_licenses) when top-up is disabled for the company or the site
// does not pay by monthly invoice.
type Policy struct{}

var _ billing.OverflowPolicy = Policy{}

// Cover implements billing.OverflowPolicy: it raises *site.Licenses by
// Amount(shortfall, the site's increment) and, in tx, writes a billing purchase
// adjustment (so the licenses appear on the next invoice estimate like a
// purchase), a topup.triggered event (Target = site name, Count = licenses
// added, actor "system") and one outbox record addressed to the company's
// recipients at this moment.
func (Policy) Cover(ctx context.Context, tx storage.Tx, company string, site *billing.Site, shortfall int64, now time.Time) (int64, error) {
	if site == nil || site.Licenses == nil || shortfall <= 0 {
		return 0, nil
	}
	st, err := loadSettings(ctx, tx, company, false)
	if err != nil {
		return 0, err
	}
	if !st.Enabled || site.PaymentType != billing.MonthlyInvoice {
		return 0, nil
	}
	inc := st.increment(site.ID)
	added := Amount(shortfall, inc)
	before := *site.Licenses
	enrolled := before + shortfall // the devices enrolled once the enrolment commits
	total := before + added
	*site.Licenses = total

	adj := billing.Adjustment{ID: license.NewID(), Site: site.ID, SiteName: site.Name, Month: billing.MonthKey(now), At: now,
		Kind: billing.AdjustPurchase, Quantity: added, UnitPrice: site.UnitPrice}
	if err := storage.Save(ctx, tx, storage.Record{Company: company, Kind: billing.KindAdjustment, ID: adj.ID, Parent: adj.Month}, adj); err != nil {
		return 0, err
	}
	n := Notification{ID: license.NewID(), Company: company, Site: site.ID, SiteName: site.Name,
		Added: added, Increment: inc, Shortfall: shortfall, Enrolling: enrolled - site.Enrolled, Enrolled: enrolled,
		PreviousTotal: before, NewTotal: total, At: now, Recipients: append([]string{}, st.Recipients...)}
	e, err := newEvent(company, license.SystemEmail, now, EventTriggered, site.ID, map[string]any{
		"increment": inc, "shortfall": shortfall, "devices_enrolling": n.Enrolling, "devices_enrolled": enrolled,
		"licenses_before": before, "licenses_after": total, "notification": n.ID, "adjustment": adj.ID,
	})
	if err != nil {
		return 0, err
	}
	e.Target, e.Count = site.Name, added
	n.Event = e.ID
	o := OutboxEntry{Notification: n, Status: StatusPending, NextAttempt: now}
	if err := storage.Save(ctx, tx, o.record(), o); err != nil {
		return 0, err
	}
	if err := appendEvent(ctx, tx, e, nil); err != nil {
		return 0, err
	}
	return added, nil
}
