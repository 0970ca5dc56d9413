package storagetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
)

// volModelCustomer is the model of one customer account.
type volModelCustomer struct {
	name  string
	seats map[string]int64 // license -> seats
	usage map[string]int64
}

// volMachine drives volume.Service against a model: onboard, edit, offboard and
// usage reports, optionally with a write fault armed before each step.
type volMachine struct {
	ctx       context.Context
	svc       *volume.Service
	store     storage.Store
	faulty    *Faulty // nil when faults are not injected
	injected  int     // faults fired before the current step
	licenses  []string
	seats     map[string]int64
	customers map[string]*volModelCustomer
}

var volNames = []string{"Acme", "ACME", "Globex", "Initech", "Umbrella", "Hooli", "hooli "}

func volTestStateMachine(t *testing.T, newStore Factory, f Features) {
	for _, withFaults := range []bool{false, true} {
		name := "Plain"
		if withFaults {
			name = "Faulty"
		}
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				st := newStore(t)
				m := &volMachine{ctx: context.Background(), store: st, seats: map[string]int64{}, customers: map[string]*volModelCustomer{}}
				if withFaults {
					m.faulty = NewFaulty(st)
					m.store = m.faulty
				}
				m.svc = volume.New(m.store, licensetest.NewClock(volT0))
				for i, n := range []int64{rapid.Int64Range(1, 120).Draw(rt, "seats0"), rapid.Int64Range(1, 60).Draw(rt, "seats1")} {
					l, err := m.svc.CreateLicense(m.ctx, volPartner, volume.NewLicense{Product: []string{"MDR Complete", "MDR Cloud"}[i], Seats: n,
						RenewalDate: volT0, PricePerUser: license.Money{Currency: "EUR"}})
					if err != nil {
						rt.Fatalf("create license: %v", err)
					}
					m.licenses = append(m.licenses, l.ID)
					m.seats[l.ID] = n
				}
				vsRunSteps(rt, f, map[string]func(*rapid.T){
					"onboard":  m.onboard,
					"edit":     m.edit,
					"offboard": m.offboard,
					"usage":    m.usage,
					"resize":   m.resize,
				}, m.check)
			})
		})
	}
}

func (m *volMachine) allocated(l string) (n, customers int64) {
	for _, c := range m.customers {
		if s, ok := c.seats[l]; ok {
			n += s
			customers++
		}
	}
	return n, customers
}

func (m *volMachine) customerIDs() []string {
	ids := make([]string, 0, len(m.customers))
	for id := range m.customers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (m *volMachine) nameTaken(name, except string) bool {
	k := strings.ToLower(strings.Join(strings.Fields(name), " "))
	for id, c := range m.customers {
		if id != except && strings.ToLower(c.name) == k {
			return true
		}
	}
	return false
}

// drawSeats draws an allocation request over a random subset of the licenses.
func (m *volMachine) drawSeats(t *rapid.T, atLeastOne bool) []volume.Seats {
	var out []volume.Seats
	for i, l := range m.licenses {
		if rapid.Bool().Draw(t, "include") || (atLeastOne && i == len(m.licenses)-1 && len(out) == 0) {
			out = append(out, volume.Seats{License: l, Seats: rapid.Int64Range(0, 70).Draw(t, "seats")})
		}
	}
	return out
}

// expect returns the code the service must give for moving c (nil: a new
// customer) to want, checking licenses in ID order as the service does.
func (m *volMachine) expect(c *volModelCustomer, want []volume.Seats) license.Code {
	sorted := slices.Clone(want)
	slices.SortFunc(sorted, func(a, b volume.Seats) int { return strings.Compare(a.License, b.License) })
	for _, w := range sorted {
		var old, usage int64
		if c != nil {
			old, usage = c.seats[w.License], c.usage[w.License]
		}
		if w.Seats < old && w.Seats < usage {
			return license.BelowEnrolled
		}
		alloc, _ := m.allocated(w.License)
		if w.Seats-old > m.seats[w.License]-alloc {
			return license.InsufficientLicenses
		}
	}
	return ""
}

// volApply applies want to the model customer; keepZero (onboarding) keeps
// 0-seat allocations, an edit's 0 removes the allocation.
func volApply(c *volModelCustomer, want []volume.Seats, keepZero bool) {
	for _, w := range want {
		_, had := c.seats[w.License]
		switch {
		case w.Seats == 0 && keepZero:
			c.seats[w.License] = 0
		case w.Seats == 0 && had:
			delete(c.seats, w.License)
			delete(c.usage, w.License)
		case w.Seats == 0:
		default:
			c.seats[w.License] = w.Seats
		}
	}
}

// arm arms a write fault for this step with some probability.
func (m *volMachine) arm(t *rapid.T) {
	if m.faulty == nil {
		return
	}
	m.injected = m.faulty.Injected()
	if n := rapid.IntRange(0, 4).Draw(t, "failWrite"); n > 0 {
		m.faulty.FailWrite(n)
	}
}

// outcome checks err against the expected code; it reports whether the model
// must apply the change (success). A fired fault must leave the model as is.
func (m *volMachine) outcome(t *rapid.T, op string, err error, want license.Code) bool {
	if m.faulty != nil {
		m.faulty.Disarm()
		if m.faulty.Injected() > m.injected {
			// The fault fired (possibly before the step's own refusal would have
			// been found): the step must fail with it and change nothing.
			if !errors.Is(err, FaultError) {
				t.Fatalf("%s: a write fault fired but the step returned %v", op, err)
			}
			return false
		}
	}
	if got := license.ErrorCode(err); got != want {
		t.Fatalf("%s: got error code %q (%v), the model expects %q", op, got, err, want)
	}
	return err == nil
}

func (m *volMachine) onboard(t *rapid.T) {
	name := rapid.SampledFrom(volNames).Draw(t, "name")
	want := m.drawSeats(t, true)
	code := license.Code("")
	if m.nameTaken(name, "") {
		code = license.Conflict
	} else {
		code = m.expect(nil, want)
	}
	m.arm(t)
	c, err := m.svc.Onboard(m.ctx, volPartner, volume.Onboarding{LegalName: name, Allocations: want})
	if m.outcome(t, "onboard", err, code) {
		mc := &volModelCustomer{name: strings.Join(strings.Fields(name), " "), seats: map[string]int64{}, usage: map[string]int64{}}
		volApply(mc, want, true)
		m.customers[c.ID] = mc
	}
}

func (m *volMachine) edit(t *rapid.T) {
	if len(m.customers) == 0 {
		return
	}
	id := rapid.SampledFrom(m.customerIDs()).Draw(t, "customer")
	c := m.customers[id]
	name := ""
	if rapid.Bool().Draw(t, "rename") {
		name = rapid.SampledFrom(volNames).Draw(t, "name")
	}
	want := m.drawSeats(t, name == "")
	code := license.Code("")
	if name != "" && m.nameTaken(name, id) {
		code = license.Conflict
	} else {
		code = m.expect(c, want)
	}
	m.arm(t)
	_, err := m.svc.Edit(m.ctx, volPartner, id, volume.Edit{LegalName: name, Allocations: want})
	if m.outcome(t, "edit", err, code) {
		if name != "" {
			c.name = strings.Join(strings.Fields(name), " ")
		}
		volApply(c, want, false)
	}
}

func (m *volMachine) offboard(t *rapid.T) {
	if len(m.customers) == 0 {
		return
	}
	id := rapid.SampledFrom(m.customerIDs()).Draw(t, "customer")
	m.arm(t)
	if m.outcome(t, "offboard", m.svc.Offboard(m.ctx, volPartner, id), "") {
		delete(m.customers, id)
	}
}

func (m *volMachine) usage(t *rapid.T) {
	if len(m.customers) == 0 {
		return
	}
	id := rapid.SampledFrom(m.customerIDs()).Draw(t, "customer")
	c := m.customers[id]
	l := rapid.SampledFrom(m.licenses).Draw(t, "license")
	n := rapid.Int64Range(0, 80).Draw(t, "users")
	code := license.Code("")
	if _, ok := c.seats[l]; !ok {
		code = license.NotFound
	}
	m.arm(t)
	if m.outcome(t, "usage", m.svc.ReportUsage(m.ctx, volPartner, id, l, n), code) {
		c.usage[l] = n
	}
}

func (m *volMachine) resize(t *rapid.T) {
	l := rapid.SampledFrom(m.licenses).Draw(t, "license")
	n := rapid.Int64Range(1, 150).Draw(t, "seats")
	code := license.Code("")
	if alloc, _ := m.allocated(l); n < alloc {
		code = license.InsufficientLicenses
	}
	m.arm(t)
	if _, err := m.svc.SetSeats(m.ctx, volPartner, l, n); m.outcome(t, "resize", err, code) {
		m.seats[l] = n
	}
}

// check compares the stored state with the model and checks the invariants:
// allocated + unallocated == seats, allocated == the sum of the customers'
// seats (recomputed), never more than the seats.
func (m *volMachine) check(t *rapid.T) {
	ls, err := m.svc.Licenses(m.ctx, volPartner)
	if err != nil {
		t.Fatalf("licenses: %v", err)
	}
	cs, err := m.svc.Customers(m.ctx, volPartner)
	if err != nil {
		t.Fatalf("customers: %v", err)
	}
	recount := map[string]int64{}
	for _, c := range cs {
		for _, a := range c.Allocations {
			recount[a.License] += a.Seats
		}
	}
	for _, l := range ls {
		alloc, n := m.allocated(l.ID)
		if l.Allocated+l.Unallocated() != l.Seats || l.Allocated < 0 || l.Allocated > l.Seats {
			t.Fatalf("license %s: allocated %d + unallocated %d != seats %d, or out of range", l.Product, l.Allocated, l.Unallocated(), l.Seats)
		}
		if l.Allocated != alloc || l.Customers != n || l.Seats != m.seats[l.ID] {
			t.Fatalf("license %s: stored allocated %d customers %d seats %d, model %d %d %d", l.Product, l.Allocated, l.Customers, l.Seats, alloc, n, m.seats[l.ID])
		}
		if recount[l.ID] != l.Allocated {
			t.Fatalf("license %s: stored allocated %d, recomputed from customers %d", l.Product, l.Allocated, recount[l.ID])
		}
		p, err := m.svc.Page(m.ctx, volPartner, l.ID, volume.Query{})
		if err != nil || int64(len(p.Customers)) != n {
			t.Fatalf("page of %s: %d customers (err %v), model %d", l.Product, len(p.Customers), err, n)
		}
	}
	if len(cs) != len(m.customers) {
		t.Fatalf("%d customers stored, model has %d", len(cs), len(m.customers))
	}
	for _, c := range cs {
		mc := m.customers[c.ID]
		if mc == nil || mc.name != c.LegalName || len(mc.seats) != len(c.Allocations) {
			t.Fatalf("customer %s (%q, %v) differs from the model %+v", c.ID, c.LegalName, c.Allocations, mc)
		}
		for _, a := range c.Allocations {
			if mc.seats[a.License] != a.Seats || mc.usage[a.License] != a.Usage {
				t.Fatalf("customer %q on %s: stored %d seats usage %d, model %d usage %d", c.LegalName, a.License, a.Seats, a.Usage, mc.seats[a.License], mc.usage[a.License])
			}
		}
	}
}

// vsRunSteps runs a drawn sequence of actions (at most 25, or 8 with
// Features.Short) and check after each, like rapid's T.Repeat but with a
// bounded length so that the suites stay fast on slow stores. An action with
// nothing to act on returns without a change.
func vsRunSteps(t *rapid.T, f Features, actions map[string]func(*rapid.T), check func(*rapid.T)) {
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	slices.Sort(names)
	max := 25
	if f.Short {
		max = 8
	}
	check(t)
	steps := rapid.IntRange(1, max).Draw(t, "steps")
	for range steps {
		actions[rapid.SampledFrom(names).Draw(t, "action")](t)
		check(t)
	}
}
