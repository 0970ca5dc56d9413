package storagetest

import (
	"context"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

// topupModelSite is the model of one site.
type topupModelSite struct {
	id       string
	licenses *int64
	enrolled int64
}

func (s *topupModelSite) count() int64 {
	if s.licenses == nil {
		return 0
	}
	return *s.licenses
}

func (s *topupModelSite) available() int64 {
	if s.licenses == nil {
		return 0
	}
	return *s.licenses - s.enrolled
}

// topupMachine drives billing (with the top-up policy) and topup against a
// model: enable, disable, set increment, enroll, unenroll, purchase, decrease,
// transfer and dispatch, optionally with a write or commit fault armed before
// each step (a step hit by a fault must fail and change nothing).
type topupMachine struct {
	env        *topupEnv
	faulty     *Faulty
	dispatcher *topup.Dispatcher
	rec        *topupRecorder

	sites      []*topupModelSite
	enabled    bool
	terms      string
	increments map[string]int64 // site -> increment (absent: 5)
	topups     []int64          // licenses added by each committed top-up, in order
	lastErr    error
}

func topupTestStateMachine(t *testing.T, newStore Factory, f Features) {
	for _, withFaults := range []bool{false, true} {
		name := "Plain"
		if withFaults {
			name = "Faulty"
		}
		t.Run(name, func(t *testing.T) {
			// Run at most budget passing checks (fewer than rapid's default 100, to
			// keep the suite at a few seconds under -race); once a check fails,
			// every later run (rapid's shrinking) runs in full.
			budget, runs, failed := 20, 0, false
			if withFaults {
				budget = 12
			}
			if f.Short {
				budget /= 3
			}
			rapid.Check(t, func(rt *rapid.T) {
				if runs++; runs > budget && !failed {
					return
				}
				defer func() { failed = failed || rt.Failed() }()
				var st storage.Store = newStore(t)
				m := &topupMachine{increments: map[string]int64{}, rec: &topupRecorder{}}
				if withFaults {
					m.faulty = NewFaulty(st)
					st = m.faulty
				}
				m.env = newTopupEnv(t, st, "rapid")
				m.dispatcher = &topup.Dispatcher{Store: st, Notifier: m.rec}
				for i, lic := range []*int64{topupI64(rapid.Int64Range(0, 12).Draw(rt, "licenses0")), topupI64(rapid.Int64Range(0, 12).Draw(rt, "licenses1")), nil} {
					s := m.env.site(t, fmt.Sprintf("Site %d", i), lic)
					m.sites = append(m.sites, &topupModelSite{id: s.ID, licenses: s.Licenses})
				}
				if rapid.Bool().Draw(rt, "startEnabled") {
					m.enableWith(rt, "v1")
				}
				rt.Repeat(map[string]func(*rapid.T){
					"enable":       m.enable,
					"disable":      m.disable,
					"setIncrement": m.setIncrement,
					"enroll":       m.enroll,
					"enrollAgain":  m.enroll, // enrolments drive top-ups: draw them twice as often
					"unenroll":     m.unenroll,
					"purchase":     m.purchase,
					"decrease":     m.decrease,
					"transfer":     m.transfer,
					"dispatch":     m.dispatch,
					"":             m.check,
				})
			})
		})
	}
}

// arm maybe arms a fault for the coming step and returns a function that
// disarms it and reports whether it fired.
func (m *topupMachine) arm(rt *rapid.T) func() bool {
	if m.faulty == nil || !rapid.Bool().Draw(rt, "fault") {
		return func() bool { return false }
	}
	before := m.faulty.Injected()
	if rapid.Bool().Draw(rt, "faultAtCommit") {
		m.faulty.FailCommit(1)
	} else {
		m.faulty.FailWrite(rapid.IntRange(1, 6).Draw(rt, "faultWrite"))
	}
	return func() bool {
		m.faulty.Disarm()
		return m.faulty.Injected() > before
	}
}

// outcome checks err against the model's expectation (want "" = success) and
// reports whether the model should apply the change.
func (m *topupMachine) outcome(rt *rapid.T, op string, fired bool, err error, want license.Code) bool {
	rt.Helper()
	if fired {
		if err == nil {
			rt.Fatalf("%s: an injected fault fired but the operation reported success", op)
		}
		return false
	}
	if license.ErrorCode(err) != want {
		rt.Fatalf("%s: error %v, want code %q", op, err, want)
	}
	return want == ""
}

func (m *topupMachine) site(rt *rapid.T, label string) *topupModelSite {
	return m.sites[rapid.IntRange(0, len(m.sites)-1).Draw(rt, label)]
}

func (m *topupMachine) increment(id string) int64 {
	if n, ok := m.increments[id]; ok {
		return n
	}
	return topup.DefaultIncrement
}

func (m *topupMachine) enable(rt *rapid.T) {
	m.enableWith(rt, rapid.SampledFrom([]string{"v1", "v2"}).Draw(rt, "terms"))
}

func (m *topupMachine) enableWith(rt *rapid.T, terms string) {
	fired := m.arm(rt)
	_, err := m.env.topup.Enable(m.env.ctx, m.env.owner, topup.EnableRequest{AcceptedTermsVersion: terms})
	var want license.Code
	if m.enabled && m.terms != terms {
		want = license.Conflict
	}
	if m.outcome(rt, "enable "+terms, fired(), err, want) && !m.enabled {
		m.enabled, m.terms = true, terms
		m.increments = map[string]int64{}
	}
}

func (m *topupMachine) disable(rt *rapid.T) {
	fired := m.arm(rt)
	_, err := m.env.topup.Disable(m.env.ctx, m.env.owner)
	if m.outcome(rt, "disable", fired(), err, "") {
		m.enabled = false
	}
}

func (m *topupMachine) setIncrement(rt *rapid.T) {
	s := m.site(rt, "site")
	n := rapid.SampledFrom([]int64{0, 3, 5, 7, 10, 15, 25}).Draw(rt, "increment")
	fired := m.arm(rt)
	_, err := m.env.topup.SetIncrement(m.env.ctx, m.env.owner, s.id, n)
	var want license.Code
	switch {
	case n%5 != 0 || n < 5:
		want = license.Invalid
	case !m.enabled:
		want = license.Conflict
	}
	if m.outcome(rt, fmt.Sprintf("set increment %d", n), fired(), err, want) {
		m.increments[s.id] = n
	}
}

func (m *topupMachine) enroll(rt *rapid.T) {
	s := m.site(rt, "site")
	n := rapid.Int64Range(1, 25).Draw(rt, "devices")
	preview, perr := m.env.topup.Preview(m.env.ctx, m.env.owner, s.id, n)
	if perr != nil {
		rt.Fatalf("preview enroll %d: %v", n, perr)
	}
	fired := m.arm(rt)
	r, err := m.env.billing.Enroll(m.env.ctx, m.env.owner, billing.EnrollRequest{Site: s.id, Devices: n})
	if !fired() {
		// Preview equals commit: the same state gives the same figures.
		if preview.Refused != (license.ErrorCode(err) == license.InsufficientLicenses) || (err == nil && (preview.Added != r.ToppedUp || preview.NewTotal != r.Site.LicenseCount())) {
			rt.Fatalf("enroll %d: preview %+v, commit %+v (error %v)", n, preview, r, err)
		}
		fired = func() bool { return false }
	} else {
		fired = func() bool { return true }
	}
	var want license.Code
	var added int64
	if s.licenses != nil && s.enrolled+n > *s.licenses {
		if m.enabled {
			added = topup.Amount(s.enrolled+n-*s.licenses, m.increment(s.id))
		} else {
			want = license.InsufficientLicenses
		}
	}
	if !m.outcome(rt, fmt.Sprintf("enroll %d", n), fired(), err, want) {
		return
	}
	if r.ToppedUp != added {
		rt.Fatalf("enroll %d on %d/%d (increment %d): topped up %d, want %d", n, s.enrolled, s.count(), m.increment(s.id), r.ToppedUp, added)
	}
	s.enrolled += n
	if added > 0 {
		total := *s.licenses + added
		s.licenses = &total
		m.topups = append(m.topups, added)
	}
}

func (m *topupMachine) unenroll(rt *rapid.T) {
	s := m.site(rt, "site")
	n := rapid.Int64Range(1, 10).Draw(rt, "devices")
	fired := m.arm(rt)
	_, err := m.env.billing.Unenroll(m.env.ctx, m.env.owner, billing.EnrollRequest{Site: s.id, Devices: n})
	var want license.Code
	if n > s.enrolled {
		want = license.Invalid
	}
	if m.outcome(rt, fmt.Sprintf("unenroll %d", n), fired(), err, want) {
		s.enrolled -= n
	}
}

func (m *topupMachine) purchase(rt *rapid.T) {
	s := m.site(rt, "site")
	q := rapid.Int64Range(1, 20).Draw(rt, "quantity")
	fired := m.arm(rt)
	_, err := m.env.billing.Purchase(m.env.ctx, m.env.owner, billing.PurchaseRequest{Site: s.id, Quantity: q})
	var want license.Code
	if s.licenses == nil && q < s.enrolled {
		want = license.Invalid
	}
	if m.outcome(rt, fmt.Sprintf("purchase %d", q), fired(), err, want) {
		total := s.count() + q
		s.licenses = &total
	}
}

func (m *topupMachine) decrease(rt *rapid.T) {
	s := m.site(rt, "site")
	q := rapid.Int64Range(1, 20).Draw(rt, "quantity")
	fired := m.arm(rt)
	_, err := m.env.billing.Decrease(m.env.ctx, m.env.owner, billing.DecreaseRequest{Site: s.id, Quantity: q})
	var want license.Code
	switch {
	case s.licenses == nil:
		want = license.Invalid
	case *s.licenses-q < s.enrolled:
		want = license.BelowEnrolled
	}
	if m.outcome(rt, fmt.Sprintf("decrease %d", q), fired(), err, want) {
		total := *s.licenses - q
		s.licenses = &total
	}
}

func (m *topupMachine) transfer(rt *rapid.T) {
	from, to := m.site(rt, "from"), m.site(rt, "to")
	q := rapid.Int64Range(1, 10).Draw(rt, "quantity")
	fired := m.arm(rt)
	_, err := m.env.billing.Transfer(m.env.ctx, m.env.owner, billing.TransferRequest{From: from.id, To: to.id, Quantity: q})
	var want license.Code
	switch {
	case from == to:
		want = license.Invalid
	case q > from.available(), to.count()+q < to.enrolled:
		want = license.BelowEnrolled
	}
	if m.outcome(rt, fmt.Sprintf("transfer %d", q), fired(), err, want) {
		ft, tt := from.count()-q, to.count()+q
		from.licenses, to.licenses = &ft, &tt
	}
}

func (m *topupMachine) dispatch(rt *rapid.T) {
	fired := m.arm(rt)
	_, err := m.dispatcher.RunOnce(m.env.ctx, topupT0)
	if !fired() && err != nil {
		rt.Fatalf("dispatch: %v", err)
	}
}

// check compares the stores with the model and checks the invariants.
func (m *topupMachine) check(rt *rapid.T) {
	ctx := context.Background()
	company := m.env.owner.Company
	var sites []billing.Site
	var triggered []eventlog.Event
	var outbox []topup.OutboxEntry
	err := m.env.store.View(ctx, func(tx storage.Tx) error {
		var err error
		if sites, err = storage.ListOf[billing.Site](ctx, tx, storage.ListQuery{Company: company, Kind: billing.KindSite}); err != nil {
			return err
		}
		if outbox, err = storage.ListOf[topup.OutboxEntry](ctx, tx, storage.ListQuery{Company: company, Kind: topup.KindOutbox}); err != nil {
			return err
		}
		return tx.Events(ctx, eventlog.Filter{Company: company, Types: []eventlog.Type{topup.EventTriggered}}, func(e eventlog.Event) error {
			triggered = append(triggered, e)
			return nil
		})
	})
	if err != nil {
		rt.Fatalf("check: %v", err)
	}
	byID := map[string]billing.Site{}
	for _, s := range sites {
		byID[s.ID] = s
	}
	for _, ms := range m.sites {
		s := byID[ms.id]
		if s.Enrolled != ms.enrolled || (s.Licenses == nil) != (ms.licenses == nil) || s.LicenseCount() != ms.count() {
			rt.Fatalf("site %s: store has %d licenses (set %v), %d enrolled; model %d (set %v), %d", s.Name,
				s.LicenseCount(), s.Licenses != nil, s.Enrolled, ms.count(), ms.licenses != nil, ms.enrolled)
		}
		if m.enabled && s.Licenses != nil && *s.Licenses < s.Enrolled {
			rt.Fatalf("invariant: top-up is on and site %s has %d licenses for %d enrolled devices", s.Name, *s.Licenses, s.Enrolled)
		}
	}
	if len(triggered) != len(m.topups) {
		rt.Fatalf("invariant: %d topup.triggered events for %d committed top-ups", len(triggered), len(m.topups))
	}
	if len(outbox) != len(m.topups) {
		rt.Fatalf("invariant: %d outbox notifications for %d committed top-ups", len(outbox), len(m.topups))
	}
	notes := map[string]topup.OutboxEntry{}
	for _, o := range outbox {
		notes[o.Event] = o
	}
	for i, e := range triggered {
		if err := topupCheckTriggered(e); err != nil {
			rt.Fatalf("invariant: %v", err)
		}
		if e.Count != m.topups[i] {
			rt.Fatalf("top-up %d added %d, model %d", i, e.Count, m.topups[i])
		}
		o, ok := notes[e.ID]
		if !ok || o.Added != e.Count || o.Site != e.Subject {
			rt.Fatalf("invariant: top-up event %s has no matching outbox notification (%+v)", e.ID, o)
		}
	}
	settings, err := m.env.topup.Get(ctx, m.env.owner)
	if err != nil {
		rt.Fatalf("get settings: %v", err)
	}
	if settings.Enabled != m.enabled || (m.enabled && settings.TermsVersion != m.terms) {
		rt.Fatalf("enabled: store %v (terms %s), model %v (terms %s)", settings.Enabled, settings.TermsVersion, m.enabled, m.terms)
	}
	for _, s := range settings.Sites {
		if s.Increment != m.increment(s.Site) {
			rt.Fatalf("site %s increment: store %d, model %d", s.SiteName, s.Increment, m.increment(s.Site))
		}
	}
}
