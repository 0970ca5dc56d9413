package billing

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// AdjustmentKind says whether an adjustment charges or credits.
type AdjustmentKind string

// Adjustment kinds.
const (
	AdjustPurchase AdjustmentKind = "purchase" // licenses bought: charged on the next invoice
	AdjustDecrease AdjustmentKind = "decrease" // licenses removed: credited on the next invoice
)

// Adjustment is a purchase or decrease made during a month. It is stored (kind
// billing_adjustment, parent = the month "2006-01") in the transaction of the
// change and becomes an adjustment line of the next invoice.
type Adjustment struct {
	ID        string         `json:"id"`
	Site      string         `json:"site"`
	SiteName  string         `json:"site_name"`
	Month     string         `json:"month"` // "2006-01", UTC
	At        time.Time      `json:"at"`
	Kind      AdjustmentKind `json:"kind"`
	Quantity  int64          `json:"quantity"`
	UnitPrice license.Money  `json:"unit_price"`
}

// MonthKey returns the "2006-01" key of t's UTC calendar month.
func MonthKey(t time.Time) string { return t.UTC().Format("2006-01") }

func saveAdjustment(ctx context.Context, tx storage.Tx, company string, st Site, kind AdjustmentKind, qty int64, now time.Time) error {
	a := Adjustment{ID: license.NewID(), Site: st.ID, SiteName: st.Name, Month: MonthKey(now), At: now, Kind: kind, Quantity: qty, UnitPrice: st.UnitPrice}
	return storage.Save(ctx, tx, storage.Record{Company: company, Kind: KindAdjustment, ID: a.ID, Parent: a.Month}, a)
}

// EstimateOptions configures an invoice estimate.
type EstimateOptions struct {
	// Month is any time within the month whose activity the estimate closes;
	// zero means the current month (by the service's clock).
	Month time.Time
	// Prorate charges (or credits) each adjustment only for the days of the month
	// left on the day of the change: days remaining / days in month, where days
	// remaining counts the day of the change itself (a purchase on 21 November is
	// charged 10/30 of a month; on the 1st, 30/30; on the 30th, 1/30). Off by
	// default: an adjustment is a full month.
	Prorate bool
}

// LineKind distinguishes recurring lines from adjustment lines.
type LineKind string

// Line kinds.
const (
	LineLicenses   LineKind = "licenses"   // a site's licenses for the invoiced month
	LineAdjustment LineKind = "adjustment" // a purchase or decrease of the month before
)

// InvoiceLine is one line of an invoice estimate. Amount is Quantity ×
// UnitPrice (× the proration factor for a prorated adjustment), rounded once to
// the currency's minor unit; credits are negative.
type InvoiceLine struct {
	Kind        LineKind      `json:"kind"`
	Site        string        `json:"site"`
	SiteName    string        `json:"site_name"`
	Description string        `json:"description"`
	Quantity    int64         `json:"quantity"`
	UnitPrice   license.Money `json:"unit_price"`
	Amount      license.Money `json:"amount"`
	At          time.Time     `json:"at,omitzero"` // adjustments: when the change was made
}

// Invoice is an estimate of a company's next monthly invoice.
type Invoice struct {
	Company string `json:"company"`
	// Period is the invoiced month ("2006-01"): the month after Activity.
	Period string `json:"period"`
	// Activity is the month whose purchases and decreases are adjusted ("2006-01").
	Activity string        `json:"activity"`
	Lines    []InvoiceLine `json:"lines"`
	// Totals holds one sum per currency, sorted by currency; amounts in different
	// currencies are never added together.
	Totals []license.Money `json:"totals"`
}

// Estimate returns the estimate of the invoice that follows opts.Month (by
// default the current month), so that the cost of licenses purchased this month
// appears on the next monthly invoice:
//
//   - one "licenses" line per monthly-invoice site with a license amount set:
//     its current licenses × unit price, for the invoiced month (billed in
//     advance); sites with another payment type or no amount set have no line;
//   - one "adjustment" line per purchase (charge) and decrease (credit, negative)
//     committed during opts.Month, at the unit price of the day of the change,
//     for the part of that month the change covered: the whole month by default,
//     or prorated by day with opts.Prorate;
//   - totals per currency.
//
// Every line is rounded once, to the currency's minor unit with s.Rounding
// (half away from zero by default); totals are sums of rounded lines. Lines are
// ordered: licenses lines by site ID, then adjustments by time.
//
// The estimate reads the store in one pass whatever the number of sites: one
// List of the sites and one List of the month's adjustments. Any role that may
// see prices (Owner, Admin, Editor, LicenseAdmin) may estimate.
//
// Errors: invalid (actor), forbidden.
func (s *Service) Estimate(ctx context.Context, actor license.Actor, opts EstimateOptions) (Invoice, error) {
	if err := actor.Check(); err != nil {
		return Invoice{}, err
	}
	month := opts.Month
	if month.IsZero() {
		month = s.now()
	}
	month = month.UTC()
	first := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	inv := Invoice{Company: actor.Company, Activity: MonthKey(first), Period: MonthKey(first.AddDate(0, 1, 0))}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		if err := requireRole(ctx, tx, actor, license.Role.CanSeePrices, "an invoice estimate", "Owner, Admin, Editor or LicenseAdmin"); err != nil {
			return err
		}
		sites, err := listSites(ctx, tx, actor.Company)
		if err != nil {
			return err
		}
		adjs, err := storage.ListOf[Adjustment](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: KindAdjustment, Parent: inv.Activity})
		if err != nil {
			return err
		}
		inv.Lines, inv.Totals = EstimateLines(sites, adjs, opts.Prorate, s.Rounding)
		return nil
	})
	if err != nil {
		return Invoice{}, err
	}
	return inv, nil
}

// EstimateLines is the pure part of Estimate: the lines and per-currency totals
// for the given sites and adjustments (see Estimate for the rules).
func EstimateLines(sites []Site, adjs []Adjustment, prorate bool, r license.Rounding) ([]InvoiceLine, []license.Money) {
	lines := make([]InvoiceLine, 0, len(sites)+len(adjs))
	for _, st := range sites {
		if st.PaymentType != MonthlyInvoice || st.Licenses == nil {
			continue
		}
		lines = append(lines, InvoiceLine{
			Kind: LineLicenses, Site: st.ID, SiteName: st.Name,
			Description: fmt.Sprintf("%s: %d licenses", st.Name, *st.Licenses),
			Quantity:    *st.Licenses, UnitPrice: st.UnitPrice,
			Amount: st.UnitPrice.Mul(*st.Licenses).Round(r),
		})
	}
	adjs = slices.Clone(adjs)
	slices.SortStableFunc(adjs, func(a, b Adjustment) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	for _, a := range adjs {
		qty := a.Quantity
		verb := "purchased"
		if a.Kind == AdjustDecrease {
			qty, verb = -qty, "removed"
		}
		amount := a.UnitPrice.Mul(qty)
		desc := fmt.Sprintf("%s: %d licenses %s on %s", a.SiteName, a.Quantity, verb, a.At.UTC().Format("2006-01-02"))
		if prorate {
			left, days := ProrationDays(a.At)
			// quantity × price × left / days. The division keeps 16 digits; with
			// at most 4 decimal places in the price and days <= 31, an exact
			// quotient is never within 10^-16 of a half minor unit without being
			// on it, so rounding the quotient once to the minor unit is exact.
			amount.Amount = amount.Amount.Mul(decimal.NewFromInt(int64(left))).Div(decimal.NewFromInt(int64(days)))
			desc += fmt.Sprintf(" (%d/%d of the month)", left, days)
		}
		lines = append(lines, InvoiceLine{
			Kind: LineAdjustment, Site: a.Site, SiteName: a.SiteName, Description: desc,
			Quantity: qty, UnitPrice: a.UnitPrice, Amount: amount.Round(r), At: a.At,
		})
	}
	sums := map[license.Currency]decimal.Decimal{}
	for _, l := range lines {
		sums[l.Amount.Currency] = sums[l.Amount.Currency].Add(l.Amount.Amount)
	}
	totals := make([]license.Money, 0, len(sums))
	for c, a := range sums {
		totals = append(totals, license.NewMoney(a, c))
	}
	slices.SortFunc(totals, func(a, b license.Money) int { return compareStrings(string(a.Currency), string(b.Currency)) })
	return lines, totals
}

// ProrationDays returns, for a change at t, the days of t's UTC month left
// counting t's own day, and the days in that month (1 March: 31, 31;
// 29 February 2028: 1, 29).
func ProrationDays(t time.Time) (left, days int) {
	t = t.UTC()
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	days = first.AddDate(0, 1, -1).Day()
	return days - t.Day() + 1, days
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
