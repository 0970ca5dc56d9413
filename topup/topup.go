package topup

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Record kinds kept by topup.
const (
	// KindSettings is the company's top-up settings (ID = the company ID).
	KindSettings storage.Kind = "topup_settings"
	// KindOutbox is a top-up notification waiting for (or done with) delivery;
	// Parent is its Status, so the dispatcher lists only pending ones.
	KindOutbox storage.Kind = "topup_outbox"
)

// Event types written by topup.
const (
	EventEnabled            eventlog.Type = "topup.enabled"
	EventDisabled           eventlog.Type = "topup.disabled"
	EventIncrementChanged   eventlog.Type = "topup.increment_changed"
	EventTriggered          eventlog.Type = "topup.triggered"
	EventRecipientsChanged  eventlog.Type = "topup.recipients_changed"
	EventNotificationFailed eventlog.Type = "topup.notification_failed"
)

// DefaultIncrement is every site's increment when top-up is enabled, and the
// increment of sites created later; it is also the step and the minimum of
// any increment.
const DefaultIncrement int64 = 5

// maxIncrement bounds increments so that no license count overflows.
const maxIncrement int64 = 1 << 30

// settings is the stored form of a company's top-up settings.
type settings struct {
	Enabled      bool      `json:"enabled"`
	TermsVersion string    `json:"terms_version,omitempty"`
	EnabledAt    time.Time `json:"enabled_at,omitzero"`
	EnabledBy    string    `json:"enabled_by,omitempty"`
	DisabledAt   time.Time `json:"disabled_at,omitzero"`
	DisabledBy   string    `json:"disabled_by,omitempty"`
	// Increments holds the increments that differ from DefaultIncrement, by site ID.
	Increments map[string]int64 `json:"increments,omitempty"`
	Recipients []string         `json:"recipients,omitempty"`
}

func (s settings) increment(site string) int64 {
	if n, ok := s.Increments[site]; ok {
		return n
	}
	return DefaultIncrement
}

// SiteIncrement is one site's top-up increment.
type SiteIncrement struct {
	Site      string `json:"site"`
	SiteName  string `json:"site_name"`
	Increment int64  `json:"increment"`
}

// Settings is a company's top-up configuration as the Company page shows it.
type Settings struct {
	Company      string    `json:"company"`
	Enabled      bool      `json:"enabled"`
	TermsVersion string    `json:"terms_version,omitempty"` // the version accepted when last enabled
	EnabledAt    time.Time `json:"enabled_at,omitzero"`
	EnabledBy    string    `json:"enabled_by,omitempty"`
	// Sites lists every site of the company with its increment, in site ID order.
	Sites      []SiteIncrement `json:"sites"`
	Recipients []string        `json:"recipients"`
}

// EnableRequest enables top-up for the whole company.
type EnableRequest struct {
	// AcceptedTermsVersion is the version of the top-up policy and terms the
	// user accepted; it is required and recorded.
	AcceptedTermsVersion string `json:"accepted_terms_version"`
}

// Service configures automatic top-up. Store is required; Clock defaults to
// license.SystemClock.
type Service struct {
	Store storage.Store
	Clock license.Clock
}

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return time.Now().UTC()
	}
	return s.Clock.Now().UTC()
}

// loadSettings reads the company's settings; a company that never configured
// top-up has the zero settings (disabled).
func loadSettings(ctx context.Context, tx storage.Tx, company string, forUpdate bool) (settings, error) {
	st, _, err := storage.Load[settings](ctx, tx, company, KindSettings, company, forUpdate)
	if storage.IsNotFound(err) {
		return settings{}, nil
	}
	return st, err
}

func saveSettings(ctx context.Context, tx storage.Tx, company string, st settings) error {
	return storage.Save(ctx, tx, storage.Record{Company: company, Kind: KindSettings, ID: company}, st)
}

func requireManage(ctx context.Context, tx storage.Tx, actor license.Actor, what string) error {
	role, err := access.EffectiveRole(ctx, tx, actor)
	if err != nil {
		return err
	}
	if !role.CanManageLicenses() {
		return license.Errorf(license.Forbidden, "role", "%s needs the Owner or Admin role; %s has the %s role", what, actor.Email, role)
	}
	return nil
}

func newEvent(company, actor string, now time.Time, typ eventlog.Type, subject string, details any) (eventlog.Event, error) {
	e := eventlog.Event{ID: license.NewID(), Company: company, Time: now, Type: typ, Actor: actor, Subject: subject}
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return e, license.Wrap(license.Internal, err, "topup: encode event details")
		}
		e.Details = b
	}
	return e, nil
}

func appendEvent(ctx context.Context, tx storage.Tx, e eventlog.Event, err error) error {
	if err != nil {
		return err
	}
	_, err = tx.AppendEvent(ctx, e)
	return err
}

// Problem says why a site keeps top-up from being enabled.
type Problem string

// Problems found by the prerequisite check.
const (
	ProblemPaymentType Problem = "payment_type" // the site does not pay by monthly invoice
	ProblemNoGroup     Problem = "no_group"     // the site belongs to no site group
	ProblemOtherGroup  Problem = "other_group"  // the site is in another group than the company's other sites
)

// SiteProblem is one site that fails a prerequisite, and why.
type SiteProblem struct {
	Site     string  `json:"site"`
	SiteName string  `json:"site_name"`
	Problem  Problem `json:"problem"`
	Reason   string  `json:"reason"` // in words a person can act on
}

// PrerequisiteError is the refusal of Enable: it lists every site that fails a
// prerequisite. It wraps a *license.Error with code Conflict and field "sites"
// whose message names each site and reason, so license.ErrorCode and errors.Is
// work on it; errors.As(err, &pe) gives the structured list.
type PrerequisiteError struct {
	Err      *license.Error
	Problems []SiteProblem
}

func (e *PrerequisiteError) Error() string { return e.Err.Error() }

// Unwrap returns the *license.Error.
func (e *PrerequisiteError) Unwrap() error { return e.Err }

// CheckPrerequisites returns the sites that keep top-up from being enabled:
// every site must have the monthly invoice payment type, and all sites must
// belong to one site group. When the sites use several groups, the group of most
// sites (the first by name on a tie) is taken as the company's, and the sites in
// other groups are reported. It is pure; nil means top-up may be enabled.
func CheckPrerequisites(sites []billing.Site) []SiteProblem {
	counts := map[string]int{}
	for _, s := range sites {
		if s.Group != "" {
			counts[s.Group]++
		}
	}
	common := ""
	for g, n := range counts {
		if n > counts[common] || (n == counts[common] && g < common) {
			common = g
		}
	}
	var out []SiteProblem
	for _, s := range sites {
		if s.PaymentType != billing.MonthlyInvoice {
			out = append(out, SiteProblem{Site: s.ID, SiteName: s.Name, Problem: ProblemPaymentType,
				Reason: fmt.Sprintf("its payment type is %s; automatic top-up needs the monthly invoice payment type", s.PaymentType)})
		}
		switch {
		case s.Group == "":
			out = append(out, SiteProblem{Site: s.ID, SiteName: s.Name, Problem: ProblemNoGroup,
				Reason: "it belongs to no site group; all sites must belong to one site group"})
		case s.Group != common:
			out = append(out, SiteProblem{Site: s.ID, SiteName: s.Name, Problem: ProblemOtherGroup,
				Reason: fmt.Sprintf("it is in site group %q while the other sites are in %q; all sites must belong to one site group", s.Group, common)})
		}
	}
	return out
}

func prerequisiteError(problems []SiteProblem) error {
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = fmt.Sprintf("site %s: %s", p.SiteName, p.Reason)
	}
	return &PrerequisiteError{
		Err: license.Errorf(license.Conflict, "sites", "automatic top-up cannot be enabled: %s",
			strings.Join(lines, "; ")),
		Problems: problems,
	}
}

// Enable turns automatic top-up on for every site of actor's company and sets
// every site's increment to 5 (sites created later get 5 too). It needs Owner
// or Admin and the accepted terms version, which it records. Enabling when
// already enabled with the same terms version changes nothing (a safe retry);
// with another version it is a conflict. It writes a topup.enabled event whose
// details list each site's increment.
//
// Errors: invalid (actor, accepted_terms_version), forbidden, conflict (field
// "sites": a *PrerequisiteError listing the sites that fail and why; field
// "enabled": already enabled with other terms).
func (s *Service) Enable(ctx context.Context, actor license.Actor, req EnableRequest) (Settings, error) {
	if err := actor.Check(); err != nil {
		return Settings{}, err
	}
	terms := strings.TrimSpace(req.AcceptedTermsVersion)
	if terms == "" || len(terms) > 100 {
		return Settings{}, license.Errorf(license.Invalid, "accepted_terms_version", "accept the automatic top-up policy and terms: the accepted terms version (1 to 100 characters) is required")
	}
	if err := license.CheckLine("accepted_terms_version", terms, 100); err != nil {
		return Settings{}, err
	}
	now := s.now()
	var out Settings
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "enabling automatic top-up"); err != nil {
			return err
		}
		st, err := loadSettings(ctx, tx, actor.Company, true)
		if err != nil {
			return err
		}
		sites, err := listSites(ctx, tx, actor.Company)
		if err != nil {
			return err
		}
		if st.Enabled {
			if st.TermsVersion != terms {
				return license.Errorf(license.Conflict, "enabled", "automatic top-up is already enabled under terms version %s; disable it first to accept version %s", st.TermsVersion, terms)
			}
			out = view(actor.Company, st, sites)
			return nil
		}
		if problems := CheckPrerequisites(sites); len(problems) > 0 {
			return prerequisiteError(problems)
		}
		st.Enabled, st.TermsVersion, st.EnabledAt, st.EnabledBy = true, terms, now, actor.Email
		st.Increments = nil // every site back to the default increment
		if err := saveSettings(ctx, tx, actor.Company, st); err != nil {
			return err
		}
		out = view(actor.Company, st, sites)
		e, err := newEvent(actor.Company, actor.Email, now, EventEnabled, actor.Company,
			map[string]any{"terms_version": terms, "sites": out.Sites})
		e.Count = DefaultIncrement
		return appendEvent(ctx, tx, e, err)
	})
	if err != nil {
		return Settings{}, err
	}
	return out, nil
}

// Disable turns automatic top-up off: later enrolments beyond a site's licenses
// are refused again; licenses already added stay. It needs Owner or Admin and
// writes a topup.disabled event. Disabling when disabled changes nothing.
//
// Errors: invalid (actor), forbidden.
func (s *Service) Disable(ctx context.Context, actor license.Actor) (Settings, error) {
	if err := actor.Check(); err != nil {
		return Settings{}, err
	}
	now := s.now()
	var out Settings
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "disabling automatic top-up"); err != nil {
			return err
		}
		st, err := loadSettings(ctx, tx, actor.Company, true)
		if err != nil {
			return err
		}
		sites, err := listSites(ctx, tx, actor.Company)
		if err != nil {
			return err
		}
		if !st.Enabled {
			out = view(actor.Company, st, sites)
			return nil
		}
		st.Enabled, st.DisabledAt, st.DisabledBy = false, now, actor.Email
		if err := saveSettings(ctx, tx, actor.Company, st); err != nil {
			return err
		}
		out = view(actor.Company, st, sites)
		e, err := newEvent(actor.Company, actor.Email, now, EventDisabled, actor.Company, map[string]any{"terms_version": st.TermsVersion})
		return appendEvent(ctx, tx, e, err)
	})
	if err != nil {
		return Settings{}, err
	}
	return out, nil
}

// CheckIncrement validates an increment: a multiple of 5, at least 5.
//
// Errors: invalid (field "increment").
func CheckIncrement(n int64) error {
	if n < DefaultIncrement || n%DefaultIncrement != 0 || n > maxIncrement {
		return license.Errorf(license.Invalid, "increment", "the top-up increment must be a multiple of %d and at least %d (got %d)", DefaultIncrement, DefaultIncrement, n)
	}
	return nil
}

// SetIncrement sets how many licenses (a multiple of 5, at least 5) one top-up
// step adds to a site. It needs Owner or Admin and top-up enabled, and writes a
// topup.increment_changed event with the new value (Count) unless the value is
// unchanged, in which case nothing changes.
//
// Errors: invalid (actor, increment), forbidden, not_found (site), conflict
// (field "enabled": top-up is disabled).
func (s *Service) SetIncrement(ctx context.Context, actor license.Actor, siteID string, n int64) (SiteIncrement, error) {
	if err := actor.Check(); err != nil {
		return SiteIncrement{}, err
	}
	if err := CheckIncrement(n); err != nil {
		return SiteIncrement{}, err
	}
	now := s.now()
	var out SiteIncrement
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "changing the top-up increment"); err != nil {
			return err
		}
		st, err := loadSettings(ctx, tx, actor.Company, true)
		if err != nil {
			return err
		}
		site, err := loadSite(ctx, tx, actor.Company, siteID)
		if err != nil {
			return err
		}
		if !st.Enabled {
			return license.Errorf(license.Conflict, "enabled", "automatic top-up is disabled: enable it before setting the increment of site %s", site.Name)
		}
		old := st.increment(site.ID)
		out = SiteIncrement{Site: site.ID, SiteName: site.Name, Increment: n}
		if old == n {
			return nil
		}
		if st.Increments == nil {
			st.Increments = map[string]int64{}
		}
		st.Increments[site.ID] = n
		if err := saveSettings(ctx, tx, actor.Company, st); err != nil {
			return err
		}
		e, err := newEvent(actor.Company, actor.Email, now, EventIncrementChanged, site.ID, map[string]int64{"old": old, "new": n})
		e.Target, e.Count = site.Name, n
		return appendEvent(ctx, tx, e, err)
	})
	if err != nil {
		return SiteIncrement{}, err
	}
	return out, nil
}

// Get returns the company's top-up settings: the switch, the accepted terms,
// every site's increment and the notification recipients. Any role may read it.
//
// Errors: invalid (actor).
func (s *Service) Get(ctx context.Context, actor license.Actor) (Settings, error) {
	if err := actor.Check(); err != nil {
		return Settings{}, err
	}
	var out Settings
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		st, err := loadSettings(ctx, tx, actor.Company, false)
		if err != nil {
			return err
		}
		sites, err := listSites(ctx, tx, actor.Company)
		if err != nil {
			return err
		}
		out = view(actor.Company, st, sites)
		return nil
	})
	return out, err
}

func view(company string, st settings, sites []billing.Site) Settings {
	out := Settings{Company: company, Enabled: st.Enabled, TermsVersion: st.TermsVersion, EnabledAt: st.EnabledAt, EnabledBy: st.EnabledBy,
		Sites: make([]SiteIncrement, 0, len(sites)), Recipients: slices.Clone(st.Recipients)}
	if out.Recipients == nil {
		out.Recipients = []string{}
	}
	for _, s := range sites {
		out.Sites = append(out.Sites, SiteIncrement{Site: s.ID, SiteName: s.Name, Increment: st.increment(s.ID)})
	}
	return out
}

// loadSite reads site id of company in tx from billing's records
// (billing.KindSite), so that top-up decides on the state of its own
// transaction.
func loadSite(ctx context.Context, tx storage.Tx, company, id string) (billing.Site, error) {
	if id == "" {
		return billing.Site{}, license.Errorf(license.Invalid, "site", "a site is required")
	}
	st, _, err := storage.Load[billing.Site](ctx, tx, company, billing.KindSite, id, false)
	if storage.IsNotFound(err) {
		return billing.Site{}, license.Errorf(license.NotFound, "site", "no site %q in this company", id)
	}
	return st, err
}

// listSites returns every site of company in tx, in ID order.
func listSites(ctx context.Context, tx storage.Tx, company string) ([]billing.Site, error) {
	return storage.ListOf[billing.Site](ctx, tx, storage.ListQuery{Company: company, Kind: billing.KindSite})
}
