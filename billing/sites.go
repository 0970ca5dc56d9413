package billing

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// CreateCompany creates the company actor.Company with the given name. A person
// actor becomes its first member with the Owner role.
//
// Errors: invalid (bad actor or empty name), conflict (the company exists).
func (s *Service) CreateCompany(ctx context.Context, actor license.Actor, name string) (Company, error) {
	if err := actor.Check(); err != nil {
		return Company{}, err
	}
	name = strings.TrimSpace(name)
	if err := license.CheckName("name", name, MaxName); err != nil {
		return Company{}, err
	}
	now := s.now()
	c := Company{ID: actor.Company, Name: name, CreatedAt: now}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		rec := storage.Record{Company: actor.Company, Kind: KindCompany, ID: actor.Company}
		rec.Data = mustJSON(c)
		if err := tx.Insert(ctx, rec); err != nil {
			if license.ErrorCode(err) == license.Conflict {
				return license.Errorf(license.Conflict, "company", "company %q already exists", actor.Company)
			}
			return err
		}
		if actor.Email != license.SystemEmail {
			email, err := license.ParseEmail(actor.Email)
			if err != nil {
				return err
			}
			m := Member{Email: email, Role: license.Owner}
			if err := storage.Save(ctx, tx, storage.Record{Company: actor.Company, Kind: KindMember, ID: memberID(email), Parent: actor.Company}, m); err != nil {
				return err
			}
		}
		e, err := newEvent(actor, now, EventCompanyCreated, actor.Company, c)
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return Company{}, err
	}
	return c, nil
}

// AddMember adds or changes the role of a member of actor's company. It needs
// Owner or Admin; only an Owner may grant the Owner role or change an Owner's role.
//
// Errors: invalid (e-mail, role), forbidden, not_found (no such company).
func (s *Service) AddMember(ctx context.Context, actor license.Actor, email string, role license.Role) (Member, error) {
	if err := actor.Check(); err != nil {
		return Member{}, err
	}
	email, err := license.ParseEmail(email)
	if err != nil {
		return Member{}, err
	}
	if !role.Valid() {
		return Member{}, license.Errorf(license.Invalid, "role", "unknown role %q: use owner, admin, editor, license_admin or viewer", role)
	}
	m := Member{Email: email, Role: role}
	now := s.now()
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		eff, err := access.EffectiveRole(ctx, tx, actor)
		if err != nil {
			return err
		}
		if !eff.CanManageLicenses() {
			return license.Errorf(license.Forbidden, "role", "adding members needs the Owner or Admin role; %s has the %s role", actor.Email, eff)
		}
		if role == license.Owner && eff != license.Owner {
			return license.Errorf(license.Forbidden, "role", "only an Owner may grant the Owner role")
		}
		if _, err := tx.Get(ctx, actor.Company, KindCompany, actor.Company); err != nil {
			if storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, "company", "company %q does not exist", actor.Company)
			}
			return err
		}
		prev, _, err := storage.Load[Member](ctx, tx, actor.Company, KindMember, memberID(email), true)
		switch {
		case err == nil && prev.Role == license.Owner && eff != license.Owner:
			return license.Errorf(license.Forbidden, "role", "only an Owner may change the role of an Owner")
		case err != nil && !storage.IsNotFound(err):
			return err
		}
		if err := storage.Save(ctx, tx, storage.Record{Company: actor.Company, Kind: KindMember, ID: memberID(email), Parent: actor.Company}, m); err != nil {
			return err
		}
		e, err := newEvent(actor, now, EventMemberAdded, memberID(email), m)
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return Member{}, err
	}
	return m, nil
}

// GetCompany returns actor's company.
//
// Errors: invalid (actor), not_found.
func (s *Service) GetCompany(ctx context.Context, actor license.Actor) (Company, error) {
	if err := actor.Check(); err != nil {
		return Company{}, err
	}
	var c Company
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		c, _, err = storage.Load[Company](ctx, tx, actor.Company, KindCompany, actor.Company, false)
		if storage.IsNotFound(err) {
			return license.Errorf(license.NotFound, "company", "company %q does not exist", actor.Company)
		}
		return err
	})
	return c, err
}

// Members returns the members of actor's company, ordered by e-mail.
//
// Errors: invalid (actor).
func (s *Service) Members(ctx context.Context, actor license.Actor) ([]Member, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	return storage.ViewList[Member](ctx, s.Store, storage.ListQuery{Company: actor.Company, Kind: KindMember, Parent: actor.Company})
}

// NewSite describes a site to create.
type NewSite struct {
	Name        string        `json:"name"`
	Plan        string        `json:"plan"`
	UnitPrice   license.Money `json:"unit_price"`
	PaymentType PaymentType   `json:"payment_type"`
	Group       string        `json:"group,omitempty"`
	Licenses    *int64        `json:"licenses,omitempty"` // nil: no license amount set
}

// SiteChange changes the descriptive fields of a site; nil fields stay as they
// are. License counts change only through purchase, decrease and transfer, and
// enrolments only through Enroll and Unenroll.
type SiteChange struct {
	Name        *string        `json:"name,omitempty"`
	Plan        *string        `json:"plan,omitempty"`
	UnitPrice   *license.Money `json:"unit_price,omitempty"`
	PaymentType *PaymentType   `json:"payment_type,omitempty"`
	Group       *string        `json:"group,omitempty"`
}

// Limits of the text fields of companies and sites, in characters.
const (
	MaxName  = 200 // company and site names
	MaxPlan  = 200 // subscription plan
	MaxGroup = 200 // site group
)

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if err := license.CheckName("name", name, MaxName); err != nil {
		return "", err
	}
	return name, nil
}

// CheckUnitPrice validates a unit price: a known currency, not negative, at most
// 4 decimal places and within the bounds of license.Money.Check.
func CheckUnitPrice(p license.Money) error {
	if !p.Currency.Valid() {
		return license.Errorf(license.Invalid, "currency", "unknown currency %q: use an ISO 4217 code such as USD", p.Currency)
	}
	if err := p.Check("unit_price"); err != nil {
		return err
	}
	if p.Amount.IsNegative() {
		return license.Errorf(license.Invalid, "unit_price", "the unit price may not be negative")
	}
	if !p.Amount.Equal(p.Amount.Truncate(4)) {
		return license.Errorf(license.Invalid, "unit_price", "the unit price %s has more than 4 decimal places", p.Amount)
	}
	return nil
}

func checkSite(st Site) error {
	if _, err := checkName(st.Name); err != nil {
		return err
	}
	if strings.TrimSpace(st.Plan) == "" {
		return license.Errorf(license.Invalid, "plan", "a subscription plan is required")
	}
	if err := license.CheckLine("plan", st.Plan, MaxPlan); err != nil {
		return err
	}
	if err := license.CheckLine("group", st.Group, MaxGroup); err != nil {
		return err
	}
	if err := CheckUnitPrice(st.UnitPrice); err != nil {
		return err
	}
	if !st.PaymentType.Valid() {
		return license.Errorf(license.Invalid, "payment_type", "unknown payment type %q: use monthly_invoice, card or annual_invoice", st.PaymentType)
	}
	if st.Licenses != nil && *st.Licenses < 0 {
		return license.Errorf(license.Invalid, "licenses", "the license count may not be negative")
	}
	return nil
}

// CreateSite creates a site in actor's company. It needs Owner or Admin.
//
// Errors: invalid (name, plan, unit_price, currency, payment_type, licenses),
// forbidden, not_found (no such company), conflict (field "unique": the name is taken).
func (s *Service) CreateSite(ctx context.Context, actor license.Actor, ns NewSite) (Site, error) {
	if err := actor.Check(); err != nil {
		return Site{}, err
	}
	name, err := checkName(ns.Name)
	if err != nil {
		return Site{}, err
	}
	now := s.now()
	st := Site{ID: license.NewID(), Name: name, Plan: strings.TrimSpace(ns.Plan), UnitPrice: ns.UnitPrice,
		PaymentType: ns.PaymentType, Group: strings.TrimSpace(ns.Group), CreatedAt: now, UpdatedAt: now}
	if ns.Licenses != nil {
		n := *ns.Licenses
		st.Licenses = &n
	}
	if err := checkSite(st); err != nil {
		return Site{}, err
	}
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "creating a site"); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, actor.Company, KindCompany, actor.Company); err != nil {
			if storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, "company", "company %q does not exist", actor.Company)
			}
			return err
		}
		if err := saveSite(ctx, tx, actor.Company, st); err != nil {
			return err
		}
		e, err := newEvent(actor, now, EventSiteCreated, st.ID, st)
		if err != nil {
			return err
		}
		e.Target, e.Count = st.Name, st.LicenseCount()
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return Site{}, err
	}
	return st, nil
}

// UpdateSite changes a site's name, plan, unit price, payment type or group. It
// needs Owner or Admin.
//
// Errors: invalid, forbidden, not_found, conflict (field "unique").
func (s *Service) UpdateSite(ctx context.Context, actor license.Actor, id string, ch SiteChange) (Site, error) {
	if err := actor.Check(); err != nil {
		return Site{}, err
	}
	now := s.now()
	var out Site
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "changing a site"); err != nil {
			return err
		}
		st, err := loadSiteForUpdate(ctx, tx, actor.Company, id)
		if err != nil {
			return err
		}
		if ch.Name != nil {
			st.Name = strings.TrimSpace(*ch.Name)
		}
		if ch.Plan != nil {
			st.Plan = strings.TrimSpace(*ch.Plan)
		}
		if ch.UnitPrice != nil {
			st.UnitPrice = *ch.UnitPrice
		}
		if ch.PaymentType != nil {
			st.PaymentType = *ch.PaymentType
		}
		if ch.Group != nil {
			st.Group = strings.TrimSpace(*ch.Group)
		}
		if err := checkSite(st); err != nil {
			return err
		}
		st.UpdatedAt = now
		if err := saveSite(ctx, tx, actor.Company, st); err != nil {
			return err
		}
		e, err := newEvent(actor, now, EventSiteUpdated, st.ID, ch)
		if err != nil {
			return err
		}
		e.Target, e.Count = st.Name, st.LicenseCount()
		out = st
		return appendEvent(ctx, tx, e)
	})
	return out, err
}

// GetSite returns a site of actor's company. Any role may read it.
//
// Errors: invalid (actor), not_found.
func (s *Service) GetSite(ctx context.Context, actor license.Actor, id string) (Site, error) {
	if err := actor.Check(); err != nil {
		return Site{}, err
	}
	var out Site
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		st, err := loadSiteRO(ctx, tx, actor.Company, id)
		out = st
		return err
	})
	return out, err
}

// Sites returns every site of actor's company in ID (creation) order.
//
// Errors: invalid (actor).
func (s *Service) Sites(ctx context.Context, actor license.Actor) ([]Site, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	var out []Site
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		out, err = listSites(ctx, tx, actor.Company)
		return err
	})
	return out, err
}

// loadSiteRO reads site id of company in tx. A missing site, or a site of another
// company, is not_found (field "site").
func loadSiteRO(ctx context.Context, tx storage.Tx, company, id string) (Site, error) {
	return loadSite(ctx, tx, company, id, false)
}

// loadSiteForUpdate reads and locks site id of company in tx, for a
// read-modify-write that ends with saveSite.
func loadSiteForUpdate(ctx context.Context, tx storage.Tx, company, id string) (Site, error) {
	return loadSite(ctx, tx, company, id, true)
}

func loadSite(ctx context.Context, tx storage.Tx, company, id string, forUpdate bool) (Site, error) {
	if id == "" {
		return Site{}, license.Errorf(license.Invalid, "site", "a site is required")
	}
	st, _, err := storage.Load[Site](ctx, tx, company, KindSite, id, forUpdate)
	if storage.IsNotFound(err) {
		return Site{}, license.Errorf(license.NotFound, "site", "no site %q in this company", id)
	}
	return st, err
}

// saveSite writes site st of company in tx (its name is kept unique within the
// company, ignoring case).
func saveSite(ctx context.Context, tx storage.Tx, company string, st Site) error {
	rec := storage.Record{Company: company, Kind: KindSite, ID: st.ID, Unique: strings.ToLower(st.Name)}
	return storage.Save(ctx, tx, rec, st)
}

// listSites returns every site of company in tx, in ID order, with one List.
func listSites(ctx context.Context, tx storage.Tx, company string) ([]Site, error) {
	return storage.ListOf[Site](ctx, tx, storage.ListQuery{Company: company, Kind: KindSite})
}

// EnrollResult is the outcome of an enrolment.
type EnrollResult struct {
	Site     Site  `json:"site"`
	ToppedUp int64 `json:"topped_up"` // licenses the OverflowPolicy added
}

// EnrollRequest asks Enroll to record Devices more devices on Site, or
// Unenroll to record Devices devices removed from it.
type EnrollRequest struct {
	Site    string // site ID
	Devices int64  // at least 1
	// IdempotencyKey: see the license package (Idempotency). A retry returns
	// the first result and enrols (or unenrols) nothing more, so a product may
	// retry an enrolment whose answer it did not receive.
	IdempotencyKey string
}

// Enroll records req.Devices more devices enrolled on a site, as the embedding
// product reports them. It needs a role that may edit (Owner, Admin, Editor,
// LicenseAdmin; the system actor is an Owner). While the site's licenses are
// set, enrolment beyond them is refused with insufficient_licenses unless
// s.Overflow covers the shortfall in the same transaction. A site with no
// license amount set accepts any enrolment.
//
// Errors: invalid (devices < 1), forbidden, not_found, insufficient_licenses,
// conflict (idempotency key reused), and whatever the OverflowPolicy returns.
func (s *Service) Enroll(ctx context.Context, actor license.Actor, req EnrollRequest) (EnrollResult, error) {
	return s.enrolment(ctx, actor, req.Site, req.Devices, false, req.IdempotencyKey)
}

// Unenroll records req.Devices devices removed from a site.
//
// Errors: invalid (devices < 1 or more than are enrolled), forbidden,
// not_found, conflict (idempotency key reused).
func (s *Service) Unenroll(ctx context.Context, actor license.Actor, req EnrollRequest) (Site, error) {
	r, err := s.enrolment(ctx, actor, req.Site, req.Devices, true, req.IdempotencyKey)
	return r.Site, err
}

type enrolmentRequest struct {
	Site     string `json:"site"`
	Devices  int64  `json:"devices"`
	Unenroll bool   `json:"unenroll"`
}

func (s *Service) enrolment(ctx context.Context, actor license.Actor, siteID string, n int64, unenroll bool, key string) (EnrollResult, error) {
	if err := actor.Check(); err != nil {
		return EnrollResult{}, err
	}
	if n < 1 || n > maxQuantity {
		return EnrollResult{}, license.Errorf(license.Invalid, "devices", "the number of devices must be at least 1 (got %d)", n)
	}
	delta := n
	if unenroll {
		delta = -n
	}
	now := s.now()
	var out EnrollResult
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		out = EnrollResult{}
		if err := requireRole(ctx, tx, actor, license.Role.CanEdit, "reporting enrolments", "Owner, Admin, Editor or LicenseAdmin"); err != nil {
			return err
		}
		req := enrolmentRequest{Site: siteID, Devices: n, Unenroll: unenroll}
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "billing.enrolment", key, req, now, func() (EnrollResult, error) {
			return s.enrolIn(ctx, tx, actor, siteID, delta, now)
		})
		return err
	})
	if err != nil {
		return EnrollResult{}, err
	}
	return out, nil
}

// enrolIn changes a site's enrolled devices by delta inside tx.
func (s *Service) enrolIn(ctx context.Context, tx storage.Tx, actor license.Actor, siteID string, delta int64, now time.Time) (EnrollResult, error) {
	var out EnrollResult
	st, err := loadSiteForUpdate(ctx, tx, actor.Company, siteID)
	if err != nil {
		return EnrollResult{}, err
	}
	typ, count := EventEnroll, delta
	if delta < 0 {
		typ, count = EventUnenroll, -delta
		if count > st.Enrolled {
			return EnrollResult{}, license.Errorf(license.Invalid, "devices", "cannot unenroll %d devices: site %s has %d enrolled", count, st.Name, st.Enrolled)
		}
	}
	want := st.Enrolled + delta
	if delta > 0 && st.Licenses != nil && want > *st.Licenses {
		shortfall := want - *st.Licenses
		if s.Overflow == nil {
			return EnrollResult{}, license.Errorf(license.InsufficientLicenses, "devices",
				"site %s has %d licenses available; enrolling %d devices needs %d more licenses (purchase licenses or enable automatic top-up)",
				st.Name, st.Available(), delta, shortfall)
		}
		added, err := s.Overflow.Cover(ctx, tx, actor.Company, &st, shortfall, now)
		if err != nil {
			return EnrollResult{}, err
		}
		if st.Licenses == nil || want > *st.Licenses {
			return EnrollResult{}, license.Errorf(license.InsufficientLicenses, "devices",
				"site %s lacks %d licenses for this enrolment after automatic top-up", st.Name, want-st.LicenseCount())
		}
		out.ToppedUp = added
	}
	st.Enrolled = want
	st.UpdatedAt = now
	if err := saveSite(ctx, tx, actor.Company, st); err != nil {
		return EnrollResult{}, err
	}
	e, err := newEvent(actor, now, typ, st.ID, map[string]int64{"enrolled": st.Enrolled, "licenses": st.LicenseCount(), "topped_up": out.ToppedUp})
	if err != nil {
		return EnrollResult{}, err
	}
	e.Target, e.Count = st.Name, count
	out.Site = st
	return out, appendEvent(ctx, tx, e)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
