package storagetest

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
)

// subModelLicense is the model of one subscription license.
type subModelLicense struct {
	id             string
	typ            subscription.Type
	trial          bool
	period         subscription.BillingPeriod
	anchor         time.Time
	renewals       int
	exp            time.Time
	autoRenew      bool
	expired        bool
	activated      bool
	assignee       *license.Consumer
	convertedTo    string
	exchangeFailed bool
	key            string
}

func (l *subModelLicense) valid(now time.Time) bool {
	return l.activated && !l.expired && !now.After(l.exp)
}

type subModelAlloc struct {
	company string // users only
	mode    subscription.PoolMode
	limit   int
}

// subMachine drives subscription.Service against a model: purchase, trial,
// activate (with trial conversion), assign, unassign, auto-renewal, settings,
// clock advances with Tick (renewal, expiry, exchange), bulk delete and
// declined renewals, optionally with a write fault armed before each step.
type subMachine struct {
	ctx      context.Context
	svc      *subscription.Service
	clock    *licensetest.Clock
	faulty   *Faulty
	injected int

	period       subscription.BillingPeriod
	autoExchange bool
	declined     bool
	licenses     map[string]*subModelLicense
	assigned     map[string]string // type|kind|consumer -> license
	users        map[string]subModelAlloc
	companies    map[string]subModelAlloc
}

var (
	subTypes     = []subscription.Type{subscription.PerComputer, subscription.PerUser}
	subConsumers = map[subscription.Type][]license.Consumer{
		subscription.PerComputer: {subComputer("pc-1", "ann"), subComputer("pc-2", "ann"), subComputer("pc-3", "bob")},
		subscription.PerUser:     {{User: "ann"}, {User: "bob"}},
	}
)

func subTestStateMachine(t *testing.T, newStore Factory, f Features) {
	for _, withFaults := range []bool{false, true} {
		name := "Plain"
		if withFaults {
			name = "Faulty"
		}
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				var st storage.Store = newStore(t)
				m := &subMachine{ctx: context.Background(), autoExchange: true, licenses: map[string]*subModelLicense{},
					assigned: map[string]string{}, users: map[string]subModelAlloc{}, companies: map[string]subModelAlloc{}}
				if withFaults {
					m.faulty = NewFaulty(st)
					st = m.faulty
				}
				start := time.Date(2028, time.Month(rapid.IntRange(1, 12).Draw(rt, "month")), rapid.IntRange(27, 31).Draw(rt, "day"), 12, 0, 0, 0, time.UTC)
				m.clock = licensetest.NewClock(start)
				m.svc = subscription.New(st, m.clock)
				m.svc.ApproveRenewal = func(subscription.License, subscription.Charge) error {
					if m.declined {
						return errors.New("payment declined")
					}
					return nil
				}
				// Start with a stock of licenses and a drawn pool setting, so that
				// short runs reach assignment limits, expiries and exchanges.
				m.purchase(rt)
				m.setUser(rt)
				vsRunSteps(rt, f, map[string]func(*rapid.T){
					"purchase":     m.purchase,
					"trial":        m.trial,
					"activate":     m.activate,
					"assign":       m.assign,
					"assignMore":   m.assign,
					"unassign":     m.unassign,
					"autoRenew":    m.setAutoRenew,
					"autoExchange": m.setAutoExchange,
					"userPool":     m.setUser,
					"companyPool":  m.setCompany,
					"advance":      m.advance,
					"bulkDelete":   m.bulkDelete,
					"decline":      func(t *rapid.T) { m.declined = rapid.Bool().Draw(t, "declined") },
				}, m.check)
			})
		})
	}
}

func (m *subMachine) now() time.Time { return m.clock.Now() }

func (m *subMachine) arm(t *rapid.T) {
	if m.faulty == nil {
		return
	}
	m.injected = m.faulty.Injected()
	if n := rapid.IntRange(0, 5).Draw(t, "failWrite"); n > 0 {
		m.faulty.FailWrite(n)
	}
}

// outcome checks err against the model's expected code; true means the model
// applies the change.
func (m *subMachine) outcome(t *rapid.T, op string, err error, want license.Code) bool {
	if m.faulty != nil {
		m.faulty.Disarm()
		if m.faulty.Injected() > m.injected {
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

func (m *subMachine) sortedIDs() []string {
	ids := make([]string, 0, len(m.licenses))
	for id := range m.licenses {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// allocation is the effective pool setting of user (company's wins).
func (m *subMachine) allocation(user string) subModelAlloc {
	u, ok := m.users[user]
	if !ok {
		return subModelAlloc{mode: subscription.GlobalPool}
	}
	if c, ok := m.companies[u.company]; ok && u.company != "" {
		return c
	}
	return u
}

func (m *subMachine) allowed(user string, l *subModelLicense) bool {
	a := m.allocation(user)
	if a.mode != subscription.UserPool || l.trial {
		return true
	}
	n := 0
	for _, o := range m.licenses {
		if o.assignee != nil && o.assignee.User == user && !o.trial && o.valid(m.now()) {
			n++
		}
	}
	return n < a.limit
}

// pick mirrors the service's choice: paid before trial, latest expiration,
// then ID; the first the user may take.
func (m *subMachine) pick(typ subscription.Type, user string, paidOnly bool) *subModelLicense {
	var cands []*subModelLicense
	for _, id := range m.sortedIDs() {
		l := m.licenses[id]
		if l.typ == typ && l.assignee == nil && l.valid(m.now()) && !(paidOnly && l.trial) {
			cands = append(cands, l)
		}
	}
	slices.SortStableFunc(cands, func(x, y *subModelLicense) int {
		if x.trial != y.trial {
			if x.trial {
				return 1
			}
			return -1
		}
		return -cmp.Compare(x.exp.UnixNano(), y.exp.UnixNano())
	})
	for _, c := range cands {
		if m.allowed(user, c) {
			return c
		}
	}
	return nil
}

func subAID(t subscription.Type, c license.Consumer) string {
	if c.Asset != "" {
		return string(t) + "|computer|" + c.Asset
	}
	return string(t) + "|user|" + c.User
}

func (m *subMachine) purchase(t *rapid.T) {
	typ := rapid.SampledFrom(subTypes).Draw(t, "type")
	n := rapid.IntRange(1, 3).Draw(t, "quantity")
	period := rapid.SampledFrom([]subscription.BillingPeriod{"", subscription.Monthly, subscription.Yearly}).Draw(t, "period")
	manual := rapid.Bool().Draw(t, "manual")
	noRenew := rapid.IntRange(0, 3).Draw(t, "noRenew") == 0
	want := license.Code("")
	switch {
	case m.period == "" && period == "":
		want = license.Invalid
	case m.period != "" && period != "" && period != m.period:
		want = license.Conflict
	}
	m.arm(t)
	out, err := m.svc.Purchase(m.ctx, subMSP, subscription.Purchase{Type: typ, Quantity: n, Period: period, UnitPrice: subPrice, ManualActivation: manual, NoAutoRenew: noRenew})
	if !m.outcome(t, "purchase", err, want) {
		return
	}
	if m.period == "" {
		m.period = period
	}
	now := m.now()
	for i, l := range out.Licenses {
		m.licenses[l.ID] = &subModelLicense{id: l.ID, typ: typ, period: m.period, anchor: now, exp: license.AddMonths(now, m.period.Months()),
			autoRenew: !noRenew, activated: !manual, key: out.Keys[i]}
	}
}

func (m *subMachine) trial(t *rapid.T) {
	typ := rapid.SampledFrom(subTypes).Draw(t, "type")
	ends := m.now().Add(time.Duration(rapid.IntRange(0, 40).Draw(t, "days")) * 24 * time.Hour)
	m.arm(t)
	out, err := m.svc.StartTrial(m.ctx, subMSP, subscription.TrialRequest{Type: typ, Quantity: 1, EndsOn: ends})
	if !m.outcome(t, "trial", err, "") {
		return
	}
	l := out.Licenses[0]
	m.licenses[l.ID] = &subModelLicense{id: l.ID, typ: typ, trial: true, anchor: m.now(), exp: license.EndOfDay(ends),
		autoRenew: true, activated: true, key: out.Keys[0]}
}

func (m *subMachine) activate(t *rapid.T) {
	ids := m.sortedIDs()
	if len(ids) == 0 {
		return
	}
	l := m.licenses[rapid.SampledFrom(ids).Draw(t, "license")]
	key := l.key
	if rapid.IntRange(0, 5).Draw(t, "bogus") == 0 {
		key = "ZZZZ" + key[4:]
	}
	var trial *subModelLicense
	convert := ""
	if rapid.Bool().Draw(t, "convert") {
		trial = m.licenses[rapid.SampledFrom(ids).Draw(t, "trial")]
		convert = trial.id
	}
	now := m.now()
	want := license.Code("")
	switch {
	case key != l.key:
		want = license.NotFound
	case l.activated:
		want = license.Conflict
	case l.expired || now.After(l.exp):
		want = license.Expired
	case trial != nil && (!trial.trial || trial.convertedTo != "" || trial.typ != l.typ):
		want = license.Conflict
	case trial != nil && trial.assignee != nil && !m.allowed(trial.assignee.User, l):
		want = license.InsufficientLicenses
	}
	m.arm(t)
	_, err := m.svc.Activate(m.ctx, subMSP, subscription.Activation{Key: key, ConvertTrial: convert})
	if !m.outcome(t, "activate", err, want) {
		return
	}
	l.activated = true
	if trial != nil {
		if c := trial.assignee; c != nil {
			l.assignee, trial.assignee = c, nil
			m.assigned[subAID(l.typ, *c)] = l.id
		}
		trial.expired, trial.convertedTo, trial.exchangeFailed = true, l.id, false
	}
}

func (m *subMachine) assign(t *rapid.T) {
	typ := rapid.SampledFrom(subTypes).Draw(t, "type")
	c := rapid.SampledFrom(subConsumers[typ]).Draw(t, "consumer")
	var chosen *subModelLicense
	if ids := m.sortedIDs(); len(ids) > 0 && rapid.Bool().Draw(t, "explicit") {
		chosen = m.licenses[rapid.SampledFrom(ids).Draw(t, "license")]
	}
	now := m.now()
	want := license.Code("")
	aid := subAID(typ, c)
	old := m.licenses[m.assigned[aid]]
	target := chosen
	switch {
	case old != nil && old.valid(now):
		want = license.Conflict
	case chosen != nil && (chosen.typ != typ || chosen.assignee != nil || !chosen.activated):
		want = license.Conflict
	case chosen != nil && !chosen.valid(now):
		want = license.Expired
	case chosen != nil && !m.allowed(c.User, chosen):
		want = license.InsufficientLicenses
	case chosen == nil:
		if target = m.pick(typ, c.User, false); target == nil {
			want = license.InsufficientLicenses
		}
	}
	req := subscription.AssignRequest{Type: typ, Consumer: c}
	if chosen != nil {
		req.License = chosen.id
	}
	m.arm(t)
	got, err := m.svc.Assign(m.ctx, subMSP, req)
	if !m.outcome(t, "assign", err, want) {
		return
	}
	if got.ID != target.id {
		t.Fatalf("assign took license %s, the model picks %s", got.ID, target.id)
	}
	if old != nil {
		old.assignee, old.exchangeFailed = nil, false
	}
	target.assignee = &c
	m.assigned[aid] = target.id
}

func (m *subMachine) unassign(t *rapid.T) {
	typ := rapid.SampledFrom(subTypes).Draw(t, "type")
	c := rapid.SampledFrom(subConsumers[typ]).Draw(t, "consumer")
	aid := subAID(typ, c)
	want := license.Code("")
	if _, ok := m.assigned[aid]; !ok {
		want = license.NotFound
	}
	m.arm(t)
	if m.outcome(t, "unassign", m.svc.Unassign(m.ctx, subMSP, typ, c), want) {
		l := m.licenses[m.assigned[aid]]
		l.assignee, l.exchangeFailed = nil, false
		delete(m.assigned, aid)
	}
}

func (m *subMachine) setAutoRenew(t *rapid.T) {
	ids := m.sortedIDs()
	if len(ids) == 0 {
		return
	}
	l := m.licenses[rapid.SampledFrom(ids).Draw(t, "license")]
	on := rapid.Bool().Draw(t, "on")
	want := license.Code("")
	switch {
	case l.trial:
		want = license.Conflict
	case l.expired:
		want = license.Expired
	}
	m.arm(t)
	if _, err := m.svc.SetAutoRenew(m.ctx, subMSP, l.id, on); m.outcome(t, "autoRenew", err, want) {
		l.autoRenew = on
	}
}

func (m *subMachine) setAutoExchange(t *rapid.T) {
	on := rapid.Bool().Draw(t, "on")
	m.arm(t)
	if _, err := m.svc.SetAutoExchange(m.ctx, subMSP, on); m.outcome(t, "autoExchange", err, "") {
		m.autoExchange = on
	}
}

func (m *subMachine) drawAlloc(t *rapid.T) subscription.Allocation {
	if rapid.Bool().Draw(t, "userPool") {
		return subscription.Allocation{Mode: subscription.UserPool, Limit: rapid.IntRange(0, 2).Draw(t, "limit")}
	}
	return subscription.Allocation{Mode: subscription.GlobalPool}
}

func (m *subMachine) setUser(t *rapid.T) {
	user := rapid.SampledFrom([]string{"ann", "bob"}).Draw(t, "user")
	company := rapid.SampledFrom([]string{"", "Contoso"}).Draw(t, "company")
	a := m.drawAlloc(t)
	m.arm(t)
	_, err := m.svc.SetUserSettings(m.ctx, subMSP, subscription.UserSettings{User: user, Company: company, Allocation: a})
	if m.outcome(t, "userPool", err, "") {
		m.users[user] = subModelAlloc{company: company, mode: a.Mode, limit: a.Limit}
	}
}

func (m *subMachine) setCompany(t *rapid.T) {
	a := m.drawAlloc(t)
	remove := rapid.IntRange(0, 2).Draw(t, "remove") == 0
	if remove {
		a = subscription.Allocation{}
	}
	m.arm(t)
	_, err := m.svc.SetCompanySettings(m.ctx, subMSP, subscription.CompanySettings{Company: "Contoso", Allocation: a})
	if m.outcome(t, "companyPool", err, "") {
		if remove {
			delete(m.companies, "Contoso")
		} else {
			m.companies["Contoso"] = subModelAlloc{mode: a.Mode, limit: a.Limit}
		}
	}
}

func (m *subMachine) bulkDelete(t *rapid.T) {
	mode := rapid.SampledFrom([]subscription.DeleteMode{subscription.AllExpired, subscription.ExpiredAutoRenew, subscription.ExpiredUnassigned}).Draw(t, "mode")
	var del []string
	released := 0
	for _, id := range m.sortedIDs() {
		l := m.licenses[id]
		if !l.expired || (mode == subscription.ExpiredAutoRenew && !l.autoRenew) || (mode == subscription.ExpiredUnassigned && l.assignee != nil) {
			continue
		}
		del = append(del, id)
		if l.assignee != nil {
			released++
		}
	}
	m.arm(t)
	res, err := m.svc.BulkDelete(m.ctx, subMSP, mode)
	if !m.outcome(t, "bulkDelete", err, "") {
		return
	}
	if res.Deleted != len(del) || res.Released != released || !slices.Equal(res.Licenses, del) {
		t.Fatalf("bulk delete %s: deleted %d %v released %d, the model says %d %v %d", mode, res.Deleted, res.Licenses, res.Released, len(del), del, released)
	}
	for _, id := range del {
		l := m.licenses[id]
		if l.assignee != nil {
			delete(m.assigned, subAID(l.typ, *l.assignee))
		}
		delete(m.licenses, id)
	}
}

// advance moves the clock on and ticks; the model applies renewals, expiries
// and exchanges, and the tick's counts must match.
func (m *subMachine) advance(t *rapid.T) {
	d := time.Duration(rapid.IntRange(1, 45*24).Draw(t, "hours")) * time.Hour
	if rapid.Bool().Draw(t, "toNextExpiry") {
		// Jump just past the earliest expiration, so that renewal chains and
		// exchanges happen often.
		var next time.Time
		for _, l := range m.licenses {
			if !l.expired && l.exp.After(m.now()) && (next.IsZero() || l.exp.Before(next)) {
				next = l.exp
			}
		}
		if !next.IsZero() {
			d = next.Sub(m.now()) + time.Duration(rapid.IntRange(1, 3600).Draw(t, "seconds"))*time.Second
		}
	}
	now := m.clock.Advance(d)
	snapshot := m.snapshotModel()
	var want subscription.TickResult
	for _, id := range m.sortedIDs() {
		l := m.licenses[id]
		if l.expired || !now.After(l.exp) {
			continue
		}
		for !l.trial && l.autoRenew && !m.declined && now.After(l.exp) {
			l.renewals++
			l.exp = license.AddMonths(l.anchor, l.period.Months()*(l.renewals+1))
			want.Renewed++
		}
		if now.After(l.exp) {
			l.expired = true
			want.Expired++
		}
	}
	due := want.Renewed+want.Expired > 0
	for _, l := range m.licenses {
		if l.expired && l.assignee != nil {
			due = true
		}
	}
	if due {
		want.Companies = 1
	}
	if m.autoExchange {
		for _, id := range m.sortedIDs() {
			l := m.licenses[id]
			if !l.expired || l.assignee == nil {
				continue
			}
			c := *l.assignee
			to := m.pick(l.typ, c.User, true)
			if to == nil {
				if !l.exchangeFailed {
					l.exchangeFailed = true
					want.Unexchanged++
				}
				continue
			}
			l.assignee, l.exchangeFailed = nil, false
			to.assignee = &c
			m.assigned[subAID(to.typ, c)] = to.id
			want.Exchanged++
		}
	}
	m.arm(t)
	got, err := m.svc.Tick(m.ctx, now)
	if !m.outcome(t, "tick", err, "") {
		m.restore(snapshot)
		return
	}
	if got != want {
		t.Fatalf("tick at %s: %+v, the model expects %+v", now.Format(time.RFC3339), got, want)
	}
	m.checkExchangeDone(t)
}

// snapshotModel and restore undo the model's tick when the store's failed.
func (m *subMachine) snapshotModel() map[string]subModelLicense {
	out := make(map[string]subModelLicense, len(m.licenses))
	for id, l := range m.licenses {
		out[id] = *l
	}
	return out
}

func (m *subMachine) restore(s map[string]subModelLicense) {
	m.assigned = map[string]string{}
	for id, l := range s {
		*m.licenses[id] = l
		if l.assignee != nil {
			m.assigned[subAID(l.typ, *l.assignee)] = id
		}
	}
}

// checkExchangeDone: after a tick, no assignment rests on an expired license
// while automatic exchange is on and a license it could move to is available.
func (m *subMachine) checkExchangeDone(t *rapid.T) {
	if !m.autoExchange {
		return
	}
	ls, err := m.svc.Licenses(m.ctx, subMSP)
	if err != nil {
		t.Fatalf("licenses: %v", err)
	}
	for _, l := range ls {
		if l.State != subscription.Expired || l.Assignee == nil {
			continue
		}
		if c := m.pick(l.Type, l.Assignee.User, true); c != nil {
			t.Fatalf("license %s expired with %s still assigned although license %s was available", l.ID, l.Assignee.Asset, c.id)
		}
	}
}

// check compares the store with the model and checks that no license is
// assigned twice and that assignments and licenses agree.
func (m *subMachine) check(t *rapid.T) {
	ls, err := m.svc.Licenses(m.ctx, subMSP)
	if err != nil {
		t.Fatalf("licenses: %v", err)
	}
	as, err := m.svc.Assignments(m.ctx, subMSP)
	if err != nil {
		t.Fatalf("assignments: %v", err)
	}
	if len(ls) != len(m.licenses) {
		t.Fatalf("%d licenses stored, the model has %d", len(ls), len(m.licenses))
	}
	byID := map[string]subscription.License{}
	for _, l := range ls {
		byID[l.ID] = l
		ml := m.licenses[l.ID]
		if ml == nil {
			t.Fatalf("license %s is not in the model", l.ID)
		}
		state := subscription.Active
		if ml.expired {
			state = subscription.Expired
		} else if ml.trial {
			state = subscription.Trial
		}
		if l.State != state || l.Trial != ml.trial || !l.ExpirationDate.Equal(ml.exp) || l.Renewals != ml.renewals ||
			l.AutoRenew != ml.autoRenew || l.Activated != ml.activated || l.ConvertedTo != ml.convertedTo || l.ExchangeFailed != ml.exchangeFailed {
			t.Fatalf("license %s: stored %+v, model %+v", l.ID, l, *ml)
		}
		if (l.Assignee == nil) != (ml.assignee == nil) || (l.Assignee != nil && !reflect.DeepEqual(*l.Assignee, *ml.assignee)) {
			t.Fatalf("license %s: assigned to %+v, model %+v", l.ID, l.Assignee, ml.assignee)
		}
		wantNext := !ml.trial && ml.autoRenew && !ml.expired
		if (l.NextRenewal != nil) != wantNext || (wantNext && !l.NextRenewal.Equal(l.ExpirationDate)) {
			t.Fatalf("license %s: next renewal %v with auto-renew %v, state %s, expiration %s", l.ID, l.NextRenewal, l.AutoRenew, l.State, l.ExpirationDate)
		}
		if l.Metric != l.Type.Metric() {
			t.Fatalf("license %s: metric %s for type %s", l.ID, l.Metric, l.Type)
		}
	}
	// No license assigned twice; assignment records and licenses agree.
	seen := map[string]string{}
	for _, a := range as {
		if prev, dup := seen[a.License]; dup {
			t.Fatalf("license %s is assigned twice: to %s and %s", a.License, prev, subAID(a.Type, a.Consumer))
		}
		seen[a.License] = subAID(a.Type, a.Consumer)
		l, ok := byID[a.License]
		if !ok || l.Assignee == nil || !reflect.DeepEqual(*l.Assignee, a.Consumer) || l.Type != a.Type {
			t.Fatalf("assignment of %s to %s does not match license %+v", a.License, subAID(a.Type, a.Consumer), l)
		}
		if m.assigned[subAID(a.Type, a.Consumer)] != a.License {
			t.Fatalf("assignment of %s to %s: the model has %q", a.License, subAID(a.Type, a.Consumer), m.assigned[subAID(a.Type, a.Consumer)])
		}
	}
	n := 0
	for _, l := range ls {
		if l.Assignee != nil {
			n++
			if _, ok := seen[l.ID]; !ok {
				t.Fatalf("license %s names assignee %s without an assignment record", l.ID, l.Assignee.Asset)
			}
		}
	}
	if n != len(as) || len(as) != len(m.assigned) {
		t.Fatalf("%d assigned licenses, %d assignment records, %d in the model", n, len(as), len(m.assigned))
	}
	set, err := m.svc.Settings(m.ctx, subMSP)
	if err != nil || set.Period != m.period || set.AutoExchange != m.autoExchange {
		t.Fatalf("settings %+v (err %v), model period %q auto-exchange %v", set, err, m.period, m.autoExchange)
	}
}
