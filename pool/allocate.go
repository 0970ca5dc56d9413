package pool

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Allocation is licenses of a pool held by one consumer (or an unmanaged amount).
type Allocation struct {
	ID          string           `json:"id"` // AllocationID(pool, key)
	Pool        string           `json:"pool"`
	Key         string           `json:"key"` // consumer key; "unmanaged:<id>" for unmanaged amounts
	Consumer    license.Consumer `json:"consumer"`
	Units       int64            `json:"units"`
	Automatic   bool             `json:"automatic"`
	Rule        Rule             `json:"rule,omitempty"`     // the rule that allocated it (automatic only)
	Software    string           `json:"software,omitempty"` // the software that triggered it
	Installs    []string         `json:"installs,omitempty"` // assets where the software was found (inventory rule)
	Covers      []string         `json:"covers,omitempty"`   // assets covered (named user)
	AllocatedAt time.Time        `json:"allocated_at"`
	By          string           `json:"by"`
}

// Unmanaged reports whether the allocation has no related item.
func (a Allocation) Unmanaged() bool { return emptyConsumer(a.Consumer) }

func emptyConsumer(c license.Consumer) bool { return c.User == "" && c.Asset == "" && c.Server == "" }

// Lease is a concurrent-user seat held while its heartbeat keeps it alive.
type Lease struct {
	ID        string        `json:"id"`
	Pool      string        `json:"pool"`
	User      string        `json:"user"`
	Acquired  time.Time     `json:"acquired"`
	Heartbeat time.Time     `json:"heartbeat"`
	TTL       time.Duration `json:"ttl"`
	ExpiresAt time.Time     `json:"expires_at"`
	By        string        `json:"by"`
}

// Live reports whether the lease still holds its seat at now.
func (l Lease) Live(now time.Time) bool { return now.Before(l.ExpiresAt) }

// AllocateRequest asks for a manual allocation.
type AllocateRequest struct {
	// Consumer is the user or asset to allocate to. Leave it empty and set Amount
	// for an unmanaged allocation with no related item.
	Consumer license.Consumer
	// Amount is the allocated amount of an unmanaged allocation (1..MaxCount);
	// it must be 0 when Consumer is set (the metric decides the units).
	Amount int64
	// Software, when set, must be granted by the pool.
	Software string
	// FromForm marks an allocation made from an asset or user form; pools with
	// FormAllocations off refuse it with Forbidden.
	FromForm bool
	// IdempotencyKey: see the license package (Idempotency).
	IdempotencyKey string
}

// Allocate allocates licenses of pool poolID manually, under the pool's metric
// (see DemandOf). Concurrent-user pools use AcquireLease instead. Appends
// pool.allocated.
//
// Errors: Invalid (consumer.*, amount, metric, software), NotFound, Forbidden
// (role; or form allocations disabled, field "form_allocations"), Conflict (pool
// not active; consumer already holds an allocation, field "consumer"),
// RestrictionFailed (field names the restriction), InsufficientLicenses (none
// free or shortfall), Quarantined (only quarantined licenses remain).
func (s *Service) Allocate(ctx context.Context, a license.Actor, poolID string, req AllocateRequest) (Allocation, error) {
	if err := checkEditor(a); err != nil {
		return Allocation{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Allocation{}, err
	}
	if err := req.check(); err != nil {
		return Allocation{}, err
	}
	now := s.now()
	var out Allocation
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		var err error
		out, err = storage.Idempotent(ctx, tx, a.Company, "pool.allocate:"+poolID, req.IdempotencyKey, req, now, func() (Allocation, error) {
			return allocateIn(ctx, tx, a, poolID, req, now)
		})
		return err
	})
	return out, err
}

func (req AllocateRequest) check() error {
	if emptyConsumer(req.Consumer) {
		if req.Amount < 1 || req.Amount > MaxCount {
			return license.Errorf(license.Invalid, "amount", "an unmanaged allocation needs an allocated amount between 1 and %d (or name a user or asset)", MaxCount)
		}
	} else if req.Amount != 0 {
		return license.Errorf(license.Invalid, "amount", "the allocated amount is only for unmanaged allocations; the pool's metric decides the units for a user or asset")
	}
	if err := checkConsumer(req.Consumer); err != nil {
		return err
	}
	return checkText("software", req.Software, MaxTextLength)
}

// allocateIn is Allocate inside transaction tx at time now (Validate with
// Allocate uses it to allocate in the transaction that decided). It validates
// everything Allocate does except the actor's role and the idempotency key.
func allocateIn(ctx context.Context, tx storage.Tx, a license.Actor, poolID string, req AllocateRequest, now time.Time) (Allocation, error) {
	if err := req.check(); err != nil {
		return Allocation{}, err
	}
	p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
	if err != nil {
		return Allocation{}, err
	}
	if req.FromForm && !p.FormAllocations {
		return Allocation{}, license.Errorf(license.Forbidden, "form_allocations", "pool %q does not allow allocations from the asset or user form", p.Name)
	}
	if p.Metric == license.ConcurrentUser {
		return Allocation{}, license.Errorf(license.Invalid, "metric", "pool %q is licensed by concurrent users: acquire a lease instead of allocating", p.Name)
	}
	var d Demand
	if emptyConsumer(req.Consumer) {
		if err := CheckUsable(p, req.Consumer, req.Software); err != nil && !isCode(err, license.RestrictionFailed) {
			return Allocation{}, err
		}
		d = Demand{Key: "unmanaged:" + license.NewID(), Units: req.Amount}
	} else {
		if err := CheckUsable(p, req.Consumer, req.Software); err != nil {
			return Allocation{}, err
		}
		if d, err = DemandOf(p.Metric, req.Consumer); err != nil {
			return Allocation{}, err
		}
	}
	al := Allocation{
		ID: AllocationID(p.ID, d.Key), Pool: p.ID, Key: d.Key, Consumer: req.Consumer, Units: d.Units,
		Software: req.Software, AllocatedAt: now, By: a.Email,
	}
	if p.Metric == license.NamedUser && req.Consumer.Asset != "" {
		al.Covers = cleanList(append([]string{req.Consumer.Asset}, req.Consumer.UserAssets...))
	}
	if err := allocateInto(ctx, tx, a, p, rec, al, now); err != nil {
		return Allocation{}, err
	}
	return al, nil
}

// allocateInto checks capacity, inserts al and updates p's counters and event log.
func allocateInto(ctx context.Context, tx storage.Tx, a license.Actor, p *Pool, rec storage.Record, al Allocation, now time.Time) error {
	// Insert first: the allocation's ID is derived from the consumer, so an
	// existing allocation makes the insert fail, which saves a read on the
	// common path. When the capacity check then fails, the row is removed
	// again, so the transaction is left as it was even if the caller goes on.
	if err := storage.InsertKept(ctx, tx, storage.Record{Company: a.Company, Kind: KindAllocation, ID: al.ID, Parent: p.ID}, al); err != nil {
		if license.ErrorCode(err) == license.Conflict && license.ErrorField(err) == "id" {
			return license.Errorf(license.Conflict, "consumer", "%s already holds a license from pool %q", al.Key, p.Name)
		}
		return err
	}
	undo := func(cause error) error {
		if err := tx.Delete(ctx, a.Company, KindAllocation, al.ID); err != nil {
			return err
		}
		return cause
	}
	pruneQuarantine(p, now)
	c, err := countsAt(ctx, tx, p, now)
	if err != nil {
		return undo(err)
	}
	if err := CheckCapacity(c, al.Units); err != nil {
		return undo(err)
	}
	if al.Automatic {
		p.AllocatedAuto += al.Units
	} else {
		p.AllocatedManual += al.Units
	}
	if err := savePool(ctx, tx, rec, p); err != nil {
		return err
	}
	return appendEvent(ctx, tx, a, now, EventAllocated, p.ID, al.Units, allocatedEvent{
		Allocation: al.ID, Automatic: al.Automatic, Key: al.Key, Rule: al.Rule, Software: al.Software,
	})
}

// pruneQuarantine drops quarantine entries that have ended (they no longer count).
func pruneQuarantine(p *Pool, now time.Time) {
	p.Quarantine = slices.DeleteFunc(p.Quarantine, func(e QuarantineEntry) bool { return !now.Before(e.Until) })
}

// Release is the result of releasing an allocation.
type Release struct {
	Allocation  Allocation `json:"allocation"`
	Quarantined int64      `json:"quarantined"`     // units put in quarantine (0 when the minimum allocation time has passed)
	Until       time.Time  `json:"until,omitempty"` // end of the quarantine
}

// Release releases allocation allocationID of pool poolID. Released before the
// pool's minimum allocation time has passed since the allocation, its licenses
// go into quarantine until it has. Appends pool.released (and pool.quarantined).
//
// Errors: Invalid, NotFound (pool or allocation), Forbidden.
func (s *Service) Release(ctx context.Context, a license.Actor, poolID, allocationID string) (Release, error) {
	if err := checkEditor(a); err != nil {
		return Release{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Release{}, err
	}
	if allocationID == "" || len(allocationID) > 64 {
		return Release{}, license.Errorf(license.Invalid, "allocation", "allocation id is required")
	}
	now := s.now()
	var out Release
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
		if err != nil {
			return err
		}
		al, _, err := storage.Load[Allocation](ctx, tx, a.Company, KindAllocation, allocationID, true)
		if err != nil || al.Pool != poolID {
			if err == nil || storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, "allocation", "pool has no allocation %q", allocationID)
			}
			return err
		}
		out, err = releaseFrom(ctx, tx, a, p, rec, al, now, "manual")
		return err
	})
	return out, err
}

// QuarantineUntil returns when licenses of an allocation made at allocated are
// out of quarantine under a minimum allocation time of days (calendar days).
func QuarantineUntil(allocated time.Time, days int) time.Time {
	return allocated.UTC().AddDate(0, 0, days)
}

func releaseFrom(ctx context.Context, tx storage.Tx, a license.Actor, p *Pool, rec storage.Record, al Allocation, now time.Time, reason string) (Release, error) {
	if err := tx.Delete(ctx, a.Company, KindAllocation, al.ID); err != nil {
		return Release{}, err
	}
	if al.Automatic {
		p.AllocatedAuto -= al.Units
	} else {
		p.AllocatedManual -= al.Units
	}
	pruneQuarantine(p, now)
	out := Release{Allocation: al}
	// No minimum allocation time, no quarantine: a release whose clock was
	// read before its allocation's (another process, the same instant) must
	// not hold the license until the allocation's own time.
	if until := QuarantineUntil(al.AllocatedAt, p.MinAllocationDays); p.MinAllocationDays > 0 && now.Before(until) {
		p.Quarantine = append(p.Quarantine, QuarantineEntry{Allocation: al.ID, Consumer: al.Key, Units: al.Units, Until: until})
		out.Quarantined, out.Until = al.Units, until
	}
	if err := savePool(ctx, tx, rec, p); err != nil {
		return Release{}, err
	}
	if err := appendEvent(ctx, tx, a, now, EventReleased, p.ID, al.Units, releasedEvent{Allocation: al.ID, Key: al.Key, Reason: reason}); err != nil {
		return Release{}, err
	}
	if out.Quarantined > 0 {
		if err := appendEvent(ctx, tx, a, now, EventQuarantined, p.ID, out.Quarantined, map[string]any{"allocation": al.ID, "until": out.Until}); err != nil {
			return Release{}, err
		}
	}
	return out, nil
}

// Allocations lists the allocations of pool poolID in ID order.
//
// Errors: Invalid, NotFound.
func (s *Service) Allocations(ctx context.Context, a license.Actor, poolID string) ([]Allocation, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	if err := checkPoolID(poolID); err != nil {
		return nil, err
	}
	var out []Allocation
	err := s.viewAs(ctx, &a, func(tx storage.Tx) error {
		if _, _, err := loadPool(ctx, tx, a.Company, poolID, false); err != nil {
			return err
		}
		var err error
		out, err = storage.ListOf[Allocation](ctx, tx, storage.ListQuery{Company: a.Company, Kind: KindAllocation, Parent: poolID})
		return err
	})
	return out, err
}

// LeaseRequest asks for a concurrent-user seat.
type LeaseRequest struct {
	Consumer license.Consumer // User is required; other attributes feed the restrictions
	FromForm bool
	// Wait is how long to wait for a seat when none is free (at most
	// MaxLeaseWait; 0 refuses at once). The acquire then queues for the
	// pool, holding no transaction, and takes the first seat a release
	// frees (see AcquireLease).
	Wait time.Duration
}

// AcquireLease takes a seat of concurrent-user pool poolID for the consumer's
// user, valid for the pool's LeaseTTL and renewed by Heartbeat. Leases whose
// heartbeat lapsed are culled first and free their seat (pool.lease_expired). A
// user who already holds a live lease gets it renewed. Appends
// pool.lease_acquired.
//
// With req.Wait, an acquire that finds no seat free waits for one instead of
// failing: it queues for the pool (in this process, oldest first) and tries
// again when a release frees a seat, and every quarter second for seats
// freed elsewhere (another process, a lapsed lease), until it gets a seat or
// req.Wait has passed; it then fails as it would have at once. No
// transaction is held while it waits. Cancelling ctx ends the wait
// (Unavailable).
//
// Errors: Invalid (consumer.user, metric, wait), NotFound, Forbidden, Conflict
// (pool not active), RestrictionFailed, InsufficientLicenses, Quarantined.
func (s *Service) AcquireLease(ctx context.Context, a license.Actor, poolID string, req LeaseRequest) (Lease, error) {
	if err := checkEditor(a); err != nil {
		return Lease{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Lease{}, err
	}
	if err := checkConsumer(req.Consumer); err != nil {
		return Lease{}, err
	}
	if req.Wait < 0 || req.Wait > MaxLeaseWait {
		return Lease{}, license.Errorf(license.Invalid, "wait", "the wait for a seat must be between 0 and %s", MaxLeaseWait)
	}
	if req.Wait > 0 {
		return s.acquireWaiting(ctx, a, poolID, req)
	}
	return s.acquireOnce(ctx, a, poolID, req)
}

// acquireOnce is one attempt of AcquireLease, its request checked.
func (s *Service) acquireOnce(ctx context.Context, a license.Actor, poolID string, req LeaseRequest) (Lease, error) {
	now := s.now()
	if err := s.refuseLease(ctx, a, poolID, req, now); err != nil {
		return Lease{}, err
	}
	var out Lease
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		var err error
		out, err = acquireLeaseIn(ctx, tx, a, poolID, req, now)
		return err
	})
	if isCapacity(err) {
		markFull(a.Company, poolID)
	}
	return out, err
}

// leaseChecks are the checks of an acquire that need only the pool: they
// return the consumer's demand.
func leaseChecks(p *Pool, req LeaseRequest) (Demand, error) {
	if p.Metric != license.ConcurrentUser {
		return Demand{}, license.Errorf(license.Invalid, "metric", "pool %q is licensed by %s, not concurrent users: allocate instead", p.Name, p.Metric)
	}
	if req.FromForm && !p.FormAllocations {
		return Demand{}, license.Errorf(license.Forbidden, "form_allocations", "pool %q does not allow allocations from the asset or user form", p.Name)
	}
	if err := CheckUsable(p, req.Consumer, ""); err != nil {
		return Demand{}, err
	}
	return DemandOf(p.Metric, req.Consumer)
}

// acquireLeaseIn is AcquireLease inside a caller's transaction at now.
func acquireLeaseIn(ctx context.Context, tx storage.Tx, a license.Actor, poolID string, req LeaseRequest, now time.Time) (Lease, error) {
	var out Lease
	err := func() error {
		p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
		if err != nil {
			return err
		}
		d, err := leaseChecks(p, req)
		if err != nil {
			return err
		}
		_, culled, err := cullLeases(ctx, tx, a, p, now)
		if err != nil {
			return err
		}
		id := AllocationID(p.ID, "lease:"+d.Key)
		if l, lrec, err := storage.Load[Lease](ctx, tx, a.Company, KindLease, id, true); err == nil {
			l.Heartbeat, l.ExpiresAt = now, now.Add(l.TTL)
			if err := storage.Save(ctx, tx, lrec, l); err != nil {
				return err
			}
			if lowered := p.lowerLeaseFloor(l.ExpiresAt); culled || lowered {
				// The pool changed (or its floor did): save it. A renewal
				// alone changes neither the counters nor the floor.
				if err := savePool(ctx, tx, rec, p); err != nil {
					return err
				}
			}
			out = l
			return appendEvent(ctx, tx, a, now, EventLeaseHeartbeat, p.ID, 0, leaseEvent{l.ID, l.User})
		} else if !storage.IsNotFound(err) {
			return err
		}
		pruneQuarantine(p, now)
		// Every lease left after the cull above is live, so the pool's lease
		// counter is the live count: no second listing of the leases.
		c := ComputeCounts(TotalAt(p.Transactions, now), QuarantinedAt(p.Quarantine, now), p.AllocatedAuto, p.AllocatedManual, p.Leases)
		if err := CheckCapacity(c, 1); err != nil {
			return err
		}
		l := Lease{ID: id, Pool: p.ID, User: req.Consumer.User, Acquired: now, Heartbeat: now, TTL: p.LeaseTTL, ExpiresAt: now.Add(p.LeaseTTL), By: a.Email}
		if err := storage.InsertKept(ctx, tx, storage.Record{Company: a.Company, Kind: KindLease, ID: l.ID, Parent: p.ID}, l); err != nil {
			return err
		}
		p.Leases++
		if p.Leases == 1 {
			p.leaseFloor = l.ExpiresAt // the only lease: the floor is exact
		}
		p.lowerLeaseFloor(l.ExpiresAt)
		if err := savePool(ctx, tx, rec, p); err != nil {
			return err
		}
		out = l
		return appendEvent(ctx, tx, a, now, EventLeaseAcquired, p.ID, 1, leaseEvent{l.ID, l.User})
	}()
	return out, err
}

// cullLeases deletes p's lapsed leases, updating p.Leases and p's lease
// floor (p is saved by the caller when it reports a change). It reads the
// leases only when the floor says one may have lapsed (see poolDoc): an
// acquire on a pool whose leases are all live lists nothing.
// It returns how many it deleted and whether it read them (p changed).
func cullLeases(ctx context.Context, tx storage.Tx, a license.Actor, p *Pool, now time.Time) (n int64, listed bool, err error) {
	if p.leasesLive(now) {
		return 0, false, nil
	}
	ls, err := storage.ListOf[Lease](ctx, tx, storage.ListQuery{Company: a.Company, Kind: KindLease, Parent: p.ID})
	if err != nil {
		return 0, false, err
	}
	var floor time.Time
	for _, l := range ls {
		if l.Live(now) {
			if floor.IsZero() || l.ExpiresAt.Before(floor) {
				floor = l.ExpiresAt
			}
			continue
		}
		if err := tx.Delete(ctx, a.Company, KindLease, l.ID); err != nil {
			return 0, false, err
		}
		n++
	}
	p.leaseFloor = floor
	if n > 0 {
		p.Leases -= n
		if err := appendEvent(ctx, tx, a, now, EventLeaseExpired, p.ID, n, nil); err != nil {
			return 0, false, err
		}
	}
	return n, true, nil
}

// Heartbeat renews lease leaseID of pool poolID for another TTL. Appends
// pool.lease_heartbeat.
//
// Errors: Invalid, NotFound (pool or lease), Forbidden, Expired (the heartbeat
// lapsed: the seat is free; acquire again).
func (s *Service) Heartbeat(ctx context.Context, a license.Actor, poolID, leaseID string) (Lease, error) {
	if err := checkEditor(a); err != nil {
		return Lease{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Lease{}, err
	}
	now := s.now()
	var out Lease
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		l, lrec, err := loadLease(ctx, tx, a, poolID, leaseID)
		if err != nil {
			return err
		}
		if !l.Live(now) {
			return license.Errorf(license.Expired, "lease", "lease %q lapsed at %s: acquire a new one", l.ID, l.ExpiresAt.Format(time.RFC3339))
		}
		old := l.ExpiresAt
		l.Heartbeat, l.ExpiresAt = now, now.Add(l.TTL)
		if l.ExpiresAt.Before(old) {
			// The clock went back: the pool's lease floor may be above
			// the new expiry (see poolDoc).
			p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
			if err != nil {
				return err
			}
			if p.lowerLeaseFloor(l.ExpiresAt) {
				if err := savePool(ctx, tx, rec, p); err != nil {
					return err
				}
			}
		}
		if err := storage.Save(ctx, tx, lrec, l); err != nil {
			return err
		}
		out = l
		return appendEvent(ctx, tx, a, now, EventLeaseHeartbeat, poolID, 0, leaseEvent{l.ID, l.User})
	})
	return out, err
}

func loadLease(ctx context.Context, tx storage.Tx, a license.Actor, poolID, leaseID string) (Lease, storage.Record, error) {
	if leaseID == "" || len(leaseID) > 64 {
		return Lease{}, storage.Record{}, license.Errorf(license.Invalid, "lease", "lease id is required")
	}
	l, rec, err := storage.Load[Lease](ctx, tx, a.Company, KindLease, leaseID, true)
	if err != nil || l.Pool != poolID {
		if err == nil || storage.IsNotFound(err) {
			return Lease{}, rec, license.Errorf(license.NotFound, "lease", "pool has no lease %q", leaseID)
		}
		return Lease{}, rec, err
	}
	return l, rec, nil
}

// ReleaseLease gives back a concurrent-user seat. Leases are not quarantined.
// Appends pool.lease_released.
//
// Errors: Invalid, NotFound (pool or lease), Forbidden.
func (s *Service) ReleaseLease(ctx context.Context, a license.Actor, poolID, leaseID string) error {
	if err := checkEditor(a); err != nil {
		return err
	}
	if err := checkPoolID(poolID); err != nil {
		return err
	}
	now := s.now()
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
		if err != nil {
			return err
		}
		l, _, err := loadLease(ctx, tx, a, poolID, leaseID)
		if err != nil {
			return err
		}
		if err := tx.Delete(ctx, a.Company, KindLease, l.ID); err != nil {
			return err
		}
		p.Leases--
		if p.Leases == 0 {
			p.leaseFloor = time.Time{}
		}
		if err := savePool(ctx, tx, rec, p); err != nil {
			return err
		}
		return appendEvent(ctx, tx, a, now, EventLeaseReleased, p.ID, 1, leaseEvent{l.ID, l.User})
	})
	if err == nil {
		clearFull(a.Company, poolID)
		seatFreed(a.Company, poolID)
	}
	return err
}

// CullLeases deletes the pool's leases whose heartbeat lapsed and returns how
// many seats it freed. Appends pool.lease_expired when any.
//
// Errors: Invalid, NotFound, Forbidden.
func (s *Service) CullLeases(ctx context.Context, a license.Actor, poolID string) (int64, error) {
	if err := checkEditor(a); err != nil {
		return 0, err
	}
	if err := checkPoolID(poolID); err != nil {
		return 0, err
	}
	now := s.now()
	var n int64
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
		if err != nil {
			return err
		}
		var listed bool
		if n, listed, err = cullLeases(ctx, tx, a, p, now); err != nil || !listed {
			return err
		}
		return savePool(ctx, tx, rec, p)
	})
	if err == nil {
		for range n {
			seatFreed(a.Company, poolID)
		}
	}
	return n, err
}

// Leases lists the pool's lease records (lapsed ones included until culled).
//
// Errors: Invalid, NotFound.
func (s *Service) Leases(ctx context.Context, a license.Actor, poolID string) ([]Lease, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	if err := checkPoolID(poolID); err != nil {
		return nil, err
	}
	var out []Lease
	err := s.viewAs(ctx, &a, func(tx storage.Tx) error {
		if _, _, err := loadPool(ctx, tx, a.Company, poolID, false); err != nil {
			return err
		}
		var err error
		out, err = storage.ListOf[Lease](ctx, tx, storage.ListQuery{Company: a.Company, Kind: KindLease, Parent: poolID})
		return err
	})
	return out, err
}

// AllocationPreview is what Allocate would do in the pool's current state.
type AllocationPreview struct {
	Allocation Allocation `json:"allocation"`
	Before     Counts     `json:"before"`
	After      Counts     `json:"after"`
}

// errPreview rolls back a preview's transaction.
var errPreview = errors.New("pool: preview rollback")

// PreviewAllocate runs Allocate's decision in a transaction that is always
// rolled back, so the preview is exactly what committing would do in the same
// state (same allocation, same errors, same counts after). It ignores the
// request's idempotency key and writes nothing, not even events.
//
// Errors: as Allocate.
func (s *Service) PreviewAllocate(ctx context.Context, a license.Actor, poolID string, req AllocateRequest) (AllocationPreview, error) {
	if err := checkEditor(a); err != nil {
		return AllocationPreview{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return AllocationPreview{}, err
	}
	now := s.now()
	var out AllocationPreview
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		_, before, err := poolIn(ctx, tx, a.Company, poolID, now)
		if err != nil {
			return err
		}
		al, err := allocateIn(ctx, tx, a, poolID, req, now)
		if err != nil {
			return err
		}
		_, after, err := poolIn(ctx, tx, a.Company, poolID, now)
		if err != nil {
			return err
		}
		out = AllocationPreview{Allocation: al, Before: before, After: after}
		return errPreview
	})
	if errors.Is(err, errPreview) {
		return out, nil
	}
	return AllocationPreview{}, err
}

// poolIn loads pool poolID of company inside transaction tx (for update) and
// returns it with its counts at now.
//
// Errors: NotFound (field "pool").
func poolIn(ctx context.Context, tx storage.Tx, company, poolID string, now time.Time) (*Pool, Counts, error) {
	p, _, err := loadPool(ctx, tx, company, poolID, true)
	if err != nil {
		return nil, Counts{}, err
	}
	c, err := countsAt(ctx, tx, p, now)
	return p, c, err
}
