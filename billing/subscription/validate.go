package subscription

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// KindTerms holds a license's vendor terms (entitlements, grace period,
// suspension); ID and Parent are the license ID. A license without one has
// no entitlements, no grace and is not suspended.
const KindTerms storage.Kind = "subscription_terms"

// Events of terms and suspension.
const (
	EventTermsChanged eventlog.Type = "subscription.terms_changed"
	EventSuspended    eventlog.Type = "subscription.suspended"
	EventUnsuspended  eventlog.Type = "subscription.unsuspended"
)

// Limits of terms.
const (
	MaxGraceDays     = 365
	MaxSuspendReason = 250
)

// Terms are what the vendor attaches to a license for validation.
type Terms struct {
	License string `json:"license"`
	// Entitlements are the feature codes the license grants.
	Entitlements []string `json:"entitlements,omitempty"`
	// GraceDays after the expiration date validation still answers valid,
	// with license.CodeInGrace.
	GraceDays     int        `json:"grace_days,omitempty"`
	Suspended     bool       `json:"suspended,omitempty"`
	SuspendedAt   *time.Time `json:"suspended_at,omitempty"`
	SuspendReason string     `json:"suspend_reason,omitempty"`
	Updated       time.Time  `json:"updated"`
}

// TermsInput sets a license's entitlements and grace period.
type TermsInput struct {
	Entitlements []string `json:"entitlements,omitempty"`
	GraceDays    int      `json:"grace_days,omitempty"`
}

func termsRecord(company, id string) storage.Record {
	return storage.Record{Company: company, Kind: KindTerms, ID: id, Parent: id}
}

// loadTerms returns the terms of license id (zero terms when none are stored).
func loadTerms(ctx context.Context, tx storage.Tx, company, id string, forUpdate bool) (Terms, bool, error) {
	t, _, err := storage.Load[Terms](ctx, tx, company, KindTerms, id, forUpdate)
	switch {
	case err == nil:
		return t, true, nil
	case storage.IsNotFound(err):
		return Terms{License: id}, false, nil
	}
	return Terms{}, false, err
}

// changeTerms runs change on the terms of license id in one transaction and
// saves them with an event of type typ.
func (s *Service) changeTerms(ctx context.Context, actor license.Actor, id string, typ eventlog.Type, change func(t *Terms) (map[string]any, error)) (Terms, error) {
	if err := checkManager(actor); err != nil {
		return Terms{}, err
	}
	if err := license.CheckID("license", id); err != nil {
		return Terms{}, err
	}
	now := s.now()
	var out Terms
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		if _, err := b.lock(id); err != nil {
			return err
		}
		t, _, err := loadTerms(ctx, tx, actor.Company, id, true)
		if err != nil {
			return err
		}
		details, err := change(&t)
		if err != nil {
			return err
		}
		t.License, t.Updated = id, now
		if err := storage.Save(ctx, tx, termsRecord(actor.Company, id), t); err != nil {
			return err
		}
		out = t
		return b.event(typ, id, "", "", 0, details)
	})
	return out, err
}

// SetTerms sets the entitlements (feature codes: each non-empty, at most
// license.MaxEntitlementLength characters, no spaces; duplicates dropped) and the
// grace period (0 to MaxGraceDays days) of license id. Owner or admin only.
// Appends subscription.terms_changed.
// Errors: invalid (entitlements, grace_days, license), forbidden, not_found.
func (s *Service) SetTerms(ctx context.Context, actor license.Actor, id string, in TermsInput) (Terms, error) {
	codes := license.CleanEntitlements(in.Entitlements)
	if err := license.CheckEntitlements("entitlements", codes); err != nil {
		return Terms{}, err
	}
	if in.GraceDays < 0 || in.GraceDays > MaxGraceDays {
		return Terms{}, license.Errorf(license.Invalid, "grace_days", "the grace period must be between 0 and %d days", MaxGraceDays)
	}
	return s.changeTerms(ctx, actor, id, EventTermsChanged, func(t *Terms) (map[string]any, error) {
		t.Entitlements, t.GraceDays = codes, in.GraceDays
		return map[string]any{"entitlements": codes, "grace_days": in.GraceDays}, nil
	})
}

// Suspend suspends license id: validation answers license.CodeSuspended until
// Unsuspend. Owner or admin only. Appends subscription.suspended.
// Errors: invalid (reason too long, license), forbidden, not_found, conflict
// (already suspended).
func (s *Service) Suspend(ctx context.Context, actor license.Actor, id, reason string) (Terms, error) {
	reason = strings.TrimSpace(reason)
	if err := license.CheckLine("reason", reason, MaxSuspendReason); err != nil {
		return Terms{}, err
	}
	return s.changeTerms(ctx, actor, id, EventSuspended, func(t *Terms) (map[string]any, error) {
		if t.Suspended {
			return nil, license.Errorf(license.Conflict, "suspended", "license %q is already suspended", id)
		}
		now := s.now()
		t.Suspended, t.SuspendedAt, t.SuspendReason = true, &now, reason
		return map[string]any{"license": id, "reason": reason}, nil
	})
}

// Unsuspend lifts a suspension. Owner or admin only. Appends
// subscription.unsuspended.
// Errors: invalid, forbidden, not_found, conflict (not suspended).
func (s *Service) Unsuspend(ctx context.Context, actor license.Actor, id string) (Terms, error) {
	return s.changeTerms(ctx, actor, id, EventUnsuspended, func(t *Terms) (map[string]any, error) {
		if !t.Suspended {
			return nil, license.Errorf(license.Conflict, "suspended", "license %q is not suspended", id)
		}
		t.Suspended, t.SuspendedAt, t.SuspendReason = false, nil, ""
		return map[string]any{"license": id}, nil
	})
}

// Terms returns the terms of license id (zero terms when never set).
// Errors: invalid, not_found.
func (s *Service) Terms(ctx context.Context, actor license.Actor, id string) (Terms, error) {
	if err := actor.Check(); err != nil {
		return Terms{}, err
	}
	if err := license.CheckID("license", id); err != nil {
		return Terms{}, err
	}
	var out Terms
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, actor.Company, KindLicense, id); err != nil {
			if storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, "license", "no license %q", id)
			}
			return err
		}
		var err error
		out, _, err = loadTerms(ctx, tx, actor.Company, id, false)
		return err
	})
	return out, err
}

func checkValidation(r *license.ValidationRequest) error {
	if r.Allocate {
		return license.Errorf(license.Invalid, "allocate", "subscription licenses are assigned (Assign), never allocated on validation")
	}
	c := r.Consumer
	for _, f := range []struct{ field, v string }{
		{"consumer.user", c.User}, {"consumer.asset", c.Asset}, {"consumer.fingerprint", c.Fingerprint}, {"software", r.Software},
	} {
		if err := license.CheckLine(f.field, f.v, 250); err != nil {
			return err
		}
	}
	if c.CPUs < 0 || c.CPUs > 4096 {
		return license.Errorf(license.Invalid, "consumer.cpus", "the CPU count must be between 0 and 4096, got %d", c.CPUs)
	}
	r.Features = license.CleanEntitlements(r.Features)
	return license.CheckEntitlements("consumer.features", r.Features)
}

func invalidResult(code license.ValidationCode, format string, args ...any) license.Validation {
	return license.InvalidResult(code, fmt.Sprintf(format, args...))
}

// decide runs the validation checks on license l (nil: not found) with terms t
// at now. It is pure. See Validate for the order.
func decide(l *License, t Terms, req license.ValidationRequest, now time.Time) license.Validation {
	c := req.Consumer
	// 1. not found
	if l == nil {
		return invalidResult(license.CodeNotFound, "no license matches")
	}
	// 2. inactive: not activated, or a trial converted into a paid license
	if l.ConvertedTo != "" {
		return invalidResult(license.CodeInactive, "trial license %s was converted into license %s", l.ID, l.ConvertedTo)
	}
	if !l.Activated {
		return invalidResult(license.CodeInactive, "license %s is not activated yet", l.ID)
	}
	// 3. suspended
	if t.Suspended {
		v := invalidResult(license.CodeSuspended, "license %s is suspended", l.ID)
		if t.SuspendReason != "" {
			v.Message += ": " + t.SuspendReason
		}
		return v
	}
	// 4. expired: after the expiration date (or the moment it was expired) and the grace
	expires := l.ExpirationDate
	if l.State == Expired && l.ExpiredAt != nil && l.ExpiredAt.Before(expires) {
		expires = *l.ExpiredAt
	}
	pending := renewalPending(*l, now)
	if pending {
		expires = projectedExpiry(*l, now)
	}
	code, graceEnds := license.ExpiryCheck(now, expires, time.Duration(t.GraceDays)*24*time.Hour)
	if code == license.CodeExpired {
		v := invalidResult(license.CodeExpired, "license %s expired at %s", l.ID, expires.Format(time.RFC3339Nano))
		v.ExpiresAt = &expires
		return v
	}
	// 5. outside restrictions: the software asked for must be the license's type
	if req.Software != "" {
		if typ, err := ParseType(req.Software); err != nil || typ != l.Type {
			v := invalidResult(license.CodeOutsideRestrictions, "license %s is a per-%s license; it does not cover %q", l.ID, l.Type, req.Software)
			v.Failed = "software"
			return v
		}
	}
	// 6. no allocation: the license must be assigned to this consumer (a user
	// for per-user and per-administrator licenses, a computer otherwise)
	who, held := c.User, ""
	if l.Assignee != nil {
		held = l.Assignee.User
	}
	if l.Type.ConsumerKind() == ConsumerComputer {
		who = c.AssetID()
		if l.Assignee != nil {
			held = l.Assignee.Asset
		}
	}
	if l.Assignee == nil || who == "" || held != who {
		return invalidResult(license.CodeNoAllocation, "license %s is not assigned to %s %q", l.ID, l.Type.ConsumerKind(), who)
	}
	// 7–8. quarantine and seats do not apply: one license, one consumer.
	// 9. entitlements
	if missing := license.MissingEntitlements(t.Entitlements, req.Features); len(missing) > 0 {
		v := invalidResult(license.CodeEntitlementsMissing, "license %s does not grant %s", l.ID, strings.Join(missing, ", "))
		v.Missing = missing
		return v
	}
	// 10. valid
	var v license.Validation
	if code == license.CodeInGrace {
		v = license.Validation{Valid: true, Code: license.CodeInGrace,
			Message: fmt.Sprintf("license %s expired at %s; in grace until %s", l.ID, expires.Format(time.RFC3339Nano), graceEnds.Format(time.RFC3339Nano))}
	} else {
		v = license.ValidResult(fmt.Sprintf("license %s is valid for %s %q", l.ID, l.Type.ConsumerKind(), who))
		if pending {
			v.Message += fmt.Sprintf("; its renewal of %s is pending", l.ExpirationDate.Format(time.RFC3339Nano))
		}
	}
	v.ExpiresAt, v.GraceEnds = &expires, graceEnds
	return v
}

// renewalPending reports whether l auto-renews and its renewal is due at now
// but not yet charged (Tick does that).
func renewalPending(l License, now time.Time) bool {
	return l.State != Expired && !l.Trial && l.AutoRenew && now.After(l.ExpirationDate)
}

// projectedExpiry is the expiration date Tick gives l when it renews it at
// now (every renewal period due, each anchored on the purchase date), so that
// validation between the renewal date and the next Tick neither fails nor
// reports a date that the tick then changes. Should the renewal be refused
// (Service.ApproveRenewal), Tick expires the license at its old date.
func projectedExpiry(l License, now time.Time) time.Time {
	exp, n := l.ExpirationDate, l.Renewals
	for now.After(exp) {
		exp = l.Period.RenewalDate(l.PurchaseDate, n+2)
		n++
	}
	return exp
}

// Validate answers whether req.Consumer may use subscription license id now,
// checking in the fixed order of license.ValidationOrder (adapted to
// subscriptions) and reporting the first failure:
//
//  1. NotFound: no such license for the actor's company (or it was deleted).
//  2. Inactive: not activated yet, or a trial converted into a paid license.
//  3. Suspended: see Suspend.
//  4. Expired: past its expiration date (or the moment it expired) and past
//     the grace period of its Terms; within grace, valid with CodeInGrace.
//     A license that auto-renews stays valid across its renewal date: until
//     Tick charges the renewal, ExpiresAt is the date the renewal will give it
//     and the message says the renewal is pending.
//  5. OutsideRestrictions: req.Software, when given, is not the license's type
//     ("computer", "per user", ...; Failed "software").
//  6. NoAllocation: the license is not assigned to this consumer: its User
//     for per-user and per-administrator licenses, its Asset (or Fingerprint)
//     for the others.
//  7. Quarantined and 8. SeatsExhausted: never (one license, one consumer).
//  9. EntitlementsMissing: req.Features not all among the Terms' entitlements.
//  10. Valid (or InGrace); ExpiresAt is the expiration date.
//
// It never changes state (one View); req.Allocate is refused (subscription
// licenses are assigned with Assign). With a Limiter, each call first takes a
// token of "subscription:<company>/<license>".
// Errors: invalid (license, consumer.*, software, allocate), rate_limited
// (nothing read).
func (s *Service) Validate(ctx context.Context, actor license.Actor, id string, req license.ValidationRequest) (license.Validation, error) {
	if err := actor.Check(); err != nil {
		return license.Validation{}, err
	}
	if err := license.CheckID("license", id); err != nil {
		return license.Validation{}, err
	}
	if err := checkValidation(&req); err != nil {
		return license.Validation{}, err
	}
	now := s.now()
	if err := s.limit("subscription:"+actor.Company+"/"+id, now); err != nil {
		return license.Validation{}, err
	}
	var out license.Validation
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		l, _, err := storage.Load[License](ctx, tx, actor.Company, KindLicense, id, false)
		if storage.IsNotFound(err) {
			out = decide(nil, Terms{}, req, now)
			return nil
		}
		if err != nil {
			return err
		}
		t, _, err := loadTerms(ctx, tx, actor.Company, id, false)
		if err != nil {
			return err
		}
		out = decide(&l, t, req, now)
		return nil
	})
	if err != nil {
		return license.Validation{}, err
	}
	return out, nil
}

// ValidateKey is Validate for the license whose key is key (looked up by the
// key's SHA-256; a malformed key is simply not found). The Limiter key is
// "subscription-key:<company>/<key hash>".
// Errors: invalid (consumer.*, software, allocate), rate_limited.
func (s *Service) ValidateKey(ctx context.Context, actor license.Actor, key string, req license.ValidationRequest) (license.Validation, error) {
	if err := actor.Check(); err != nil {
		return license.Validation{}, err
	}
	if err := checkValidation(&req); err != nil {
		return license.Validation{}, err
	}
	normal, ok := normalKey(key)
	hash := hashKey(normal)
	if !ok {
		hash = hashKey(key)
	}
	now := s.now()
	if err := s.limit("subscription-key:"+actor.Company+"/"+hash, now); err != nil {
		return license.Validation{}, err
	}
	var out license.Validation
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		r, err := tx.GetByUnique(ctx, actor.Company, KindLicense, hash)
		if storage.IsNotFound(err) {
			out = decide(nil, Terms{}, req, now)
			return nil
		}
		if err != nil {
			return err
		}
		l, _, err := storage.Load[License](ctx, tx, actor.Company, KindLicense, r.ID, false)
		if err != nil {
			return err
		}
		if !ok || !sameHash(l.KeyHash, hash) {
			out = decide(nil, Terms{}, req, now)
			return nil
		}
		t, _, err := loadTerms(ctx, tx, actor.Company, l.ID, false)
		if err != nil {
			return err
		}
		out = decide(&l, t, req, now)
		return nil
	})
	if err != nil {
		return license.Validation{}, err
	}
	return out, nil
}

// limit takes one token of key from the Service's Limiter (none: unlimited).
func (s *Service) limit(key string, now time.Time) error {
	if s.Limiter == nil {
		return nil
	}
	if ok, wait := s.Limiter.Allow(key, now); !ok {
		return license.RateLimitedError(wait)
	}
	return nil
}
