package storagetest

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
)

// Pools of the state machine, by index.
const (
	poolMInst   = iota // perpetual, installed instance, software inventory rule, minimum allocation time
	poolMNamed         // perpetual, named user
	poolMCPU           // rental, physical CPU
	poolMConc          // perpetual, concurrent user (leases)
	poolMServer        // perpetual, physical server
	poolMCount
)

var poolMSoftware = [poolMCount]string{"Office", "Visio", "Database", "CAD", "Hypervisor"}

type poolMTx struct {
	count      int64
	start, end time.Time // end zero: perpetual (purchase or reassign)
}

type poolMAlloc struct {
	id    string
	units int64
	at    time.Time
	auto  bool
}

type poolMQ struct {
	units int64
	until time.Time
}

// poolMPool is the model of one pool.
type poolMPool struct {
	id      string
	metric  license.Metric
	status  pool.Status
	minDays int
	ttl     time.Duration
	txs     []poolMTx
	allocs  map[string]*poolMAlloc // by consumer key
	quar    []poolMQ
	leases  map[string]time.Time // user -> expiry (lapsed kept until culled)
}

func (p *poolMPool) total(now time.Time) int64 {
	var n int64
	for _, t := range p.txs {
		if !now.Before(t.start) && (t.end.IsZero() || now.Before(t.end)) {
			n += t.count
		}
	}
	return max(n, 0)
}

func (p *poolMPool) counts(now time.Time) pool.Counts {
	var c pool.Counts
	c.Total = p.total(now)
	for _, a := range p.allocs {
		if a.auto {
			c.AllocatedAutomatically += a.units
		} else {
			c.AllocatedManually += a.units
		}
	}
	for _, exp := range p.leases {
		if now.Before(exp) {
			c.AllocatedManually++
		}
	}
	for _, q := range p.quar {
		if now.Before(q.until) {
			c.Quarantined += q.units
		}
	}
	c.Allocated = c.AllocatedAutomatically + c.AllocatedManually
	if held := c.Allocated + c.Quarantined; held > c.Total {
		c.Shortfall = held - c.Total
	} else {
		c.Available = c.Total - held
	}
	return c
}

// capacity predicts the error code of taking units more licenses ("" = fits).
func (p *poolMPool) capacity(now time.Time, units int64) license.Code {
	c := p.counts(now)
	switch {
	case c.Available >= units:
		return ""
	case c.Shortfall > 0:
		return license.InsufficientLicenses
	case c.Total-c.Allocated >= units:
		return license.Quarantined
	}
	return license.InsufficientLicenses
}

func (p *poolMPool) release(now time.Time, key string) {
	a := p.allocs[key]
	delete(p.allocs, key)
	if until := a.at.AddDate(0, 0, p.minDays); now.Before(until) {
		p.quar = append(p.quar, poolMQ{units: a.units, until: until})
	}
}

// poolMachineRuns is how many full state-machine sequences each machine test runs.
const poolMachineRuns = 30

type poolMachine struct {
	t      *testing.T
	ctx    context.Context
	store  storage.Store
	faulty *Faulty
	clock  *licensetest.Clock
	svc    *pool.Service
	actor  license.Actor
	pools  [poolMCount]*poolMPool
	steps  int
	faults int
}

func poolTestStateMachine(t *testing.T, newStore Factory, f Features) {
	poolRunMachine(t, newStore, f, false)
}

func poolTestStateMachineFaulty(t *testing.T, newStore Factory, f Features) {
	poolRunMachine(t, newStore, f, true)
}

func poolRunMachine(t *testing.T, newStore Factory, f Features, withFaults bool) {
	// To keep the suite at a few seconds per store under -race, only the first
	// poolMachineRuns sequences (a quarter of that with Features.Short) run the
	// machine; later checks return at once. After any failure every run is full,
	// so rapid's shrinking and replay see the real machine.
	limit := poolMachineRuns
	if f.Short {
		limit /= 4
	}
	var faults, full int
	failed := false
	rapid.Check(t, func(rt *rapid.T) {
		if full >= limit && !failed {
			return
		}
		defer func() {
			if r := recover(); r != nil {
				failed = true
				panic(r)
			}
		}()
		m := poolNewMachine(t, rt, newStore, withFaults)
		rt.Repeat(map[string]func(*rapid.T){
			"purchase":     m.purchase,
			"rent":         m.rent,
			"advance":      m.advance,
			"allocate":     m.allocate,
			"install":      m.install,
			"uninstall":    m.uninstall,
			"release":      m.release,
			"lease":        m.lease,
			"heartbeat":    m.heartbeat,
			"releaseLease": m.releaseLease,
			"close":        m.close,
			"retire":       m.retire,
			"reassign":     m.reassign,
			"":             m.check,
		})
		faults += m.faults
		full++
	})
	if withFaults && !f.Short {
		require.Positive(t, faults, "the faulty machine never injected a fault")
	}
}

func poolNewMachine(t *testing.T, rt *rapid.T, newStore Factory, withFaults bool) *poolMachine {
	st := newStore(t)
	m := &poolMachine{t: t, ctx: context.Background(), store: st, clock: licensetest.NewClock(poolT0),
		actor: license.Actor{Company: "acme", Email: "machine@acme.example", Role: license.LicenseAdmin}}
	if withFaults {
		m.faulty = NewFaulty(st)
		m.store = m.faulty
	}
	m.svc = &pool.Service{Store: m.store, Clock: m.clock}
	metrics := [poolMCount]license.Metric{license.InstalledInstance, license.NamedUser, license.PhysicalCPU, license.ConcurrentUser, license.PhysicalServer}
	for i := range poolMCount {
		spec := pool.Spec{Name: fmt.Sprintf("pool %d", i), Model: license.Perpetual, Metric: metrics[i], Software: []string{poolMSoftware[i]}, LeaseTTL: time.Hour}
		if i == poolMCPU {
			spec.Model = license.Rental
		}
		if i == poolMInst {
			spec.MinAllocationDays = rapid.IntRange(0, 10).Draw(rt, "minDays")
			spec.Automatic = pool.Automatic{Enabled: true, Rule: pool.RuleSoftwareInventory}
		}
		p, err := m.svc.Create(m.ctx, m.actor, pool.CreateRequest{Spec: spec}) // no fault armed yet
		if err != nil {
			rt.Fatalf("create pool %d: %v", i, err)
		}
		m.pools[i] = &poolMPool{id: p.ID, metric: spec.Metric, status: pool.StatusActive, minDays: spec.MinAllocationDays,
			ttl: spec.LeaseTTL, allocs: map[string]*poolMAlloc{}, leases: map[string]time.Time{}}
	}
	return m
}

// do runs op, maybe with a fault armed, and compares its error code with want
// (the model's prediction). It returns true when the operation took effect, in
// which case the caller applies it to the model. A faulted operation must leave
// the stored state exactly as it was.
func (m *poolMachine) do(rt *rapid.T, name string, want license.Code, op func() error) bool {
	m.steps++
	var before poolSnapshot
	armed := false
	if m.faulty != nil && rapid.IntRange(0, 2).Draw(rt, "fault") == 0 {
		before = poolSnap(rt, m.store, m.actor.Company)
		if rapid.Bool().Draw(rt, "faultCommit") {
			m.faulty.FailCommit(1)
		} else {
			m.faulty.FailWrite(rapid.IntRange(1, 4).Draw(rt, "faultWrite"))
		}
		armed = true
	}
	var injected int
	if armed {
		injected = m.faulty.Injected()
	}
	err := op()
	if armed {
		fired := m.faulty.Injected() > injected
		m.faulty.Disarm()
		if fired {
			m.faults++
			if license.ErrorCode(err) != license.Unavailable {
				rt.Fatalf("step %d %s: an injected fault was reported as %v", m.steps, name, err)
			}
			after := poolSnap(rt, m.store, m.actor.Company)
			if !maps.Equal(before.Records, after.Records) || before.Events != after.Events {
				rt.Fatalf("step %d %s: a failed operation changed stored state (events %d -> %d)", m.steps, name, before.Events, after.Events)
			}
			return false
		}
	}
	got := license.ErrorCode(err)
	if got != want {
		rt.Fatalf("step %d %s at %s: got error %q (%v), the model expected %q", m.steps, name, m.clock.Now().Format(time.RFC3339), got, err, want)
	}
	return err == nil
}

func (m *poolMachine) statusCode(p *poolMPool) license.Code {
	if p.status != pool.StatusActive {
		return license.Conflict
	}
	return ""
}

func (m *poolMachine) purchase(rt *rapid.T) {
	i := rapid.SampledFrom([]int{poolMInst, poolMNamed, poolMConc, poolMServer}).Draw(rt, "pool")
	p := m.pools[i]
	n := rapid.Int64Range(1, 3).Draw(rt, "count")
	now := m.clock.Now()
	if m.do(rt, "purchase", m.statusCode(p), func() error {
		_, err := m.svc.AddTransaction(m.ctx, m.actor, p.id, pool.TransactionInput{Kind: pool.TxPurchase, Count: n})
		return err
	}) {
		p.txs = append(p.txs, poolMTx{count: n, start: now})
	}
}

func (m *poolMachine) rent(rt *rapid.T) {
	p := m.pools[poolMCPU]
	n := rapid.Int64Range(1, 8).Draw(rt, "count")
	months := rapid.IntRange(1, 3).Draw(rt, "months")
	now := m.clock.Now()
	per := license.Period{Start: now, End: license.AddMonths(now, months)}
	if m.do(rt, "rent", m.statusCode(p), func() error {
		_, err := m.svc.AddTransaction(m.ctx, m.actor, p.id, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: n, Period: per})
		return err
	}) {
		p.txs = append(p.txs, poolMTx{count: n, start: per.Start, end: per.End})
	}
}

func (m *poolMachine) advance(rt *rapid.T) {
	if rapid.Bool().Draw(rt, "short") {
		m.clock.Advance(time.Duration(rapid.IntRange(1, 90).Draw(rt, "minutes")) * time.Minute)
	} else {
		m.clock.Advance(time.Duration(rapid.IntRange(1, 24*20).Draw(rt, "hours")) * time.Hour)
	}
}

func (m *poolMachine) allocate(rt *rapid.T) {
	i := rapid.SampledFrom([]int{poolMInst, poolMNamed, poolMCPU, poolMServer}).Draw(rt, "pool")
	p := m.pools[i]
	k := rapid.IntRange(0, 5).Draw(rt, "consumer")
	var c license.Consumer
	var key string
	units := int64(1)
	switch i {
	case poolMInst:
		c, key = license.Consumer{Asset: fmt.Sprintf("a%d", k)}, fmt.Sprintf("asset:a%d", k)
	case poolMNamed:
		c, key = license.Consumer{User: fmt.Sprintf("u%d", k)}, fmt.Sprintf("user:u%d", k)
	case poolMCPU:
		units = int64(rapid.IntRange(1, 4).Draw(rt, "cpus"))
		c, key = license.Consumer{Asset: fmt.Sprintf("s%d", k), CPUs: int(units)}, fmt.Sprintf("server:s%d", k)
	case poolMServer:
		// Six virtual machines on three hosts: one license per host.
		c, key = license.Consumer{Asset: fmt.Sprintf("vm%d", k), Server: fmt.Sprintf("h%d", k%3)}, fmt.Sprintf("server:h%d", k%3)
	}
	now := m.clock.Now()
	want := m.statusCode(p)
	if want == "" && p.allocs[key] != nil {
		want = license.Conflict
	}
	if want == "" {
		want = p.capacity(now, units)
	}
	// Preview equals commit: a preview taken first must match what Allocate does.
	var preview *pool.AllocationPreview
	if rapid.Bool().Draw(rt, "preview") {
		pv, err := m.svc.PreviewAllocate(m.ctx, m.actor, p.id, pool.AllocateRequest{Consumer: c})
		if got := license.ErrorCode(err); got != want {
			rt.Fatalf("preview of allocate %s: error %q (%v), the model expected %q", key, got, err, want)
		}
		if err == nil {
			preview = &pv
		}
	}
	var al pool.Allocation
	if m.do(rt, "allocate "+key, want, func() error {
		var err error
		al, err = m.svc.Allocate(m.ctx, m.actor, p.id, pool.AllocateRequest{Consumer: c})
		return err
	}) {
		if al.Units != units || al.ID != pool.AllocationID(p.id, key) {
			rt.Fatalf("allocation %+v: want %d units under id %s", al, units, pool.AllocationID(p.id, key))
		}
		if preview != nil {
			pane, err := m.svc.Status(m.ctx, m.actor, p.id)
			if err != nil {
				rt.Fatalf("status: %v", err)
			}
			if !reflect.DeepEqual(preview.Allocation, al) || preview.After != pane.Counts {
				rt.Fatalf("preview %+v differs from the committed allocation %+v / counts %+v", *preview, al, pane.Counts)
			}
		}
		p.allocs[key] = &poolMAlloc{id: al.ID, units: units, at: now}
	}
}

func (m *poolMachine) install(rt *rapid.T) {
	p := m.pools[poolMInst]
	k := rapid.IntRange(0, 5).Draw(rt, "asset")
	key := fmt.Sprintf("asset:a%d", k)
	now := m.clock.Now()
	var want license.Code
	if p.allocs[key] == nil {
		if want = m.statusCode(p); want == "" {
			want = p.capacity(now, 1)
		}
	}
	var out pool.Outcome
	if m.do(rt, "install "+key, want, func() error {
		var err error
		out, err = m.svc.Reconcile(m.ctx, m.actor, pool.Fact{Kind: pool.FactInstalled, Software: poolMSoftware[poolMInst], Consumer: license.Consumer{Asset: fmt.Sprintf("a%d", k)}})
		return err
	}) {
		if p.allocs[key] != nil {
			if out.Allocated != nil || out.Existing == nil {
				rt.Fatalf("install on an allocated asset: %+v", out)
			}
			return
		}
		if out.Allocated == nil {
			rt.Fatalf("install: no allocation made: %+v", out)
		}
		p.allocs[key] = &poolMAlloc{id: out.Allocated.ID, units: 1, at: now, auto: true}
	}
}

func (m *poolMachine) uninstall(rt *rapid.T) {
	p := m.pools[poolMInst]
	k := rapid.IntRange(0, 5).Draw(rt, "asset")
	key := fmt.Sprintf("asset:a%d", k)
	now := m.clock.Now()
	var out pool.Outcome
	if m.do(rt, "uninstall "+key, "", func() error {
		var err error
		out, err = m.svc.Reconcile(m.ctx, m.actor, pool.Fact{Kind: pool.FactUninstalled, Software: poolMSoftware[poolMInst], Consumer: license.Consumer{Asset: fmt.Sprintf("a%d", k)}})
		return err
	}) {
		a := p.allocs[key]
		wantReleased := a != nil && a.auto
		if wantReleased != (len(out.Released) == 1) {
			rt.Fatalf("uninstall %s: released %d, model expected release=%v", key, len(out.Released), wantReleased)
		}
		if wantReleased {
			p.release(now, key)
		}
	}
}

func (m *poolMachine) pickAlloc(rt *rapid.T) (*poolMPool, string) {
	var keys []string
	owners := map[string]*poolMPool{}
	for _, p := range m.pools {
		for k := range p.allocs {
			keys = append(keys, p.id+"|"+k)
			owners[p.id+"|"+k] = p
		}
	}
	if len(keys) == 0 {
		return nil, ""
	}
	slices.Sort(keys)
	pick := rapid.SampledFrom(keys).Draw(rt, "allocation")
	p := owners[pick]
	return p, pick[len(p.id)+1:]
}

func (m *poolMachine) release(rt *rapid.T) {
	p, key := m.pickAlloc(rt)
	if p == nil {
		rt.Skip("no allocations")
	}
	a := p.allocs[key]
	now := m.clock.Now()
	var rel pool.Release
	if m.do(rt, "release "+key, "", func() error {
		var err error
		rel, err = m.svc.Release(m.ctx, m.actor, p.id, a.id)
		return err
	}) {
		until := a.at.AddDate(0, 0, p.minDays)
		if now.Before(until) != (rel.Quarantined == a.units) || (rel.Quarantined != 0 && rel.Quarantined != a.units) {
			rt.Fatalf("release %s at %s (allocated %s, min %d days): quarantined %d", key, now, a.at, p.minDays, rel.Quarantined)
		}
		p.release(now, key)
	}
}

func (m *poolMachine) leaseID(user string) string {
	return pool.AllocationID(m.pools[poolMConc].id, "lease:user:"+user)
}

func (m *poolMachine) lease(rt *rapid.T) {
	p := m.pools[poolMConc]
	user := fmt.Sprintf("u%d", rapid.IntRange(0, 4).Draw(rt, "user"))
	now := m.clock.Now()
	want := m.statusCode(p)
	// What the model looks like after culling lapsed leases.
	culled := maps.Clone(p.leases)
	maps.DeleteFunc(culled, func(_ string, exp time.Time) bool { return !now.Before(exp) })
	if want == "" {
		if _, held := culled[user]; !held {
			want = p.capacity(now, 1)
		}
	}
	if m.do(rt, "lease "+user, want, func() error {
		_, err := m.svc.AcquireLease(m.ctx, m.actor, p.id, pool.LeaseRequest{Consumer: license.Consumer{User: user}})
		return err
	}) {
		culled[user] = now.Add(p.ttl)
		p.leases = culled
	}
}

func (m *poolMachine) heartbeat(rt *rapid.T) {
	p := m.pools[poolMConc]
	user := fmt.Sprintf("u%d", rapid.IntRange(0, 4).Draw(rt, "user"))
	now := m.clock.Now()
	exp, ok := p.leases[user]
	var want license.Code
	switch {
	case !ok:
		want = license.NotFound
	case !now.Before(exp):
		want = license.Expired
	}
	if m.do(rt, "heartbeat "+user, want, func() error {
		_, err := m.svc.Heartbeat(m.ctx, m.actor, p.id, m.leaseID(user))
		return err
	}) {
		p.leases[user] = now.Add(p.ttl)
	}
}

func (m *poolMachine) releaseLease(rt *rapid.T) {
	p := m.pools[poolMConc]
	user := fmt.Sprintf("u%d", rapid.IntRange(0, 4).Draw(rt, "user"))
	var want license.Code
	if _, ok := p.leases[user]; !ok {
		want = license.NotFound
	}
	if m.do(rt, "releaseLease "+user, want, func() error {
		return m.svc.ReleaseLease(m.ctx, m.actor, p.id, m.leaseID(user))
	}) {
		delete(p.leases, user)
	}
}

func (m *poolMachine) close(rt *rapid.T) {
	p := m.pools[rapid.IntRange(0, poolMCount-1).Draw(rt, "pool")]
	var want license.Code
	if p.status != pool.StatusActive {
		want = license.Conflict
	}
	if m.do(rt, "close", want, func() error {
		_, err := m.svc.Close(m.ctx, m.actor, p.id)
		return err
	}) {
		p.status = pool.StatusClosed
	}
}

func (m *poolMachine) retire(rt *rapid.T) {
	p := m.pools[rapid.IntRange(0, poolMCount-1).Draw(rt, "pool")]
	var want license.Code
	if p.status == pool.StatusRetired || len(p.allocs) > 0 || len(p.leases) > 0 {
		want = license.Conflict
	}
	if m.do(rt, "retire", want, func() error {
		_, err := m.svc.Retire(m.ctx, m.actor, p.id)
		return err
	}) {
		p.status = pool.StatusRetired
	}
}

func (m *poolMachine) reassign(rt *rapid.T) {
	from, to := m.pools[poolMInst], m.pools[poolMNamed]
	if rapid.Bool().Draw(rt, "reverse") {
		from, to = to, from
	}
	n := rapid.Int64Range(1, 3).Draw(rt, "count")
	now := m.clock.Now()
	want := m.statusCode(from)
	if want == "" {
		want = m.statusCode(to)
	}
	if want == "" {
		want = from.capacity(now, n)
	}
	sum := from.total(now) + to.total(now)
	if m.do(rt, "reassign", want, func() error {
		_, err := m.svc.Reassign(m.ctx, m.actor, from.id, pool.ReassignRequest{To: to.id, Count: n})
		return err
	}) {
		from.txs = append(from.txs, poolMTx{count: -n, start: now})
		to.txs = append(to.txs, poolMTx{count: n, start: now})
		if from.total(now)+to.total(now) != sum {
			rt.Fatalf("reassign changed the sum of totals")
		}
	}
}

// check compares every pool with the model and checks the invariants.
func (m *poolMachine) check(rt *rapid.T) {
	now := m.clock.Now()
	for i, p := range m.pools {
		pane, err := m.svc.Status(m.ctx, m.actor, p.id)
		if err != nil {
			rt.Fatalf("status of pool %d: %v", i, err)
		}
		c := pane.Counts
		if c.Allocated+c.Quarantined+c.Available != c.Total+c.Shortfall {
			rt.Fatalf("pool %d: allocated %d + quarantined %d + available %d != total %d (+ shortfall %d)", i, c.Allocated, c.Quarantined, c.Available, c.Total, c.Shortfall)
		}
		if c.Shortfall > 0 && (i != poolMCPU || c.Available != 0) {
			rt.Fatalf("pool %d is over-allocated without a rental period ending: %+v", i, c)
		}
		if want := p.counts(now); c != want {
			rt.Fatalf("pool %d at %s: counts %+v, model %+v", i, now.Format(time.RFC3339), c, want)
		}
		audit, err := m.svc.Audit(m.ctx, m.actor, p.id)
		if err != nil {
			rt.Fatalf("audit of pool %d: %v", i, err)
		}
		if !audit.Consistent() || audit.Counts != c {
			rt.Fatalf("pool %d: stored counters %+v, recomputed from records %+v; counts %+v vs %+v", i, audit.Stored, audit.Recomputed, c, audit.Counts)
		}
	}
}
