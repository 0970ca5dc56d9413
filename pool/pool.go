package pool

import (
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
)

// Record kinds kept by the pool service.
const (
	KindPool       = "pool"       // one per pool: settings, transactions, counters, quarantine
	KindAllocation = "allocation" // Parent = pool ID; ID = AllocationID(pool, consumer key)
	KindLease      = "lease"      // concurrent-user seats; Parent = pool ID; ID = AllocationID(pool, "lease:"+user)
)

// Limits of pool attributes.
const (
	MaxNameLength      = 250           // characters (runes), not bytes
	MaxTextLength      = 250           // references, person names, order numbers
	MaxDescription     = 4000          // characters
	MaxComment         = 4000          // characters
	MaxMinAllocDays    = 3650          // minimum allocation time, days
	MaxAttachmentSize  = 10 << 20      // bytes per attachment
	MaxAttachments     = 50            // per pool
	MaxComments        = 1000          // per pool
	MaxCount           = 1_000_000_000 // licenses in one transaction or allocation
	MaxGraceDays       = 365           // grace period after expiry, days
	DefaultLeaseTTL    = 5 * time.Minute
	MinLeaseTTL        = 10 * time.Second
	MaxLeaseTTL        = 24 * time.Hour
	maxSoftwarePerPool = 100
)

// Status is the lifecycle state of a pool.
type Status string

// Pool statuses. A pool is New until its first successful save, then Active.
// Close keeps it viewable but refuses new allocations; Retire removes it from use
// and from default listings. Transitions: New→Active (Create), Active→Closed
// (Close), Active|Closed→Retired (Retire); anything else is a Conflict.
const (
	StatusNew     Status = "new"
	StatusActive  Status = "active"
	StatusClosed  Status = "closed"
	StatusRetired Status = "retired"
)

// Rule is the one automatic-allocation rule of a pool.
type Rule string

// Automatic allocation rules.
const (
	// RuleNone: no automatic allocation.
	RuleNone Rule = ""
	// RuleSoftwareInventory allocates when the software is found on an asset
	// (installed instance: to the asset; named user: to the asset's responsible
	// person, covering all of that person's assets) and releases on uninstall or
	// when the asset's responsible person changes.
	RuleSoftwareInventory Rule = "software_inventory"
	// RuleServiceContract allocates to assets/users bound to the rule's contract
	// with the software installed. Ending the binding does not release.
	RuleServiceContract Rule = "service_contract"
	// RulePackageDistribution allocates when the package is distributed to an asset
	// (installed instance only); when none is free the distribution gets an
	// InsufficientLicenses error.
	RulePackageDistribution Rule = "package_distribution"
)

// Responsible holds the responsible persons of a pool (all optional).
type Responsible struct {
	Purchase  string `json:"purchase,omitempty"`
	Technical string `json:"technical,omitempty"`
	Owner     string `json:"owner,omitempty"`
}

// Restrictions constrain who may use the pool. An empty list means no
// restriction; a non-empty list requires the consumer to match one of its values.
// Companies (named company) is allowed only for asset-based metrics.
type Restrictions struct {
	AssetGroups   []string `json:"asset_groups,omitempty"`
	Locations     []string `json:"locations,omitempty"`
	Organisations []string `json:"organisations,omitempty"`
	Users         []string `json:"users,omitempty"`
	Contracts     []string `json:"contracts,omitempty"`
	CostCenters   []string `json:"cost_centers,omitempty"`
	Companies     []string `json:"companies,omitempty"`
}

// Automatic is the automatic-allocation setting of a pool.
type Automatic struct {
	Enabled bool `json:"enabled"`
	Rule    Rule `json:"rule,omitempty"`
	// Contract is the service contract of RuleServiceContract.
	Contract string `json:"contract,omitempty"`
	// Package is the distributed package of RulePackageDistribution ("" = any
	// package delivering granted software).
	Package string `json:"package,omitempty"`
}

// Spec is the editable part of a pool: what Create takes and Update replaces.
type Spec struct {
	Name             string         `json:"name"`                        // required, ≤250 characters
	Model            license.Model  `json:"model"`                       // rental or perpetual
	Metric           license.Metric `json:"metric"`                      // "Licensed by"
	Software         []string       `json:"software"`                    // "Grants to use software": at least one
	SupplyContract   string         `json:"supply_contract,omitempty"`   // optional reference
	LicenseAgreement string         `json:"license_agreement,omitempty"` // optional reference
	Description      string         `json:"description,omitempty"`
	Responsible      Responsible    `json:"responsible"`
	Restrictions     Restrictions   `json:"restrictions"`
	Automatic        Automatic      `json:"automatic"`
	Priority         int            `json:"priority"` // higher wins in automatic allocation
	// FormAllocations is "Allocations from asset/user form enabled".
	FormAllocations bool `json:"form_allocations"`
	// MinAllocationDays is the minimum allocation time: a license released sooner
	// is quarantined until that many days after its allocation.
	MinAllocationDays int `json:"min_allocation_days"`
	// LeaseTTL is the heartbeat time-to-live of concurrent-user leases (0 = DefaultLeaseTTL).
	LeaseTTL time.Duration `json:"lease_ttl,omitempty"`
	// Entitlements are the feature codes the pool grants (checked by
	// Service.Validate against the features a consumer asks for): each
	// non-empty, at most license.MaxEntitlementLength characters, no spaces;
	// duplicates are dropped.
	Entitlements []string `json:"entitlements,omitempty"`
	// GraceDays is how long after a rental pool expires validation still
	// answers valid, with code license.CodeInGrace (0 to MaxGraceDays).
	GraceDays int `json:"grace_days,omitempty"`
}

// Attachment describes a file attached to a pool; its bytes live in the BlobStore.
type Attachment struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Added       time.Time `json:"added"`
	AddedBy     string    `json:"added_by"`
}

// Comment is a remark added to a pool.
type Comment struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

// QuarantineEntry holds units released before the minimum allocation time: they
// count as neither available nor allocated until Until.
type QuarantineEntry struct {
	Allocation string    `json:"allocation"`
	Consumer   string    `json:"consumer"`
	Units      int64     `json:"units"`
	Until      time.Time `json:"until"`
}

// Pool is a license pool as stored and returned.
type Pool struct {
	ID      string `json:"id"` // GUID (UUIDv7)
	Company string `json:"company"`
	Spec
	Status       Status        `json:"status"`
	Created      time.Time     `json:"created"`
	Updated      time.Time     `json:"updated"`
	Transactions []Transaction `json:"transactions,omitempty"`
	Attachments  []Attachment  `json:"attachments,omitempty"`
	Comments     []Comment     `json:"comments,omitempty"`
	// Stored counters, kept in step with the allocation and lease records in the
	// same transaction (see Service.Audit for the recount).
	AllocatedAuto   int64             `json:"allocated_auto"`
	AllocatedManual int64             `json:"allocated_manual"`
	Leases          int64             `json:"leases"` // lease records, lapsed ones included until culled
	Quarantine      []QuarantineEntry `json:"quarantine,omitempty"`
	// Suspension, set by Service.Suspend and cleared by Service.Unsuspend: a
	// suspended pool refuses new allocations and validation answers
	// license.CodeSuspended.
	Suspended     bool       `json:"suspended,omitempty"`
	SuspendedAt   *time.Time `json:"suspended_at,omitempty"`
	SuspendReason string     `json:"suspend_reason,omitempty"`

	// leaseFloor is a time before which no lease of the pool lapses (zero:
	// unknown). It is kept in the stored record beside the pool (see
	// poolDoc), not in the pool's JSON, so that the API does not show it.
	leaseFloor time.Time
}

// poolDoc is a pool's stored record: the pool, and LeaseFloor, a lower bound
// of the expiry of every lease record of the pool. AcquireLease lists the
// leases to cull lapsed ones only once the clock reaches the floor, and
// counts the live leases from the counter before then. Every writer of a
// lease keeps the bound: a new or renewed lease lowers the floor to its
// expiry if that is earlier; deleting a lease cannot break it. A pool saved
// without the floor (by any other operation, through its plain JSON) has
// it unknown, and the next acquire lists the leases once and sets it again.
type poolDoc struct {
	*Pool
	LeaseFloor time.Time `json:"lease_floor,omitzero"`
}

// Grants reports whether the pool grants use of software.
func (p *Pool) Grants(software string) bool {
	for _, s := range p.Software {
		if s == software {
			return true
		}
	}
	return false
}

// normalize trims text fields, drops empty and duplicate list entries, and
// returns the spec with times in UTC.
func (s Spec) normalize() Spec {
	s.Name = strings.TrimSpace(s.Name)
	s.SupplyContract = strings.TrimSpace(s.SupplyContract)
	s.LicenseAgreement = strings.TrimSpace(s.LicenseAgreement)
	s.Description = strings.TrimSpace(s.Description)
	s.Responsible.Purchase = strings.TrimSpace(s.Responsible.Purchase)
	s.Responsible.Technical = strings.TrimSpace(s.Responsible.Technical)
	s.Responsible.Owner = strings.TrimSpace(s.Responsible.Owner)
	s.Software = cleanList(s.Software)
	r := &s.Restrictions
	r.AssetGroups, r.Locations, r.Organisations = cleanList(r.AssetGroups), cleanList(r.Locations), cleanList(r.Organisations)
	r.Users, r.Contracts, r.CostCenters, r.Companies = cleanList(r.Users), cleanList(r.Contracts), cleanList(r.CostCenters), cleanList(r.Companies)
	s.Automatic.Contract = strings.TrimSpace(s.Automatic.Contract)
	s.Automatic.Package = strings.TrimSpace(s.Automatic.Package)
	if !s.Automatic.Enabled {
		s.Automatic = Automatic{}
	}
	if s.LeaseTTL == 0 {
		s.LeaseTTL = DefaultLeaseTTL
	}
	s.Entitlements = license.CleanEntitlements(s.Entitlements)
	return s
}

func cleanList(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// checkText validates a single-line text field with license.CheckLine: valid
// UTF-8, at most max characters, no control or bidirectional formatting
// characters.
func checkText(field, v string, max int) error {
	return license.CheckLine(field, v, max)
}

// Validate checks a (normalized) spec and returns the first problem as an
// Invalid *license.Error naming the field. It is pure.
func (s Spec) Validate() error {
	if s.Name == "" {
		return license.Errorf(license.Invalid, "name", "name is required")
	}
	if err := checkText("name", s.Name, MaxNameLength); err != nil {
		return err
	}
	if !s.Model.Valid() {
		return license.Errorf(license.Invalid, "model", "license model %q is not valid: use rental or perpetual", s.Model)
	}
	if !s.Metric.Valid() {
		return license.Errorf(license.Invalid, "metric", "licensed by %q is not valid: use named_user, installed_instance, concurrent_user, physical_server or physical_cpu", s.Metric)
	}
	if len(s.Software) == 0 {
		return license.Errorf(license.Invalid, "software", "grants to use software is required: name at least one managed software item")
	}
	if len(s.Software) > maxSoftwarePerPool {
		return license.Errorf(license.Invalid, "software", "a pool may grant at most %d software items", maxSoftwarePerPool)
	}
	for _, sw := range s.Software {
		if err := checkText("software", sw, MaxTextLength); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		field, v string
	}{
		{"supply_contract", s.SupplyContract}, {"license_agreement", s.LicenseAgreement},
		{"responsible.purchase", s.Responsible.Purchase}, {"responsible.technical", s.Responsible.Technical},
		{"responsible.owner", s.Responsible.Owner}, {"automatic.contract", s.Automatic.Contract},
		{"automatic.package", s.Automatic.Package},
	} {
		if err := checkText(f.field, f.v, MaxTextLength); err != nil {
			return err
		}
	}
	if err := license.CheckText("description", s.Description, MaxDescription); err != nil {
		return err
	}
	r := s.Restrictions
	for _, l := range []struct {
		field string
		v     []string
	}{
		{"restrictions.asset_group", r.AssetGroups}, {"restrictions.location", r.Locations},
		{"restrictions.organisation", r.Organisations}, {"restrictions.user", r.Users},
		{"restrictions.contract", r.Contracts}, {"restrictions.cost_center", r.CostCenters},
		{"restrictions.company", r.Companies},
	} {
		if len(l.v) > maxRestriction {
			return license.Errorf(license.Invalid, l.field, "a restriction may list at most %d values", maxRestriction)
		}
		for _, v := range l.v {
			if err := checkText(l.field, v, MaxTextLength); err != nil {
				return err
			}
		}
	}
	if len(r.Companies) > 0 && !s.Metric.AssetBased() {
		return license.Errorf(license.Invalid, "restrictions.company", "a named-company restriction needs an asset-based metric (installed instance, physical server or physical CPU), not %s", s.Metric)
	}
	if s.MinAllocationDays < 0 || s.MinAllocationDays > MaxMinAllocDays {
		return license.Errorf(license.Invalid, "min_allocation_days", "minimum allocation time must be between 0 and %d days", MaxMinAllocDays)
	}
	if s.LeaseTTL < MinLeaseTTL || s.LeaseTTL > MaxLeaseTTL {
		return license.Errorf(license.Invalid, "lease_ttl", "lease time-to-live must be between %s and %s", MinLeaseTTL, MaxLeaseTTL)
	}
	if err := license.CheckEntitlements("entitlements", s.Entitlements); err != nil {
		return err
	}
	if s.GraceDays < 0 || s.GraceDays > MaxGraceDays {
		return license.Errorf(license.Invalid, "grace_days", "the grace period must be between 0 and %d days", MaxGraceDays)
	}
	if s.Priority < -1_000_000 || s.Priority > 1_000_000 {
		return license.Errorf(license.Invalid, "priority", "priority must be between -1000000 and 1000000")
	}
	return s.Automatic.validate(s.Metric)
}

func (a Automatic) validate(m license.Metric) error {
	if !a.Enabled {
		return nil
	}
	switch a.Rule {
	case RuleSoftwareInventory, RuleServiceContract:
		if m != license.NamedUser && m != license.InstalledInstance {
			return license.Errorf(license.Invalid, "automatic.rule", "automatic allocation by %s needs a pool licensed by named users or installed instance, not %s", a.Rule, m)
		}
		if a.Rule == RuleServiceContract && a.Contract == "" {
			return license.Errorf(license.Invalid, "automatic.contract", "the service contract rule needs a contract")
		}
	case RulePackageDistribution:
		if m != license.InstalledInstance {
			return license.Errorf(license.Invalid, "automatic.rule", "automatic allocation by package distribution needs a pool licensed by installed instance, not %s", m)
		}
	case RuleNone:
		return license.Errorf(license.Invalid, "automatic.rule", "automatic allocation is enabled: choose a rule (software_inventory, service_contract or package_distribution)")
	default:
		return license.Errorf(license.Invalid, "automatic.rule", "unknown rule %q: use software_inventory, service_contract or package_distribution", a.Rule)
	}
	return nil
}

// transition checks a lifecycle change and returns a Conflict when it is illegal.
func transition(from, to Status) error {
	ok := false
	switch to {
	case StatusActive:
		ok = from == StatusNew
	case StatusClosed:
		ok = from == StatusActive
	case StatusRetired:
		ok = from == StatusActive || from == StatusClosed
	}
	if !ok {
		return license.Errorf(license.Conflict, "status", "a %s pool cannot become %s", from, to)
	}
	return nil
}
