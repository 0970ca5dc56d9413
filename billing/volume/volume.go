package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Record kinds.
const (
	KindLicense  storage.Kind = "volume_license"
	KindCustomer storage.Kind = "volume_customer"
)

// Event types.
const (
	EventLicenseCreated eventlog.Type = "volume.license_created"
	EventLicenseResized eventlog.Type = "volume.license_resized"
	EventOnboarded      eventlog.Type = "volume.customer_onboarded"
	EventEdited         eventlog.Type = "volume.customer_edited"
	EventOffboarded     eventlog.Type = "volume.customer_offboarded"
	EventUsageReported  eventlog.Type = "volume.usage_reported"
)

// MaxLegalName is the longest legal name accepted, in characters.
const MaxLegalName = 200

// License is a volume license held by a partner company. Allocated and
// Customers are kept in step with the customers' allocations in the same
// transaction; they can always be recomputed from the customers
// (see [Service.Customers]).
type License struct {
	ID           string        `json:"id"`
	Company      string        `json:"company"`
	Product      string        `json:"product"`
	Seats        int64         `json:"seats"`
	Allocated    int64         `json:"allocated"`
	Customers    int64         `json:"customers"`
	RenewalDate  time.Time     `json:"renewal_date"` // UTC; a date means the end of that day
	PricePerUser license.Money `json:"price_per_user"`
	CreatedAt    time.Time     `json:"created_at"`
}

// Unallocated returns the seats not allocated to any customer.
func (l License) Unallocated() int64 { return l.Seats - l.Allocated }

// Allocation is a customer's share of one volume license.
type Allocation struct {
	License string `json:"license"`
	Seats   int64  `json:"seats"`
	// Usage is the number of users the product last reported for the customer on
	// this license (ReportUsage); 0 until reported.
	Usage int64 `json:"usage"`
}

// Customer is a customer account onboarded by the partner.
type Customer struct {
	ID          string       `json:"id"`
	Company     string       `json:"company"`
	LegalName   string       `json:"legal_name"`
	Allocations []Allocation `json:"allocations"` // one per license, ordered by license ID
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// Seats returns the customer's seats on licenseID (0 when none).
func (c Customer) Seats(licenseID string) int64 {
	if a, ok := c.allocation(licenseID); ok {
		return a.Seats
	}
	return 0
}

func (c Customer) allocation(licenseID string) (Allocation, bool) {
	for _, a := range c.Allocations {
		if a.License == licenseID {
			return a, true
		}
	}
	return Allocation{}, false
}

// Service manages volume licenses on a store. Time comes from Clock, read once
// per operation. Roles are checked on the actor's effective role
// (access.EffectiveRole), read in the operation's own transaction.
type Service struct {
	Store storage.Store
	Clock license.Clock
}

// New returns a Service.
func New(store storage.Store, clock license.Clock) *Service {
	return &Service{Store: store, Clock: clock}
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

// NewLicense describes a volume license to create.
type NewLicense struct {
	Product string
	Seats   int64
	// RenewalDate is resolved to UTC; a time at exactly midnight UTC is a date
	// and means the end of that day (license.EndOfDay).
	RenewalDate  time.Time
	PricePerUser license.Money
	// IdempotencyKey: see the license package (Idempotency).
	IdempotencyKey string
}

// CreateLicense adds a volume license to the actor's company.
// Errors: invalid, forbidden, conflict (idempotency key reused).
func (s *Service) CreateLicense(ctx context.Context, actor license.Actor, in NewLicense) (License, error) {
	if err := checkManager(actor); err != nil {
		return License{}, err
	}
	in.Product = strings.TrimSpace(in.Product)
	switch {
	case in.Product == "":
		return License{}, license.Errorf(license.Invalid, "product", "a product name of 1 to 200 characters is required")
	case in.Seats < 1 || in.Seats > 10_000_000:
		return License{}, license.Errorf(license.Invalid, "seats", "seats must be between 1 and 10000000, not %d", in.Seats)
	case in.RenewalDate.IsZero():
		return License{}, license.Errorf(license.Invalid, "renewal_date", "a renewal date is required")
	case !in.PricePerUser.Currency.Valid():
		return License{}, license.Errorf(license.Invalid, "currency", "the price per user needs a known ISO 4217 currency")
	case in.PricePerUser.Amount.IsNegative():
		return License{}, license.Errorf(license.Invalid, "price_per_user", "the price per user cannot be negative")
	}
	if err := license.CheckName("product", in.Product, 200); err != nil {
		return License{}, err
	}
	if err := in.PricePerUser.Check("price_per_user"); err != nil {
		return License{}, err
	}
	now := s.now()
	var out License
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "volume.create_license", in.IdempotencyKey, in, now, func() (License, error) {
			l := License{
				ID: license.NewID(), Company: actor.Company, Product: in.Product, Seats: in.Seats,
				RenewalDate: dateOrTime(in.RenewalDate), PricePerUser: in.PricePerUser, CreatedAt: now,
			}
			if err := storage.Save(ctx, tx, storage.Record{Company: actor.Company, Kind: KindLicense, ID: l.ID}, l); err != nil {
				return License{}, err
			}
			return l, appendEvent(ctx, tx, actor, now, EventLicenseCreated, l.ID, l.Product, "", l.Seats, l)
		})
		return err
	})
	return out, err
}

// SetSeats changes the seats of volume license id (the partner bought more, or
// fewer at renewal). Seats never drop below what is allocated to customers.
// Errors: invalid, forbidden, not_found, insufficient_licenses (below the
// allocated seats).
func (s *Service) SetSeats(ctx context.Context, actor license.Actor, id string, seats int64) (License, error) {
	if err := checkManager(actor); err != nil {
		return License{}, err
	}
	if err := license.CheckID("license", id); err != nil {
		return License{}, err
	}
	if seats < 1 || seats > 10_000_000 {
		return License{}, license.Errorf(license.Invalid, "seats", "seats must be between 1 and 10000000, not %d", seats)
	}
	now := s.now()
	var out License
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		l, r, err := storage.Load[License](ctx, tx, actor.Company, KindLicense, id, true)
		if err != nil {
			if storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, "license", "no volume license %q", id)
			}
			return err
		}
		if seats < l.Allocated {
			return license.Errorf(license.InsufficientLicenses, "seats",
				"%s has %d seats allocated to customers; reduce their allocations before going down to %d", l.Product, l.Allocated, seats)
		}
		out = l
		if seats == l.Seats {
			return nil
		}
		before := l.Seats
		l.Seats = seats
		if err := storage.Save(ctx, tx, r, l); err != nil {
			return err
		}
		out = l
		return appendEvent(ctx, tx, actor, now, EventLicenseResized, l.ID, l.Product, "", seats-before,
			map[string]any{"before": before, "after": seats})
	})
	return out, err
}

// dateOrTime resolves t to UTC; midnight UTC is taken as a date and moved to the
// end of that day.
func dateOrTime(t time.Time) time.Time {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return license.EndOfDay(t)
	}
	return t
}

// Seats asks for a number of seats on one license.
type Seats struct {
	License string `json:"license"`
	Seats   int64  `json:"seats"`
}

// Onboarding describes a new customer account.
type Onboarding struct {
	LegalName string
	// Allocations lists at least one license with the customer's seats on it
	// (0 seats lists the customer on the license page without users yet).
	Allocations []Seats
	// IdempotencyKey: see the license package (Idempotency).
	IdempotencyKey string
}

// Onboard adds a customer account with its allocations, in one transaction.
// Errors: invalid, forbidden, not_found (a license), conflict (legal name taken,
// idempotency key reused), insufficient_licenses.
func (s *Service) Onboard(ctx context.Context, actor license.Actor, in Onboarding) (Customer, error) {
	if err := checkManager(actor); err != nil {
		return Customer{}, err
	}
	name, err := checkLegalName(in.LegalName)
	if err != nil {
		return Customer{}, err
	}
	if len(in.Allocations) == 0 {
		return Customer{}, license.Errorf(license.Invalid, "allocations", "onboard the customer onto at least one volume license")
	}
	if err := checkSeats(in.Allocations); err != nil {
		return Customer{}, err
	}
	now := s.now()
	var out Customer
	err = s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "volume.onboard", in.IdempotencyKey, in, now, func() (Customer, error) {
			if _, err := tx.GetByUnique(ctx, actor.Company, KindCustomer, uniqueName(name)); err == nil {
				return Customer{}, nameTaken(name)
			} else if !storage.IsNotFound(err) {
				return Customer{}, err
			}
			c := Customer{ID: license.NewID(), Company: actor.Company, LegalName: name, CreatedAt: now, UpdatedAt: now}
			if err := reallocate(ctx, tx, actor.Company, &c, in.Allocations, true); err != nil {
				return Customer{}, err
			}
			if err := putCustomer(ctx, tx, c, true); err != nil {
				return Customer{}, err
			}
			return c, appendEvent(ctx, tx, actor, now, EventOnboarded, c.ID, "", c.LegalName, totalSeats(c), c)
		})
		return err
	})
	return out, err
}

// Edit changes a customer account: its legal name (when not empty) and its
// seats on each license listed (0 removes the allocation). Licenses not listed
// keep their allocation.
type Edit struct {
	LegalName   string
	Allocations []Seats
}

// Edit applies e to customer id in one transaction.
// Errors: invalid, forbidden, not_found, conflict (legal name taken),
// insufficient_licenses, below_enrolled (seats below the reported usage).
func (s *Service) Edit(ctx context.Context, actor license.Actor, id string, e Edit) (Customer, error) {
	if err := checkManager(actor); err != nil {
		return Customer{}, err
	}
	if err := license.CheckID("customer", id); err != nil {
		return Customer{}, err
	}
	name := ""
	if strings.TrimSpace(e.LegalName) != "" {
		var err error
		if name, err = checkLegalName(e.LegalName); err != nil {
			return Customer{}, err
		}
	}
	if err := checkSeats(e.Allocations); err != nil {
		return Customer{}, err
	}
	if name == "" && len(e.Allocations) == 0 {
		return Customer{}, license.Errorf(license.Invalid, "allocations", "nothing to change: give a legal name or allocations")
	}
	now := s.now()
	var out Customer
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		c, _, err := storage.Load[Customer](ctx, tx, actor.Company, KindCustomer, id, true)
		if err != nil {
			return notFoundCustomer(err, id)
		}
		before := c
		before.Allocations = slices.Clone(c.Allocations)
		if name != "" && uniqueName(name) != uniqueName(c.LegalName) {
			if _, err := tx.GetByUnique(ctx, actor.Company, KindCustomer, uniqueName(name)); err == nil {
				return nameTaken(name)
			} else if !storage.IsNotFound(err) {
				return err
			}
		}
		if name != "" {
			c.LegalName = name
		}
		if err := reallocate(ctx, tx, actor.Company, &c, e.Allocations, false); err != nil {
			return err
		}
		c.UpdatedAt = now
		if err := putCustomer(ctx, tx, c, false); err != nil {
			return err
		}
		out = c
		return appendEvent(ctx, tx, actor, now, EventEdited, c.ID, before.LegalName, c.LegalName, totalSeats(c)-totalSeats(before),
			map[string]any{"before": before, "after": c})
	})
	return out, err
}

// Offboard removes customer id; its seats return to unallocated on every
// license it held. Offboarding is deliberate, so reported usage does not block it.
// Errors: invalid, forbidden, not_found.
func (s *Service) Offboard(ctx context.Context, actor license.Actor, id string) error {
	if err := checkManager(actor); err != nil {
		return err
	}
	if err := license.CheckID("customer", id); err != nil {
		return err
	}
	now := s.now()
	return s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		c, _, err := storage.Load[Customer](ctx, tx, actor.Company, KindCustomer, id, true)
		if err != nil {
			return notFoundCustomer(err, id)
		}
		gone := c
		for _, a := range c.Allocations {
			l, lr, err := storage.Load[License](ctx, tx, actor.Company, KindLicense, a.License, true)
			if err != nil {
				return err
			}
			l.Allocated -= a.Seats
			l.Customers--
			if err := storage.Save(ctx, tx, lr, l); err != nil {
				return err
			}
		}
		if err := tx.Delete(ctx, actor.Company, KindCustomer, id); err != nil {
			return err
		}
		return appendEvent(ctx, tx, actor, now, EventOffboarded, c.ID, c.LegalName, "", -totalSeats(gone), gone)
	})
}

// ReportUsage records how many users the product counts for customer id on
// licenseID. Usage may exceed the allocation (the product reports what it sees);
// it only stops later reductions below it.
// Errors: invalid, forbidden, not_found (customer, or no allocation on the license).
func (s *Service) ReportUsage(ctx context.Context, actor license.Actor, id, licenseID string, users int64) error {
	if err := checkEditor(actor); err != nil {
		return err
	}
	if err := license.CheckID("customer", id); err != nil {
		return err
	}
	if err := license.CheckID("license", licenseID); err != nil {
		return err
	}
	if users < 0 {
		return license.Errorf(license.Invalid, "users", "usage cannot be negative")
	}
	now := s.now()
	return s.updateAs(ctx, actor, checkEditor, func(tx storage.Tx) error {
		c, _, err := storage.Load[Customer](ctx, tx, actor.Company, KindCustomer, id, true)
		if err != nil {
			return notFoundCustomer(err, id)
		}
		i := slices.IndexFunc(c.Allocations, func(a Allocation) bool { return a.License == licenseID })
		if i < 0 {
			return license.Errorf(license.NotFound, "license", "customer %q has no allocation on license %q", c.LegalName, licenseID)
		}
		if c.Allocations[i].Usage == users {
			return nil
		}
		c.Allocations[i].Usage = users
		if err := putCustomer(ctx, tx, c, false); err != nil {
			return err
		}
		return appendEvent(ctx, tx, actor, now, EventUsageReported, c.ID, licenseID, c.LegalName, users,
			map[string]any{"license": licenseID, "usage": users})
	})
}

// reallocate sets c's seats on each license of want, checking and updating the
// licenses (loaded for update, in ID order). A 0 for a license the customer
// holds removes the allocation; keepZero (onboarding) records a 0-seat
// allocation for a license it does not hold yet, so that the customer is listed
// on that license's page.
func reallocate(ctx context.Context, tx storage.Tx, company string, c *Customer, want []Seats, keepZero bool) error {
	order := slices.Clone(want)
	slices.SortFunc(order, func(a, b Seats) int { return strings.Compare(a.License, b.License) })
	for _, w := range order {
		i := slices.IndexFunc(want, func(x Seats) bool { return x.License == w.License })
		field := fmt.Sprintf("allocations[%d].seats", i)
		l, lr, err := storage.Load[License](ctx, tx, company, KindLicense, w.License, true)
		if err != nil {
			if storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, fmt.Sprintf("allocations[%d].license", i), "no volume license %q", w.License)
			}
			return err
		}
		old, had := c.allocation(w.License)
		if (had && w.Seats == old.Seats && w.Seats != 0) || (!had && w.Seats == 0 && !keepZero) {
			continue
		}
		if w.Seats < old.Seats && w.Seats < old.Usage {
			return license.Errorf(license.BelowEnrolled, field,
				"%s reports %d users for %s; its allocation on %s cannot go below that (asked %d)",
				l.Product, old.Usage, c.LegalName, l.Product, w.Seats)
		}
		if grow := w.Seats - old.Seats; grow > l.Unallocated() {
			return license.Errorf(license.InsufficientLicenses, field,
				"%s has %d unallocated seats; %d more are needed for %s", l.Product, l.Unallocated(), grow, c.LegalName)
		}
		l.Allocated += w.Seats - old.Seats
		switch {
		case !had:
			l.Customers++
			c.Allocations = append(c.Allocations, Allocation{License: w.License, Seats: w.Seats})
		case w.Seats == 0:
			l.Customers--
			c.Allocations = slices.DeleteFunc(c.Allocations, func(a Allocation) bool { return a.License == w.License })
		default:
			for j := range c.Allocations {
				if c.Allocations[j].License == w.License {
					c.Allocations[j].Seats = w.Seats
				}
			}
		}
		if err := storage.Save(ctx, tx, lr, l); err != nil {
			return err
		}
	}
	slices.SortFunc(c.Allocations, func(a, b Allocation) int { return strings.Compare(a.License, b.License) })
	return nil
}

func putCustomer(ctx context.Context, tx storage.Tx, c Customer, insert bool) error {
	b, err := json.Marshal(c)
	if err != nil {
		return license.Wrap(license.Internal, err, "volume: encode customer")
	}
	r := storage.Record{Company: c.Company, Kind: KindCustomer, ID: c.ID, Unique: uniqueName(c.LegalName), Data: b}
	if insert {
		err = tx.Insert(ctx, r)
	} else {
		err = storage.Put(ctx, tx, r)
	}
	var le *license.Error
	if errors.As(err, &le) && le.Code == license.Conflict && le.Field == "unique" {
		return nameTaken(c.LegalName)
	}
	return err
}

func totalSeats(c Customer) int64 {
	var n int64
	for _, a := range c.Allocations {
		n += a.Seats
	}
	return n
}

// uniqueName is the normalised form of a legal name that must be unique within
// the partner: case folded and inner spaces collapsed, so "Acme  Ltd" and
// "ACME LTD" are the same customer.
func uniqueName(name string) string {
	return "legal:" + strings.ToLower(strings.Join(strings.Fields(name), " "))
}

func checkLegalName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", license.Errorf(license.Invalid, "legal_name", "the legal name is not valid UTF-8 text")
	}
	if len(s) > 8*MaxLegalName {
		return "", license.Errorf(license.Invalid, "legal_name", "a legal name may have at most %d characters", MaxLegalName)
	}
	// Runs of white space (newlines and tabs included) become one space; other
	// control and bidirectional formatting characters are refused.
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "", license.Errorf(license.Invalid, "legal_name", "a legal name is required")
	}
	if n := len([]rune(s)); n > MaxLegalName {
		return "", license.Errorf(license.Invalid, "legal_name", "a legal name may have at most %d characters, not %d", MaxLegalName, n)
	}
	if err := license.CheckName("legal_name", s, MaxLegalName); err != nil {
		return "", err
	}
	return s, nil
}

func checkSeats(in []Seats) error {
	seen := map[string]bool{}
	for i, a := range in {
		if err := license.CheckID(fmt.Sprintf("allocations[%d].license", i), a.License); err != nil {
			return err
		}
		if seen[a.License] {
			return license.Errorf(license.Invalid, fmt.Sprintf("allocations[%d].license", i), "license %q is listed twice", a.License)
		}
		seen[a.License] = true
		if a.Seats < 0 {
			return license.Errorf(license.Invalid, fmt.Sprintf("allocations[%d].seats", i), "seats cannot be negative")
		}
	}
	return nil
}

func checkManager(actor license.Actor) error {
	if err := actor.Check(); err != nil {
		return err
	}
	if !actor.Role.CanManageLicenses() {
		return license.Errorf(license.Forbidden, "role", "managing volume licenses needs an owner or admin")
	}
	return nil
}

func checkEditor(actor license.Actor) error {
	if err := actor.Check(); err != nil {
		return err
	}
	if !actor.Role.CanEdit() {
		return license.Errorf(license.Forbidden, "role", "reporting usage needs an owner, admin, editor or license admin")
	}
	return nil
}

// updateAs runs fn in one Store.Update after checking, with check, the
// actor's effective role in that transaction (access.Update). The methods
// check the claimed role before the transaction too, to answer early.
func (s *Service) updateAs(ctx context.Context, actor license.Actor, check func(license.Actor) error, fn func(tx storage.Tx) error) error {
	return access.Update(ctx, s.Store, actor, check, fn)
}

func nameTaken(name string) error {
	return license.Errorf(license.Conflict, "legal_name", "a customer named %q is already onboarded", name)
}

func notFoundCustomer(err error, id string) error {
	if storage.IsNotFound(err) {
		return license.Errorf(license.NotFound, "customer", "no customer %q", id)
	}
	return err
}

func appendEvent(ctx context.Context, tx storage.Tx, actor license.Actor, now time.Time, typ eventlog.Type, subject, source, target string, count int64, details any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return license.Wrap(license.Internal, err, "volume: encode event")
	}
	_, err = tx.AppendEvent(ctx, eventlog.Event{
		ID: license.NewID(), Company: actor.Company, Time: now, Type: typ, Source: source, Target: target,
		Count: count, Actor: actor.Email, Subject: subject, Details: b,
	})
	return err
}
