package subscription

import (
	"context"
	"slices"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// TickResult counts what a Tick did.
type TickResult struct {
	Companies   int `json:"companies"`   // companies with work due
	Renewed     int `json:"renewed"`     // periods renewed (a license may renew several)
	Expired     int `json:"expired"`     // licenses that expired
	Exchanged   int `json:"exchanged"`   // assignments moved to another license
	Unexchanged int `json:"unexchanged"` // expired assignments newly found without a replacement
}

func (r *TickResult) add(o TickResult) {
	r.Companies += o.Companies
	r.Renewed += o.Renewed
	r.Expired += o.Expired
	r.Exchanged += o.Exchanged
	r.Unexchanged += o.Unexchanged
}

// Tick applies, across all companies, what is due up to now: renewals of
// licenses with auto-renewal (each period extends the expiration by the
// billing period, from the purchase date as anchor, and writes a renewal Charge
// and event), expiries (licenses whose renewal was cancelled, trials, refused
// renewals) and automatic exchanges (an assignment on an expired license moves
// to an available paid license of the same type from the global pool; when
// none is available, one event says so, and a later Tick tries again). Each
// company is one transaction. Running Tick twice for the same now changes
// nothing the second time. A background job calls it; it acts as the system.
// Errors: unavailable, internal (the store's); the result counts the companies
// done before the error.
func (s *Service) Tick(ctx context.Context, now time.Time) (TickResult, error) {
	now = now.UTC()
	var due []string
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		ls, err := storage.ListOf[License](ctx, tx, storage.ListQuery{Kind: KindLicense, AllCompanies: true})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, l := range ls {
			if !seen[l.Company] && (renewalOrExpiryDue(l, now) || (l.State == Expired && l.Assignee != nil)) {
				seen[l.Company] = true
				due = append(due, l.Company)
			}
		}
		return nil
	})
	if err != nil {
		return TickResult{}, err
	}
	slices.Sort(due)
	var total TickResult
	for _, company := range due {
		var r TickResult
		err := s.Store.Update(ctx, func(tx storage.Tx) error {
			var err error
			r, err = s.tickCompany(ctx, tx, company, now)
			return err
		})
		if err != nil {
			return total, err
		}
		total.add(r)
	}
	return total, nil
}

func renewalOrExpiryDue(l License, now time.Time) bool {
	return l.State != Expired && now.After(l.ExpirationDate)
}

func (s *Service) tickCompany(ctx context.Context, tx storage.Tx, company string, now time.Time) (TickResult, error) {
	r := TickResult{Companies: 1}
	b, err := open(ctx, tx, license.System(company), now)
	if err != nil {
		return r, err
	}
	ls, err := b.sorted()
	if err != nil {
		return r, err
	}
	for _, l := range ls {
		if !renewalOrExpiryDue(*l, now) {
			continue
		}
		l, err := b.lock(l.ID)
		if err != nil {
			return r, err
		}
		var refused error
		for !l.Trial && l.AutoRenew && now.After(l.ExpirationDate) {
			from := l.ExpirationDate
			to := l.Period.RenewalDate(l.PurchaseDate, l.Renewals+2)
			if s.ApproveRenewal != nil {
				c := Charge{Company: company, License: l.ID, Type: l.Type, Reason: "renewal", Period: l.Period, From: from, To: to, Amount: *l.UnitPrice, At: now}
				if refused = s.ApproveRenewal(*l, c); refused != nil {
					break
				}
			}
			l.Renewals++
			l.ExpirationDate = to
			l.NextRenewal = ptr(to)
			if err := b.charge(l, "renewal", from, to); err != nil {
				return r, err
			}
			if err := b.event(EventRenewed, l.ID, "", string(l.Type), 1,
				map[string]any{"license": l.ID, "from": from, "to": to, "amount": l.UnitPrice, "renewal": l.Renewals}); err != nil {
				return r, err
			}
			r.Renewed++
		}
		if now.After(l.ExpirationDate) {
			l.State, l.ExpiredAt, l.NextRenewal = Expired, ptr(l.ExpirationDate), nil
			details := map[string]any{"license": l.ID, "expired_at": l.ExpirationDate, "auto_renew": l.AutoRenew, "trial": l.Trial}
			if refused != nil {
				details["renewal_refused"] = license.ErrorMessage(refused)
			}
			if err := b.event(EventExpired, l.ID, "", string(l.Type), 1, details); err != nil {
				return r, err
			}
			r.Expired++
		}
		if err := b.put(l); err != nil {
			return r, err
		}
	}
	if !b.settings.AutoExchange {
		return r, nil
	}
	ls, err = b.sorted()
	if err != nil {
		return r, err
	}
	for _, l := range ls {
		if l.State != Expired || l.Assignee == nil {
			continue
		}
		c := *l.Assignee
		to, err := b.pick(l.Type, c.User, true)
		if err != nil {
			return r, err
		}
		if to == nil {
			if l.ExchangeFailed {
				continue // already reported; nothing changes
			}
			l, err := b.lock(l.ID)
			if err != nil {
				return r, err
			}
			l.ExchangeFailed = true
			if err := b.put(l); err != nil {
				return r, err
			}
			if err := b.event(EventExchangeUnavailable, l.ID, l.ID, consumerID(c), 0,
				map[string]any{"license": l.ID, "consumer": c, "reason": "no available active license of this type in the global pool for this user"}); err != nil {
				return r, err
			}
			r.Unexchanged++
			continue
		}
		from, err := b.lock(l.ID)
		if err != nil {
			return r, err
		}
		if to, err = b.lock(to.ID); err != nil {
			return r, err
		}
		from.Assignee, from.ExchangeFailed = nil, false
		to.Assignee = &c
		if err := b.put(from); err != nil {
			return r, err
		}
		if err := b.put(to); err != nil {
			return r, err
		}
		if err := b.putAssignment(assignment{Type: to.Type, Consumer: c, License: to.ID, Since: now}, false); err != nil {
			return r, err
		}
		if err := b.event(EventExchanged, to.ID, from.ID, to.ID, 1, map[string]any{"from": from.ID, "to": to.ID, "consumer": c}); err != nil {
			return r, err
		}
		r.Exchanged++
	}
	return r, nil
}
