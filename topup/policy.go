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
// is missing. It is the pure rule the top-up policy (Overflow) applies: increment 5 and 2 missing
// adds 5; 12 missing adds 15.
func Amount(shortfall, increment int64) int64 {
	if shortfall <= 0 || increment <= 0 {
		return 0
	}
	return (shortfall + increment - 1) / increment * increment
}

// Quote is what enrolling Devices more devices on a site would do to its
// licenses: the preview of a top-up. Cover applies the same rule, so an
// enrolment committed on the same state adds exactly Added.
type Quote struct {
	Site      string `json:"site"`
	SiteName  string `json:"site_name"`
	Devices   int64  `json:"devices"`   // devices to enrol
	Enabled   bool   `json:"enabled"`   // top-up applies to this site (company switch on, monthly invoice)
	Increment int64  `json:"increment"` // the site's increment
	// Shortfall is how many licenses are missing for the enrolment (0 when it
	// fits or the site has no license amount set).
	Shortfall    int64 `json:"shortfall"`
	Added        int64 `json:"added"` // licenses the top-up adds
	NewTotal     int64 `json:"new_total"`
	NewAvailable int64 `json:"new_available"`
	// Refused: the enrolment would fail with insufficient_licenses (a
	// shortfall that top-up does not cover).
	Refused bool `json:"refused"`
}

// QuoteEnrolment is the pure rule of top-up: for a site, whether top-up
// applies to it (enabled), its increment and the devices to enrol, the
// licenses added (Amount of the shortfall) and the figures after.
func QuoteEnrolment(site billing.Site, enabled bool, increment, devices int64) Quote {
	enabled = enabled && site.PaymentType == billing.MonthlyInvoice
	q := Quote{Site: site.ID, SiteName: site.Name, Devices: devices, Enabled: enabled, Increment: increment}
	if site.Licenses == nil {
		return q // no license amount set: any enrolment is accepted, nothing added
	}
	q.NewTotal = *site.Licenses
	q.Shortfall = max(site.Enrolled+devices-*site.Licenses, 0)
	switch {
	case q.Shortfall == 0:
	case enabled:
		q.Added = Amount(q.Shortfall, increment)
		q.NewTotal += q.Added
	default:
		q.Refused = true
	}
	if !q.Refused {
		q.NewAvailable = q.NewTotal - site.Enrolled - devices
	}
	return q
}

// Preview returns what enrolling devices more devices on a site would do now,
// changing nothing. Any role may preview.
//
// Errors: invalid (actor, devices < 1), not_found (site).
func (s *Service) Preview(ctx context.Context, actor license.Actor, siteID string, devices int64) (Quote, error) {
	if err := actor.Check(); err != nil {
		return Quote{}, err
	}
	if devices < 1 || devices > 1<<40 {
		return Quote{}, license.Errorf(license.Invalid, "devices", "the number of devices must be at least 1")
	}
	var q Quote
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		st, err := loadSettings(ctx, tx, actor.Company, false)
		if err != nil {
			return err
		}
		site, err := loadSite(ctx, tx, actor.Company, siteID)
		if err != nil {
			return err
		}
		q = QuoteEnrolment(site, st.Enabled, st.increment(site.ID), devices)
		return nil
	})
	return q, err
}

// Overflow returns the billing.OverflowPolicy of automatic top-up; set it as
// billing.Service.Overflow. Billing calls it inside the enrolment's
// transaction, so the licenses added, the invoice adjustment, the
// topup.triggered event and the outbox notification commit or roll back with
// the enrolment.
//
// The policy adds nothing (and billing then refuses the enrolment with
// insufficient_licenses) when top-up is disabled for the company or the site
// does not pay by monthly invoice. Otherwise it raises the site's licenses by
// Amount(shortfall, the site's increment) and, in the same transaction, writes
// a billing purchase adjustment (so the licenses appear on the next invoice
// estimate like a purchase), a topup.triggered event (Target = site name,
// Count = licenses added, actor "system") and one outbox record addressed to
// the company's recipients at this moment.
func Overflow() billing.OverflowPolicy { return overflow{} }

// overflow implements billing.OverflowPolicy (see Overflow).
type overflow struct{}

func (overflow) Cover(ctx context.Context, tx storage.Tx, company string, site *billing.Site, shortfall int64, now time.Time) (int64, error) {
	if site == nil || site.Licenses == nil || shortfall <= 0 {
		return 0, nil
	}
	st, err := loadSettings(ctx, tx, company, false)
	if err != nil {
		return 0, err
	}
	inc := st.increment(site.ID)
	before := *site.Licenses
	enrolled := before + shortfall // the devices enrolled once the enrolment commits
	q := QuoteEnrolment(*site, st.Enabled, inc, enrolled-site.Enrolled)
	if q.Added == 0 {
		return 0, nil // top-up is off for this site
	}
	added, total := q.Added, q.NewTotal
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
