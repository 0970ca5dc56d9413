package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("billing",
		Test{"PurchaseWithNoAmountSet", testBillingPurchaseNoAmountSet},
		Test{"DecreaseStopsAtEnrolled", testBillingDecreaseStopsAtEnrolled},
		Test{"TransferPreviewAndRules", testBillingTransfer},
		Test{"LicenseManagementNeedsOwnerOrAdmin", testBillingRoles},
		Test{"LicenseManagementNeedsMonthlyInvoice", testBillingPaymentType},
		Test{"EnrolmentStopsAtLicenses", testBillingEnrolment},
		Test{"OverflowPolicyCoversEnrolmentInSameTx", testBillingOverflow},
		Test{"IdempotencyKeys", testBillingIdempotency},
		Test{"EventsOfEachChange", testBillingEvents},
		Test{"SitesAreUniqueAndTenantScoped", testBillingSites},
		Test{"BadInputChangesNothing", testBillingBadInput},
		Test{"FailedWritesChangeNothing", testBillingFaults},
		Test{"InvoiceEstimate", testBillingInvoice},
		Test{"InvoiceProration", testBillingProration},
		Test{"StateMachine", testBillingMachine},
		Test{"StateMachineUnderFaults", testBillingMachineFaulty},
	)
}

// billingT is what both *testing.T and *rapid.T offer.
type billingT interface {
	require.TestingT
	Helper()
}

// billingFixture is a company "acme" with an owner, an admin, an editor and a
// viewer, and a second company "evil" with its own owner.
type billingFixture struct {
	store  storage.Store
	svc    *billing.Service
	clock  *licensetest.Clock
	owner  license.Actor
	admin  license.Actor
	editor license.Actor
	viewer license.Actor
	system license.Actor
	evil   license.Actor
}

var billingStart = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

func newBillingFixture(t billingT, st storage.Store) *billingFixture {
	t.Helper()
	ctx := context.Background()
	f := &billingFixture{
		store:  st,
		clock:  licensetest.NewClock(billingStart),
		owner:  license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner},
		admin:  license.Actor{Company: "acme", Email: "admin@acme.example", Role: license.Admin},
		editor: license.Actor{Company: "acme", Email: "editor@acme.example", Role: license.Editor},
		viewer: license.Actor{Company: "acme", Email: "viewer@acme.example", Role: license.Viewer},
		system: license.System("acme"),
		evil:   license.Actor{Company: "evil", Email: "owner@evil.example", Role: license.Owner},
	}
	f.svc = &billing.Service{Store: st, Clock: f.clock}
	_, err := f.svc.CreateCompany(ctx, f.owner, "Acme MSP")
	require.NoError(t, err)
	for _, a := range []license.Actor{f.admin, f.editor, f.viewer} {
		_, err := f.svc.AddMember(ctx, f.owner, a.Email, a.Role)
		require.NoError(t, err)
	}
	_, err = f.svc.CreateCompany(ctx, f.evil, "Evil MSP")
	require.NoError(t, err)
	return f
}

func billingCount(n int64) *int64 { return &n }

func billingPrice(t billingT, amount, currency string) license.Money {
	t.Helper()
	m, err := license.ParseMoney(amount, currency)
	require.NoError(t, err)
	return m
}

// site creates a site of a's company.
func (f *billingFixture) site(t billingT, a license.Actor, name, plan, price, currency string, pt billing.PaymentType, licenses *int64) billing.Site {
	t.Helper()
	st, err := f.svc.CreateSite(context.Background(), a, billing.NewSite{Name: name, Plan: plan, UnitPrice: billingPrice(t, price, currency), PaymentType: pt, Group: "default", Licenses: licenses})
	require.NoError(t, err)
	return st
}

func (f *billingFixture) enroll(t billingT, siteID string, n int64) {
	t.Helper()
	_, err := f.svc.Enroll(context.Background(), f.system, billing.EnrollRequest{Site: siteID, Devices: n})
	require.NoError(t, err)
}

func (f *billingFixture) get(t billingT, id string) billing.Site {
	t.Helper()
	st, err := f.svc.GetSite(context.Background(), f.owner, id)
	require.NoError(t, err)
	return st
}

// billingDump is every billing record of both companies plus every event, for
// "nothing changed" comparisons.
func billingDump(t billingT, st storage.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
		for _, company := range []string{"acme", "evil"} {
			for _, kind := range []storage.Kind{billing.KindCompany, billing.KindMember, billing.KindSite, billing.KindAdjustment, storage.KindIdempotency} {
				recs, err := tx.List(ctx, storage.ListQuery{Company: company, Kind: kind})
				if err != nil {
					return err
				}
				for _, r := range recs {
					fmt.Fprintf(&b, "%s/%s/%s parent=%s unique=%s %s\n", r.Company, r.Kind, r.ID, r.Parent, r.Unique, r.Data)
				}
			}
			if err := tx.Events(ctx, eventlog.Filter{Company: company}, func(e eventlog.Event) error {
				fmt.Fprintf(&b, "event %d %s %s %s %s src=%q tgt=%q %d %s %s %s\n", e.Seq, e.ID, e.Company, e.Time.Format(time.RFC3339Nano), e.Type, e.Source, e.Target, e.Count, e.Actor, e.Subject, e.Details)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	return b.String()
}

func billingEvents(t billingT, st storage.Store, company string) []eventlog.Event {
	t.Helper()
	var evs []eventlog.Event
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: company}, func(e eventlog.Event) error {
			evs = append(evs, e)
			return nil
		})
	}))
	return evs
}

// sameJSON compares two results by their JSON (decimals compare by value).
func billingSameJSON(t billingT, want, got any, msgAndArgs ...any) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g), msgAndArgs...)
}

func billingRequireCode(t billingT, err error, code license.Code, field string) {
	t.Helper()
	require.Error(t, err)
	var le *license.Error
	require.ErrorAs(t, err, &le, "want a *license.Error, got %v", err)
	require.Equal(t, code, le.Code, "error %v", err)
	if field != "" {
		require.Equal(t, field, le.Field, "error %v", err)
	}
}

func billingMoney(t billingT, m license.Money, want string) {
	t.Helper()
	require.Equal(t, want, m.String())
}

// A site with no license amount set is already billed for its 20 enrolled
// devices: a purchase must cover them (at least 20), and buying 30 adds the
// cost of the 10 beyond them, not of all 30.
func testBillingPurchaseNoAmountSet(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	st := f.site(t, f.owner, "Helsinki", "business", "2.5", "EUR", billing.MonthlyInvoice, nil)
	f.enroll(t, st.ID, 20)

	_, err := f.svc.PreviewPurchase(ctx, f.admin, billing.PurchaseRequest{Site: st.ID, Quantity: 19})
	billingRequireCode(t, err, license.Invalid, "quantity")
	require.Contains(t, license.ErrorMessage(err), "at least 20")

	q, err := f.svc.PreviewPurchase(ctx, f.admin, billing.PurchaseRequest{Site: st.ID, Quantity: 30})
	require.NoError(t, err)
	require.Equal(t, int64(20), q.Minimum)
	require.Equal(t, int64(30), q.NewTotal)
	require.Equal(t, int64(10), q.NewAvailable)
	require.Equal(t, int64(30), q.AddedLicenses)
	billingMoney(t, q.CurrentEstimate, "75.00 EUR") // the 30 licenses being purchased
	billingMoney(t, q.AddedCost, "25.00 EUR")       // the 10 above the 20-license minimum
	billingMoney(t, q.EstimatedTotal, "75.00 EUR")  // 30 licenses a month

	got, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: st.ID, Quantity: 30, IdempotencyKey: "k1"})
	require.NoError(t, err)
	billingSameJSON(t, q, got, "commit returns the preview's figures")
	after := f.get(t, st.ID)
	require.Equal(t, int64(30), after.LicenseCount())
	require.Equal(t, int64(10), after.Available())

	// With an amount set there is no minimum beyond 1: added cost = current estimate.
	q, err = f.svc.PreviewPurchase(ctx, f.owner, billing.PurchaseRequest{Site: st.ID, Quantity: 5})
	require.NoError(t, err)
	require.Equal(t, int64(1), q.Minimum)
	billingMoney(t, q.CurrentEstimate, "12.50 EUR")
	billingMoney(t, q.AddedCost, "12.50 EUR")
	billingMoney(t, q.EstimatedTotal, "87.50 EUR")
	require.Equal(t, int64(15), q.NewAvailable)

	// No amount set and nothing enrolled: the minimum is 1, and all 30
	// licenses bought are added cost (no enrolled device already needs them).
	empty := f.site(t, f.owner, "Vantaa", "business", "2.5", "EUR", billing.MonthlyInvoice, nil)
	q, err = f.svc.PreviewPurchase(ctx, f.admin, billing.PurchaseRequest{Site: empty.ID, Quantity: 30})
	require.NoError(t, err)
	require.Equal(t, int64(1), q.Minimum)
	billingMoney(t, q.CurrentEstimate, "75.00 EUR")
	billingMoney(t, q.AddedCost, "75.00 EUR")
	billingMoney(t, q.EstimatedTotal, "75.00 EUR")
	got, err = f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: empty.ID, Quantity: 30, IdempotencyKey: "k-empty"})
	require.NoError(t, err)
	billingSameJSON(t, q, got, "commit returns the preview's figures")
	require.Equal(t, int64(30), f.get(t, empty.ID).LicenseCount())
}

// A site with 30 licenses and 20 enrolled devices can lose at most 10
// licenses, and the decrease saves the cost of exactly those 10.
func testBillingDecreaseStopsAtEnrolled(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	st := f.site(t, f.owner, "Oulu", "business", "2.5", "EUR", billing.MonthlyInvoice, billingCount(30))
	f.enroll(t, st.ID, 20)

	before := billingDump(t, f.store)
	_, err := f.svc.PreviewDecrease(ctx, f.admin, billing.DecreaseRequest{Site: st.ID, Quantity: 11})
	billingRequireCode(t, err, license.BelowEnrolled, "quantity")
	_, err = f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: st.ID, Quantity: 11, IdempotencyKey: "d1"})
	billingRequireCode(t, err, license.BelowEnrolled, "quantity")
	require.Equal(t, before, billingDump(t, f.store))

	q, err := f.svc.PreviewDecrease(ctx, f.admin, billing.DecreaseRequest{Site: st.ID, Quantity: 10})
	require.NoError(t, err)
	require.Equal(t, int64(20), q.NewTotal)
	require.Equal(t, int64(0), q.NewAvailable)
	require.Equal(t, int64(10), q.DecreasedLicenses)
	billingMoney(t, q.CurrentEstimate, "75.00 EUR")
	billingMoney(t, q.DecreasedCost, "25.00 EUR")
	billingMoney(t, q.EstimatedTotal, "50.00 EUR")
	got, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: st.ID, Quantity: 10, IdempotencyKey: "d1"})
	require.NoError(t, err)
	billingSameJSON(t, q, got)
	require.Equal(t, int64(20), f.get(t, st.ID).LicenseCount())

	// No license amount set: nothing to decrease.
	none := f.site(t, f.owner, "Espoo", "business", "2.5", "EUR", billing.MonthlyInvoice, nil)
	_, err = f.svc.PreviewDecrease(ctx, f.admin, billing.DecreaseRequest{Site: none.ID, Quantity: 1})
	billingRequireCode(t, err, license.Invalid, "quantity")
}

func testBillingTransfer(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	from := f.site(t, f.owner, "Helsinki", "business", "2.5", "EUR", billing.MonthlyInvoice, billingCount(30))
	to := f.site(t, f.owner, "Oulu", "business", "2.5", "EUR", billing.MonthlyInvoice, billingCount(8))
	f.enroll(t, from.ID, 20)
	f.enroll(t, to.ID, 8)

	req := billing.TransferRequest{From: from.ID, To: to.ID, Quantity: 10}
	q, err := f.svc.PreviewTransfer(ctx, f.admin, req)
	require.NoError(t, err)
	require.Equal(t, billing.TransferQuote{
		From:        billing.TransferSide{Site: from.ID, SiteName: "Helsinki", AvailableAfter: 0, InUse: 20, TotalAfter: 20},
		To:          billing.TransferSide{Site: to.ID, SiteName: "Oulu", AvailableAfter: 10, InUse: 8, TotalAfter: 18},
		Transferred: 10,
	}, q)
	got, err := f.svc.Transfer(ctx, f.admin, withTransferKey(req, "t1"))
	require.NoError(t, err)
	require.Equal(t, q, got)
	require.Equal(t, int64(20), f.get(t, from.ID).LicenseCount())
	require.Equal(t, int64(18), f.get(t, to.ID).LicenseCount())
	require.Equal(t, int64(38), f.get(t, from.ID).LicenseCount()+f.get(t, to.ID).LicenseCount(), "sum conserved")

	// Licenses in use cannot move.
	_, err = f.svc.PreviewTransfer(ctx, f.admin, billing.TransferRequest{From: from.ID, To: to.ID, Quantity: 1})
	billingRequireCode(t, err, license.BelowEnrolled, "quantity")

	// Each mismatch is refused naming the field.
	plan := f.site(t, f.owner, "Plan", "enterprise", "2.5", "EUR", billing.MonthlyInvoice, billingCount(5))
	price := f.site(t, f.owner, "Price", "business", "2.75", "EUR", billing.MonthlyInvoice, billingCount(5))
	cur := f.site(t, f.owner, "Currency", "business", "2.5", "USD", billing.MonthlyInvoice, billingCount(5))
	card := f.site(t, f.owner, "Card", "business", "2.5", "EUR", billing.Card, billingCount(5))
	before := billingDump(t, f.store)
	for _, tc := range []struct {
		other billing.Site
		code  license.Code
		field string
	}{
		{plan, license.Invalid, "plan"},
		{price, license.Invalid, "unit_price"},
		{cur, license.CurrencyMismatch, "currency"},
		{card, license.Invalid, "payment_type"},
	} {
		_, err := f.svc.PreviewTransfer(ctx, f.admin, billing.TransferRequest{From: tc.other.ID, To: to.ID, Quantity: 1})
		billingRequireCode(t, err, tc.code, tc.field)
		_, err = f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: to.ID, To: tc.other.ID, Quantity: 1})
		billingRequireCode(t, err, tc.code, tc.field)
	}
	_, err = f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: to.ID, To: to.ID, Quantity: 1})
	billingRequireCode(t, err, license.Invalid, "to")
	require.Equal(t, before, billingDump(t, f.store))

	// A target with no amount set and enrolled devices must receive at least those.
	bare := f.site(t, f.owner, "Bare", "business", "2.5", "EUR", billing.MonthlyInvoice, nil)
	f.enroll(t, bare.ID, 3)
	_, err = f.svc.PreviewTransfer(ctx, f.admin, billing.TransferRequest{From: to.ID, To: bare.ID, Quantity: 2})
	billingRequireCode(t, err, license.BelowEnrolled, "quantity")
	q, err = f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: to.ID, To: bare.ID, Quantity: 3})
	require.NoError(t, err)
	require.Equal(t, int64(3), q.To.TotalAfter)
	require.Equal(t, int64(0), q.To.AvailableAfter)
}

func testBillingRoles(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	a := f.site(t, f.owner, "A", "business", "1", "EUR", billing.MonthlyInvoice, billingCount(10))
	b := f.site(t, f.owner, "B", "business", "1", "EUR", billing.MonthlyInvoice, billingCount(10))
	// A member whose stored role is Viewer cannot act as Admin by claiming it.
	claims := license.Actor{Company: "acme", Email: f.viewer.Email, Role: license.Admin}
	before := billingDump(t, f.store)
	for _, actor := range []license.Actor{f.editor, f.viewer, claims, {Company: "acme", Email: "la@acme.example", Role: license.LicenseAdmin}} {
		_, err := f.svc.PreviewPurchase(ctx, actor, billing.PurchaseRequest{Site: a.ID, Quantity: 1})
		billingRequireCode(t, err, license.Forbidden, "role")
		require.Contains(t, license.ErrorMessage(err), "Owner or Admin")
		_, err = f.svc.Purchase(ctx, actor, billing.PurchaseRequest{Site: a.ID, Quantity: 1})
		billingRequireCode(t, err, license.Forbidden, "role")
		_, err = f.svc.Decrease(ctx, actor, billing.DecreaseRequest{Site: a.ID, Quantity: 1})
		billingRequireCode(t, err, license.Forbidden, "role")
		_, err = f.svc.Transfer(ctx, actor, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 1})
		billingRequireCode(t, err, license.Forbidden, "role")
		_, err = f.svc.CreateSite(ctx, actor, billing.NewSite{Name: "X", Plan: "business", UnitPrice: billingPrice(t, "1", "EUR"), PaymentType: billing.MonthlyInvoice})
		billingRequireCode(t, err, license.Forbidden, "role")
	}
	_, err := f.svc.Enroll(ctx, f.viewer, billing.EnrollRequest{Site: a.ID, Devices: 1})
	billingRequireCode(t, err, license.Forbidden, "role")
	_, err = f.svc.AddMember(ctx, f.admin, "new@acme.example", license.Owner)
	billingRequireCode(t, err, license.Forbidden, "role")
	_, err = f.svc.AddMember(ctx, f.admin, f.owner.Email, license.Viewer)
	billingRequireCode(t, err, license.Forbidden, "role")
	_, err = f.svc.Estimate(ctx, f.viewer, billing.EstimateOptions{})
	billingRequireCode(t, err, license.Forbidden, "role")
	require.Equal(t, before, billingDump(t, f.store))

	// Demoting a member takes effect at once, even for an actor claiming more.
	_, err = f.svc.AddMember(ctx, f.owner, f.admin.Email, license.Viewer)
	require.NoError(t, err)
	_, err = f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 1})
	billingRequireCode(t, err, license.Forbidden, "role")
	// Owner, Admin (not a stored member: an API key bound to Admin) and the system may.
	for _, actor := range []license.Actor{f.owner, {Company: "acme", Email: "key@acme.example", Role: license.Admin}, f.system} {
		_, err := f.svc.Purchase(ctx, actor, billing.PurchaseRequest{Site: a.ID, Quantity: 1})
		require.NoError(t, err)
	}
	require.Equal(t, int64(13), f.get(t, a.ID).LicenseCount())
}

func testBillingPaymentType(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	card := f.site(t, f.owner, "Card", "business", "1", "EUR", billing.Card, billingCount(10))
	before := billingDump(t, f.store)
	_, err := f.svc.Purchase(ctx, f.owner, billing.PurchaseRequest{Site: card.ID, Quantity: 1})
	billingRequireCode(t, err, license.Invalid, "payment_type")
	require.Contains(t, license.ErrorMessage(err), "monthly invoice")
	_, err = f.svc.PreviewDecrease(ctx, f.owner, billing.DecreaseRequest{Site: card.ID, Quantity: 1})
	billingRequireCode(t, err, license.Invalid, "payment_type")
	require.Equal(t, before, billingDump(t, f.store))
	// Switching the site to monthly invoice allows it.
	pt := billing.MonthlyInvoice
	_, err = f.svc.UpdateSite(ctx, f.admin, card.ID, billing.SiteChange{PaymentType: &pt})
	require.NoError(t, err)
	_, err = f.svc.Purchase(ctx, f.owner, billing.PurchaseRequest{Site: card.ID, Quantity: 1})
	require.NoError(t, err)
}

func testBillingEnrolment(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	st := f.site(t, f.owner, "A", "business", "1", "EUR", billing.MonthlyInvoice, billingCount(5))
	f.enroll(t, st.ID, 3)
	before := billingDump(t, f.store)
	_, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: st.ID, Devices: 3})
	billingRequireCode(t, err, license.InsufficientLicenses, "devices")
	require.Equal(t, before, billingDump(t, f.store))
	r, err := f.svc.Enroll(ctx, f.editor, billing.EnrollRequest{Site: st.ID, Devices: 2})
	require.NoError(t, err)
	require.Equal(t, int64(5), r.Site.Enrolled)
	require.Equal(t, int64(0), r.Site.Available())
	_, err = f.svc.Unenroll(ctx, f.system, billing.EnrollRequest{Site: st.ID, Devices: 6})
	billingRequireCode(t, err, license.Invalid, "devices")
	s2, err := f.svc.Unenroll(ctx, f.system, billing.EnrollRequest{Site: st.ID, Devices: 5})
	require.NoError(t, err)
	require.Equal(t, int64(0), s2.Enrolled)
	// No license amount set: any enrolment is accepted.
	bare := f.site(t, f.owner, "B", "business", "1", "EUR", billing.MonthlyInvoice, nil)
	f.enroll(t, bare.ID, 1000)
	require.Equal(t, int64(1000), f.get(t, bare.ID).Enrolled)
}

// billingFiveStep is an OverflowPolicy like automatic top-up's: it adds licenses in
// steps of five and records what it did in the transaction.
type billingFiveStep struct{ fail bool }

func (p billingFiveStep) Cover(ctx context.Context, tx storage.Tx, company string, site *billing.Site, shortfall int64, now time.Time) (int64, error) {
	add := (shortfall + 4) / 5 * 5
	n := site.LicenseCount() + add
	site.Licenses = &n
	if _, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: company, Time: now, Type: "topup.applied", Target: site.Name, Count: add, Actor: license.SystemEmail, Subject: site.ID}); err != nil {
		return 0, err
	}
	if p.fail {
		return 0, license.Errorf(license.Unavailable, "", "top-up provider down")
	}
	return add, nil
}

// A site with an increment of 5 and 2 licenses available enrols 4 devices: the
// policy adds 5 licenses in the enrolment's transaction, 4 of the new total go
// to the new devices and 3 remain available.
func testBillingOverflow(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	st := f.site(t, f.owner, "A", "business", "1", "EUR", billing.MonthlyInvoice, billingCount(10))
	f.enroll(t, st.ID, 8) // 2 available

	f.svc.Overflow = billingFiveStep{fail: true}
	before := billingDump(t, f.store)
	_, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: st.ID, Devices: 4})
	billingRequireCode(t, err, license.Unavailable, "")
	require.Equal(t, before, billingDump(t, f.store), "a failed top-up rolls the enrolment and its own writes back")

	f.svc.Overflow = billingFiveStep{}
	r, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: st.ID, Devices: 4})
	require.NoError(t, err)
	require.Equal(t, int64(5), r.ToppedUp)
	require.Equal(t, int64(15), r.Site.LicenseCount())
	require.Equal(t, int64(12), r.Site.Enrolled)
	require.Equal(t, int64(3), r.Site.Available())
	evs := billingEvents(t, f.store, "acme")
	require.Equal(t, eventlog.Type("topup.applied"), evs[len(evs)-2].Type)
	require.Equal(t, billing.EventEnroll, evs[len(evs)-1].Type)
	require.Equal(t, int64(4), evs[len(evs)-1].Count)
}

func testBillingIdempotency(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	a := f.site(t, f.owner, "A", "business", "1.2345", "EUR", billing.MonthlyInvoice, billingCount(10))
	b := f.site(t, f.owner, "B", "business", "1.2345", "EUR", billing.MonthlyInvoice, billingCount(10))

	first, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 3, IdempotencyKey: "p"})
	require.NoError(t, err)
	snap := billingDump(t, f.store)
	again, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 3, IdempotencyKey: "p"})
	require.NoError(t, err)
	billingSameJSON(t, first, again)
	require.Equal(t, snap, billingDump(t, f.store))
	_, err = f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 4, IdempotencyKey: "p"})
	billingRequireCode(t, err, license.Conflict, "idempotency_key")
	_, err = f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: a.ID, Quantity: 3, IdempotencyKey: "p"})
	billingRequireCode(t, err, license.Conflict, "idempotency_key")
	require.Equal(t, snap, billingDump(t, f.store))

	d1, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: a.ID, Quantity: 2, IdempotencyKey: "d"})
	require.NoError(t, err)
	d2, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: a.ID, Quantity: 2, IdempotencyKey: "d"})
	require.NoError(t, err)
	billingSameJSON(t, d1, d2)
	t1, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 5, IdempotencyKey: "t"})
	require.NoError(t, err)
	t2, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 5, IdempotencyKey: "t"})
	require.NoError(t, err)
	require.Equal(t, t1, t2)
	require.Equal(t, int64(6), f.get(t, a.ID).LicenseCount())
	require.Equal(t, int64(15), f.get(t, b.ID).LicenseCount())
	// A refused request remembers nothing: the key stays usable.
	_, err = f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 0, IdempotencyKey: "fresh"})
	billingRequireCode(t, err, license.Invalid, "quantity")
	_, err = f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 1, IdempotencyKey: "fresh"})
	require.NoError(t, err)
}

func testBillingEvents(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	a := f.site(t, f.owner, "Helsinki", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(10))
	b := f.site(t, f.owner, "Oulu", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(0))
	n0 := len(billingEvents(t, f.store, "acme"))
	f.clock.Set(billingStart.Add(time.Hour))
	_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 4})
	require.NoError(t, err)
	_, err = f.svc.Decrease(ctx, f.owner, billing.DecreaseRequest{Site: a.ID, Quantity: 1})
	require.NoError(t, err)
	_, err = f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 3})
	require.NoError(t, err)
	evs := billingEvents(t, f.store, "acme")[n0:]
	require.Len(t, evs, 3)
	type row struct {
		Type                  eventlog.Type
		Source, Target, Actor string
		Count                 int64
	}
	var got []row
	for _, e := range evs {
		require.True(t, license.ValidID(e.ID))
		require.Equal(t, "acme", e.Company)
		require.True(t, e.Time.Equal(billingStart.Add(time.Hour)))
		require.Equal(t, time.UTC, e.Time.Location())
		require.True(t, json.Valid(e.Details))
		require.Equal(t, a.ID, e.Subject)
		got = append(got, row{e.Type, e.Source, e.Target, e.Actor, e.Count})
	}
	require.Equal(t, []row{
		{billing.EventPurchase, "", "Helsinki", "admin@acme.example", 4},
		{billing.EventDecrease, "Helsinki", "", "owner@acme.example", 1},
		{billing.EventTransfer, "Helsinki", "Oulu", "admin@acme.example", 3},
	}, got)
	var details billing.PurchaseQuote
	require.NoError(t, json.Unmarshal(evs[0].Details, &details))
	require.Equal(t, int64(14), details.NewTotal)
	require.Empty(t, billingEvents(t, f.store, "evil")[1:], "the other company sees only its own creation")
}

func testBillingSites(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	a := f.site(t, f.owner, "Helsinki", "business", "2", "EUR", billing.MonthlyInvoice, nil)
	_, err := f.svc.CreateSite(ctx, f.owner, billing.NewSite{Name: " helsinki ", Plan: "business", UnitPrice: billingPrice(t, "2", "EUR"), PaymentType: billing.MonthlyInvoice})
	billingRequireCode(t, err, license.Conflict, "unique")
	// The same name in another company is fine.
	ev := f.site(t, f.evil, "Helsinki", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(5))
	_, err = f.svc.GetSite(ctx, f.owner, ev.ID)
	billingRequireCode(t, err, license.NotFound, "site")
	sites, err := f.svc.Sites(ctx, f.owner)
	require.NoError(t, err)
	require.Len(t, sites, 1)
	require.Equal(t, a.ID, sites[0].ID)
	name := "Tampere"
	up, err := f.svc.UpdateSite(ctx, f.admin, a.ID, billing.SiteChange{Name: &name})
	require.NoError(t, err)
	require.Equal(t, "Tampere", up.Name)
	_, err = f.svc.UpdateSite(ctx, f.evil, a.ID, billing.SiteChange{Name: &name})
	billingRequireCode(t, err, license.NotFound, "site")
	// Unit prices: at most 4 decimal places.
	_, err = f.svc.CreateSite(ctx, f.owner, billing.NewSite{Name: "X", Plan: "business", UnitPrice: billingPrice(t, "1.23456", "EUR"), PaymentType: billing.MonthlyInvoice})
	billingRequireCode(t, err, license.Invalid, "unit_price")
	st := f.site(t, f.owner, "Y", "business", "1.2345", "EUR", billing.MonthlyInvoice, nil)
	require.Equal(t, "1.2345", f.get(t, st.ID).UnitPrice.Amount.String())

	c, err := f.svc.GetCompany(ctx, f.viewer)
	require.NoError(t, err)
	require.Equal(t, "Acme MSP", c.Name)
	members, err := f.svc.Members(ctx, f.viewer)
	require.NoError(t, err)
	var emails []string
	for _, m := range members {
		emails = append(emails, m.Email+":"+string(m.Role))
	}
	require.Equal(t, []string{"admin@acme.example:admin", "editor@acme.example:editor", "owner@acme.example:owner", "viewer@acme.example:viewer"}, emails)
	evilMembers, err := f.svc.Members(ctx, f.evil)
	require.NoError(t, err)
	require.Len(t, evilMembers, 1)
	_, err = f.svc.GetCompany(ctx, license.Actor{Company: "ghost", Email: "a@ghost.example", Role: license.Owner})
	billingRequireCode(t, err, license.NotFound, "company")
}

// testBillingBadInput: every refused request returns a *license.Error and the
// store is byte-for-byte what it was.
func testBillingBadInput(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	a := f.site(t, f.owner, "A", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(10))
	b := f.site(t, f.owner, "B", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(10))
	usd := f.site(t, f.owner, "U", "business", "2", "USD", billing.MonthlyInvoice, billingCount(10))
	ev := f.site(t, f.evil, "E", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(10))
	f.enroll(t, a.ID, 4)
	_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 1, IdempotencyKey: "used"})
	require.NoError(t, err)
	unknown := license.NewID()
	cases := []struct {
		name string
		code license.Code
		run  func() error
	}{
		{"purchase zero", license.Invalid, func() error {
			_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID})
			return err
		}},
		{"purchase negative", license.Invalid, func() error {
			_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: -5})
			return err
		}},
		{"purchase unknown site", license.NotFound, func() error {
			_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: unknown, Quantity: 1})
			return err
		}},
		{"purchase other company's site", license.NotFound, func() error {
			_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: ev.ID, Quantity: 1})
			return err
		}},
		{"purchase key reused", license.Conflict, func() error {
			_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: b.ID, Quantity: 1, IdempotencyKey: "used"})
			return err
		}},
		{"purchase as viewer", license.Forbidden, func() error {
			_, err := f.svc.Purchase(ctx, f.viewer, billing.PurchaseRequest{Site: a.ID, Quantity: 1})
			return err
		}},
		{"purchase without actor", license.Invalid, func() error {
			_, err := f.svc.Purchase(ctx, license.Actor{}, billing.PurchaseRequest{Site: a.ID, Quantity: 1})
			return err
		}},
		{"decrease zero", license.Invalid, func() error {
			_, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: a.ID})
			return err
		}},
		{"decrease negative", license.Invalid, func() error {
			_, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: a.ID, Quantity: -1})
			return err
		}},
		{"decrease below enrolled", license.BelowEnrolled, func() error {
			_, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: a.ID, Quantity: 8})
			return err
		}},
		{"decrease other company's site", license.NotFound, func() error {
			_, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: ev.ID, Quantity: 1})
			return err
		}},
		{"transfer zero", license.Invalid, func() error {
			_, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: b.ID})
			return err
		}},
		{"transfer negative", license.Invalid, func() error {
			_, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: -3})
			return err
		}},
		{"transfer more than available", license.BelowEnrolled, func() error {
			_, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 8})
			return err
		}},
		{"transfer mismatched currencies", license.CurrencyMismatch, func() error {
			_, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: usd.ID, Quantity: 1})
			return err
		}},
		{"transfer to other company's site", license.NotFound, func() error {
			_, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: ev.ID, Quantity: 1})
			return err
		}},
		{"transfer unknown source", license.NotFound, func() error {
			_, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: unknown, To: a.ID, Quantity: 1})
			return err
		}},
		{"transfer as editor", license.Forbidden, func() error {
			_, err := f.svc.Transfer(ctx, f.editor, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 1})
			return err
		}},
		{"enroll zero", license.Invalid, func() error {
			_, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: a.ID, Devices: 0})
			return err
		}},
		{"enroll negative", license.Invalid, func() error {
			_, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: a.ID, Devices: -2})
			return err
		}},
		{"enroll beyond licenses", license.InsufficientLicenses, func() error {
			_, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: a.ID, Devices: 8})
			return err
		}},
		{"enroll other company's site", license.NotFound, func() error {
			_, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: ev.ID, Devices: 1})
			return err
		}},
		{"unenroll too many", license.Invalid, func() error {
			_, err := f.svc.Unenroll(ctx, f.system, billing.EnrollRequest{Site: a.ID, Devices: 5})
			return err
		}},
		{"create site with bad currency", license.Invalid, func() error {
			_, err := f.svc.CreateSite(ctx, f.owner, billing.NewSite{Name: "Z", Plan: "p", UnitPrice: license.Money{Amount: decimal.NewFromInt(1), Currency: "XXX"}, PaymentType: billing.MonthlyInvoice})
			return err
		}},
		{"create site with negative licenses", license.Invalid, func() error {
			_, err := f.svc.CreateSite(ctx, f.owner, billing.NewSite{Name: "Z", Plan: "p", UnitPrice: billingPrice(t, "1", "EUR"), PaymentType: billing.MonthlyInvoice, Licenses: billingCount(-1)})
			return err
		}},
		{"create site with unknown payment type", license.Invalid, func() error {
			_, err := f.svc.CreateSite(ctx, f.owner, billing.NewSite{Name: "Z", Plan: "p", UnitPrice: billingPrice(t, "1", "EUR"), PaymentType: "cash"})
			return err
		}},
		{"create site for a company that does not exist", license.NotFound, func() error {
			_, err := f.svc.CreateSite(ctx, license.Actor{Company: "ghost", Email: "o@ghost.example", Role: license.Owner}, billing.NewSite{Name: "Z", Plan: "p", UnitPrice: billingPrice(t, "1", "EUR"), PaymentType: billing.MonthlyInvoice})
			return err
		}},
		{"rename to a taken name", license.Conflict, func() error {
			n := "a"
			_, err := f.svc.UpdateSite(ctx, f.owner, b.ID, billing.SiteChange{Name: &n})
			return err
		}},
		{"company twice", license.Conflict, func() error { _, err := f.svc.CreateCompany(ctx, f.owner, "again"); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := billingDump(t, f.store)
			err := tc.run()
			billingRequireCode(t, err, tc.code, "")
			require.Equal(t, before, billingDump(t, f.store), "a refused request changed the store")
		})
	}
}

// testBillingFaults fails each write and the commit of every kind of change in
// turn and checks that the store is unchanged.
func testBillingFaults(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	fs := NewFaulty(newStore(t))
	f := newBillingFixture(t, fs)
	a := f.site(t, f.owner, "A", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(10))
	b := f.site(t, f.owner, "B", "business", "2", "EUR", billing.MonthlyInvoice, billingCount(10))
	ops := map[string]func(key string) error{
		"purchase": func(k string) error {
			_, err := f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: a.ID, Quantity: 2, IdempotencyKey: k})
			return err
		},
		"decrease": func(k string) error {
			_, err := f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: a.ID, Quantity: 1, IdempotencyKey: k})
			return err
		},
		"transfer": func(k string) error {
			_, err := f.svc.Transfer(ctx, f.admin, billing.TransferRequest{From: a.ID, To: b.ID, Quantity: 1, IdempotencyKey: k})
			return err
		},
		"enroll": func(string) error {
			_, err := f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: b.ID, Devices: 1})
			return err
		},
		"create site": func(k string) error {
			_, err := f.svc.CreateSite(ctx, f.owner, billing.NewSite{Name: "S" + k, Plan: "p", UnitPrice: billingPrice(t, "1", "EUR"), PaymentType: billing.MonthlyInvoice})
			return err
		},
	}
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		op := ops[name]
		for fault := 0; ; fault++ {
			key := fmt.Sprintf("%s-%d", name, fault)
			before := billingDump(t, f.store)
			injected := fs.Injected()
			if fault == 0 {
				fs.FailCommit(1)
			} else {
				fs.FailWrite(fault)
			}
			err := op(key)
			fs.Disarm()
			if fs.Injected() == injected {
				// The op made fewer writes than the armed fault: it succeeded.
				require.NoError(t, err, "%s", name)
				break
			}
			billingRequireCode(t, err, license.Unavailable, "")
			require.Equal(t, before, billingDump(t, f.store), "%s with fault %d changed the store", name, fault)
			// The same key works afterwards: the failed attempt remembered nothing.
			require.NoError(t, op(key), "%s retry after fault %d", name, fault)
		}
	}
}

func testBillingInvoice(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	// 3 × 1.005 = 3.015 → 3.02 (half away from zero); 7 × 0.0125 = 0.0875 → 0.09.
	a := f.site(t, f.owner, "A", "business", "1.005", "EUR", billing.MonthlyInvoice, billingCount(3))
	f.site(t, f.owner, "B", "business", "0.0125", "EUR", billing.MonthlyInvoice, billingCount(7))
	f.site(t, f.owner, "Yen", "business", "99.5", "JPY", billing.MonthlyInvoice, billingCount(1)) // 99.5 → 100
	f.site(t, f.owner, "Card", "business", "5", "EUR", billing.Card, billingCount(100))           // not invoiced
	f.site(t, f.owner, "Bare", "business", "5", "EUR", billing.MonthlyInvoice, nil)               // no amount: no line
	f.site(t, f.evil, "Evil", "business", "5", "EUR", billing.MonthlyInvoice, billingCount(100))  // another tenant

	inv, err := f.svc.Estimate(ctx, f.editor, billing.EstimateOptions{})
	require.NoError(t, err)
	require.Equal(t, "2026-12", inv.Period)
	require.Equal(t, "2026-11", inv.Activity)
	var amounts []string
	for _, l := range inv.Lines {
		amounts = append(amounts, l.SiteName+" "+l.Amount.String())
	}
	require.Equal(t, []string{"A 3.02 EUR", "B 0.09 EUR", "Yen 100 JPY"}, amounts)
	var totals []string
	for _, m := range inv.Totals {
		totals = append(totals, m.String())
	}
	require.Equal(t, []string{"3.11 EUR", "100 JPY"}, totals, "one total per currency, sums of rounded lines")

	// Half-even rounding when configured: a tie goes to the even cent.
	f.svc.Rounding = license.HalfEven
	c := f.site(t, f.owner, "Tie", "business", "0.125", "EUR", billing.MonthlyInvoice, billingCount(1)) // 0.125 → 0.12
	inv, err = f.svc.Estimate(ctx, f.owner, billing.EstimateOptions{})
	require.NoError(t, err)
	require.Equal(t, "0.12 EUR", inv.Lines[len(inv.Lines)-1].Amount.String())
	f.svc.Rounding = ""

	// Purchases and decreases of the month are adjustment lines of the next invoice.
	_, err = f.svc.Purchase(ctx, f.owner, billing.PurchaseRequest{Site: a.ID, Quantity: 10})
	require.NoError(t, err)
	f.clock.Set(billingStart.Add(24 * time.Hour))
	_, err = f.svc.Decrease(ctx, f.owner, billing.DecreaseRequest{Site: c.ID, Quantity: 1})
	require.NoError(t, err)
	inv, err = f.svc.Estimate(ctx, f.owner, billing.EstimateOptions{})
	require.NoError(t, err)
	var adj []string
	for _, l := range inv.Lines {
		if l.Kind == billing.LineAdjustment {
			adj = append(adj, fmt.Sprintf("%s %d %s", l.SiteName, l.Quantity, l.Amount))
		}
	}
	require.Equal(t, []string{"A 10 10.05 EUR", "Tie -1 -0.13 EUR"}, adj)
	// Recurring lines: A 13 × 1.005 = 13.065 → 13.07, B 0.09, Tie 0 → 0.00; adjustments 10.05 − 0.13.
	totals = totals[:0]
	for _, m := range inv.Totals {
		totals = append(totals, m.String())
	}
	require.Equal(t, []string{"23.08 EUR", "100 JPY"}, totals)

	// Next month's estimate no longer carries November's adjustments.
	inv, err = f.svc.Estimate(ctx, f.owner, billing.EstimateOptions{Month: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	for _, l := range inv.Lines {
		require.Equal(t, billing.LineLicenses, l.Kind)
	}
}

func testBillingProration(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	a := f.site(t, f.owner, "A", "business", "3", "EUR", billing.MonthlyInvoice, billingCount(0))
	// 21 November: 10 of 30 days left (the 21st counts). 7 × 3 × 10/30 = 7.00.
	f.clock.Set(time.Date(2026, 11, 21, 23, 59, 0, 0, time.UTC))
	_, err := f.svc.Purchase(ctx, f.owner, billing.PurchaseRequest{Site: a.ID, Quantity: 7})
	require.NoError(t, err)
	// 30 November: 1 of 30 days. 1 × 3 × 1/30 = 0.10 credited.
	f.clock.Set(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	_, err = f.svc.Decrease(ctx, f.owner, billing.DecreaseRequest{Site: a.ID, Quantity: 1})
	require.NoError(t, err)
	inv, err := f.svc.Estimate(ctx, f.owner, billing.EstimateOptions{Prorate: true})
	require.NoError(t, err)
	require.Len(t, inv.Lines, 3)
	require.Equal(t, "18.00 EUR", inv.Lines[0].Amount.String()) // 6 licenses for December
	require.Equal(t, "7.00 EUR", inv.Lines[1].Amount.String())
	require.Equal(t, "-0.10 EUR", inv.Lines[2].Amount.String())
	require.Contains(t, inv.Lines[1].Description, "(10/30 of the month)")
	require.Equal(t, "24.90 EUR", inv.Totals[0].String())
	// Off by default: whole months.
	inv, err = f.svc.Estimate(ctx, f.owner, billing.EstimateOptions{})
	require.NoError(t, err)
	require.Equal(t, "21.00 EUR", inv.Lines[1].Amount.String())
	require.Equal(t, "-3.00 EUR", inv.Lines[2].Amount.String())
	// December has 31 days; on the 22nd, 10 are left: 0.2 × 10/31 = 0.0645… → 0.06.
	b := f.site(t, f.owner, "B", "business", "0.2", "EUR", billing.MonthlyInvoice, billingCount(0))
	f.clock.Set(time.Date(2026, 12, 22, 8, 0, 0, 0, time.UTC))
	_, err = f.svc.Purchase(ctx, f.owner, billing.PurchaseRequest{Site: b.ID, Quantity: 1})
	require.NoError(t, err)
	inv, err = f.svc.Estimate(ctx, f.owner, billing.EstimateOptions{Prorate: true})
	require.NoError(t, err)
	require.Equal(t, "0.06 EUR", inv.Lines[len(inv.Lines)-1].Amount.String())
}
