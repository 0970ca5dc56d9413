package billing

import (
	"context"
	"encoding/json"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Record kinds kept by billing.
const (
	KindCompany    storage.Kind = "company"            // ID = the company (tenant) ID
	KindMember                  = access.KindMember    // ID = the member's e-mail, Parent = company ID
	KindSite       storage.Kind = "site"               // Unique = lower-cased site name
	KindAdjustment storage.Kind = "billing_adjustment" // Parent = the month "2006-01" of the change
)

// Event types written by billing. Each committed change writes exactly one,
// with Subject = the site ID (the source site's for a transfer), Details = the
// JSON of the result (a quote, the site, the member), and the log columns:
//
//	license.purchase  Target = site, Count = licenses added
//	license.decrease  Source = site (licenses leave it), Count = licenses removed
//	license.transfer  Source = from site, Target = to site, Count = licenses moved
//	site.enroll       Target = site, Count = devices enrolled
//	site.unenroll     Target = site, Count = devices unenrolled
//	site.created      Target = site, Count = its licenses (0 when none set)
//	site.updated      Target = site, Count = its licenses
const (
	EventCompanyCreated eventlog.Type = "company.created"
	EventMemberAdded    eventlog.Type = "company.member_added"
	EventSiteCreated    eventlog.Type = "site.created"
	EventSiteUpdated    eventlog.Type = "site.updated"
	EventEnroll         eventlog.Type = "site.enroll"
	EventUnenroll       eventlog.Type = "site.unenroll"
	EventPurchase       eventlog.Type = "license.purchase"
	EventDecrease       eventlog.Type = "license.decrease"
	EventTransfer       eventlog.Type = "license.transfer"
)

// PaymentType is how a site pays for its licenses. License management
// (purchase, decrease, transfer) and invoice estimates apply only to
// MonthlyInvoice sites; sites paid by card or annual invoice are billed
// outside licensekit.
type PaymentType string

// Payment types.
const (
	MonthlyInvoice PaymentType = "monthly_invoice"
	Card           PaymentType = "card"
	AnnualInvoice  PaymentType = "annual_invoice"
)

// Valid reports whether p is a known payment type.
func (p PaymentType) Valid() bool {
	return p == MonthlyInvoice || p == Card || p == AnnualInvoice
}

// Company is a tenant of the portal. Its ID is the tenant ID that every
// license.Actor of the company carries.
type Company struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Member is a person with a role in a company (the record kept by package
// access, which computes every service's effective role from it).
type Member = access.Member

// Site is a managed site of a company: one installation of the managed
// product (for example a Miradore site) whose devices use its licenses.
//
// Licenses is nil while the site has "no license amount set": such a site
// accepts any number of enrolments. Once set, Enrolled never exceeds it.
type Site struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`       // unique within the company, ignoring case
	Plan        string        `json:"plan"`       // subscription plan
	UnitPrice   license.Money `json:"unit_price"` // per license per month, at most 4 decimal places
	PaymentType PaymentType   `json:"payment_type"`
	Group       string        `json:"group,omitempty"` // site group
	Licenses    *int64        `json:"licenses"`        // nil: no license amount set
	Enrolled    int64         `json:"enrolled"`        // devices enrolled, reported by the product
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// Currency returns the currency of the site's unit price.
func (s Site) Currency() license.Currency { return s.UnitPrice.Currency }

// LicenseCount returns the number of licenses, 0 when no amount is set.
func (s Site) LicenseCount() int64 {
	if s.Licenses == nil {
		return 0
	}
	return *s.Licenses
}

// Available returns the licenses not in use: licenses − enrolled, and 0 when no
// license amount is set.
func (s Site) Available() int64 {
	if s.Licenses == nil {
		return 0
	}
	return max(*s.Licenses-s.Enrolled, 0)
}

// OverflowPolicy covers enrolments beyond a site's license count. The top-up
// package implements it; billing calls Cover inside the enrolment's transaction,
// so the top-up and the enrolment commit or roll back together.
//
// Cover receives the site loaded for update (site.Licenses is set) and the
// shortfall: how many licenses are missing for the enrolment to fit. It may
// raise *site.Licenses (by at least shortfall to let the enrolment through) and
// write its own records, events and outbox entries in tx; it must not save the
// site itself. It returns how many licenses it added. Returning an error aborts
// the enrolment; returning with site.Licenses still too low makes the enrolment
// fail with insufficient_licenses. now is the operation's time.
type OverflowPolicy interface {
	Cover(ctx context.Context, tx storage.Tx, company string, site *Site, shortfall int64, now time.Time) (added int64, err error)
}

// Service is the billing service. Store is required; Clock defaults to
// license.SystemClock; Overflow nil refuses enrolments beyond the license count;
// Rounding "" means license.HalfAwayFromZero.
//
// Every method takes the license.Actor on whose behalf it runs: records are
// read and written only within actor.Company, and the role checked is the one
// EffectiveRole returns. Each mutation is one Store.Update that reads the clock
// once and appends exactly one event; bad input returns a *license.Error and
// changes nothing.
type Service struct {
	Store    storage.Store
	Clock    license.Clock
	Overflow OverflowPolicy
	Rounding license.Rounding
}

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return time.Now().UTC()
	}
	return s.Clock.Now().UTC()
}

func memberID(email string) string { return access.MemberID(email) }

// requireManage checks that the actor may manage licenses (Owner or Admin).
func requireManage(ctx context.Context, tx storage.Tx, actor license.Actor, what string) error {
	role, err := access.EffectiveRole(ctx, tx, actor)
	if err != nil {
		return err
	}
	if !role.CanManageLicenses() {
		return license.Errorf(license.Forbidden, "role", "%s needs the Owner or Admin role; %s has the %s role", what, actor.Email, role)
	}
	return nil
}

// requireRole checks that the actor's effective role passes ok.
func requireRole(ctx context.Context, tx storage.Tx, actor license.Actor, ok func(license.Role) bool, what, needs string) error {
	role, err := access.EffectiveRole(ctx, tx, actor)
	if err != nil {
		return err
	}
	if !ok(role) {
		return license.Errorf(license.Forbidden, "role", "%s needs %s; %s has the %s role", what, needs, actor.Email, role)
	}
	return nil
}

// newEvent builds an event of the actor's company at now.
func newEvent(actor license.Actor, now time.Time, typ eventlog.Type, subject string, details any) (eventlog.Event, error) {
	e := eventlog.Event{
		ID:      license.NewID(),
		Company: actor.Company,
		Time:    now,
		Type:    typ,
		Actor:   actor.Email,
		Subject: subject,
	}
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return e, license.Wrap(license.Internal, err, "billing: encode event details")
		}
		e.Details = b
	}
	return e, nil
}

func appendEvent(ctx context.Context, tx storage.Tx, e eventlog.Event) error {
	_, err := tx.AppendEvent(ctx, e)
	return err
}
