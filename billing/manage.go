package billing

import (
	"context"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// maxQuantity bounds quantities so that no count overflows.
const maxQuantity = 1 << 40

// PurchaseRequest asks to buy Quantity licenses for a site.
type PurchaseRequest struct {
	Site     string `json:"site"` // site ID
	Quantity int64  `json:"quantity"`
	// IdempotencyKey: see the license package (Idempotency). PreviewPurchase
	// ignores it.
	IdempotencyKey string `json:"-"`
}

// PurchaseQuote is the "Licenses after purchase" summary a portal shows before
// a purchase. Preview and commit return the same figures for the same state.
type PurchaseQuote struct {
	Site     string `json:"site"`
	SiteName string `json:"site_name"`
	// Minimum is the least quantity accepted: the enrolled devices when the site
	// had no license amount set, else 1.
	Minimum      int64 `json:"minimum"`
	NewTotal     int64 `json:"new_total"`
	NewAvailable int64 `json:"new_available"`
	// CurrentEstimate is the monthly price of the licenses being purchased.
	CurrentEstimate license.Money `json:"current_estimate"`
	AddedLicenses   int64         `json:"added_licenses"`
	// AddedCost is the monthly price of the licenses bought beyond those the
	// enrolled devices already need when the site had no license amount set
	// (no amount set, 20 enrolled, buying 30: the price of 10; nothing
	// enrolled: the price of all 30). With an amount set it is the current
	// estimate.
	AddedCost license.Money `json:"added_cost"`
	// EstimatedTotal is the monthly price of the new total.
	EstimatedTotal license.Money `json:"estimated_total"`
}

// DecreaseRequest asks to remove Quantity licenses from a site.
type DecreaseRequest struct {
	Site     string `json:"site"`
	Quantity int64  `json:"quantity"`
	// IdempotencyKey: see the license package (Idempotency). PreviewDecrease
	// ignores it.
	IdempotencyKey string `json:"-"`
}

// DecreaseQuote is the "Licenses after decrease" summary a portal shows before
// a decrease. Preview and commit return the same figures for the same state.
type DecreaseQuote struct {
	Site         string `json:"site"`
	SiteName     string `json:"site_name"`
	NewTotal     int64  `json:"new_total"`
	NewAvailable int64  `json:"new_available"`
	// CurrentEstimate is the monthly price of the site's licenses before the decrease.
	CurrentEstimate   license.Money `json:"current_estimate"`
	DecreasedLicenses int64         `json:"decreased_licenses"`
	// DecreasedCost is the monthly price of the removed licenses (the saving).
	DecreasedCost license.Money `json:"decreased_cost"`
	// EstimatedTotal is the monthly price of the new total.
	EstimatedTotal license.Money `json:"estimated_total"`
}

// TransferRequest asks to move Quantity licenses from one site to another of
// the same company.
type TransferRequest struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Quantity int64  `json:"quantity"`
	// IdempotencyKey: see the license package (Idempotency). PreviewTransfer
	// ignores it.
	IdempotencyKey string `json:"-"`
}

// TransferSide is one site of the "Licenses after transfer" preview.
type TransferSide struct {
	Site           string `json:"site"`
	SiteName       string `json:"site_name"`
	AvailableAfter int64  `json:"available_after"`
	InUse          int64  `json:"in_use"`
	TotalAfter     int64  `json:"total_after"`
}

// TransferQuote is the "Licenses after transfer" summary of both sites a
// portal shows before a transfer. Preview and commit return the same figures
// for the same state.
type TransferQuote struct {
	From        TransferSide `json:"from"`
	To          TransferSide `json:"to"`
	Transferred int64        `json:"transferred"`
}

// CheckManageable reports why the licenses of st cannot be managed (purchase,
// decrease, transfer): only monthly invoice sites qualify.
func CheckManageable(st Site) error {
	if st.PaymentType != MonthlyInvoice {
		return license.Errorf(license.Invalid, "payment_type",
			"licenses of site %s cannot be managed here: its payment type is %s, and license management needs the monthly invoice payment type", st.Name, st.PaymentType)
	}
	return nil
}

func checkQuantity(q int64) error {
	if q < 1 {
		return license.Errorf(license.Invalid, "quantity", "the quantity must be at least 1 (got %d)", q)
	}
	if q > maxQuantity {
		return license.Errorf(license.Invalid, "quantity", "the quantity %d is too large", q)
	}
	return nil
}

func price(st Site, n int64, r license.Rounding) license.Money {
	return st.UnitPrice.Mul(n).Round(r)
}

// QuotePurchase computes the purchase of quantity licenses for st. It is pure:
// PreviewPurchase and Purchase both call it on the loaded site.
//
// Errors: invalid (quantity < 1 or below the minimum, payment type).
func QuotePurchase(st Site, quantity int64, r license.Rounding) (PurchaseQuote, error) {
	if err := CheckManageable(st); err != nil {
		return PurchaseQuote{}, err
	}
	if err := checkQuantity(quantity); err != nil {
		return PurchaseQuote{}, err
	}
	minimum := int64(1)
	if st.Licenses == nil && st.Enrolled > 0 {
		minimum = st.Enrolled
	}
	if quantity < minimum {
		return PurchaseQuote{}, license.Errorf(license.Invalid, "quantity",
			"site %s has no license amount set and %d devices enrolled: purchase at least %d licenses", st.Name, st.Enrolled, minimum)
	}
	total := st.LicenseCount() + quantity
	base := int64(0)
	if st.Licenses == nil {
		// The licenses that only balance the enrolled devices (none when no
		// device is enrolled: the minimum of 1 is a quantity rule, not a cost
		// the site already has).
		base = st.Enrolled
	}
	return PurchaseQuote{
		Site:            st.ID,
		SiteName:        st.Name,
		Minimum:         minimum,
		NewTotal:        total,
		NewAvailable:    total - st.Enrolled,
		CurrentEstimate: price(st, quantity, r),
		AddedLicenses:   quantity,
		AddedCost:       price(st, quantity-base, r),
		EstimatedTotal:  price(st, total, r),
	}, nil
}

// QuoteDecrease computes removing quantity licenses from st. Pure, shared by
// PreviewDecrease and Decrease.
//
// Errors: invalid (quantity < 1, payment type, no license amount set),
// below_enrolled (the result would be below the enrolled devices).
func QuoteDecrease(st Site, quantity int64, r license.Rounding) (DecreaseQuote, error) {
	if err := CheckManageable(st); err != nil {
		return DecreaseQuote{}, err
	}
	if err := checkQuantity(quantity); err != nil {
		return DecreaseQuote{}, err
	}
	if st.Licenses == nil {
		return DecreaseQuote{}, license.Errorf(license.Invalid, "quantity", "site %s has no license amount set: there is nothing to decrease", st.Name)
	}
	total := *st.Licenses - quantity
	if total < st.Enrolled {
		return DecreaseQuote{}, license.Errorf(license.BelowEnrolled, "quantity",
			"site %s has %d licenses and %d devices enrolled: it can lose at most %d licenses", st.Name, *st.Licenses, st.Enrolled, max(*st.Licenses-st.Enrolled, 0))
	}
	return DecreaseQuote{
		Site:              st.ID,
		SiteName:          st.Name,
		NewTotal:          total,
		NewAvailable:      total - st.Enrolled,
		CurrentEstimate:   price(st, *st.Licenses, r),
		DecreasedLicenses: quantity,
		DecreasedCost:     price(st, quantity, r),
		EstimatedTotal:    price(st, total, r),
	}, nil
}

// QuoteTransfer computes moving quantity licenses from one site to another.
// Pure, shared by PreviewTransfer and Transfer. Both sites must be distinct, on
// the monthly invoice payment type, with the same plan, unit price and
// currency; at most the source's available licenses move (licenses in use
// cannot), and the target must end with at least its enrolled devices.
//
// Errors: invalid (same site, quantity < 1, payment_type, plan, unit_price),
// currency_mismatch, below_enrolled.
func QuoteTransfer(from, to Site, quantity int64) (TransferQuote, error) {
	if from.ID == to.ID {
		return TransferQuote{}, license.Errorf(license.Invalid, "to", "the source and target of a transfer must be different sites")
	}
	if err := CheckManageable(from); err != nil {
		return TransferQuote{}, err
	}
	if err := CheckManageable(to); err != nil {
		return TransferQuote{}, err
	}
	if from.Plan != to.Plan {
		return TransferQuote{}, license.Errorf(license.Invalid, "plan", "sites %s and %s have different subscription plans (%s, %s): licenses move only between sites of the same plan", from.Name, to.Name, from.Plan, to.Plan)
	}
	if from.Currency() != to.Currency() {
		return TransferQuote{}, license.Errorf(license.CurrencyMismatch, "currency", "sites %s and %s are billed in different currencies (%s, %s)", from.Name, to.Name, from.Currency(), to.Currency())
	}
	if !from.UnitPrice.Amount.Equal(to.UnitPrice.Amount) {
		return TransferQuote{}, license.Errorf(license.Invalid, "unit_price", "sites %s and %s have different license prices (%s, %s)", from.Name, to.Name, from.UnitPrice, to.UnitPrice)
	}
	if err := checkQuantity(quantity); err != nil {
		return TransferQuote{}, err
	}
	if quantity > from.Available() {
		return TransferQuote{}, license.Errorf(license.BelowEnrolled, "quantity", "site %s has %d licenses available; licenses in use cannot be transferred", from.Name, from.Available())
	}
	fromTotal := from.LicenseCount() - quantity
	toTotal := to.LicenseCount() + quantity
	if toTotal < to.Enrolled {
		return TransferQuote{}, license.Errorf(license.BelowEnrolled, "quantity", "site %s has no license amount set and %d devices enrolled: transfer at least %d licenses", to.Name, to.Enrolled, to.Enrolled)
	}
	return TransferQuote{
		From:        TransferSide{Site: from.ID, SiteName: from.Name, AvailableAfter: fromTotal - from.Enrolled, InUse: from.Enrolled, TotalAfter: fromTotal},
		To:          TransferSide{Site: to.ID, SiteName: to.Name, AvailableAfter: toTotal - to.Enrolled, InUse: to.Enrolled, TotalAfter: toTotal},
		Transferred: quantity,
	}, nil
}

// PreviewPurchase returns what Purchase would do now, changing nothing.
//
// Errors: as Purchase, except conflict.
func (s *Service) PreviewPurchase(ctx context.Context, actor license.Actor, req PurchaseRequest) (PurchaseQuote, error) {
	var q PurchaseQuote
	err := s.view(ctx, actor, "purchasing licenses", func(tx storage.Tx) error {
		st, err := loadSiteRO(ctx, tx, actor.Company, req.Site)
		if err != nil {
			return err
		}
		q, err = QuotePurchase(st, req.Quantity, s.Rounding)
		return err
	})
	return q, err
}

// Purchase buys licenses for a site and returns the figures PreviewPurchase
// showed for the same state. It needs Owner or Admin. The purchase writes a
// license.purchase event and an invoice adjustment in the same transaction.
// The same req.IdempotencyKey again returns the first result and changes
// nothing.
//
// Errors: invalid, forbidden, not_found, conflict (idempotency_key).
func (s *Service) Purchase(ctx context.Context, actor license.Actor, req PurchaseRequest) (PurchaseQuote, error) {
	return commit(ctx, s, actor, "billing.purchase", req.IdempotencyKey, req, "purchasing licenses",
		func(tx storage.Tx, now time.Time) (PurchaseQuote, error) {
			st, err := loadSiteForUpdate(ctx, tx, actor.Company, req.Site)
			if err != nil {
				return PurchaseQuote{}, err
			}
			q, err := QuotePurchase(st, req.Quantity, s.Rounding)
			if err != nil {
				return q, err
			}
			return q, setLicenses(ctx, tx, actor, st, q.NewTotal, AdjustPurchase, q.AddedLicenses, EventPurchase, q, now)
		})
}

// setLicenses saves st with total licenses and writes the invoice adjustment
// and the event of a purchase or decrease (count licenses; quote as details).
// A purchase names the site as the event's target, a decrease as its source.
func setLicenses(ctx context.Context, tx storage.Tx, actor license.Actor, st Site, total int64, kind AdjustmentKind, count int64, typ eventlog.Type, quote any, now time.Time) error {
	st.Licenses, st.UpdatedAt = &total, now
	if err := saveSite(ctx, tx, actor.Company, st); err != nil {
		return err
	}
	if err := saveAdjustment(ctx, tx, actor.Company, st, kind, count, now); err != nil {
		return err
	}
	e, err := newEvent(actor, now, typ, st.ID, quote)
	if err != nil {
		return err
	}
	if kind == AdjustPurchase {
		e.Target = st.Name
	} else {
		e.Source = st.Name
	}
	e.Count = count
	return appendEvent(ctx, tx, e)
}

// PreviewDecrease returns what Decrease would do now, changing nothing.
//
// Errors: as Decrease, except conflict.
func (s *Service) PreviewDecrease(ctx context.Context, actor license.Actor, req DecreaseRequest) (DecreaseQuote, error) {
	var q DecreaseQuote
	err := s.view(ctx, actor, "decreasing licenses", func(tx storage.Tx) error {
		st, err := loadSiteRO(ctx, tx, actor.Company, req.Site)
		if err != nil {
			return err
		}
		q, err = QuoteDecrease(st, req.Quantity, s.Rounding)
		return err
	})
	return q, err
}

// Decrease removes licenses from a site, never below its enrolled devices, and
// returns the figures PreviewDecrease showed. It needs Owner or Admin and writes
// a license.decrease event and an invoice adjustment.
//
// Errors: invalid, forbidden, not_found, below_enrolled, conflict (idempotency_key).
func (s *Service) Decrease(ctx context.Context, actor license.Actor, req DecreaseRequest) (DecreaseQuote, error) {
	return commit(ctx, s, actor, "billing.decrease", req.IdempotencyKey, req, "decreasing licenses",
		func(tx storage.Tx, now time.Time) (DecreaseQuote, error) {
			st, err := loadSiteForUpdate(ctx, tx, actor.Company, req.Site)
			if err != nil {
				return DecreaseQuote{}, err
			}
			q, err := QuoteDecrease(st, req.Quantity, s.Rounding)
			if err != nil {
				return q, err
			}
			return q, setLicenses(ctx, tx, actor, st, q.NewTotal, AdjustDecrease, q.DecreasedLicenses, EventDecrease, q, now)
		})
}

// PreviewTransfer returns what Transfer would do now, changing nothing.
//
// Errors: as Transfer, except conflict.
func (s *Service) PreviewTransfer(ctx context.Context, actor license.Actor, req TransferRequest) (TransferQuote, error) {
	var q TransferQuote
	err := s.view(ctx, actor, "transferring licenses", func(tx storage.Tx) error {
		from, to, err := loadPair(ctx, tx, actor.Company, req, false)
		if err != nil {
			return err
		}
		q, err = QuoteTransfer(from, to, req.Quantity)
		return err
	})
	return q, err
}

// Transfer moves licenses between two sites of actor's company and returns the
// figures PreviewTransfer showed. The sum of the two sites' licenses is
// unchanged. It needs Owner or Admin and writes one license.transfer event
// (source and target site names, count). A transfer adds no invoice adjustment:
// both sites have the same unit price, so the company's cost is unchanged.
//
// Errors: invalid, forbidden, not_found, currency_mismatch, below_enrolled,
// conflict (idempotency_key).
func (s *Service) Transfer(ctx context.Context, actor license.Actor, req TransferRequest) (TransferQuote, error) {
	return commit(ctx, s, actor, "billing.transfer", req.IdempotencyKey, req, "transferring licenses",
		func(tx storage.Tx, now time.Time) (TransferQuote, error) {
			from, to, err := loadPair(ctx, tx, actor.Company, req, true)
			if err != nil {
				return TransferQuote{}, err
			}
			q, err := QuoteTransfer(from, to, req.Quantity)
			if err != nil {
				return q, err
			}
			ft, tt := q.From.TotalAfter, q.To.TotalAfter
			from.Licenses, from.UpdatedAt = &ft, now
			to.Licenses, to.UpdatedAt = &tt, now
			if err := saveSite(ctx, tx, actor.Company, from); err != nil {
				return q, err
			}
			if err := saveSite(ctx, tx, actor.Company, to); err != nil {
				return q, err
			}
			e, err := newEvent(actor, now, EventTransfer, from.ID, q)
			if err != nil {
				return q, err
			}
			e.Source, e.Target, e.Count = from.Name, to.Name, q.Transferred
			return q, appendEvent(ctx, tx, e)
		})
}

// loadPair loads both sites of a transfer, locking them in ID order so that two
// opposite transfers cannot deadlock.
func loadPair(ctx context.Context, tx storage.Tx, company string, req TransferRequest, forUpdate bool) (from, to Site, err error) {
	if req.From == "" {
		return from, to, license.Errorf(license.Invalid, "from", "a source site is required")
	}
	if req.To == "" {
		return from, to, license.Errorf(license.Invalid, "to", "a target site is required")
	}
	if req.From == req.To {
		return from, to, license.Errorf(license.Invalid, "to", "the source and target of a transfer must be different sites")
	}
	first, second := req.From, req.To
	if second < first {
		first, second = second, first
	}
	a, err := loadSite(ctx, tx, company, first, forUpdate)
	if err != nil {
		return from, to, err
	}
	b, err := loadSite(ctx, tx, company, second, forUpdate)
	if err != nil {
		return from, to, err
	}
	if a.ID == req.From {
		return a, b, nil
	}
	return b, a, nil
}

// view runs fn in a read-only transaction after checking that actor may
// manage licenses.
func (s *Service) view(ctx context.Context, actor license.Actor, what string, fn func(tx storage.Tx) error) error {
	if err := actor.Check(); err != nil {
		return err
	}
	return s.Store.View(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, what); err != nil {
			return err
		}
		return fn(tx)
	})
}

// commit runs one license-management commit: one transaction, the role check,
// the idempotency key, then op.
func commit[R any](ctx context.Context, s *Service, actor license.Actor, scope, key string, req any, what string, op func(tx storage.Tx, now time.Time) (R, error)) (R, error) {
	var out R
	if err := actor.Check(); err != nil {
		return out, err
	}
	now := s.now()
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, what); err != nil {
			return err
		}
		r, err := storage.Idempotent(ctx, tx, actor.Company, scope, key, req, now, func() (R, error) { return op(tx, now) })
		out = r
		return err
	})
	if err != nil {
		var zero R
		return zero, err
	}
	return out, nil
}
