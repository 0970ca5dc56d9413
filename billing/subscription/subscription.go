package subscription

import (
	"context"
	"strings"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Service manages subscription licenses on a store. Time comes from Clock,
// read once per operation (Tick takes its time as an argument). Roles are
// checked on the actor's effective role (access.EffectiveRole), read in the
// operation's own transaction.
type Service struct {
	Store storage.Store
	Clock license.Clock
	// ApproveRenewal, when set, is asked before each automatic renewal (for
	// example: is there a valid payment method?). An error refuses it: the
	// license expires at its expiration date with auto-renewal still on, and an
	// expiry event records the reason. It runs inside the transaction and must
	// have no side effects.
	ApproveRenewal func(l License, c Charge) error
	// Limiter, when set, rate-limits key activations (per key hash, key
	// "activate:<company>/<hash>") and validations (see Validate, ValidateKey);
	// a refused attempt is rate_limited and never reaches the store. nil means
	// unlimited.
	Limiter license.Limiter
}

// New returns a Service.
func New(store storage.Store, clock license.Clock) *Service {
	return &Service{Store: store, Clock: clock}
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

// MaxQuantity is the most licenses one purchase or trial may create.
const MaxQuantity = 1000

// Purchase buys licenses.
type Purchase struct {
	Type     Type
	Quantity int
	// Period is required at the company's first purchase and fixed afterwards:
	// later purchases may omit it or must repeat it.
	Period    BillingPeriod
	UnitPrice license.Money // price of one license for one period
	// NoAutoRenew turns auto-renewal off for these licenses (it is on by default).
	NoAutoRenew bool
	// ManualActivation leaves the licenses waiting for activation by key (the
	// purchase e-mail differs from the user's login); otherwise they are
	// activated at once.
	ManualActivation bool
	// IdempotencyKey: see the license package (Idempotency).
	IdempotencyKey string
}

// Issued is the result of a purchase or a trial: the licenses and their keys.
type Issued struct {
	Period   BillingPeriod `json:"billing_period,omitempty"`
	Licenses []License     `json:"licenses"`
	// Keys[i] is the key of Licenses[i]. Keys are shown only here, once: they are
	// stored only as hashes, and a retried request (same idempotency key)
	// returns the licenses without keys and with Replayed set. A lost key is
	// replaced with ReissueKey.
	Keys []string `json:"keys,omitempty"`
	// Replayed is set on the answer to a repeat of an earlier request (same
	// idempotency key): the same licenses, no keys.
	Replayed bool `json:"replayed,omitempty"`
}

// Purchase buys in.Quantity licenses of in.Type for the actor's company. They
// start now and run one billing period; auto-renewal is on unless asked
// otherwise. The cost of each is written as a Charge.
// Errors: invalid, forbidden, conflict (a billing period other than the
// company's, idempotency key reused).
func (s *Service) Purchase(ctx context.Context, actor license.Actor, in Purchase) (Issued, error) {
	if err := checkManager(actor); err != nil {
		return Issued{}, err
	}
	if !in.Type.Valid() {
		return Issued{}, license.Errorf(license.Invalid, "type", "unknown license type %q: use computer, host, socket, user or administrator", in.Type)
	}
	if in.Quantity < 1 || in.Quantity > MaxQuantity {
		return Issued{}, license.Errorf(license.Invalid, "quantity", "buy between 1 and %d licenses, not %d", MaxQuantity, in.Quantity)
	}
	if in.Period != "" && !in.Period.Valid() {
		return Issued{}, license.Errorf(license.Invalid, "billing_period", "unknown billing period %q: use monthly or yearly", in.Period)
	}
	if !in.UnitPrice.Currency.Valid() || in.UnitPrice.Amount.IsNegative() {
		return Issued{}, license.Errorf(license.Invalid, "unit_price", "a non-negative unit price in a known currency is required")
	}
	if err := in.UnitPrice.Check("unit_price"); err != nil {
		return Issued{}, err
	}
	now := s.now()
	var keys []string
	var out Issued
	var ran bool
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		keys, ran = nil, false
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "subscription.purchase", in.IdempotencyKey, in, now, func() (Issued, error) {
			ran = true
			b, err := open(ctx, tx, actor, now)
			if err != nil {
				return Issued{}, err
			}
			switch {
			case b.settings.Period == "" && in.Period == "":
				return Issued{}, license.Errorf(license.Invalid, "billing_period", "choose monthly or yearly billing at the first purchase")
			case b.settings.Period == "":
				b.settings.Period = in.Period
				if err := b.saveSettings(); err != nil {
					return Issued{}, err
				}
			case in.Period != "" && in.Period != b.settings.Period:
				return Issued{}, license.Errorf(license.Conflict, "billing_period", "this company is billed %s; the billing period is fixed after the first purchase", b.settings.Period)
			}
			res := Issued{Period: b.settings.Period}
			for range in.Quantity {
				key, hash := newKey()
				exp := b.settings.Period.RenewalDate(now, 1)
				l := &License{ID: license.NewID(), Company: actor.Company, Type: in.Type, Metric: in.Type.Metric(), State: Active,
					Period: b.settings.Period, PurchaseDate: now, ExpirationDate: exp, AutoRenew: !in.NoAutoRenew,
					Activated: !in.ManualActivation, UnitPrice: ptr(in.UnitPrice), KeyHash: hash}
				if l.AutoRenew {
					l.NextRenewal = ptr(exp)
				}
				if l.Activated {
					l.ActivatedAt = ptr(now)
				}
				if err := b.insert(l); err != nil {
					return Issued{}, err
				}
				if err := b.charge(l, "purchase", now, exp); err != nil {
					return Issued{}, err
				}
				res.Licenses = append(res.Licenses, *l)
				keys = append(keys, key)
			}
			return res, b.event(EventPurchased, res.Licenses[0].ID, "", string(in.Type), int64(in.Quantity),
				map[string]any{"type": in.Type, "quantity": in.Quantity, "billing_period": res.Period, "unit_price": in.UnitPrice, "licenses": ids(res.Licenses)})
		})
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	out.Keys, out.Replayed = keys, !ran
	return out, nil
}

// TrialRequest starts trial licenses.
type TrialRequest struct {
	Type     Type
	Quantity int
	// EndsOn is the last day of the trial: the trial ends at the end of that day
	// in UTC (license.EndOfDay; a time in another zone is first resolved to UTC).
	EndsOn time.Time
	// IdempotencyKey: see the license package (Idempotency).
	IdempotencyKey string
}

// StartTrial issues trial licenses, activated at once. A trial never renews: it
// expires at the end of its last day unless it is converted by activating a
// paid license (Activation.ConvertTrial).
// Errors: invalid, forbidden, conflict (idempotency key reused).
func (s *Service) StartTrial(ctx context.Context, actor license.Actor, in TrialRequest) (Issued, error) {
	if err := checkManager(actor); err != nil {
		return Issued{}, err
	}
	if !in.Type.Valid() {
		return Issued{}, license.Errorf(license.Invalid, "type", "unknown license type %q: use computer, host, socket, user or administrator", in.Type)
	}
	if in.Quantity < 1 || in.Quantity > MaxQuantity {
		return Issued{}, license.Errorf(license.Invalid, "quantity", "start between 1 and %d trial licenses, not %d", MaxQuantity, in.Quantity)
	}
	now := s.now()
	end := license.EndOfDay(in.EndsOn)
	if in.EndsOn.IsZero() || !end.After(now) {
		return Issued{}, license.Errorf(license.Invalid, "ends_on", "a trial must end on a day that is not over yet")
	}
	var keys []string
	var out Issued
	var ran bool
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		keys, ran = nil, false
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "subscription.trial", in.IdempotencyKey, in, now, func() (Issued, error) {
			ran = true
			b, err := open(ctx, tx, actor, now)
			if err != nil {
				return Issued{}, err
			}
			var res Issued
			for range in.Quantity {
				key, hash := newKey()
				l := &License{ID: license.NewID(), Company: actor.Company, Type: in.Type, Metric: in.Type.Metric(), State: Trial,
					Trial: true, PurchaseDate: now, ExpirationDate: end, AutoRenew: true, Activated: true, ActivatedAt: ptr(now),
					KeyHash: hash}
				if err := b.insert(l); err != nil {
					return Issued{}, err
				}
				res.Licenses = append(res.Licenses, *l)
				keys = append(keys, key)
			}
			return res, b.event(EventTrialStarted, res.Licenses[0].ID, "", string(in.Type), int64(in.Quantity),
				map[string]any{"type": in.Type, "quantity": in.Quantity, "ends": end, "licenses": ids(res.Licenses)})
		})
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	out.Keys, out.Replayed = keys, !ran
	return out, nil
}

// Activation activates a license by its key.
type Activation struct {
	Key string
	// ConvertTrial, when set, names a trial license of the same type to convert:
	// its assignment moves to the activated license and the trial ends.
	ConvertTrial string
}

// ErrUnknownKey is the error for a key that matches no license of the company.
// It says nothing about why (malformed, unknown, another company's).
var ErrUnknownKey = license.Errorf(license.NotFound, "key", "no license matches this key")

// Activate activates the license whose key is in.Key. With a Limiter, each
// attempt first takes a token of the key's bucket.
// Errors: invalid, forbidden, not_found (ErrUnknownKey; the trial), conflict
// (already activated; trial already converted or of another type), expired,
// insufficient_licenses (the user pool limit forbids the converted assignment),
// rate_limited (nothing read).
func (s *Service) Activate(ctx context.Context, actor license.Actor, in Activation) (License, error) {
	if err := checkEditor(actor); err != nil {
		return License{}, err
	}
	if in.ConvertTrial != "" {
		if err := license.CheckID("convert_trial", in.ConvertTrial); err != nil {
			return License{}, err
		}
	}
	normal, ok := normalKey(in.Key)
	hash := hashKey(normal)
	if !ok {
		hash = hashKey(in.Key) // look up anyway: the same work and the same answer as an unknown key
	}
	now := s.now()
	if err := s.limit("activate:"+actor.Company+"/"+hash, now); err != nil {
		return License{}, err
	}
	var out License
	err := s.updateAs(ctx, actor, checkEditor, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		r, err := tx.GetByUnique(ctx, actor.Company, KindLicense, hash)
		if err != nil {
			if storage.IsNotFound(err) {
				return ErrUnknownKey
			}
			return err
		}
		l, err := b.lock(r.ID)
		if err != nil {
			return err
		}
		if !ok || !sameHash(l.KeyHash, hash) {
			return ErrUnknownKey
		}
		if l.Activated {
			return license.Errorf(license.Conflict, "key", "this license is already activated")
		}
		if l.State == Expired || now.After(l.ExpirationDate) {
			return license.Errorf(license.Expired, "key", "this license expired on %s", l.ExpirationDate.Format(time.RFC3339))
		}
		l.Activated, l.ActivatedAt = true, ptr(now)
		if in.ConvertTrial != "" {
			if err := b.convert(in.ConvertTrial, l); err != nil {
				return err
			}
		}
		if err := b.put(l); err != nil {
			return err
		}
		out = *l
		return b.event(EventActivated, l.ID, "", string(l.Type), 1, map[string]any{"license": l.ID, "converted_trial": in.ConvertTrial})
	})
	return out, err
}

// convert ends trial id in favour of paid license l, moving its assignment.
func (b *book) convert(id string, l *License) error {
	t, err := b.lock(id)
	if err != nil {
		if license.ErrorCode(err) == license.NotFound {
			return license.Errorf(license.NotFound, "convert_trial", "no trial license %q", id)
		}
		return err
	}
	switch {
	case !t.Trial:
		return license.Errorf(license.Conflict, "convert_trial", "license %q is not a trial", id)
	case t.ConvertedTo != "":
		return license.Errorf(license.Conflict, "convert_trial", "trial %q was already converted", id)
	case t.Type != l.Type:
		return license.Errorf(license.Conflict, "convert_trial", "trial %q is a %s license; the key is for a %s license", id, t.Type, l.Type)
	}
	if c := t.Assignee; c != nil && l.Assignee == nil {
		if ok, a, err := b.allowed(c.User, l); err != nil {
			return err
		} else if !ok {
			return license.Errorf(license.InsufficientLicenses, "limit", "user %q may activate at most %d paid licenses", c.User, a.Limit)
		}
		l.Assignee, t.Assignee = c, nil
		if err := b.putAssignment(assignment{Type: l.Type, Consumer: *c, License: l.ID, Since: b.now}, false); err != nil {
			return err
		}
	}
	if t.State != Expired {
		t.State, t.ExpiredAt = Expired, ptr(b.now)
	}
	t.ConvertedTo, t.NextRenewal, t.ExchangeFailed = l.ID, nil, false
	if err := b.put(t); err != nil {
		return err
	}
	return b.event(EventTrialConverted, t.ID, t.ID, l.ID, 1, map[string]any{"trial": t.ID, "license": l.ID})
}

// SetAutoRenew turns auto-renewal of license id on or off. Off, the license
// expires at its expiration date; on, it renews then.
// Errors: invalid, forbidden, not_found, expired, conflict (a trial).
func (s *Service) SetAutoRenew(ctx context.Context, actor license.Actor, id string, on bool) (License, error) {
	if err := checkManager(actor); err != nil {
		return License{}, err
	}
	if err := license.CheckID("license", id); err != nil {
		return License{}, err
	}
	now := s.now()
	var out License
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		l, err := b.lock(id)
		if err != nil {
			return err
		}
		if l.Trial {
			return license.Errorf(license.Conflict, "license", "a trial does not renew; activate a paid license to convert it")
		}
		if l.State == Expired {
			return license.Errorf(license.Expired, "license", "the license expired on %s; buy a new one", l.ExpirationDate.Format(time.RFC3339))
		}
		out = *l
		if l.AutoRenew == on {
			return nil
		}
		l.AutoRenew, l.NextRenewal = on, nil
		if on {
			l.NextRenewal = ptr(l.ExpirationDate)
		}
		if err := b.put(l); err != nil {
			return err
		}
		out = *l
		return b.event(EventAutoRenewChanged, l.ID, "", string(l.Type), 1, map[string]any{"auto_renew": on})
	})
	return out, err
}

// SetAutoExchange switches the automatic exchange of expired licenses for the
// actor's company (on by default).
// Errors: invalid, forbidden.
func (s *Service) SetAutoExchange(ctx context.Context, actor license.Actor, on bool) (Settings, error) {
	if err := checkManager(actor); err != nil {
		return Settings{}, err
	}
	now := s.now()
	var out Settings
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		out = b.settings
		if b.settings.AutoExchange == on && b.setExists {
			return nil
		}
		b.settings.AutoExchange = on
		out = b.settings
		if err := b.saveSettings(); err != nil {
			return err
		}
		return b.event(EventSettingsChanged, settingsID, "", "", 0, b.settings)
	})
	return out, err
}

// SetUserSettings sets how licenses are allocated to a user: the global pool,
// or a user pool with a limit on the paid licenses the user can activate, and
// the customer company the user belongs to (whose settings, when set, win).
// Errors: invalid, forbidden.
func (s *Service) SetUserSettings(ctx context.Context, actor license.Actor, in UserSettings) (UserSettings, error) {
	if err := checkManager(actor); err != nil {
		return UserSettings{}, err
	}
	if err := checkName("user", in.User); err != nil {
		return UserSettings{}, err
	}
	if in.Company != "" {
		if err := checkName("company", in.Company); err != nil {
			return UserSettings{}, err
		}
	}
	if err := checkAllocation(&in.Allocation); err != nil {
		return UserSettings{}, err
	}
	now := s.now()
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		if _, _, err := storage.Load[UserSettings](ctx, tx, actor.Company, KindUser, in.User, true); err != nil && !storage.IsNotFound(err) {
			return err
		}
		if err := storage.Save(ctx, tx, storage.Record{Company: actor.Company, Kind: KindUser, ID: in.User}, in); err != nil {
			return err
		}
		return b.event(EventPoolSettingsChanged, in.User, "", in.User, int64(in.Allocation.Limit), in)
	})
	return in, err
}

// SetCompanySettings sets a customer company's license settings; they apply to
// all of its users, overriding the users' own. A zero Allocation.Mode removes
// the company's settings, so that the users' own apply again.
// Errors: invalid, forbidden.
func (s *Service) SetCompanySettings(ctx context.Context, actor license.Actor, in CompanySettings) (CompanySettings, error) {
	if err := checkManager(actor); err != nil {
		return CompanySettings{}, err
	}
	if err := checkName("company", in.Company); err != nil {
		return CompanySettings{}, err
	}
	remove := in.Allocation.Mode == ""
	if !remove {
		if err := checkAllocation(&in.Allocation); err != nil {
			return CompanySettings{}, err
		}
	}
	now := s.now()
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		b, err := open(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		_, _, err = storage.Load[CompanySettings](ctx, tx, actor.Company, KindCompany, in.Company, true)
		switch {
		case remove && storage.IsNotFound(err):
			return nil
		case err != nil && !storage.IsNotFound(err):
			return err
		case remove:
			err = tx.Delete(ctx, actor.Company, KindCompany, in.Company)
		default:
			err = storage.Save(ctx, tx, storage.Record{Company: actor.Company, Kind: KindCompany, ID: in.Company}, in)
		}
		if err != nil {
			return err
		}
		return b.event(EventPoolSettingsChanged, in.Company, "", in.Company, int64(in.Allocation.Limit), in)
	})
	return in, err
}

func checkAllocation(a *Allocation) error {
	switch a.Mode {
	case "", GlobalPool:
		a.Mode, a.Limit = GlobalPool, 0
	case UserPool:
		if a.Limit < 0 || a.Limit > 1_000_000 {
			return license.Errorf(license.Invalid, "limit", "a user pool limit must be between 0 and 1000000, not %d", a.Limit)
		}
	default:
		return license.Errorf(license.Invalid, "mode", "unknown pool mode %q: use global or user", a.Mode)
	}
	return nil
}

func checkName(field, s string) error {
	if s == "" || len(s) > 200 {
		return license.Errorf(license.Invalid, field, "%s must have 1 to 200 bytes", field)
	}
	if strings.ContainsRune(s, '|') {
		return license.Errorf(license.Invalid, field, "%s cannot contain '|'", field)
	}
	return license.CheckName(field, s, 200)
}

func checkManager(actor license.Actor) error {
	if err := actor.Check(); err != nil {
		return err
	}
	if !actor.Role.CanManageLicenses() {
		return license.Errorf(license.Forbidden, "role", "managing licenses needs an owner or admin")
	}
	return nil
}

func checkEditor(actor license.Actor) error {
	if err := actor.Check(); err != nil {
		return err
	}
	if !actor.Role.CanEdit() {
		return license.Errorf(license.Forbidden, "role", "assigning and activating licenses needs an owner, admin, editor or license admin")
	}
	return nil
}

// updateAs runs fn in one Store.Update after checking, with check, the
// actor's effective role in that transaction (access.Update). The methods
// check the claimed role before the transaction too, to answer early.
func (s *Service) updateAs(ctx context.Context, actor license.Actor, check func(license.Actor) error, fn func(tx storage.Tx) error) error {
	return access.Update(ctx, s.Store, actor, check, fn)
}

func ptr[T any](v T) *T { return &v }

func ids(ls []License) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}
