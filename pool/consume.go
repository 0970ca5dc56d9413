package pool

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/licensekit/licensekit/license"
)

// Demand is what a consumer takes from a pool under its metric: one allocation,
// identified by Key, of Units licenses.
type Demand struct {
	Key   string `json:"key"`   // "user:u1", "asset:a1", "server:s1"
	Units int64  `json:"units"` // 1, or the server's CPU count under physical CPU
}

// DemandOf returns what c consumes under metric m, or an Invalid error naming the
// missing consumer field. It is pure:
//   - named user: one license per user, keyed by the user, however many assets;
//   - installed instance: one per installation, keyed by the asset;
//   - concurrent user: one seat per user (held as a lease);
//   - physical server: one per server (the asset's server, or the asset itself);
//   - physical CPU: the server's CPU count, keyed by the server.
func DemandOf(m license.Metric, c license.Consumer) (Demand, error) {
	server := c.Server
	if server == "" {
		server = c.Asset
	}
	switch m {
	case license.NamedUser, license.ConcurrentUser:
		if c.User == "" {
			return Demand{}, license.Errorf(license.Invalid, "consumer.user", "a pool licensed by %s needs the consumer's user", m)
		}
		return Demand{Key: "user:" + c.User, Units: 1}, nil
	case license.InstalledInstance:
		if c.Asset == "" {
			return Demand{}, license.Errorf(license.Invalid, "consumer.asset", "a pool licensed by installed instance needs the consumer's asset")
		}
		return Demand{Key: "asset:" + c.Asset, Units: 1}, nil
	case license.PhysicalServer:
		if server == "" {
			return Demand{}, license.Errorf(license.Invalid, "consumer.server", "a pool licensed by physical server needs the consumer's server or asset")
		}
		return Demand{Key: "server:" + server, Units: 1}, nil
	case license.PhysicalCPU:
		if server == "" {
			return Demand{}, license.Errorf(license.Invalid, "consumer.server", "a pool licensed by physical CPU needs the consumer's server or asset")
		}
		if c.CPUs < 1 || c.CPUs > 4096 {
			return Demand{}, license.Errorf(license.Invalid, "consumer.cpus", "a pool licensed by physical CPU needs the server's CPU count (1 to 4096), got %d", c.CPUs)
		}
		return Demand{Key: "server:" + server, Units: int64(c.CPUs)}, nil
	}
	return Demand{}, license.Errorf(license.Invalid, "metric", "unknown metric %q", m)
}

// AllocationID is the deterministic record ID of the allocation of consumer key
// in pool, so "does this consumer hold a license here" is one Get.
func AllocationID(poolID, key string) string {
	sum := sha256.Sum256([]byte(poolID + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

// CheckRestrictions reports whether c may use a pool with restrictions r and
// metric m. It returns a RestrictionFailed error whose Field names the failed
// restriction ("restrictions.location", ...). It is pure.
func CheckRestrictions(r Restrictions, m license.Metric, c license.Consumer) error {
	fail := func(name, field, have string, allowed []string) error {
		if have == "" {
			have = "none"
		}
		return license.Errorf(license.RestrictionFailed, "restrictions."+field, "the pool is restricted to %s %s; the consumer's %s is %s", name, strings.Join(allowed, ", "), name, have)
	}
	if len(r.AssetGroups) > 0 && !anyIn(c.AssetGroups, r.AssetGroups) {
		return fail("asset group", "asset_group", strings.Join(c.AssetGroups, ", "), r.AssetGroups)
	}
	if len(r.Locations) > 0 && !slices.Contains(r.Locations, c.Location) {
		return fail("location", "location", c.Location, r.Locations)
	}
	if len(r.Organisations) > 0 && !slices.Contains(r.Organisations, c.Organisation) {
		return fail("organisation", "organisation", c.Organisation, r.Organisations)
	}
	if len(r.Users) > 0 && !slices.Contains(r.Users, c.User) {
		return fail("user", "user", c.User, r.Users)
	}
	if len(r.Contracts) > 0 && !anyIn(c.Contracts, r.Contracts) {
		return fail("contract", "contract", strings.Join(c.Contracts, ", "), r.Contracts)
	}
	if len(r.CostCenters) > 0 && !slices.Contains(r.CostCenters, c.CostCenter) {
		return fail("cost center", "cost_center", c.CostCenter, r.CostCenters)
	}
	if len(r.Companies) > 0 && m.AssetBased() && !slices.Contains(r.Companies, c.NamedCompany) {
		return fail("company", "company", c.NamedCompany, r.Companies)
	}
	return nil
}

func anyIn(have, allowed []string) bool {
	for _, h := range have {
		if slices.Contains(allowed, h) {
			return true
		}
	}
	return false
}

// CheckUsable reports whether a pool may serve consumer c for software: the pool
// is active and not suspended (Conflict otherwise), grants the software (Invalid, field
// "software", when software is given and not granted), and c passes its
// restrictions (RestrictionFailed). Capacity is checked separately with
// CheckCapacity. It is pure, for reuse by validation front ends.
func CheckUsable(p *Pool, c license.Consumer, software string) error {
	switch p.Status {
	case StatusActive:
	case StatusClosed:
		return license.Errorf(license.Conflict, "status", "pool %q is closed: it refuses new allocations", p.Name)
	default:
		return license.Errorf(license.Conflict, "status", "pool %q is %s: it cannot be used", p.Name, p.Status)
	}
	if p.Suspended {
		return license.Errorf(license.Conflict, "status", "pool %q is suspended: it refuses new allocations until it is unsuspended", p.Name)
	}
	if software != "" && !p.Grants(software) {
		return license.Errorf(license.Invalid, "software", "pool %q does not grant use of %q", p.Name, software)
	}
	return CheckRestrictions(p.Restrictions, p.Metric, c)
}

// Candidate is a pool considered by automatic allocation.
type Candidate struct {
	Pool   *Pool
	Counts Counts
}

// ChoosePool picks the pool automatic allocation uses for c and software: among
// candidates that are active, grant the software and pass their restrictions,
// the one with the highest Priority that has units free; ties go to the oldest
// pool (the smallest ID, which sorts by creation time). When no usable pool has
// room it returns the capacity error of the best usable pool (InsufficientLicenses
// or Quarantined); when none is usable at all, the first usability error, or a
// NotFound error when there were no candidates. It is pure.
func ChoosePool(cands []Candidate, c license.Consumer, software string, units func(*Pool) (int64, error)) (*Pool, error) {
	sorted := slices.Clone(cands)
	slices.SortStableFunc(sorted, func(a, b Candidate) int {
		if a.Pool.Priority != b.Pool.Priority {
			return b.Pool.Priority - a.Pool.Priority
		}
		return strings.Compare(a.Pool.ID, b.Pool.ID)
	})
	var capErr, useErr error
	for _, cand := range sorted {
		if err := CheckUsable(cand.Pool, c, software); err != nil {
			if useErr == nil {
				useErr = err
			}
			continue
		}
		n, err := units(cand.Pool)
		if err != nil {
			if useErr == nil {
				useErr = err
			}
			continue
		}
		if err := CheckCapacity(cand.Counts, n); err != nil {
			if capErr == nil {
				capErr = err
			}
			continue
		}
		return cand.Pool, nil
	}
	if capErr != nil {
		return nil, capErr
	}
	if useErr != nil {
		return nil, useErr
	}
	return nil, license.Errorf(license.NotFound, "software", "no pool grants %q by an automatic rule", software)
}

// Limits of consumer input.
const (
	maxConsumerList = 1000 // user assets, asset groups, contracts
	maxRestriction  = 1000 // values per restriction
)

// checkConsumer validates the consumer's text fields and list sizes, returning
// an Invalid error naming the field ("consumer.asset", ...). It does not
// require any field: what a metric needs is checked by DemandOf.
func checkConsumer(c license.Consumer) error {
	for _, f := range []struct{ field, v string }{
		{"consumer.user", c.User}, {"consumer.asset", c.Asset}, {"consumer.fingerprint", c.Fingerprint}, {"consumer.server", c.Server},
		{"consumer.location", c.Location}, {"consumer.organisation", c.Organisation},
		{"consumer.cost_center", c.CostCenter}, {"consumer.named_company", c.NamedCompany},
	} {
		if err := checkText(f.field, f.v, MaxTextLength); err != nil {
			return err
		}
	}
	if c.CPUs < 0 || c.CPUs > 4096 {
		return license.Errorf(license.Invalid, "consumer.cpus", "the CPU count must be between 0 and 4096, got %d", c.CPUs)
	}
	for _, l := range []struct {
		field string
		v     []string
	}{{"consumer.user_assets", c.UserAssets}, {"consumer.asset_groups", c.AssetGroups}, {"consumer.contracts", c.Contracts}} {
		if len(l.v) > maxConsumerList {
			return license.Errorf(license.Invalid, l.field, "%s may list at most %d values", l.field, maxConsumerList)
		}
		for _, v := range l.v {
			if err := checkText(l.field, v, MaxTextLength); err != nil {
				return err
			}
		}
	}
	return nil
}
