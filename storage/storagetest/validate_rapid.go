package storagetest

import (
	"context"
	"errors"
	"fmt"
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

// validateMachine is a rapid state machine over one pool: Validate,
// Validate with Allocate, Release (into quarantine within the minimum allocation
// time), suspension and the clock, against a model of who holds a license.
// After every step Validate's answer for every consumer equals the model's,
// the status pane equals the model's counts, and the stored counters equal a
// recount. With a Faulty store, a step whose write or commit fails must leave
// the store exactly as it was.
type validateMachine struct {
	t      *rapid.T
	ctx    context.Context
	store  storage.Store
	faulty *Faulty // nil: no faults
	clock  *licensetest.Clock
	svc    *pool.Service
	admin  license.Actor
	id     string

	// model
	total     int64
	allocs    map[string]time.Time // fingerprint -> allocated at
	quar      []time.Time          // quarantine ends, one unit each
	suspended bool
}

var (
	validateFPs      = []string{"fp-0", "fp-1", "fp-2", "fp-3", "fp-4"}
	validateFeatures = []string{"backup", "sso", "audit"} // the pool grants the first two
	validateMinDays  = 1
)

func newValidateMachine(rt *rapid.T, st storage.Store, faulty *Faulty) *validateMachine {
	m := &validateMachine{t: rt, ctx: context.Background(), store: st, faulty: faulty,
		clock: licensetest.NewClock(poolT0), admin: license.Actor{Company: "acme", Email: "admin@acme.example", Role: license.Admin},
		allocs: map[string]time.Time{}}
	m.svc = &pool.Service{Store: st, Clock: m.clock}
	m.total = int64(rapid.IntRange(1, 4).Draw(rt, "licenses"))
	p, err := m.svc.Create(m.ctx, m.admin, pool.CreateRequest{Spec: pool.Spec{Name: "machine", Model: license.Perpetual, Metric: license.InstalledInstance,
		Software: []string{"Office"}, Entitlements: validateFeatures[:2], MinAllocationDays: validateMinDays}})
	require.NoError(rt, err)
	m.id = p.ID
	_, err = m.svc.AddTransaction(m.ctx, m.admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: m.total})
	require.NoError(rt, err)
	return m
}

func (m *validateMachine) liveQuarantine() int64 {
	now := m.clock.Now()
	var n int64
	for _, until := range m.quar {
		if now.Before(until) {
			n++
		}
	}
	return n
}

func (m *validateMachine) missing(features []string) bool {
	return len(license.MissingEntitlements(validateFeatures[:2], features)) > 0
}

// expect is the model's answer.
func (m *validateMachine) expect(fp string, features []string, allocate bool) license.ValidationCode {
	if m.suspended {
		return license.CodeSuspended
	}
	if _, held := m.allocs[fp]; !held {
		if !allocate {
			return license.CodeNoAllocation
		}
		switch free := m.total - int64(len(m.allocs)); {
		case free-m.liveQuarantine() >= 1:
		case free >= 1:
			return license.CodeQuarantined
		default:
			return license.CodeSeatsExhausted
		}
	}
	if m.missing(features) {
		return license.CodeEntitlementsMissing
	}
	return license.CodeValid
}

func (m *validateMachine) draw() (string, []string) {
	fp := rapid.SampledFrom(validateFPs).Draw(m.t, "fp")
	var fs []string
	for _, f := range validateFeatures {
		if rapid.Bool().Draw(m.t, "wants "+f) {
			fs = append(fs, f)
		}
	}
	return fp, fs
}

// mutate runs a mutating step, with a fault armed when the machine is
// faulty; it reports whether the step took effect. A faulted step must have
// changed nothing.
func (m *validateMachine) mutate(step func() error) (bool, error) {
	if m.faulty == nil || !rapid.Bool().Draw(m.t, "fault") {
		return true, step()
	}
	before := poolSnap(m.t, m.store, m.admin.Company)
	if rapid.Bool().Draw(m.t, "on commit") {
		m.faulty.FailCommit(1)
	} else {
		m.faulty.FailWrite(rapid.IntRange(1, 4).Draw(m.t, "write"))
	}
	injected := m.faulty.Injected()
	err := step()
	m.faulty.Disarm()
	if m.faulty.Injected() == injected {
		return true, err // the step wrote less than the armed fault
	}
	require.True(m.t, errors.Is(err, FaultError), "an injected fault must surface, got %v", err)
	require.Equal(m.t, before, poolSnap(m.t, m.store, m.admin.Company), "a failed step left a trace")
	return false, nil
}

func (m *validateMachine) Validate(rt *rapid.T) {
	fp, fs := m.draw()
	before := poolSnap(rt, m.store, m.admin.Company)
	v, err := m.svc.Validate(m.ctx, m.admin, m.id, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: fp}, Features: fs})
	require.NoError(rt, err)
	require.Equal(rt, m.expect(fp, fs, false), v.Code, "Validate(%s, %v): %+v", fp, fs, v)
	require.Equal(rt, before, poolSnap(rt, m.store, m.admin.Company), "Validate wrote")
}

func (m *validateMachine) ValidateAndAllocate(rt *rapid.T) {
	fp, fs := m.draw()
	want := m.expect(fp, fs, true)
	_, held := m.allocs[fp]
	var v license.Validation
	ok, err := m.mutate(func() error {
		var err error
		v, err = m.svc.Validate(m.ctx, m.admin, m.id, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: fp}, Features: fs, Allocate: true})
		return err
	})
	require.NoError(rt, err)
	if !ok {
		return
	}
	require.Equal(rt, want, v.Code, "ValidateAndAllocate(%s, %v): %+v", fp, fs, v)
	if v.Valid && !held {
		m.allocs[fp] = m.clock.Now()
	}
}

func (m *validateMachine) Release(rt *rapid.T) {
	fp := rapid.SampledFrom(validateFPs).Draw(rt, "fp")
	at, held := m.allocs[fp]
	ok, err := m.mutate(func() error {
		_, err := m.svc.Release(m.ctx, m.admin, m.id, pool.AllocationID(m.id, "asset:"+fp))
		return err
	})
	if !ok {
		return
	}
	if !held {
		require.Equal(rt, license.NotFound, license.ErrorCode(err), "releasing %s, which holds nothing: %v", fp, err)
		return
	}
	require.NoError(rt, err)
	delete(m.allocs, fp)
	if until := at.AddDate(0, 0, validateMinDays); m.clock.Now().Before(until) {
		m.quar = append(m.quar, until)
	}
}

func (m *validateMachine) Suspend(rt *rapid.T) {
	on := rapid.Bool().Draw(rt, "suspend")
	ok, err := m.mutate(func() error {
		var err error
		if on {
			_, err = m.svc.Suspend(m.ctx, m.admin, m.id, "")
		} else {
			_, err = m.svc.Unsuspend(m.ctx, m.admin, m.id)
		}
		return err
	})
	if !ok {
		return
	}
	if on == m.suspended {
		require.Equal(rt, license.Conflict, license.ErrorCode(err), "%v", err)
		return
	}
	require.NoError(rt, err)
	m.suspended = on
}

func (m *validateMachine) Advance(rt *rapid.T) {
	m.clock.Advance(time.Duration(rapid.IntRange(1, 30).Draw(rt, "hours")) * time.Hour)
	m.quar = slices.DeleteFunc(m.quar, func(until time.Time) bool { return !m.clock.Now().Before(until) })
}

func (m *validateMachine) Check(rt *rapid.T) {
	svc := &pool.Service{Store: m.store, Clock: m.clock} // no faults, no limits
	pane, err := svc.Status(m.ctx, m.admin, m.id)
	require.NoError(rt, err)
	c := pane.Counts
	want := pool.ComputeCounts(m.total, m.liveQuarantine(), 0, int64(len(m.allocs)), 0)
	require.Equal(rt, want, c, "status pane vs model")
	require.LessOrEqual(rt, c.Allocated, c.Total, "over-allocated")
	a, err := svc.Audit(m.ctx, m.admin, m.id)
	require.NoError(rt, err)
	require.True(rt, a.Consistent(), "stored %+v vs recount %+v", a.Stored, a.Recomputed)
	for _, fp := range validateFPs {
		v, err := svc.Validate(m.ctx, m.admin, m.id, license.ValidationRequest{Consumer: license.Consumer{Fingerprint: fp}, Features: validateFeatures[:1]})
		require.NoError(rt, err)
		require.Equal(rt, m.expect(fp, validateFeatures[:1], false), v.Code, "%s", fp)
	}
}

func (m *validateMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"validate": m.Validate, "validate_and_allocate": m.ValidateAndAllocate, "release": m.Release,
		"suspend": m.Suspend, "advance": m.Advance, "": m.Check,
	}
}

// validateRapid runs prop on a budget of full runs (6, or 2 with Short), as
// billingRapid does: once a run fails, every later run is full so rapid can
// shrink it.
func validateRapid(t *testing.T, f Features, prop func(*rapid.T)) {
	budget := 6
	if f.Short {
		budget = 2
	}
	passed, failed := 0, false
	rapid.Check(t, func(rt *rapid.T) {
		if passed >= budget && !failed {
			return
		}
		ok := false
		defer func() {
			if !ok {
				failed = true
			}
		}()
		prop(rt)
		ok = true
		passed++
	})
}

func validateTestStateMachine(t *testing.T, newStore Factory, f Features) {
	validateRapid(t, f, func(rt *rapid.T) {
		m := newValidateMachine(rt, newStore(t), nil)
		rt.Repeat(m.actions())
	})
}

func validateTestStateMachineFaulty(t *testing.T, newStore Factory, f Features) {
	validateRapid(t, f, func(rt *rapid.T) {
		fs := NewFaulty(newStore(t))
		m := newValidateMachine(rt, fs, fs)
		rt.Repeat(m.actions())
		require.NoError(rt, fs.Store.Ping(context.Background()), fmt.Sprintf("store unusable after %d faults", fs.Injected()))
	})
}
