package pool

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// normalizeValidation checks r and puts it in the form the checks read: the
// consumer's asset is Asset, or Fingerprint when no asset is given (so a
// product can key installations by machine fingerprint).
func normalizeValidation(r *license.ValidationRequest) error {
	if err := checkConsumer(r.Consumer); err != nil {
		return err
	}
	r.Consumer.Asset = r.Consumer.AssetID()
	if err := checkText("software", r.Software, MaxTextLength); err != nil {
		return err
	}
	r.Software = strings.TrimSpace(r.Software)
	r.Features = license.CleanEntitlements(r.Features)
	return license.CheckEntitlements("consumer.features", r.Features)
}

// RentalExpiry returns the last instant the rental periods among txs cover, as
// seen at now. When a period covers now, it is the end of the run of periods
// that follow on from it without a gap; otherwise the end of the latest period
// that has ended. Periods are [start, end), so the last instant is end - 1ns: a
// period ending at midnight expires at the end of the day before (see
// license.EndOfDay). The zero time means no rental period has covered any
// instant up to now (none has started). Periods of zero licenses do not count.
// It is pure.
func RentalExpiry(txs []Transaction, now time.Time) time.Time {
	var end time.Time
	for _, t := range txs {
		if t.Kind == TxRentalPeriod && t.Count > 0 && t.Period.Contains(now) && t.Period.End.After(end) {
			end = t.Period.End
		}
	}
	if !end.IsZero() {
		for changed := true; changed; {
			changed = false
			for _, t := range txs {
				if t.Kind == TxRentalPeriod && t.Count > 0 && !t.Period.Start.After(end) && t.Period.End.After(end) {
					end, changed = t.Period.End, true
				}
			}
		}
		return end.Add(-time.Nanosecond)
	}
	for _, t := range txs {
		if t.Kind == TxRentalPeriod && t.Count > 0 && t.Period.Ended(now) && t.Period.End.After(end) {
			end = t.Period.End
		}
	}
	if end.IsZero() {
		return end
	}
	return end.Add(-time.Nanosecond)
}

// Grace returns the pool's grace period after expiry.
func (s Spec) Grace() time.Duration { return time.Duration(s.GraceDays) * 24 * time.Hour }

// holding is what a consumer holds in a pool.
type holding struct {
	demand Demand
	alloc  *Allocation // its allocation (allocation metrics)
	arec   storage.Record
	live   bool  // it holds a live lease (concurrent user)
	need   int64 // units it still needs: 0 when covered
}

// verdict is the outcome of the checks on one pool for one request.
type verdict struct {
	res  license.Validation
	hold holding
	pool *Pool
	prec storage.Record
}

func invalid(code license.ValidationCode, format string, args ...any) license.Validation {
	return license.InvalidResult(code, fmt.Sprintf(format, args...))
}

// evaluate runs the checks in license.ValidationOrder on pool poolID inside tx.
// With allocate false it is Validate: a consumer without a (sufficient)
// allocation gets NoAllocation. With allocate true it is Validate-with-Allocate's
// decision: a missing allocation is remedied when the rest passes, so the
// capacity checks (quarantine, seats) decide instead; the caller then
// allocates hold.need units. It never writes.
func evaluate(ctx context.Context, tx storage.Tx, a license.Actor, poolID string, req license.ValidationRequest, now time.Time, allocate bool) (verdict, error) {
	var v verdict
	// Without allocating, evaluate only reads: the pool, the allocation and
	// the lease are peeked at (storage.Peek), not copied.
	var p *Pool
	var prec storage.Record
	var err error
	if allocate {
		p, prec, err = loadPool(ctx, tx, a.Company, poolID, true)
	} else {
		p, prec, err = peekPool(ctx, tx, a.Company, poolID)
	}
	if err != nil {
		if isCode(err, license.NotFound) {
			v.res = invalid(license.CodeNotFound, "no license pool with id %q", poolID)
			return v, nil
		}
		return v, err
	}
	v.pool, v.prec = p, prec
	// 2. inactive
	if p.Status != StatusActive {
		v.res = invalid(license.CodeInactive, "pool %q is %s", p.Name, p.Status)
		return v, nil
	}
	// 3. suspended
	if p.Suspended {
		v.res = invalid(license.CodeSuspended, "pool %q is suspended", p.Name)
		if p.SuspendReason != "" {
			v.res.Message += ": " + p.SuspendReason
		}
		return v, nil
	}
	// 4. expired (rental; perpetual pools never expire)
	var expires, graceEnds *time.Time
	inGrace := false
	if p.Model == license.Rental {
		exp := RentalExpiry(p.Transactions, now)
		if exp.IsZero() {
			v.res = invalid(license.CodeExpired, "pool %q has no rental period in effect yet", p.Name)
			return v, nil
		}
		code, end := license.ExpiryCheck(now, exp, p.Grace())
		expires = &exp
		switch code {
		case license.CodeExpired:
			v.res = invalid(license.CodeExpired, "pool %q expired at %s (grace of %d day(s) over)", p.Name, exp.Format(time.RFC3339Nano), p.GraceDays)
			v.res.ExpiresAt = expires
			return v, nil
		case license.CodeInGrace:
			inGrace, graceEnds = true, end
		}
	}
	// 5. outside restrictions (the software granted, then each restriction)
	if req.Software != "" && !p.Grants(req.Software) {
		v.res = invalid(license.CodeOutsideRestrictions, "pool %q does not grant use of %q", p.Name, req.Software)
		v.res.Failed = "software"
		return v, nil
	}
	if err := CheckRestrictions(p.Restrictions, p.Metric, req.Consumer); err != nil {
		v.res = license.InvalidResult(license.CodeOutsideRestrictions, license.ErrorMessage(err))
		v.res.Failed = license.ErrorField(err)
		return v, nil
	}
	// 6. no allocation for this consumer
	d, err := DemandOf(p.Metric, req.Consumer)
	if err != nil {
		return v, err
	}
	h := holding{demand: d}
	if p.Metric == license.ConcurrentUser {
		l, _, err := storage.Peek[Lease](ctx, tx, a.Company, KindLease, AllocationID(p.ID, "lease:"+d.Key))
		switch {
		case err == nil:
			h.live = l.Pool == p.ID && l.Live(now)
		case !storage.IsNotFound(err):
			return v, err
		}
		if !h.live {
			h.need = 1
		}
	} else {
		al, arec, err := loadOrPeek[Allocation](ctx, tx, a.Company, KindAllocation, AllocationID(p.ID, d.Key), allocate)
		switch {
		case err == nil && al.Pool == p.ID:
			h.alloc, h.arec = &al, arec
			h.need = max(0, d.Units-al.Units)
		case err == nil || storage.IsNotFound(err):
			h.need = d.Units
		default:
			return v, err
		}
	}
	v.hold = h
	counts, err := countsAt(ctx, tx, p, now)
	if err != nil {
		return v, err
	}
	if h.need > 0 && !allocate {
		switch {
		case p.Metric == license.ConcurrentUser:
			v.res = invalid(license.CodeNoAllocation, "%s holds no live concurrent-user lease in pool %q", d.Key, p.Name)
		case h.alloc != nil:
			v.res = invalid(license.CodeNoAllocation, "the allocation of %s in pool %q covers %d of its %d CPUs", d.Key, p.Name, h.alloc.Units, d.Units)
		default:
			v.res = invalid(license.CodeNoAllocation, "%s holds no allocation in pool %q (licensed by %s)", d.Key, p.Name, p.Metric)
		}
		return v, nil
	}
	// 7–8. quarantined, seats or CPUs exhausted
	if h.need > 0 {
		// To be allocated now: the licenses must be free now (never in grace).
		if err := CheckCapacity(counts, h.need); err != nil {
			code := license.CodeSeatsExhausted
			if isCode(err, license.Quarantined) {
				code = license.CodeQuarantined
			}
			v.res = license.InvalidResult(code, license.ErrorMessage(err))
			return v, nil
		}
	} else {
		// Held already: the pool must still cover what it has allocated (in
		// grace, with the licenses it had when it expired).
		total := counts.Total
		if inGrace {
			total = TotalAt(p.Transactions, *expires)
		}
		if counts.Allocated > total {
			v.res = invalid(license.CodeSeatsExhausted, "pool %q has %d license(s) for %d allocated: buy licenses or release allocations", p.Name, total, counts.Allocated)
			return v, nil
		}
	}
	// 9. entitlements
	if missing := license.MissingEntitlements(p.Entitlements, req.Features); len(missing) > 0 {
		v.res = invalid(license.CodeEntitlementsMissing, "pool %q does not grant %s", p.Name, strings.Join(missing, ", "))
		v.res.Missing = missing
		return v, nil
	}
	// 10. valid
	if inGrace {
		v.res = license.Validation{Valid: true, Code: license.CodeInGrace,
			Message: fmt.Sprintf("pool %q expired at %s; in grace until %s", p.Name, expires.Format(time.RFC3339Nano), graceEnds.Format(time.RFC3339Nano))}
	} else {
		v.res = license.ValidResult(d.Key + " may use pool " + strconv.Quote(p.Name)) // as fmt's %s and %q, without fmt on the hot path
	}
	v.res.ExpiresAt, v.res.GraceEnds = expires, graceEnds
	return v, nil
}

// loadOrPeek loads the record for update (a copy the caller may change)
// when forUpdate, or else peeks at it (storage.Peek: shared, only to be
// read).
func loadOrPeek[T any](ctx context.Context, tx storage.Tx, company string, kind storage.Kind, id string, forUpdate bool) (T, storage.Record, error) {
	if forUpdate {
		return storage.Load[T](ctx, tx, company, kind, id, true)
	}
	return storage.Peek[T](ctx, tx, company, kind, id)
}

func (s *Service) limit(a license.Actor, poolID string, now time.Time) error {
	if s.Limiter == nil {
		return nil
	}
	if ok, wait := s.Limiter.Allow("pool:"+a.Company+"/"+poolID, now); !ok {
		return license.RateLimitedError(wait)
	}
	return nil
}

// Validate answers whether req.Consumer may use pool poolID now, with one
// typed code, checking in the fixed order of license.ValidationOrder and
// reporting the first failure:
//
//  1. NotFound: no such pool for the actor's company.
//  2. Inactive: the pool is closed or retired.
//  3. Suspended: see Suspend.
//  4. Expired: a rental pool none of whose rental periods covers now, past its
//     grace (Spec.GraceDays; ExpiresAt is the end of the last period, GraceEnds
//     the end of grace); within grace the answer is valid with CodeInGrace.
//     Perpetual pools never expire.
//  5. OutsideRestrictions: req.Software is not granted (Failed "software") or
//     a restriction fails (Failed names it, e.g. "restrictions.user").
//  6. NoAllocation: every metric needs an allocation: named user, an
//     allocation to the user; installed instance, to the asset (or
//     fingerprint); physical server, to the server; physical CPU, to the
//     server, covering at least the consumer's CPUs; concurrent user, a live
//     lease of the user.
//  7. Quarantined and 8. SeatsExhausted: for a consumer that holds its
//     allocation, the pool no longer covers what it has allocated
//     (SeatsExhausted).
//  9. EntitlementsMissing: req.Features not all in Spec.Entitlements (Missing
//     lists them).
//  10. Valid (or InGrace).
//
// Without req.Allocate, Validate never changes state: it runs in one
// read-only View and any role may call it.
//
// With req.Allocate, the same checks run in the same order inside one Update
// and, when the consumer's only shortcoming is that it holds no allocation
// (or, under physical CPU, one covering fewer CPUs than it has), the pool
// allocates in the same transaction and answers valid: an allocation
// (pool.allocated; pool.allocation_changed when a CPU allocation grows) or a
// concurrent-user lease (pool.lease_acquired). For such a consumer checks 7
// and 8 look at the free licenses now: Quarantined when the free ones are held
// in quarantine, SeatsExhausted when there are not enough (under physical
// CPU, fewer free than the consumer's CPUs); a pool in grace allocates
// nothing new. Any failure changes nothing. Concurrent calls never allocate
// more than the pool holds. It needs a role that may edit pools.
//
// When the Service has a Limiter, each call takes a token of the key
// "pool:<company>/<pool>" first.
//
// Errors (not validation results): Invalid (pool id malformed, consumer.*,
// software, consumer.features; a consumer missing what the metric needs),
// Forbidden (Allocate with a role that may not edit), RateLimited (nothing
// read).
func (s *Service) Validate(ctx context.Context, a license.Actor, poolID string, req license.ValidationRequest) (license.Validation, error) {
	if req.Allocate {
		return s.validateAndAllocate(ctx, a, poolID, req)
	}
	if err := a.Check(); err != nil {
		return license.Validation{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return license.Validation{}, err
	}
	if err := normalizeValidation(&req); err != nil {
		return license.Validation{}, err
	}
	now := s.now()
	if err := s.limit(a, poolID, now); err != nil {
		return license.Validation{}, err
	}
	var out license.Validation
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		v, err := evaluate(ctx, tx, a, poolID, req, now, false)
		out = v.res
		return err
	})
	if err != nil {
		return license.Validation{}, err
	}
	return out, nil
}

// validateAndAllocate is Validate with req.Allocate (see Validate).
func (s *Service) validateAndAllocate(ctx context.Context, a license.Actor, poolID string, req license.ValidationRequest) (license.Validation, error) {
	if err := checkEditor(a); err != nil {
		return license.Validation{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return license.Validation{}, err
	}
	if err := normalizeValidation(&req); err != nil {
		return license.Validation{}, err
	}
	now := s.now()
	if err := s.limit(a, poolID, now); err != nil {
		return license.Validation{}, err
	}
	var out license.Validation
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		v, err := evaluate(ctx, tx, a, poolID, req, now, true)
		if err != nil {
			return err
		}
		out = v.res
		if !v.res.Valid || v.hold.need == 0 {
			return nil
		}
		p, h := v.pool, v.hold
		switch {
		case p.Metric == license.ConcurrentUser:
			_, err = acquireLeaseIn(ctx, tx, a, poolID, LeaseRequest{Consumer: req.Consumer}, now)
		case h.alloc != nil:
			err = growAllocation(ctx, tx, a, p, v.prec, *h.alloc, h.arec, h.demand.Units, now)
		default:
			_, err = allocateIn(ctx, tx, a, poolID, AllocateRequest{Consumer: req.Consumer, Software: req.Software}, now)
		}
		if err != nil {
			return err
		}
		out.Message += " (allocated now)"
		return nil
	})
	if err != nil {
		return license.Validation{}, err
	}
	return out, nil
}

// growAllocation raises a physical-CPU allocation to units CPUs.
func growAllocation(ctx context.Context, tx storage.Tx, a license.Actor, p *Pool, prec storage.Record, al Allocation, arec storage.Record, units int64, now time.Time) error {
	need := units - al.Units
	pruneQuarantine(p, now)
	c, err := countsAt(ctx, tx, p, now)
	if err != nil {
		return err
	}
	if err := CheckCapacity(c, need); err != nil {
		return err
	}
	al.Units, al.Consumer.CPUs = units, int(units)
	if err := storage.Save(ctx, tx, arec, al); err != nil {
		return err
	}
	if al.Automatic {
		p.AllocatedAuto += need
	} else {
		p.AllocatedManual += need
	}
	if err := savePool(ctx, tx, prec, p); err != nil {
		return err
	}
	return appendEvent(ctx, tx, a, now, EventAllocationChanged, p.ID, need, map[string]any{"allocation": al.ID, "key": al.Key, "units": units})
}

// MaxSuspendReason is the longest suspension reason, in characters.
const MaxSuspendReason = 250

func checkAdmin(a license.Actor) error {
	if err := a.Check(); err != nil {
		return err
	}
	if !a.Role.CanManageLicenses() {
		return license.Errorf(license.Forbidden, "role", "role %s may not suspend or unsuspend license pools (owner or admin only)", a.Role)
	}
	return nil
}

// Suspend suspends pool id: validation answers license.CodeSuspended and the
// pool refuses new allocations and leases until Unsuspend; existing
// allocations stay. Owner or admin only. Appends pool.suspended.
//
// Errors: Invalid (reason longer than MaxSuspendReason), NotFound, Forbidden,
// Conflict (retired, or already suspended).
func (s *Service) Suspend(ctx context.Context, a license.Actor, id, reason string) (*Pool, error) {
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, MaxSuspendReason); err != nil {
		return nil, err
	}
	return s.setSuspended(ctx, a, id, true, reason)
}

// Unsuspend lifts a suspension. Owner or admin only. Appends pool.unsuspended.
//
// Errors: Invalid, NotFound, Forbidden, Conflict (not suspended).
func (s *Service) Unsuspend(ctx context.Context, a license.Actor, id string) (*Pool, error) {
	return s.setSuspended(ctx, a, id, false, "")
}

func (s *Service) setSuspended(ctx context.Context, a license.Actor, id string, on bool, reason string) (*Pool, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	if err := checkPoolID(id); err != nil {
		return nil, err
	}
	now := s.now()
	var out *Pool
	err := s.updateAs(ctx, &a, checkAdmin, func(tx storage.Tx) error {
		p, rec, err := loadLivePool(ctx, tx, a.Company, id)
		if err != nil {
			return err
		}
		if p.Suspended == on {
			if on {
				return license.Errorf(license.Conflict, "suspended", "pool %q is already suspended", p.Name)
			}
			return license.Errorf(license.Conflict, "suspended", "pool %q is not suspended", p.Name)
		}
		typ := EventUnsuspended
		details := map[string]any{"name": p.Name}
		if on {
			typ = EventSuspended
			p.Suspended, p.SuspendedAt, p.SuspendReason = true, &now, reason
			details["reason"] = reason
		} else {
			p.Suspended, p.SuspendedAt, p.SuspendReason = false, nil, ""
		}
		p.Updated = now
		if err := savePool(ctx, tx, rec, p); err != nil {
			return err
		}
		out = p
		return appendEvent(ctx, tx, a, now, typ, p.ID, 0, details)
	})
	if err != nil {
		return nil, err
	}
	return view(out, a, now), nil
}
