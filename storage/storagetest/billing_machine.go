package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// billingModelSite is the model of one site: what the store must hold.
type billingModelSite struct {
	id       string
	name     string
	manage   bool   // monthly invoice
	licenses *int64 // nil: no amount set
	enrolled int64
}

func (m *billingModelSite) count() int64 {
	if m.licenses == nil {
		return 0
	}
	return *m.licenses
}

func (m *billingModelSite) available() int64 {
	if m.licenses == nil {
		return 0
	}
	return *m.licenses - m.enrolled
}

// billingLastCommit is a committed license change that a retry must reproduce.
type billingLastCommit struct {
	key    string
	run    func(key string) (any, error) // the same request again
	other  func(key string) (any, error) // a different request
	result any
}

// billingMachine runs random enrolments, unenrolments, purchases, decreases and
// transfers against the service and a model, and checks after every step that:
// the stored sites equal the model; licenses >= enrolled wherever licenses are
// set; the sum of licenses changed only by purchases and decreases; every
// committed change wrote exactly one event and every refused one none; each
// commit returned its preview's figures; and a retried key returned the first
// result and changed nothing.
type billingMachine struct {
	f      *billingFixture
	faulty *Faulty // nil unless the machine injects faults
	sites  []*billingModelSite
	evil   string // a site of the other company

	initialSum, purchased, decreased int64
	events                           int
	last                             *billingLastCommit
	keys                             int
}

func newBillingMachine(t *rapid.T, st storage.Store, faulty *Faulty) *billingMachine {
	f := newBillingFixture(t, st)
	m := &billingMachine{f: f, faulty: faulty}
	specs := []struct {
		name     string
		pt       billing.PaymentType
		licenses *int64
	}{
		{"Helsinki", billing.MonthlyInvoice, billingCount(int64(rapid.IntRange(0, 20).Draw(t, "helsinki")))},
		{"Oulu", billing.MonthlyInvoice, nil},
		{"Espoo", billing.MonthlyInvoice, billingCount(0)},
		{"Card", billing.Card, billingCount(5)},
	}
	for _, sp := range specs {
		s := f.site(t, f.owner, sp.name, "business", "1.25", "EUR", sp.pt, sp.licenses)
		ms := &billingModelSite{id: s.ID, name: sp.name, manage: sp.pt == billing.MonthlyInvoice}
		if sp.licenses != nil {
			n := *sp.licenses
			ms.licenses = &n
			m.initialSum += n
		}
		m.sites = append(m.sites, ms)
	}
	m.evil = f.site(t, f.evil, "Evil", "business", "1.25", "EUR", billing.MonthlyInvoice, billingCount(50)).ID
	m.events = len(billingEvents(t, st, "acme"))
	return m
}

func (m *billingMachine) pick(t *rapid.T, label string) *billingModelSite {
	return rapid.SampledFrom(m.sites).Draw(t, label)
}

func (m *billingMachine) key() string {
	m.keys++
	return fmt.Sprintf("key-%d", m.keys)
}

// expect checks err against the model's verdict: "" means success.
func billingExpect(t *rapid.T, err error, want license.Code) {
	t.Helper()
	if want == "" {
		require.NoError(t, err)
		return
	}
	require.Error(t, err, "want %s", want)
	require.Equal(t, want, license.ErrorCode(err), "error %v", err)
}

// armFault arms a random fault when the machine injects faults; it reports
// whether one is armed.
func (m *billingMachine) armFault(t *rapid.T) bool {
	if m.faulty == nil || !rapid.Bool().Draw(t, "fault") {
		return false
	}
	if n := rapid.IntRange(0, 5).Draw(t, "faultAt"); n == 0 {
		m.faulty.FailCommit(1)
	} else {
		m.faulty.FailWrite(n)
	}
	return true
}

// settle disarms faults and reports whether one fired; when one did, err must
// be the injected fault and the store must equal before.
func (m *billingMachine) settle(t *rapid.T, armed bool, injected int, err error, before string) bool {
	if !armed {
		return false
	}
	m.faulty.Disarm()
	if m.faulty.Injected() == injected {
		return false
	}
	require.Equal(t, license.Unavailable, license.ErrorCode(err), "the injected fault surfaces: %v", err)
	require.Equal(t, before, billingDump(t, m.f.store), "a failed operation changed the store")
	return true
}

func (m *billingMachine) injected() int {
	if m.faulty == nil {
		return 0
	}
	return m.faulty.Injected()
}

func (m *billingMachine) dumpIfFaulty(t *rapid.T, armed bool) string {
	if !armed {
		return ""
	}
	return billingDump(t, m.f.store)
}

func (m *billingMachine) Enroll(t *rapid.T) {
	s := m.pick(t, "site")
	n := int64(rapid.IntRange(-1, 8).Draw(t, "devices"))
	var want license.Code
	switch {
	case n < 1:
		want = license.Invalid
	case s.licenses != nil && s.enrolled+n > *s.licenses:
		want = license.InsufficientLicenses
	}
	armed := m.armFault(t)
	before, inj := m.dumpIfFaulty(t, armed), m.injected()
	_, err := m.f.svc.Enroll(context.Background(), m.f.system, billing.EnrollRequest{Site: s.id, Devices: n})
	if m.settle(t, armed, inj, err, before) {
		return
	}
	billingExpect(t, err, want)
	if want == "" {
		s.enrolled += n
		m.events++
	}
}

func (m *billingMachine) Unenroll(t *rapid.T) {
	s := m.pick(t, "site")
	n := int64(rapid.IntRange(-1, 8).Draw(t, "devices"))
	var want license.Code
	if n < 1 || n > s.enrolled {
		want = license.Invalid
	}
	_, err := m.f.svc.Unenroll(context.Background(), m.f.system, billing.EnrollRequest{Site: s.id, Devices: n})
	billingExpect(t, err, want)
	if want == "" {
		s.enrolled -= n
		m.events++
	}
}

func (m *billingMachine) actor(t *rapid.T) license.Actor {
	return rapid.SampledFrom([]license.Actor{m.f.owner, m.f.admin, m.f.admin, m.f.owner, m.f.viewer}).Draw(t, "actor")
}

func (m *billingMachine) Purchase(t *rapid.T) {
	ctx := context.Background()
	s := m.pick(t, "site")
	q := int64(rapid.IntRange(-2, 25).Draw(t, "quantity"))
	a := m.actor(t)
	var want license.Code
	switch {
	case a.Role == license.Viewer:
		want = license.Forbidden
	case !s.manage, q < 1, s.licenses == nil && q < s.enrolled:
		want = license.Invalid
	}
	req := billing.PurchaseRequest{Site: s.id, Quantity: q}
	preview, perr := m.f.svc.PreviewPurchase(ctx, a, req)
	billingExpect(t, perr, want)
	key := m.key()
	armed := m.armFault(t)
	before, inj := m.dumpIfFaulty(t, armed), m.injected()
	got, err := m.f.svc.Purchase(ctx, a, withPurchaseKey(req, key))
	if m.settle(t, armed, inj, err, before) {
		return
	}
	billingExpect(t, err, want)
	if want != "" {
		return
	}
	billingSameJSON(t, preview, got, "purchase: the commit differs from its preview")
	require.Equal(t, s.count()+q, got.NewTotal)
	total := got.NewTotal
	s.licenses = &total
	m.purchased += q
	m.events++
	m.last = &billingLastCommit{key: key, result: got,
		run: func(k string) (any, error) { return m.f.svc.Purchase(ctx, a, withPurchaseKey(req, k)) },
		other: func(k string) (any, error) {
			return m.f.svc.Purchase(ctx, a, billing.PurchaseRequest{Site: s.id, Quantity: q + 1, IdempotencyKey: k})
		}}
}

func (m *billingMachine) Decrease(t *rapid.T) {
	ctx := context.Background()
	s := m.pick(t, "site")
	q := int64(rapid.IntRange(-2, 25).Draw(t, "quantity"))
	a := m.actor(t)
	var want license.Code
	switch {
	case a.Role == license.Viewer:
		want = license.Forbidden
	case !s.manage, q < 1, s.licenses == nil:
		want = license.Invalid
	case *s.licenses-q < s.enrolled:
		want = license.BelowEnrolled
	}
	req := billing.DecreaseRequest{Site: s.id, Quantity: q}
	preview, perr := m.f.svc.PreviewDecrease(ctx, a, req)
	billingExpect(t, perr, want)
	key := m.key()
	armed := m.armFault(t)
	before, inj := m.dumpIfFaulty(t, armed), m.injected()
	got, err := m.f.svc.Decrease(ctx, a, withDecreaseKey(req, key))
	if m.settle(t, armed, inj, err, before) {
		return
	}
	billingExpect(t, err, want)
	if want != "" {
		return
	}
	billingSameJSON(t, preview, got, "decrease: the commit differs from its preview")
	require.Equal(t, s.count()-q, got.NewTotal)
	total := got.NewTotal
	s.licenses = &total
	m.decreased += q
	m.events++
	m.last = &billingLastCommit{key: key, result: got,
		run: func(k string) (any, error) { return m.f.svc.Decrease(ctx, a, withDecreaseKey(req, k)) },
		other: func(k string) (any, error) {
			return m.f.svc.Decrease(ctx, a, billing.DecreaseRequest{Site: s.id, Quantity: q + 1, IdempotencyKey: k})
		}}
}

func (m *billingMachine) Transfer(t *rapid.T) {
	ctx := context.Background()
	from, to := m.pick(t, "from"), m.pick(t, "to")
	q := int64(rapid.IntRange(-2, 15).Draw(t, "quantity"))
	a := m.actor(t)
	var want license.Code
	switch {
	case a.Role == license.Viewer:
		want = license.Forbidden
	case from == to, !from.manage, !to.manage, q < 1:
		want = license.Invalid
	case q > from.available(), to.count()+q < to.enrolled:
		want = license.BelowEnrolled
	}
	req := billing.TransferRequest{From: from.id, To: to.id, Quantity: q}
	preview, perr := m.f.svc.PreviewTransfer(ctx, a, req)
	billingExpect(t, perr, want)
	key := m.key()
	armed := m.armFault(t)
	before, inj := m.dumpIfFaulty(t, armed), m.injected()
	got, err := m.f.svc.Transfer(ctx, a, withTransferKey(req, key))
	if m.settle(t, armed, inj, err, before) {
		return
	}
	billingExpect(t, err, want)
	if want != "" {
		return
	}
	require.Equal(t, preview, got, "transfer: the commit differs from its preview")
	require.Equal(t, from.count()+to.count(), got.From.TotalAfter+got.To.TotalAfter, "a transfer conserves licenses")
	ft, tt := got.From.TotalAfter, got.To.TotalAfter
	from.licenses, to.licenses = &ft, &tt
	m.events++
	m.last = &billingLastCommit{key: key, result: got,
		run: func(k string) (any, error) { return m.f.svc.Transfer(ctx, a, withTransferKey(req, k)) },
		other: func(k string) (any, error) {
			return m.f.svc.Transfer(ctx, a, billing.TransferRequest{From: to.id, To: from.id, Quantity: q, IdempotencyKey: k})
		}}
}

// Retry repeats the last committed request with its key: the first result
// comes back and nothing changes. A different request with that key conflicts.
func (m *billingMachine) Retry(t *rapid.T) {
	if m.last == nil {
		t.Skip("nothing committed yet")
	}
	before := billingDump(t, m.f.store)
	got, err := m.last.run(m.last.key)
	require.NoError(t, err)
	billingSameJSON(t, m.last.result, got, "a retry returned another result")
	_, err = m.last.other(m.last.key)
	billingExpect(t, err, license.Conflict)
	require.Equal(t, before, billingDump(t, m.f.store), "a retry changed the store")
}

// Foreign tries to touch the other company's site: not found, nothing changes.
func (m *billingMachine) Foreign(t *rapid.T) {
	ctx := context.Background()
	before := billingDump(t, m.f.store)
	var err error
	switch rapid.IntRange(0, 3).Draw(t, "op") {
	case 0:
		_, err = m.f.svc.Purchase(ctx, m.f.owner, billing.PurchaseRequest{Site: m.evil, Quantity: 1, IdempotencyKey: m.key()})
	case 1:
		_, err = m.f.svc.Decrease(ctx, m.f.owner, billing.DecreaseRequest{Site: m.evil, Quantity: 1, IdempotencyKey: m.key()})
	case 2:
		_, err = m.f.svc.Transfer(ctx, m.f.owner, billing.TransferRequest{From: m.evil, To: m.sites[0].id, Quantity: 1, IdempotencyKey: m.key()})
	default:
		_, err = m.f.svc.Enroll(ctx, m.f.system, billing.EnrollRequest{Site: m.evil, Devices: 1})
	}
	billingExpect(t, err, license.NotFound)
	require.Equal(t, before, billingDump(t, m.f.store))
}

// Check compares the store with the model.
func (m *billingMachine) Check(t *rapid.T) {
	sites, err := m.f.svc.Sites(context.Background(), m.f.owner)
	require.NoError(t, err)
	require.Len(t, sites, len(m.sites))
	byID := map[string]billing.Site{}
	var sum int64
	for _, s := range sites {
		byID[s.ID] = s
		if s.Licenses != nil {
			require.GreaterOrEqual(t, *s.Licenses, s.Enrolled, "site %s has fewer licenses than enrolled devices", s.Name)
		}
		sum += s.LicenseCount()
	}
	for _, ms := range m.sites {
		s := byID[ms.id]
		require.Equal(t, ms.enrolled, s.Enrolled, "site %s enrolled", ms.name)
		require.Equal(t, ms.licenses == nil, s.Licenses == nil, "site %s: license amount set", ms.name)
		require.Equal(t, ms.count(), s.LicenseCount(), "site %s licenses", ms.name)
	}
	require.Equal(t, m.initialSum+m.purchased-m.decreased, sum, "the sum of licenses changed other than by purchases and decreases")
	evs := billingEvents(t, m.f.store, "acme")
	require.Equal(t, m.events, len(evs), "every committed change has exactly one event (events in the log, want vs got)")
	// The stored counts can be recomputed from the events alone.
	licenses, enrolled := billingReplay(t, evs)
	for _, ms := range m.sites {
		require.Equal(t, ms.count(), licenses[ms.id], "site %s: licenses recomputed from events", ms.name)
		require.Equal(t, ms.enrolled, enrolled[ms.id], "site %s: enrolled recomputed from events", ms.name)
	}
}

// billingReplay recomputes each site's licenses and enrolled devices from the
// billing events of one company.
func billingReplay(t billingT, evs []eventlog.Event) (licenses, enrolled map[string]int64) {
	t.Helper()
	licenses, enrolled = map[string]int64{}, map[string]int64{}
	for _, e := range evs {
		switch e.Type {
		case billing.EventSiteCreated:
			licenses[e.Subject] = e.Count
		case billing.EventPurchase:
			licenses[e.Subject] += e.Count
		case billing.EventDecrease:
			licenses[e.Subject] -= e.Count
		case billing.EventTransfer:
			var q billing.TransferQuote
			require.NoError(t, json.Unmarshal(e.Details, &q))
			require.Equal(t, e.Subject, q.From.Site)
			require.Equal(t, e.Count, q.Transferred)
			licenses[q.From.Site] -= e.Count
			licenses[q.To.Site] += e.Count
		case billing.EventEnroll:
			enrolled[e.Subject] += e.Count
		case billing.EventUnenroll:
			enrolled[e.Subject] -= e.Count
		}
	}
	return licenses, enrolled
}

func (m *billingMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"enroll":   m.Enroll,
		"unenroll": m.Unenroll,
		"purchase": m.Purchase,
		"decrease": m.Decrease,
		"transfer": m.Transfer,
		"retry":    m.Retry,
		"foreign":  m.Foreign,
		"":         m.Check,
	}
}

// billingRapid runs prop as a rapid property on at most 40 inputs (8 with
// Features.Short), so that durable stores stay fast; -rapid.checks can lower
// the count further. Once a run fails, every later run (rapid's shrinking and
// its final replay) executes in full, so the failure is shrunk and reported.
func billingRapid(t *testing.T, f Features, prop func(*rapid.T)) {
	budget := 40
	if f.Short {
		budget = 8
	}
	passed, failed := 0, false
	rapid.Check(t, func(rt *rapid.T) {
		if passed >= budget && !failed {
			return
		}
		ok := false
		defer func() {
			if !ok {
				failed = true // shrinking and the final replay must run in full
			}
		}()
		prop(rt)
		ok = true
		passed++
	})
}

func testBillingMachine(t *testing.T, newStore Factory, f Features) {
	billingRapid(t, f, func(rt *rapid.T) {
		m := newBillingMachine(rt, newStore(t), nil)
		rt.Repeat(m.actions())
	})
}

func testBillingMachineFaulty(t *testing.T, newStore Factory, f Features) {
	billingRapid(t, f, func(rt *rapid.T) {
		fs := NewFaulty(newStore(t))
		m := newBillingMachine(rt, fs, fs)
		rt.Repeat(m.actions())
		require.NoError(rt, fs.Store.Ping(context.Background()))
	})
}

// The billing requests with an idempotency key set.
func withPurchaseKey(r billing.PurchaseRequest, k string) billing.PurchaseRequest {
	r.IdempotencyKey = k
	return r
}

func withDecreaseKey(r billing.DecreaseRequest, k string) billing.DecreaseRequest {
	r.IdempotencyKey = k
	return r
}

func withTransferKey(r billing.TransferRequest, k string) billing.TransferRequest {
	r.IdempotencyKey = k
	return r
}
