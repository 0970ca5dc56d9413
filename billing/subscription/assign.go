package subscription

import (
	"context"
	"slices"
	"strings"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// AssignRequest assigns a license of Type to Consumer: a user (Consumer.User)
// for a per-user or per-administrator license, a computer (Consumer.Asset, or
// Consumer.Fingerprint, and Consumer.User its owner) for the other types.
// Other consumer attributes are not kept.
type AssignRequest struct {
	Type     Type
	Consumer license.Consumer
	// License, when set, names the license to assign; otherwise the best
	// available one of the global pool is taken (paid before trial, the latest
	// expiration first).
	License string
}

// checkConsumer checks that c is what a license of type t is assigned to and
// reduces it to what an assignment keeps: the user, and the asset of a
// computer.
func checkConsumer(t Type, c *license.Consumer) error {
	*c = license.Consumer{User: c.User, Asset: c.AssetID()}
	if t.ConsumerKind() == ConsumerUser {
		if c.Asset != "" {
			return license.Errorf(license.Invalid, "consumer.asset", "a %s license is assigned to a user, not to asset %q", t, c.Asset)
		}
		return checkName("consumer.user", c.User)
	}
	if err := checkName("consumer.asset", c.Asset); err != nil {
		return err
	}
	return checkName("consumer.user", c.User)
}

// Assign assigns a license to a user or a computer from the global pool, within
// the user's pool settings (a user pool limits the paid licenses the user can
// activate; the user's company settings override the user's own). A consumer
// holds at most one license of a type; one whose license expired may be given
// a new one, which replaces it.
// Errors: invalid, forbidden, not_found (the license), conflict (the consumer
// already has a valid license of the type; the license is taken, of another
// type, or not activated), expired, insufficient_licenses (none available, or
// the user's limit reached).
func (s *Service) Assign(ctx context.Context, actor license.Actor, in AssignRequest) (License, error) {
	if err := checkEditor(actor); err != nil {
		return License{}, err
	}
	if !in.Type.Valid() {
		return License{}, license.Errorf(license.Invalid, "type", "unknown license type %q", in.Type)
	}
	if err := checkConsumer(in.Type, &in.Consumer); err != nil {
		return License{}, err
	}
	if in.License != "" {
		if err := license.CheckID("license", in.License); err != nil {
			return License{}, err
		}
	}
	now := s.now()
	var out License
	err := s.updateAs(ctx, actor, checkEditor, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		aid := assignmentID(in.Type, in.Consumer)
		prev, _, err := storage.Load[assignment](ctx, tx, actor.Company, KindAssignment, aid, true)
		exists := err == nil
		if err != nil && !storage.IsNotFound(err) {
			return err
		}
		var old *License
		if exists {
			if old, err = b.lock(prev.License); err != nil {
				return err
			}
			if old.ValidAt(now) {
				return license.Errorf(license.Conflict, "consumer", "%s %q already has a %s license", consumerKind(in.Consumer), consumerID(in.Consumer), in.Type)
			}
		}
		var l *License
		if in.License != "" {
			if l, err = b.lock(in.License); err != nil {
				return err
			}
			switch {
			case l.Type != in.Type:
				return license.Errorf(license.Conflict, "license", "license %q is a %s license, not %s", l.ID, l.Type, in.Type)
			case l.Assignee != nil:
				return license.Errorf(license.Conflict, "license", "license %q is already assigned", l.ID)
			case !l.Activated:
				return license.Errorf(license.Conflict, "license", "license %q is not activated yet; activate it with its key", l.ID)
			case !l.ValidAt(now):
				return license.Errorf(license.Expired, "license", "license %q expired", l.ID)
			}
			ok, a, err := b.allowed(in.Consumer.User, l)
			if err != nil {
				return err
			}
			if !ok {
				return license.Errorf(license.InsufficientLicenses, "limit", "user %q may activate at most %d paid licenses", in.Consumer.User, a.Limit)
			}
		} else {
			if l, err = b.pick(in.Type, in.Consumer.User, false); err != nil {
				return err
			}
			if l == nil {
				return license.Errorf(license.InsufficientLicenses, "type", "no %s license is available for %q in the global pool (or the user's limit is reached)", in.Type, in.Consumer.User)
			}
			if l, err = b.lock(l.ID); err != nil {
				return err
			}
		}
		if old != nil {
			old.Assignee, old.ExchangeFailed = nil, false
			if err := b.put(old); err != nil {
				return err
			}
		}
		c := in.Consumer
		l.Assignee = &c
		if err := b.put(l); err != nil {
			return err
		}
		if err := b.putAssignment(assignment{Type: in.Type, Consumer: c, License: l.ID, Since: now}, !exists); err != nil {
			return err
		}
		out = *l
		source := ""
		if old != nil {
			source = old.ID
		}
		return b.event(EventAssigned, l.ID, source, consumerID(c), 1, map[string]any{"license": l.ID, "consumer": c, "replaced": source})
	})
	return out, err
}

// Unassign takes the consumer's license of type t back to the global pool.
// Errors: invalid, forbidden, not_found (no such assignment).
func (s *Service) Unassign(ctx context.Context, actor license.Actor, t Type, c license.Consumer) error {
	if err := checkEditor(actor); err != nil {
		return err
	}
	if !t.Valid() {
		return license.Errorf(license.Invalid, "type", "unknown license type %q", t)
	}
	if err := checkConsumer(t, &c); err != nil {
		return err
	}
	now := s.now()
	return s.updateAs(ctx, actor, checkEditor, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		aid := assignmentID(t, c)
		a, _, err := storage.Load[assignment](ctx, tx, actor.Company, KindAssignment, aid, true)
		if err != nil {
			if storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, "consumer", "%s %q has no %s license", consumerKind(c), consumerID(c), t)
			}
			return err
		}
		l, err := b.lock(a.License)
		if err != nil {
			return err
		}
		l.Assignee, l.ExchangeFailed = nil, false
		if err := b.put(l); err != nil {
			return err
		}
		if err := tx.Delete(ctx, actor.Company, KindAssignment, aid); err != nil {
			return err
		}
		return b.event(EventUnassigned, l.ID, consumerID(c), "", 1, map[string]any{"license": l.ID, "consumer": a.Consumer})
	})
}

// DeleteMode selects the expired licenses a bulk delete removes.
type DeleteMode string

// Bulk delete modes: which expired licenses one BulkDelete removes.
const (
	AllExpired        DeleteMode = "expired"
	ExpiredAutoRenew  DeleteMode = "expired_auto_renew"
	ExpiredUnassigned DeleteMode = "expired_unassigned"
)

// BulkResult reports what a bulk delete did.
type BulkResult struct {
	Mode     DeleteMode `json:"mode"`
	Deleted  int        `json:"deleted"`
	Released int        `json:"released"` // assignments removed with their licenses
	Licenses []string   `json:"licenses"`
}

// BulkDelete deletes the company's expired licenses selected by mode, in one
// transaction, with one event. Their charges stay (invoice history).
// Errors: invalid, forbidden.
func (s *Service) BulkDelete(ctx context.Context, actor license.Actor, mode DeleteMode) (BulkResult, error) {
	if err := checkManager(actor); err != nil {
		return BulkResult{}, err
	}
	switch mode {
	case AllExpired, ExpiredAutoRenew, ExpiredUnassigned:
	default:
		return BulkResult{}, license.Errorf(license.Invalid, "mode", "unknown bulk delete mode %q: use expired, expired_auto_renew or expired_unassigned", mode)
	}
	now := s.now()
	var out BulkResult
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		out = BulkResult{Mode: mode, Licenses: []string{}}
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		ls, err := b.sorted()
		if err != nil {
			return err
		}
		for _, l := range ls {
			if !mode.Selects(*l) {
				continue
			}
			l, err := b.lock(l.ID)
			if err != nil {
				return err
			}
			if c := l.Assignee; c != nil {
				if err := tx.Delete(ctx, actor.Company, KindAssignment, assignmentID(l.Type, *c)); err != nil {
					return err
				}
				out.Released++
			}
			if err := tx.Delete(ctx, actor.Company, KindLicense, l.ID); err != nil {
				return err
			}
			// Its vendor terms (entitlements, grace, suspension) go with it.
			if err := tx.Delete(ctx, actor.Company, KindTerms, l.ID); err != nil && !storage.IsNotFound(err) {
				return err
			}
			delete(b.licenses, l.ID)
			out.Deleted++
			out.Licenses = append(out.Licenses, l.ID)
		}
		if out.Deleted == 0 {
			return nil
		}
		return b.event(EventBulkDeleted, "", string(mode), "", int64(out.Deleted), out)
	})
	return out, err
}

// Licenses lists the company's licenses in purchase order.
// Errors: invalid.
func (s *Service) Licenses(ctx context.Context, actor license.Actor) ([]License, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	return storage.ViewList[License](ctx, s.Store, storage.ListQuery{Company: actor.Company, Kind: KindLicense})
}

// License returns one license.
// Errors: invalid, not_found.
func (s *Service) License(ctx context.Context, actor license.Actor, id string) (License, error) {
	if err := actor.Check(); err != nil {
		return License{}, err
	}
	if err := license.CheckID("license", id); err != nil {
		return License{}, err
	}
	var out License
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		out, _, err = storage.Load[License](ctx, tx, actor.Company, KindLicense, id, false)
		if storage.IsNotFound(err) {
			return license.Errorf(license.NotFound, "license", "no license %q", id)
		}
		return err
	})
	return out, err
}

// Charges lists the company's purchase and renewal costs in the order they
// were made: what an invoice reads.
// Errors: invalid.
func (s *Service) Charges(ctx context.Context, actor license.Actor) ([]Charge, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	return storage.ViewList[Charge](ctx, s.Store, storage.ListQuery{Company: actor.Company, Kind: KindCharge})
}

// Assignment is a consumer's license of one type.
type Assignment struct {
	Type     Type             `json:"type"`
	Consumer license.Consumer `json:"consumer"`
	License  string           `json:"license"`
}

// Assignments lists the company's assignments, ordered by type and consumer.
// Errors: invalid.
func (s *Service) Assignments(ctx context.Context, actor license.Actor) ([]Assignment, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	var out []Assignment
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		as, err := storage.ListOf[assignment](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: KindAssignment})
		for _, a := range as {
			out = append(out, Assignment{Type: a.Type, Consumer: a.Consumer, License: a.License})
		}
		return err
	})
	slices.SortFunc(out, func(x, y Assignment) int {
		return strings.Compare(assignmentID(x.Type, x.Consumer), assignmentID(y.Type, y.Consumer))
	})
	return out, err
}

// Settings returns the company's subscription settings (defaults before any
// change: auto-exchange on, no billing period yet).
// Errors: invalid.
func (s *Service) Settings(ctx context.Context, actor license.Actor) (Settings, error) {
	if err := actor.Check(); err != nil {
		return Settings{}, err
	}
	out := Settings{AutoExchange: true}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		v, _, err := storage.Load[Settings](ctx, tx, actor.Company, KindSettings, settingsID, false)
		if err == nil {
			out = v
		}
		if storage.IsNotFound(err) {
			return nil
		}
		return err
	})
	return out, err
}
