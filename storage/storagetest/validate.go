package storagetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
)

// The "validate" suite checks vendor validation of pools (pool.Service.Validate
// and Validate with Allocate): every code of license.ValidationOrder is reached,
// the order holds when a consumer fails several checks, Validate never writes,
// Validate with Allocate is atomic under contention and leaves nothing behind
// when it fails, the grace boundaries are exact to the nanosecond, suspension
// is an admin action with its events, and a rate-limited attempt never
// reaches the store; and the same for subscription licenses
// (subscription.Service.Validate and ValidateKey).
func init() {
	Register("validate",
		Test{"EveryCode", validateTestEveryCode},
		Test{"OrderProperty", validateTestOrder},
		Test{"GraceBoundaries", validateTestGrace},
		Test{"Suspension", validateTestSuspension},
		Test{"EntitlementInput", validateTestInput},
		Test{"ConcurrentValidateAndAllocate", validateTestConcurrent},
		Test{"ValidateAndAllocateFaulty", validateTestFaulty},
		Test{"RateLimited", validateTestRateLimited},
		Test{"StateMachine", validateTestStateMachine},
		Test{"StateMachineFaulty", validateTestStateMachineFaulty},
		Test{"SubscriptionEveryCode", subValTestEveryCode},
		Test{"SubscriptionOrder", subValTestOrder},
		Test{"SubscriptionTermsAndSuspension", subValTestTerms},
		Test{"SubscriptionRateLimited", subValTestRateLimited},
	)
}

type validateEnv struct {
	*poolEnv
}

func newValidateEnv(t *testing.T, newStore Factory) *validateEnv {
	return &validateEnv{newPoolEnv(t, newStore)}
}

// validate runs Validate and checks that it changed nothing in the store.
func (e *validateEnv) validate(id string, c license.ValidationRequest) license.Validation {
	e.t.Helper()
	before := poolSnap(e.t, e.store, e.admin.Company)
	v, err := e.svc.Validate(e.ctx, e.viewer, id, c)
	require.NoError(e.t, err)
	require.Equal(e.t, before, poolSnap(e.t, e.store, e.admin.Company), "Validate wrote to the store (%s)", v.Code)
	requireConsistent(e.t, v)
	return v
}

func (e *validateEnv) allocate(id string, c license.ValidationRequest) license.Validation {
	e.t.Helper()
	v, err := e.svc.Validate(e.ctx, e.admin, id, allocating(c))
	require.NoError(e.t, err)
	requireConsistent(e.t, v)
	return v
}

// allocating returns r asking Validate to allocate.
func allocating(r license.ValidationRequest) license.ValidationRequest {
	r.Allocate = true
	return r
}

// requireConsistent checks the shape of a result: Valid exactly for valid and
// in_grace, a message always, Missing only for entitlements, Failed only for
// restrictions, GraceEnds only in grace.
func requireConsistent(t testing.TB, v license.Validation) {
	t.Helper()
	require.Equal(t, v.Code == license.CodeValid || v.Code == license.CodeInGrace, v.Valid, "valid flag of %+v", v)
	require.NotEmpty(t, v.Message, "result without a message: %+v", v)
	require.Equal(t, v.Code == license.CodeEntitlementsMissing, len(v.Missing) > 0, "missing list of %+v", v)
	require.Equal(t, v.Code == license.CodeOutsideRestrictions, v.Failed != "", "failed restriction of %+v", v)
	require.Equal(t, v.Code == license.CodeInGrace, v.GraceEnds != nil, "grace end of %+v", v)
}

func (e *validateEnv) rent(id string, n int64, start, end time.Time) {
	e.t.Helper()
	_, err := e.svc.AddTransaction(e.ctx, e.admin, id, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: n, Period: license.Period{Start: start, End: end}})
	require.NoError(e.t, err)
}

func (e *validateEnv) alloc(id string, c license.Consumer) pool.Allocation {
	e.t.Helper()
	al, err := e.svc.Allocate(e.ctx, e.admin, id, pool.AllocateRequest{Consumer: c})
	require.NoError(e.t, err)
	return al
}

func validateSpec(name string, model license.Model, m license.Metric) pool.Spec {
	return pool.Spec{Name: name, Model: model, Metric: m, Software: []string{"Office"}, Entitlements: []string{"sso", "reports"}}
}

func validateTestEveryCode(t *testing.T, newStore Factory, _ Features) {
	e := newValidateEnv(t, newStore)
	day := 24 * time.Hour
	t0 := poolT0
	machine := license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp-1", User: "alice"}, Software: "Office", Features: []string{"sso"}}
	other := license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp-2", User: "bob"}}

	perp := e.create(validateSpec("perpetual", license.Perpetual, license.InstalledInstance))
	e.buy(perp.ID, 3)
	e.alloc(perp.ID, license.Consumer{Asset: "fp-1"})

	closed := e.create(validateSpec("closed", license.Perpetual, license.InstalledInstance))
	_, err := e.svc.Close(e.ctx, e.admin, closed.ID)
	require.NoError(t, err)
	retired := e.create(validateSpec("retired", license.Perpetual, license.InstalledInstance))
	_, err = e.svc.Retire(e.ctx, e.admin, retired.ID)
	require.NoError(t, err)

	suspended := e.create(validateSpec("suspended", license.Perpetual, license.InstalledInstance))
	e.buy(suspended.ID, 1)
	e.alloc(suspended.ID, license.Consumer{Asset: "fp-1"})
	_, err = e.svc.Suspend(e.ctx, e.admin, suspended.ID, "invoice unpaid")
	require.NoError(t, err)

	spec := validateSpec("rental", license.Rental, license.InstalledInstance)
	spec.GraceDays = 7
	rental := e.create(spec)
	e.rent(rental.ID, 2, t0.Add(-10*day), t0.Add(20*day))
	e.alloc(rental.ID, license.Consumer{Asset: "fp-1"})
	notStarted := e.create(validateSpec("not started", license.Rental, license.InstalledInstance))
	e.rent(notStarted.ID, 2, t0.Add(10*day), t0.Add(20*day))

	// Over-allocated once the larger rental period ends: 2 allocated, 1 held.
	over := e.create(validateSpec("over", license.Rental, license.InstalledInstance))
	e.rent(over.ID, 2, t0.Add(-day), t0.Add(5*day))
	e.rent(over.ID, 1, t0.Add(-day), t0.Add(30*day))
	e.alloc(over.ID, license.Consumer{Asset: "fp-1"})
	e.alloc(over.ID, license.Consumer{Asset: "fp-2"})

	rs := validateSpec("restricted", license.Perpetual, license.NamedUser)
	rs.Restrictions.Users = []string{"alice"}
	restricted := e.create(rs)
	e.buy(restricted.ID, 2)
	e.alloc(restricted.ID, license.Consumer{User: "alice"})
	ls := validateSpec("by location", license.Perpetual, license.InstalledInstance)
	ls.Restrictions.Locations = []string{"Berlin"}
	located := e.create(ls)
	e.buy(located.ID, 2)

	qs := validateSpec("quarantine", license.Perpetual, license.InstalledInstance)
	qs.MinAllocationDays = 30
	quar := e.create(qs)
	e.buy(quar.ID, 1)
	al := e.alloc(quar.ID, license.Consumer{Asset: "fp-9"})
	_, err = e.svc.Release(e.ctx, e.admin, quar.ID, al.ID)
	require.NoError(t, err)

	full := e.create(validateSpec("full", license.Perpetual, license.InstalledInstance))
	e.buy(full.ID, 1)
	e.alloc(full.ID, license.Consumer{Asset: "fp-9"})

	cpu := e.create(validateSpec("cpu", license.Perpetual, license.PhysicalCPU))
	e.buy(cpu.ID, 6)
	conc := e.create(validateSpec("concurrent", license.Perpetual, license.ConcurrentUser))
	e.buy(conc.ID, 1)

	type tc struct {
		name  string
		at    time.Time
		pool  string
		c     license.ValidationRequest
		alloc bool // Validate with Allocate
		want  license.ValidationCode
		check func(t *testing.T, v license.Validation)
	}
	withFeatures := func(c license.ValidationRequest, f ...string) license.ValidationRequest { c.Features = f; return c }
	withCPUs := func(c license.ValidationRequest, n int) license.ValidationRequest { c.CPUs = n; return c }
	withSoftware := func(c license.ValidationRequest, s string) license.ValidationRequest { c.Software = s; return c }
	exp := t0.Add(20*day - time.Nanosecond)
	cases := []tc{
		{name: "unknown pool", pool: license.NewID(), c: machine, want: license.CodeNotFound},
		{name: "closed", pool: closed.ID, c: machine, want: license.CodeInactive},
		{name: "retired", pool: retired.ID, c: machine, want: license.CodeInactive},
		{name: "suspended", pool: suspended.ID, c: machine, want: license.CodeSuspended, check: func(t *testing.T, v license.Validation) {
			assert.Contains(t, v.Message, "invoice unpaid")
		}},
		{name: "rental running", pool: rental.ID, c: machine, want: license.CodeValid, check: func(t *testing.T, v license.Validation) {
			require.NotNil(t, v.ExpiresAt)
			assert.Equal(t, exp, *v.ExpiresAt)
		}},
		{name: "rental in grace", at: exp.Add(time.Nanosecond), pool: rental.ID, c: machine, want: license.CodeInGrace, check: func(t *testing.T, v license.Validation) {
			assert.Equal(t, exp.Add(7*day), *v.GraceEnds)
		}},
		{name: "rental expired", at: exp.Add(7*day + time.Nanosecond), pool: rental.ID, c: machine, want: license.CodeExpired, check: func(t *testing.T, v license.Validation) {
			require.NotNil(t, v.ExpiresAt)
			assert.Equal(t, exp, *v.ExpiresAt)
		}},
		{name: "rental not started", pool: notStarted.ID, c: machine, want: license.CodeExpired},
		{name: "user restriction", pool: restricted.ID, c: other, want: license.CodeOutsideRestrictions, check: func(t *testing.T, v license.Validation) {
			assert.Equal(t, "restrictions.user", v.Failed)
		}},
		{name: "software not granted", pool: perp.ID, c: withSoftware(machine, "Visio"), want: license.CodeOutsideRestrictions, check: func(t *testing.T, v license.Validation) {
			assert.Equal(t, "software", v.Failed)
		}},
		{name: "restricted user allowed", pool: restricted.ID, c: machine, want: license.CodeValid},
		{name: "location restriction (license.Consumer has none)", pool: located.ID, c: machine, want: license.CodeOutsideRestrictions, check: func(t *testing.T, v license.Validation) {
			assert.Equal(t, "restrictions.location", v.Failed)
		}},
		{name: "no allocation", pool: perp.ID, c: other, want: license.CodeNoAllocation},
		{name: "no allocation, only quarantined left", pool: quar.ID, c: machine, want: license.CodeNoAllocation},
		{name: "allocate: only quarantined left", pool: quar.ID, c: machine, alloc: true, want: license.CodeQuarantined},
		{name: "allocate: pool full", pool: full.ID, c: machine, alloc: true, want: license.CodeSeatsExhausted},
		{name: "allocate: more CPUs than free", pool: cpu.ID, c: withCPUs(machine, 8), alloc: true, want: license.CodeSeatsExhausted},
		{name: "allocate: CPUs fit", pool: cpu.ID, c: withCPUs(machine, 4), alloc: true, want: license.CodeValid},
		{name: "CPU allocation too small", pool: cpu.ID, c: withCPUs(machine, 6), want: license.CodeNoAllocation},
		{name: "allocate: CPU allocation grows", pool: cpu.ID, c: withCPUs(machine, 6), alloc: true, want: license.CodeValid},
		{name: "CPUs covered", pool: cpu.ID, c: withCPUs(machine, 5), want: license.CodeValid},
		{name: "no lease", pool: conc.ID, c: machine, want: license.CodeNoAllocation},
		{name: "allocate: lease taken", pool: conc.ID, c: machine, alloc: true, want: license.CodeValid},
		{name: "live lease", pool: conc.ID, c: machine, want: license.CodeValid},
		{name: "allocate: no seat left", pool: conc.ID, c: other, alloc: true, want: license.CodeSeatsExhausted},
		{name: "over-allocated after a rental period ended", at: t0.Add(10 * day), pool: over.ID, c: machine, want: license.CodeSeatsExhausted},
		{name: "entitlements missing", pool: perp.ID, c: withFeatures(machine, "sso", "audit", "export"), want: license.CodeEntitlementsMissing, check: func(t *testing.T, v license.Validation) {
			assert.Equal(t, []string{"audit", "export"}, v.Missing)
		}},
		{name: "allocate: entitlements missing allocates nothing", pool: perp.ID, c: withFeatures(other, "audit"), alloc: true, want: license.CodeEntitlementsMissing},
		{name: "valid", pool: perp.ID, c: withFeatures(machine, "sso", "reports"), want: license.CodeValid},
	}
	reached := map[license.ValidationCode]bool{}
	for _, c := range cases {
		at := c.at
		if at.IsZero() {
			at = t0
		}
		e.clock.Set(at)
		var v license.Validation
		if c.alloc {
			v = e.allocate(c.pool, c.c)
		} else {
			v = e.validate(c.pool, c.c)
		}
		require.Equal(t, c.want, v.Code, "%s: %+v", c.name, v)
		if c.check != nil {
			c.check(t, v)
		}
		reached[v.Code] = true
	}
	for _, code := range append(slices.Clone(license.ValidationOrder), license.CodeValid, license.CodeInGrace) {
		assert.True(t, reached[code], "no test reached %s", code)
	}
	e.clock.Set(t0)
	// Allocations made by Validate with Allocate are real: the counters match the
	// records, the CPU allocation grew to 6, the failed attempts allocated nothing.
	for _, id := range []string{perp.ID, quar.ID, full.ID, cpu.ID, conc.ID} {
		e.counts(id)
	}
	assert.Equal(t, pool.Counts{Total: 6, Allocated: 6, AllocatedManually: 6}, e.counts(cpu.ID))
	assert.Equal(t, int64(1), e.counts(perp.ID).Allocated, "entitlements missing allocated nothing")
	assert.Equal(t, int64(1), e.counts(quar.ID).Quarantined)
}

// validateFlags are the checks one consumer fails, in license.ValidationOrder.
type validateFlags struct {
	inactive, suspended, expired, restricted, unallocated, missing bool
}

func (f validateFlags) want() license.ValidationCode {
	switch {
	case f.inactive:
		return license.CodeInactive
	case f.suspended:
		return license.CodeSuspended
	case f.expired:
		return license.CodeExpired
	case f.restricted:
		return license.CodeOutsideRestrictions
	case f.unallocated:
		return license.CodeNoAllocation
	case f.missing:
		return license.CodeEntitlementsMissing
	}
	return license.CodeValid
}

// validateTestOrder proves the order: for any set of failing checks, Validate
// reports the earliest one, and never writes.
func validateTestOrder(t *testing.T, newStore Factory, f Features) {
	e := newValidateEnv(t, newStore)
	billingRapid(t, f, func(rt *rapid.T) {
		fl := validateFlags{
			inactive: rapid.Bool().Draw(rt, "inactive"), suspended: rapid.Bool().Draw(rt, "suspended"),
			expired: rapid.Bool().Draw(rt, "expired"), restricted: rapid.Bool().Draw(rt, "restricted"),
			unallocated: rapid.Bool().Draw(rt, "unallocated"), missing: rapid.Bool().Draw(rt, "missing"),
		}
		e.clock.Set(poolT0)
		spec := validateSpec("order", license.Rental, license.NamedUser)
		p, err := e.svc.Create(e.ctx, e.admin, pool.CreateRequest{Spec: spec})
		require.NoError(rt, err)
		_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: 2,
			Period: license.Period{Start: poolT0.Add(-time.Hour), End: poolT0.Add(time.Hour)}})
		require.NoError(rt, err)
		if !fl.unallocated {
			_, err = e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "alice"}})
			require.NoError(rt, err)
		}
		if fl.restricted {
			spec.Restrictions.Users = []string{"carol"}
			_, err = e.svc.Update(e.ctx, e.admin, p.ID, spec)
			require.NoError(rt, err)
		}
		if fl.suspended {
			_, err = e.svc.Suspend(e.ctx, e.admin, p.ID, "")
			require.NoError(rt, err)
		}
		if fl.inactive {
			_, err = e.svc.Close(e.ctx, e.admin, p.ID)
			require.NoError(rt, err)
		}
		if fl.expired {
			e.clock.Set(poolT0.Add(2 * time.Hour))
		}
		c := license.ValidationRequest{Consumer: license.Consumer{User: "alice"}, Features: []string{"sso"}}
		if fl.missing {
			c.Features = append(c.Features, "audit")
		}
		before := poolSnap(rt, e.store, e.admin.Company)
		v, err := e.svc.Validate(e.ctx, e.viewer, p.ID, c)
		require.NoError(rt, err)
		require.Equal(rt, before, poolSnap(rt, e.store, e.admin.Company), "Validate wrote to the store")
		require.Equal(rt, fl.want(), v.Code, "flags %+v gave %+v", fl, v)
	})
}

func validateTestGrace(t *testing.T, newStore Factory, _ Features) {
	e := newValidateEnv(t, newStore)
	// A rental period for January 2026 ([1 Jan, 1 Feb)) ends at the end of 31
	// January in UTC.
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := license.EndOfDay(time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC))
	e.clock.Set(jan.Add(time.Hour))
	mk := func(name string, grace int) string {
		s := validateSpec(name, license.Rental, license.NamedUser)
		s.GraceDays = grace
		p := e.create(s)
		e.rent(p.ID, 1, jan, jan.AddDate(0, 1, 0))
		e.alloc(p.ID, license.Consumer{User: "alice"})
		return p.ID
	}
	graced, strict := mk("graced", 3), mk("strict", 0)
	graceEnd := end.Add(3 * 24 * time.Hour)
	alice := license.Consumer{User: "alice"}
	for _, c := range []struct {
		at   time.Time
		id   string
		want license.ValidationCode
	}{
		{end, graced, license.CodeValid},
		{end, strict, license.CodeValid},
		{end.Add(time.Nanosecond), graced, license.CodeInGrace},
		{end.Add(time.Nanosecond), strict, license.CodeExpired},
		{graceEnd, graced, license.CodeInGrace},
		{graceEnd.Add(time.Nanosecond), graced, license.CodeExpired},
	} {
		e.clock.Set(c.at)
		v := e.validate(c.id, license.ValidationRequest{Consumer: alice})
		require.Equal(t, c.want, v.Code, "at %s: %+v", c.at.Format(time.RFC3339Nano), v)
		require.NotNil(t, v.ExpiresAt)
		assert.Equal(t, end, *v.ExpiresAt, "a period ending at midnight expires at the end of the day before")
		if v.Code == license.CodeInGrace {
			assert.Equal(t, graceEnd, *v.GraceEnds)
		}
	}
	// A new consumer gets nothing during grace: the pool has no licenses now.
	e.clock.Set(end.Add(time.Hour))
	v := e.allocate(graced, license.ValidationRequest{Consumer: license.Consumer{User: "bob"}})
	assert.Equal(t, license.CodeSeatsExhausted, v.Code)
	// A following period renews it: the expiry moves to the end of the run.
	e.clock.Set(jan.Add(time.Hour))
	e.rent(graced, 1, jan.AddDate(0, 1, 0), jan.AddDate(0, 2, 0))
	e.clock.Set(end.Add(time.Hour))
	v = e.validate(graced, license.ValidationRequest{Consumer: alice})
	require.Equal(t, license.CodeValid, v.Code)
	assert.Equal(t, license.EndOfDay(time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)), *v.ExpiresAt)
}

func validateTestSuspension(t *testing.T, newStore Factory, _ Features) {
	e := newValidateEnv(t, newStore)
	p := e.create(validateSpec("s", license.Perpetual, license.InstalledInstance))
	e.buy(p.ID, 2)
	e.alloc(p.ID, license.Consumer{Asset: "fp-1"})
	fp := license.Consumer{Fingerprint: "fp-1"}
	editor := license.Actor{Company: "acme", Email: "ed@acme.example", Role: license.Editor}
	before := poolSnap(t, e.store, "acme")
	for _, a := range []license.Actor{editor, e.viewer} {
		_, err := e.svc.Suspend(e.ctx, a, p.ID, "no")
		poolCode(t, err, license.Forbidden, "role")
	}
	_, err := e.svc.Suspend(e.ctx, e.admin, p.ID, strings.Repeat("r", pool.MaxSuspendReason+1))
	poolCode(t, err, license.Invalid, "reason")
	_, err = e.svc.Unsuspend(e.ctx, e.admin, p.ID)
	poolCode(t, err, license.Conflict, "suspended")
	require.Equal(t, before, poolSnap(t, e.store, "acme"), "refused suspensions change nothing")

	sp, err := e.svc.Suspend(e.ctx, e.admin, p.ID, "chargeback")
	require.NoError(t, err)
	assert.True(t, sp.Suspended)
	assert.Equal(t, "chargeback", sp.SuspendReason)
	assert.Equal(t, license.CodeSuspended, e.validate(p.ID, license.ValidationRequest{Consumer: fp}).Code)
	_, err = e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "fp-2"}})
	poolCode(t, err, license.Conflict, "status")
	_, err = e.svc.Suspend(e.ctx, e.admin, p.ID, "again")
	poolCode(t, err, license.Conflict, "suspended")

	up, err := e.svc.Unsuspend(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.False(t, up.Suspended)
	assert.Nil(t, up.SuspendedAt)
	assert.Equal(t, license.CodeValid, e.validate(p.ID, license.ValidationRequest{Consumer: fp}).Code)
	var types []eventlog.Type
	require.NoError(t, e.store.View(e.ctx, func(tx storage.Tx) error {
		return tx.Events(e.ctx, eventlog.Filter{Company: "acme"}, func(ev eventlog.Event) error {
			if ev.Subject == p.ID && (ev.Type == pool.EventSuspended || ev.Type == pool.EventUnsuspended) {
				types = append(types, ev.Type)
				assert.Equal(t, e.admin.Email, ev.Actor)
			}
			return nil
		})
	}))
	assert.Equal(t, []eventlog.Type{pool.EventSuspended, pool.EventUnsuspended}, types)
}

func validateTestInput(t *testing.T, newStore Factory, _ Features) {
	e := newValidateEnv(t, newStore)
	s := validateSpec("e", license.Perpetual, license.InstalledInstance)
	s.Entitlements = []string{"sso", " sso ", "audit", "sso"}
	p := e.create(s)
	assert.Equal(t, []string{"sso", "audit"}, p.Entitlements, "trimmed and deduplicated")
	before := poolSnap(t, e.store, "acme")
	for _, c := range []struct {
		name string
		mut  func(*pool.Spec)
	}{
		{"empty code", func(s *pool.Spec) { s.Entitlements = []string{"sso", "  "} }},
		{"65 characters", func(s *pool.Spec) { s.Entitlements = []string{strings.Repeat("x", license.MaxEntitlementLength+1)} }},
		{"space inside", func(s *pool.Spec) { s.Entitlements = []string{"single sign-on"} }},
		{"too many", func(s *pool.Spec) {
			s.Entitlements = nil
			for i := 0; i <= license.MaxEntitlements; i++ {
				s.Entitlements = append(s.Entitlements, fmt.Sprintf("f%d", i))
			}
		}},
	} {
		bad := validateSpec("bad", license.Perpetual, license.InstalledInstance)
		c.mut(&bad)
		_, err := e.svc.Create(e.ctx, e.admin, pool.CreateRequest{Spec: bad})
		poolCode(t, err, license.Invalid, "entitlements")
		_, err = e.svc.Update(e.ctx, e.admin, p.ID, bad)
		poolCode(t, err, license.Invalid, "entitlements")
	}
	bad := validateSpec("bad", license.Perpetual, license.InstalledInstance)
	bad.GraceDays = -1
	_, err := e.svc.Create(e.ctx, e.admin, pool.CreateRequest{Spec: bad})
	poolCode(t, err, license.Invalid, "grace_days")
	bad.GraceDays = pool.MaxGraceDays + 1
	_, err = e.svc.Create(e.ctx, e.admin, pool.CreateRequest{Spec: bad})
	poolCode(t, err, license.Invalid, "grace_days")
	require.Equal(t, before, poolSnap(t, e.store, "acme"), "bad input changes nothing")

	ok := strings.Repeat("x", license.MaxEntitlementLength)
	s.Entitlements = []string{ok}
	up, err := e.svc.Update(e.ctx, e.admin, p.ID, s)
	require.NoError(t, err)
	assert.Equal(t, []string{ok}, up.Entitlements, "64 characters are accepted")

	for _, c := range []struct {
		field string
		c     license.ValidationRequest
	}{
		{"consumer.features", license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp"}, Features: []string{""}}},
		{"consumer.fingerprint", license.ValidationRequest{Consumer: license.Consumer{Fingerprint: strings.Repeat("f", pool.MaxTextLength+1)}}},
		{"consumer.asset", license.ValidationRequest{Consumer: license.Consumer{User: "u"}}}, // installed instance needs the asset
		{"consumer.cpus", license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp", CPUs: -1}}},
		{"pool", license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp"}}},
	} {
		id := p.ID
		if c.field == "pool" {
			id = "not-a-uuid"
		}
		_, err := e.svc.Validate(e.ctx, e.viewer, id, c.c)
		poolCode(t, err, license.Invalid, c.field)
		_, err = e.svc.Validate(e.ctx, e.admin, id, allocating(c.c))
		poolCode(t, err, license.Invalid, c.field)
	}
	_, err = e.svc.Validate(e.ctx, e.viewer, p.ID, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp"}, Allocate: true})
	poolCode(t, err, license.Forbidden, "role")
	other := license.Actor{Company: "globex", Email: "a@globex.example", Role: license.Admin}
	v, err := e.svc.Validate(e.ctx, other, p.ID, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp"}})
	require.NoError(t, err)
	assert.Equal(t, license.CodeNotFound, v.Code, "another tenant's pool is not found")
}

func validateTestConcurrent(t *testing.T, newStore Factory, _ Features) {
	e := newValidateEnv(t, newStore)
	const n, workers = 5, 32
	p := e.create(validateSpec("hot", license.Perpetual, license.InstalledInstance))
	e.buy(p.ID, n)
	same := e.create(validateSpec("same machine", license.Perpetual, license.InstalledInstance))
	e.buy(same.ID, n)
	type answer struct {
		v   license.Validation
		err error
	}
	run := func(id string, consumer func(i int) license.Consumer) []answer {
		out := make([]answer, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				v, err := e.svc.Validate(e.ctx, e.admin, id, allocating(license.ValidationRequest{Consumer: consumer(i)}))
				out[i] = answer{v, err}
			})
		}
		wg.Wait()
		return out
	}
	valid, exhausted := 0, 0
	for _, a := range run(p.ID, func(i int) license.Consumer { return license.Consumer{Fingerprint: fmt.Sprintf("fp-%02d", i)} }) {
		require.NoError(t, a.err)
		switch a.v.Code {
		case license.CodeValid:
			valid++
		case license.CodeSeatsExhausted:
			exhausted++
		default:
			t.Errorf("unexpected result %+v", a.v)
		}
	}
	assert.Equal(t, n, valid, "exactly N consumers are valid")
	assert.Equal(t, workers-n, exhausted)
	c := e.counts(p.ID)
	assert.Equal(t, int64(n), c.Allocated)
	allocs, err := e.svc.Allocations(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.Len(t, allocs, n)

	// Concurrent-user seats: exactly N leases for 32 users at once.
	seats := e.create(validateSpec("seats", license.Perpetual, license.ConcurrentUser))
	e.buy(seats.ID, n)
	valid = 0
	for _, a := range run(seats.ID, func(i int) license.Consumer { return license.Consumer{User: fmt.Sprintf("user-%02d", i)} }) {
		require.NoError(t, a.err)
		if a.v.Valid {
			valid++
		} else {
			assert.Equal(t, license.CodeSeatsExhausted, a.v.Code)
		}
	}
	assert.Equal(t, n, valid, "exactly N seats are taken")
	leases, err := e.svc.Leases(e.ctx, e.admin, seats.ID)
	require.NoError(t, err)
	assert.Len(t, leases, n)
	assert.Equal(t, int64(n), e.counts(seats.ID).Allocated)

	// The same machine asking 32 times at once takes one license.
	for _, a := range run(same.ID, func(int) license.Consumer { return license.Consumer{Fingerprint: "fp-same"} }) {
		require.NoError(t, a.err)
		assert.Equal(t, license.CodeValid, a.v.Code, "%+v", a.v)
	}
	assert.Equal(t, int64(1), e.counts(same.ID).Allocated)
}

func validateTestFaulty(t *testing.T, newStore Factory, _ Features) {
	e := newValidateEnv(t, newStore)
	fs := NewFaulty(e.store)
	svc := &pool.Service{Store: fs, Clock: e.clock}
	p := e.create(validateSpec("f", license.Perpetual, license.PhysicalCPU))
	e.buy(p.ID, 8)
	conc := e.create(validateSpec("c", license.Perpetual, license.ConcurrentUser))
	e.buy(conc.ID, 1)
	type step struct {
		id string
		c  license.Consumer
	}
	// A new allocation, the growth of one, and a lease: each writes the pool,
	// the allocation or lease and an event.
	for _, s := range []step{
		{p.ID, license.Consumer{Fingerprint: "srv", CPUs: 2}},
		{p.ID, license.Consumer{Fingerprint: "srv", CPUs: 6}},
		{conc.ID, license.Consumer{User: "alice"}},
	} {
		for i := 1; ; i++ {
			before := poolSnap(t, e.store, "acme")
			fs.FailWrite(i)
			v, err := svc.Validate(e.ctx, e.admin, s.id, allocating(license.ValidationRequest{Consumer: s.c}))
			if fs.Injected() == 0 || err == nil {
				fs.Disarm()
				require.NoError(t, err)
				require.Equal(t, license.CodeValid, v.Code)
				break
			}
			fs = NewFaulty(e.store) // reset the injected count
			svc.Store = fs
			require.ErrorIs(t, err, FaultError)
			require.Equal(t, before, poolSnap(t, e.store, "acme"), "fault at write %d left a trace", i)
			require.Less(t, i, 20, "too many writes")
		}
		before := poolSnap(t, e.store, "acme")
		fs.FailCommit(1)
		_, err := svc.Validate(e.ctx, e.admin, s.id, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "srv2", User: "bob", CPUs: 1}, Allocate: true})
		require.ErrorIs(t, err, FaultError)
		require.Equal(t, before, poolSnap(t, e.store, "acme"), "failed commit left a trace")
		fs = NewFaulty(e.store)
		svc.Store = fs
	}
	assert.Equal(t, pool.Counts{Total: 8, Available: 2, Allocated: 6, AllocatedManually: 6}, e.counts(p.ID))
}

// countingStore counts the transactions opened on a store.
type countingStore struct {
	storage.Store
	mu    sync.Mutex
	opens int
}

func (s *countingStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	s.mu.Lock()
	s.opens++
	s.mu.Unlock()
	return s.Store.Update(ctx, fn)
}

func (s *countingStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	s.mu.Lock()
	s.opens++
	s.mu.Unlock()
	return s.Store.View(ctx, fn)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

func validateTestRateLimited(t *testing.T, newStore Factory, _ Features) {
	e := newValidateEnv(t, newStore)
	p := e.create(validateSpec("r", license.Perpetual, license.InstalledInstance))
	e.buy(p.ID, 5)
	q := e.create(validateSpec("other", license.Perpetual, license.InstalledInstance))
	cs := &countingStore{Store: e.store}
	svc := &pool.Service{Store: cs, Clock: e.clock, Limiter: license.NewTokenBucket(1, 3)}
	fp := license.Consumer{Fingerprint: "fp"}
	v, err := svc.Validate(e.ctx, e.admin, p.ID, allocating(license.ValidationRequest{Consumer: fp}))
	require.NoError(t, err)
	require.Equal(t, license.CodeValid, v.Code)
	for range 2 {
		v, err = svc.Validate(e.ctx, e.viewer, p.ID, license.ValidationRequest{Consumer: fp})
		require.NoError(t, err)
		require.Equal(t, license.CodeValid, v.Code)
	}
	opens := cs.count()
	before := poolSnap(t, e.store, "acme")
	for range 3 {
		_, err = svc.Validate(e.ctx, e.viewer, p.ID, license.ValidationRequest{Consumer: fp})
		poolCode(t, err, license.RateLimited, "")
		_, err = svc.Validate(e.ctx, e.admin, p.ID, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "fp-2"}, Allocate: true})
		poolCode(t, err, license.RateLimited, "")
	}
	assert.Equal(t, opens, cs.count(), "a refused attempt opens no transaction")
	assert.Equal(t, before, poolSnap(t, e.store, "acme"))
	// Buckets are per pool: another pool is not limited.
	v, err = svc.Validate(e.ctx, e.viewer, q.ID, license.ValidationRequest{Consumer: fp})
	require.NoError(t, err)
	assert.Equal(t, license.CodeNoAllocation, v.Code)
	// One token per second refills.
	e.clock.Advance(time.Second)
	v, err = svc.Validate(e.ctx, e.viewer, p.ID, license.ValidationRequest{Consumer: fp})
	require.NoError(t, err)
	assert.Equal(t, license.CodeValid, v.Code)
	_, err = svc.Validate(e.ctx, e.viewer, p.ID, license.ValidationRequest{Consumer: fp})
	poolCode(t, err, license.RateLimited, "")
}
