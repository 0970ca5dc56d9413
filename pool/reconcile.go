package pool

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// FactKind is the kind of a fact the embedding product reports to Reconcile.
type FactKind string

// Facts. licensekit does not scan machines; the product tells it what it saw.
const (
	// FactInstalled: Software was found on Consumer.Asset (responsible person
	// Consumer.User). Triggers software-inventory pools, and service-contract
	// pools whose contract is among Consumer.Contracts.
	FactInstalled FactKind = "installed"
	// FactUninstalled: Software is gone from Consumer.Asset. Releases
	// software-inventory allocations (named user: once no installation remains).
	FactUninstalled FactKind = "uninstalled"
	// FactResponsibleChanged: Consumer.Asset's responsible person changed from
	// PreviousUser to Consumer.User. Named-user software-inventory allocations of
	// PreviousUser drop the asset and are released when no installation remains.
	// The product reports FactInstalled for the new person to allocate again.
	FactResponsibleChanged FactKind = "responsible_changed"
	// FactContractBound: Consumer (with Software installed) was bound to Contract.
	// Triggers service-contract pools of that contract.
	FactContractBound FactKind = "contract_bound"
	// FactContractUnbound: the binding ended. Service-contract allocations are
	// NOT released; Reconcile records nothing.
	FactContractUnbound FactKind = "contract_unbound"
	// FactDistributed: Package delivering Software is being distributed to
	// Consumer.Asset. Triggers package-distribution pools; with none free the
	// error is InsufficientLicenses so the product can warn or deny the install.
	FactDistributed FactKind = "distributed"
)

// Fact is one observation from the embedding product.
type Fact struct {
	Kind         FactKind         `json:"kind"`
	Software     string           `json:"software"`
	Consumer     license.Consumer `json:"consumer"`
	PreviousUser string           `json:"previous_user,omitempty"` // FactResponsibleChanged
	Contract     string           `json:"contract,omitempty"`      // FactContractBound / Unbound
	Package      string           `json:"package,omitempty"`       // FactDistributed
}

// Outcome is what Reconcile did for one fact.
type Outcome struct {
	Allocated *Allocation `json:"allocated,omitempty"` // a new automatic allocation
	Existing  *Allocation `json:"existing,omitempty"`  // the consumer already held one (maybe updated)
	Released  []Release   `json:"released,omitempty"`
}

func (f Fact) check() error {
	switch f.Kind {
	case FactInstalled, FactUninstalled, FactDistributed, FactContractBound:
		if f.Consumer.Asset == "" && f.Consumer.User == "" {
			return license.Errorf(license.Invalid, "consumer.asset", "a %s fact needs the asset (or user)", f.Kind)
		}
		if f.Software == "" {
			return license.Errorf(license.Invalid, "software", "a %s fact needs the software", f.Kind)
		}
	case FactResponsibleChanged:
		if f.Consumer.Asset == "" {
			return license.Errorf(license.Invalid, "consumer.asset", "a responsible_changed fact needs the asset")
		}
		if f.PreviousUser == "" {
			return license.Errorf(license.Invalid, "previous_user", "a responsible_changed fact needs the previous responsible person")
		}
	case FactContractUnbound:
	default:
		return license.Errorf(license.Invalid, "kind", "unknown fact kind %q", f.Kind)
	}
	if (f.Kind == FactContractBound || f.Kind == FactContractUnbound) && f.Contract == "" {
		return license.Errorf(license.Invalid, "contract", "a %s fact needs the contract", f.Kind)
	}
	if err := checkConsumer(f.Consumer); err != nil {
		return err
	}
	for _, t := range []struct{ field, v string }{
		{"software", f.Software}, {"previous_user", f.PreviousUser}, {"contract", f.Contract}, {"package", f.Package},
	} {
		if err := checkText(t.field, t.v, MaxTextLength); err != nil {
			return err
		}
	}
	return nil
}

// triggers reports whether a pool's automatic rule acts on an allocating fact.
func (p *Pool) triggers(f Fact) bool {
	if !p.Automatic.Enabled || !p.Grants(f.Software) {
		return false
	}
	switch f.Kind {
	case FactInstalled:
		return p.Automatic.Rule == RuleSoftwareInventory ||
			(p.Automatic.Rule == RuleServiceContract && slices.Contains(f.Consumer.Contracts, p.Automatic.Contract))
	case FactContractBound:
		return p.Automatic.Rule == RuleServiceContract && p.Automatic.Contract == f.Contract
	case FactDistributed:
		return p.Automatic.Rule == RulePackageDistribution && (p.Automatic.Package == "" || p.Automatic.Package == f.Package)
	}
	return false
}

// Reconcile applies one fact from the embedding product in one transaction:
// allocating by the pools' automatic rules (the eligible pool with the highest
// priority; ties go to the oldest pool, see ChoosePool) or releasing automatic
// allocations. A fact no pool's rule covers changes nothing and returns an
// empty Outcome. Appends pool.allocated, pool.allocation_changed, pool.released
// and pool.quarantined as it goes.
//
// Errors: Invalid (kind, software, consumer.*, contract, previous_user),
// Forbidden, RestrictionFailed (no pool's restrictions admit the consumer),
// InsufficientLicenses (rule pools exist but none has a license free: for
// FactDistributed the product should warn or deny the installation),
// Quarantined (only quarantined licenses remain).
func (s *Service) Reconcile(ctx context.Context, a license.Actor, f Fact) (Outcome, error) {
	if err := checkEditor(a); err != nil {
		return Outcome{}, err
	}
	f.Software = strings.TrimSpace(f.Software)
	if err := f.check(); err != nil {
		return Outcome{}, err
	}
	if f.Kind == FactContractBound && !slices.Contains(f.Consumer.Contracts, f.Contract) {
		f.Consumer.Contracts = append(slices.Clone(f.Consumer.Contracts), f.Contract)
	}
	if f.Kind == FactContractUnbound {
		return Outcome{}, nil // bindings ending never release licenses
	}
	now := s.now()
	var out Outcome
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		pools, err := storage.ListOf[Pool](ctx, tx, storage.ListQuery{Company: a.Company, Kind: KindPool})
		if err != nil {
			return err
		}
		switch f.Kind {
		case FactUninstalled, FactResponsibleChanged:
			out, err = reconcileRelease(ctx, tx, a, pools, f, now)
		default:
			out, err = reconcileAllocate(ctx, tx, a, pools, f, now)
		}
		return err
	})
	return out, err
}

func reconcileAllocate(ctx context.Context, tx storage.Tx, a license.Actor, pools []Pool, f Fact, now time.Time) (Outcome, error) {
	var cands []Candidate
	recs := map[string]storage.Record{}
	for i := range pools {
		if !pools[i].triggers(f) {
			continue
		}
		// Lock each candidate (in ID order, as listed) and read its current state.
		p, rec, err := loadPool(ctx, tx, a.Company, pools[i].ID, true)
		if err != nil {
			return Outcome{}, err
		}
		if !p.triggers(f) {
			continue
		}
		d, err := DemandOf(p.Metric, f.Consumer)
		if err == nil {
			existing, erec, gerr := storage.Load[Allocation](ctx, tx, a.Company, KindAllocation, AllocationID(p.ID, d.Key), true)
			if gerr == nil {
				return updateExisting(ctx, tx, a, p, existing, erec, f, now)
			} else if !storage.IsNotFound(gerr) {
				return Outcome{}, gerr
			}
		}
		pruneQuarantine(p, now)
		c, err := countsAt(ctx, tx, p, now)
		if err != nil {
			return Outcome{}, err
		}
		recs[p.ID] = rec
		cands = append(cands, Candidate{Pool: p, Counts: c})
	}
	if len(cands) == 0 {
		return Outcome{}, nil
	}
	chosen, err := ChoosePool(cands, f.Consumer, f.Software, func(p *Pool) (int64, error) {
		d, err := DemandOf(p.Metric, f.Consumer)
		return d.Units, err
	})
	if err != nil {
		return Outcome{}, err
	}
	d, _ := DemandOf(chosen.Metric, f.Consumer)
	al := Allocation{
		ID: AllocationID(chosen.ID, d.Key), Pool: chosen.ID, Key: d.Key, Consumer: f.Consumer, Units: d.Units,
		Automatic: true, Rule: chosen.Automatic.Rule, Software: f.Software, AllocatedAt: now, By: a.Email,
	}
	if f.Consumer.Asset != "" {
		al.Installs = []string{f.Consumer.Asset}
		if chosen.Metric == license.NamedUser {
			al.Covers = cleanList(append([]string{f.Consumer.Asset}, f.Consumer.UserAssets...))
		}
	}
	if err := allocateInto(ctx, tx, a, chosen, recs[chosen.ID], al, now); err != nil {
		return Outcome{}, err
	}
	return Outcome{Allocated: &al}, nil
}

// updateExisting records another installation on a named-user allocation the
// consumer already holds; otherwise it changes nothing.
func updateExisting(ctx context.Context, tx storage.Tx, a license.Actor, p *Pool, al Allocation, rec storage.Record, f Fact, now time.Time) (Outcome, error) {
	asset := f.Consumer.Asset
	if asset == "" || !al.Automatic || slices.Contains(al.Installs, asset) {
		return Outcome{Existing: &al}, nil
	}
	al.Installs = append(al.Installs, asset)
	if p.Metric == license.NamedUser {
		al.Covers = cleanList(append(append(al.Covers, asset), f.Consumer.UserAssets...))
	}
	if err := storage.Save(ctx, tx, rec, al); err != nil {
		return Outcome{}, err
	}
	if err := appendEvent(ctx, tx, a, now, EventAllocationChanged, p.ID, 0, map[string]any{"allocation": al.ID, "added_asset": asset}); err != nil {
		return Outcome{}, err
	}
	return Outcome{Existing: &al}, nil
}

func reconcileRelease(ctx context.Context, tx storage.Tx, a license.Actor, pools []Pool, f Fact, now time.Time) (Outcome, error) {
	var out Outcome
	for i := range pools {
		lp := &pools[i]
		if !lp.Automatic.Enabled || lp.Automatic.Rule != RuleSoftwareInventory {
			continue
		}
		if f.Software != "" && !lp.Grants(f.Software) {
			continue
		}
		var key string
		switch {
		case f.Kind == FactResponsibleChanged && lp.Metric == license.NamedUser:
			key = "user:" + f.PreviousUser
		case f.Kind == FactResponsibleChanged:
			continue
		case lp.Metric == license.NamedUser && f.Consumer.User != "":
			key = "user:" + f.Consumer.User
		case lp.Metric == license.InstalledInstance && f.Consumer.Asset != "":
			key = "asset:" + f.Consumer.Asset
		default:
			continue
		}
		id := AllocationID(lp.ID, key)
		if _, err := tx.Get(ctx, a.Company, KindAllocation, id); err != nil {
			if storage.IsNotFound(err) {
				continue
			}
			return Outcome{}, err
		}
		p, prec, err := loadPool(ctx, tx, a.Company, lp.ID, true)
		if err != nil {
			return Outcome{}, err
		}
		al, arec, err := storage.Load[Allocation](ctx, tx, a.Company, KindAllocation, id, true)
		if err != nil {
			return Outcome{}, err
		}
		if !al.Automatic || al.Rule != RuleSoftwareInventory {
			continue // manual and other rules' allocations are not released by inventory facts
		}
		asset := f.Consumer.Asset
		if p.Metric == license.NamedUser {
			if !slices.Contains(al.Installs, asset) && !slices.Contains(al.Covers, asset) {
				continue
			}
			al.Installs = slices.DeleteFunc(al.Installs, func(s string) bool { return s == asset })
			al.Covers = slices.DeleteFunc(al.Covers, func(s string) bool { return s == asset })
			if len(al.Installs) > 0 {
				if err := storage.Save(ctx, tx, arec, al); err != nil {
					return Outcome{}, err
				}
				if err := appendEvent(ctx, tx, a, now, EventAllocationChanged, p.ID, 0, map[string]any{"allocation": al.ID, "removed_asset": asset}); err != nil {
					return Outcome{}, err
				}
				c := al
				out.Existing = &c
				continue
			}
		}
		rel, err := releaseFrom(ctx, tx, a, p, prec, al, now, string(f.Kind))
		if err != nil {
			return Outcome{}, err
		}
		out.Released = append(out.Released, rel)
	}
	return out, nil
}
