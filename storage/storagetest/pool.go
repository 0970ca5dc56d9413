package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
)

// The "pool" suite checks package pool's behaviour (every attribute of a
// license pool, its lifecycle, allocation and quarantine) and its invariants on a store: allocated + quarantined +
// available == total (+ shortfall), no over-allocation, stored counters equal a
// recount of the records, failed operations change nothing, and concurrent
// allocations never oversubscribe.
func init() {
	Register("pool",
		Test{"Lifecycle", poolTestLifecycle},
		Test{"BadInputChangesNothing", poolTestBadInput},
		Test{"MetricChangeNeedsUnallocate", poolTestMetricChange},
		Test{"TransactionsAndRentalShortfall", poolTestTransactions},
		Test{"UnitPriceVisibility", poolTestPrices},
		Test{"Reassign", poolTestReassign},
		Test{"Metrics", poolTestMetrics},
		Test{"ConcurrentLeases", poolTestLeases},
		Test{"Restrictions", poolTestRestrictions},
		Test{"FormAllocations", poolTestForm},
		Test{"Quarantine", poolTestQuarantine},
		Test{"Unmanaged", poolTestUnmanaged},
		Test{"SoftwareInventory", poolTestInventory},
		Test{"PriorityAndTies", poolTestPriority},
		Test{"ServiceContract", poolTestServiceContract},
		Test{"PackageDistribution", poolTestDistribution},
		Test{"StatusPane", poolTestStatusPane},
		Test{"AttachmentsAndComments", poolTestAttachments},
		Test{"Tenants", poolTestTenants},
		Test{"Idempotency", poolTestIdempotency},
		Test{"PreviewEqualsCommit", poolTestPreview},
		Test{"Events", poolTestEvents},
		Test{"ConcurrentAllocate", poolTestConcurrentAllocate},
		Test{"StateMachine", poolTestStateMachine},
		Test{"StateMachineFaulty", poolTestStateMachineFaulty},
	)
}

var poolT0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

type poolEnv struct {
	t      *testing.T
	ctx    context.Context
	store  storage.Store
	clock  *licensetest.Clock
	blobs  *pool.MemoryBlobs
	svc    *pool.Service
	admin  license.Actor
	viewer license.Actor
}

func newPoolEnv(t *testing.T, newStore Factory) *poolEnv {
	st := newStore(t)
	clock := licensetest.NewClock(poolT0)
	blobs := pool.NewMemoryBlobs(1 << 10)
	return &poolEnv{
		t: t, ctx: context.Background(), store: st, clock: clock, blobs: blobs,
		svc:    &pool.Service{Store: st, Clock: clock, Blobs: blobs},
		admin:  license.Actor{Company: "acme", Email: "admin@acme.example", Role: license.Admin},
		viewer: license.Actor{Company: "acme", Email: "viewer@acme.example", Role: license.Viewer},
	}
}

func poolSpec(name string, m license.Metric) pool.Spec {
	return pool.Spec{Name: name, Model: license.Perpetual, Metric: m, Software: []string{"Office"}}
}

func (e *poolEnv) create(spec pool.Spec) *pool.Pool {
	e.t.Helper()
	p, err := e.svc.Create(e.ctx, e.admin, pool.CreateRequest{Spec: spec})
	require.NoError(e.t, err)
	return p
}

func (e *poolEnv) buy(id string, n int64) {
	e.t.Helper()
	_, err := e.svc.AddTransaction(e.ctx, e.admin, id, pool.TransactionInput{Kind: pool.TxPurchase, Count: n})
	require.NoError(e.t, err)
}

func (e *poolEnv) counts(id string) pool.Counts {
	e.t.Helper()
	pane, err := e.svc.Status(e.ctx, e.admin, id)
	require.NoError(e.t, err)
	poolCheckInvariant(e.t, pane.Counts)
	a, err := e.svc.Audit(e.ctx, e.admin, id)
	require.NoError(e.t, err)
	require.True(e.t, a.Consistent(), "stored counters %+v differ from the recount %+v", a.Stored, a.Recomputed)
	require.Equal(e.t, pane.Counts, a.Counts, "status pane differs from the counts recomputed from records")
	return pane.Counts
}

func (e *poolEnv) asset(id string) pool.AllocateRequest {
	return pool.AllocateRequest{Consumer: license.Consumer{Asset: id, User: "owner-of-" + id}}
}

func poolCheckInvariant(t testing.TB, c pool.Counts) {
	t.Helper()
	require.Equal(t, c.Total+c.Shortfall, c.Allocated+c.Quarantined+c.Available, "allocated + quarantined + available != total (+ shortfall): %+v", c)
	require.Equal(t, c.AllocatedAutomatically+c.AllocatedManually, c.Allocated, "allocated != automatic + manual: %+v", c)
	require.GreaterOrEqual(t, c.Available, int64(0))
	require.GreaterOrEqual(t, c.Quarantined, int64(0))
	if c.Shortfall > 0 {
		require.Zero(t, c.Available, "a shortfall with licenses available: %+v", c)
	}
}

// poolCode asserts err is a *license.Error with code (and field, when given).
func poolCode(t testing.TB, err error, code license.Code, field string) {
	t.Helper()
	require.Error(t, err, "expected a %s error", code)
	var le *license.Error
	require.True(t, errors.As(err, &le), "error %v is not a *license.Error", err)
	require.Equal(t, code, le.Code, "error: %v", err)
	if field != "" {
		require.Equal(t, field, le.Field, "error: %v", err)
	}
	require.NotEmpty(t, le.Message)
}

// poolSnapshot is everything a company holds in the pool kinds plus its event count.
type poolSnapshot struct {
	Records map[string]string
	Events  int64
}

func poolSnap(t require.TestingT, st storage.Store, company string) poolSnapshot {
	s := poolSnapshot{Records: map[string]string{}}
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		for _, k := range []storage.Kind{pool.KindPool, pool.KindAllocation, pool.KindLease, storage.KindIdempotency} {
			recs, err := tx.List(context.Background(), storage.ListQuery{Company: company, Kind: k})
			if err != nil {
				return err
			}
			for _, r := range recs {
				s.Records[string(k)+"/"+r.ID] = r.Parent + "|" + string(r.Data)
			}
		}
		n, err := tx.CountEvents(context.Background(), eventlog.Filter{Company: company})
		s.Events = n
		return err
	}))
	return s
}

func poolTestLifecycle(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	fresh := pool.New("acme", poolSpec("draft", license.NamedUser))
	assert.Equal(t, pool.StatusNew, fresh.Status, "an unsaved pool is New")

	p := e.create(poolSpec("  Office named users  ", license.NamedUser))
	assert.True(t, license.ValidID(p.ID), "GUID %q", p.ID)
	assert.Equal(t, pool.StatusActive, p.Status)
	assert.Equal(t, "Office named users", p.Name)
	e.buy(p.ID, 2)

	_, err := e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "u1"}})
	require.NoError(t, err)
	closed, err := e.svc.Close(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.Equal(t, pool.StatusClosed, closed.Status)
	_, err = e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "u2"}})
	poolCode(t, err, license.Conflict, "status")
	got, err := e.svc.Get(e.ctx, e.viewer, p.ID)
	require.NoError(t, err, "a closed pool stays viewable")
	assert.Equal(t, pool.StatusClosed, got.Status)
	_, err = e.svc.Close(e.ctx, e.admin, p.ID)
	poolCode(t, err, license.Conflict, "status")

	_, err = e.svc.Retire(e.ctx, e.admin, p.ID)
	poolCode(t, err, license.Conflict, "status") // still holds an allocation
	allocs, err := e.svc.Allocations(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	require.Len(t, allocs, 1)
	_, err = e.svc.Release(e.ctx, e.admin, p.ID, allocs[0].ID)
	require.NoError(t, err, "releasing from a closed pool is allowed")
	r, err := e.svc.Retire(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.Equal(t, pool.StatusRetired, r.Status)
	_, err = e.svc.Retire(e.ctx, e.admin, p.ID)
	poolCode(t, err, license.Conflict, "status")
	_, err = e.svc.Update(e.ctx, e.admin, p.ID, poolSpec("renamed", license.NamedUser))
	poolCode(t, err, license.Conflict, "status")
	_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1})
	poolCode(t, err, license.Conflict, "status")

	other := e.create(poolSpec("other", license.InstalledInstance))
	ls, err := e.svc.List(e.ctx, e.viewer, pool.ListOptions{})
	require.NoError(t, err)
	require.Len(t, ls, 1, "retired pools are left out of default listings")
	assert.Equal(t, other.ID, ls[0].ID)
	ls, err = e.svc.List(e.ctx, e.viewer, pool.ListOptions{IncludeRetired: true})
	require.NoError(t, err)
	require.Len(t, ls, 2)
	assert.Equal(t, p.ID, ls[0].ID, "listing is in creation order")

	third0 := e.create(pool.Spec{Name: "visio", Model: license.Perpetual, Metric: license.NamedUser, Software: []string{"Visio", "Office"}})
	ls, err = e.svc.List(e.ctx, e.viewer, pool.ListOptions{Software: "Visio"})
	require.NoError(t, err)
	require.Len(t, ls, 1)
	assert.Equal(t, third0.ID, ls[0].ID)
	ls, err = e.svc.List(e.ctx, e.viewer, pool.ListOptions{Software: "Office"})
	require.NoError(t, err)
	require.Len(t, ls, 2, "retired pools stay out of software listings too")

	// Active → Retired directly is legal too.
	_, err = e.svc.Retire(e.ctx, e.admin, other.ID)
	require.NoError(t, err)
	_, err = e.svc.Close(e.ctx, e.admin, other.ID)
	poolCode(t, err, license.Conflict, "status")

	// Updates keep the ID and apply every editable attribute.
	third := e.create(poolSpec("third", license.InstalledInstance))
	spec := poolSpec("third v2", license.InstalledInstance)
	spec.SupplyContract, spec.LicenseAgreement, spec.Description = "SC-1", "EA-7", "floor 3"
	spec.Responsible = pool.Responsible{Purchase: "pat", Technical: "tess", Owner: "olga"}
	spec.Software = []string{"Office", "Visio"}
	up, err := e.svc.Update(e.ctx, e.admin, third.ID, spec)
	require.NoError(t, err)
	assert.Equal(t, third.ID, up.ID)
	got, err = e.svc.Get(e.ctx, e.viewer, third.ID)
	require.NoError(t, err)
	assert.Equal(t, "third v2", got.Name)
	assert.Equal(t, pool.Responsible{Purchase: "pat", Technical: "tess", Owner: "olga"}, got.Responsible)
	assert.Equal(t, []string{"Office", "Visio"}, got.Software)
	assert.Equal(t, "SC-1", got.SupplyContract)
	assert.Equal(t, "EA-7", got.LicenseAgreement)
	assert.Equal(t, "floor 3", got.Description)
}

func poolTestBadInput(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	p := e.create(poolSpec("base", license.InstalledInstance))
	e.buy(p.ID, 1)
	before := poolSnap(t, e.store, "acme")

	long := strings.Repeat("é", pool.MaxNameLength) // 250 characters, 500 bytes: accepted
	ok, err := e.svc.Create(e.ctx, e.admin, pool.CreateRequest{Spec: poolSpec(long, license.NamedUser)})
	require.NoError(t, err, "250 characters are allowed however many bytes they take")
	require.Equal(t, long, ok.Name)
	stored, err := e.svc.Get(e.ctx, e.viewer, ok.ID)
	require.NoError(t, err)
	require.Equal(t, long, stored.Name, "the 250-character name is stored whole")
	require.Equal(t, pool.MaxNameLength, utf8.RuneCountInString(stored.Name))
	require.Len(t, stored.Name, 2*pool.MaxNameLength, "500 bytes")
	before = poolSnap(t, e.store, "acme")

	mut := func(f func(*pool.Spec)) pool.Spec {
		s := poolSpec("x", license.InstalledInstance)
		f(&s)
		return s
	}
	specs := []struct {
		field string
		spec  pool.Spec
	}{
		{"name", mut(func(s *pool.Spec) { s.Name = "   " })},
		{"name", mut(func(s *pool.Spec) { s.Name = long + "x" })},
		{"model", mut(func(s *pool.Spec) { s.Model = "lease" })},
		{"metric", mut(func(s *pool.Spec) { s.Metric = "per_seat" })},
		{"software", mut(func(s *pool.Spec) { s.Software = []string{" ", ""} })},
		{"supply_contract", mut(func(s *pool.Spec) { s.SupplyContract = strings.Repeat("c", 251) })},
		{"responsible.owner", mut(func(s *pool.Spec) { s.Responsible.Owner = strings.Repeat("o", 251) })},
		{"restrictions.company", mut(func(s *pool.Spec) { s.Metric = license.NamedUser; s.Restrictions.Companies = []string{"Acme Oy"} })},
		{"min_allocation_days", mut(func(s *pool.Spec) { s.MinAllocationDays = -1 })},
		{"lease_ttl", mut(func(s *pool.Spec) { s.LeaseTTL = time.Second })},
		{"automatic.rule", mut(func(s *pool.Spec) { s.Automatic = pool.Automatic{Enabled: true} })},
		{"automatic.rule", mut(func(s *pool.Spec) {
			s.Metric = license.PhysicalCPU
			s.Automatic = pool.Automatic{Enabled: true, Rule: pool.RuleSoftwareInventory}
		})},
		{"automatic.rule", mut(func(s *pool.Spec) {
			s.Metric = license.NamedUser
			s.Automatic = pool.Automatic{Enabled: true, Rule: pool.RulePackageDistribution}
		})},
		{"automatic.contract", mut(func(s *pool.Spec) { s.Automatic = pool.Automatic{Enabled: true, Rule: pool.RuleServiceContract} })},
	}
	for _, tc := range specs {
		_, err := e.svc.Create(e.ctx, e.admin, pool.CreateRequest{Spec: tc.spec})
		poolCode(t, err, license.Invalid, tc.field)
		_, err = e.svc.Update(e.ctx, e.admin, p.ID, tc.spec)
		poolCode(t, err, license.Invalid, tc.field)
	}

	// Bad input to every other operation.
	_, err = e.svc.Get(e.ctx, e.admin, "not-a-uuid")
	poolCode(t, err, license.Invalid, "pool")
	_, err = e.svc.Get(e.ctx, e.admin, license.NewID())
	poolCode(t, err, license.NotFound, "pool")
	_, err = e.svc.Create(e.ctx, license.Actor{Company: "acme", Email: "nope", Role: license.Admin}, pool.CreateRequest{Spec: poolSpec("a", license.NamedUser)})
	poolCode(t, err, license.Invalid, "actor")
	_, err = e.svc.Create(e.ctx, e.viewer, pool.CreateRequest{Spec: poolSpec("a", license.NamedUser)})
	poolCode(t, err, license.Forbidden, "role")
	price := license.NewMoney(decimal.NewFromInt(-1), "EUR")
	txs := []struct {
		field string
		in    pool.TransactionInput
	}{
		{"kind", pool.TransactionInput{Kind: "gift", Count: 1}},
		{"kind", pool.TransactionInput{Kind: pool.TxReassignIn, Count: 1}},
		{"kind", pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: 1, Period: license.Period{Start: poolT0, End: poolT0.AddDate(1, 0, 0)}}},
		{"count", pool.TransactionInput{Kind: pool.TxPurchase, Count: 0}},
		{"count", pool.TransactionInput{Kind: pool.TxPurchase, Count: -5}},
		{"unit_price", pool.TransactionInput{Kind: pool.TxPurchase, Count: 1, UnitPrice: &price}},
		{"unit_price", pool.TransactionInput{Kind: pool.TxPurchase, Count: 1, UnitPrice: &license.Money{Amount: decimal.NewFromInt(1), Currency: "XXX"}}},
		{"period", pool.TransactionInput{Kind: pool.TxMaintenance, Period: license.Period{Start: poolT0}}},
		{"period", pool.TransactionInput{Kind: pool.TxMaintenance, Period: license.Period{Start: poolT0, End: poolT0.Add(-time.Hour)}}},
		{"period", pool.TransactionInput{Kind: pool.TxPurchase, Count: 1, Period: license.Period{Start: poolT0}}},
		{"order_number", pool.TransactionInput{Kind: pool.TxPurchase, Count: 1, OrderNumber: strings.Repeat("9", 251)}},
	}
	for _, tc := range txs {
		_, err := e.svc.AddTransaction(e.ctx, e.admin, p.ID, tc.in)
		poolCode(t, err, license.Invalid, tc.field)
	}
	allocs := []struct {
		field string
		req   pool.AllocateRequest
	}{
		{"amount", pool.AllocateRequest{}},
		{"amount", pool.AllocateRequest{Amount: -1}},
		{"amount", pool.AllocateRequest{Consumer: license.Consumer{Asset: "a1"}, Amount: 2}},
		{"consumer.asset", pool.AllocateRequest{Consumer: license.Consumer{User: "only-a-user"}}},
		{"software", pool.AllocateRequest{Consumer: license.Consumer{Asset: "a1"}, Software: "Photoshop"}},
		{"consumer.asset", pool.AllocateRequest{Consumer: license.Consumer{Asset: strings.Repeat("a", 251)}}},
		{"consumer.location", pool.AllocateRequest{Consumer: license.Consumer{Asset: "a1", Location: strings.Repeat("l", 251)}}},
		{"consumer.cpus", pool.AllocateRequest{Consumer: license.Consumer{Asset: "a1", CPUs: -1}}},
		{"consumer.user_assets", pool.AllocateRequest{Consumer: license.Consumer{Asset: "a1", UserAssets: make([]string, 1001)}}},
	}
	for _, tc := range allocs {
		_, err := e.svc.Allocate(e.ctx, e.admin, p.ID, tc.req)
		poolCode(t, err, license.Invalid, tc.field)
	}
	_, err = e.svc.Release(e.ctx, e.admin, p.ID, "")
	poolCode(t, err, license.Invalid, "allocation")
	_, err = e.svc.Release(e.ctx, e.admin, p.ID, "feedface")
	poolCode(t, err, license.NotFound, "allocation")
	_, err = e.svc.Reassign(e.ctx, e.admin, p.ID, pool.ReassignRequest{To: p.ID, Count: 1})
	poolCode(t, err, license.Invalid, "target")
	_, err = e.svc.Reassign(e.ctx, e.admin, p.ID, pool.ReassignRequest{To: license.NewID(), Count: 0})
	poolCode(t, err, license.Invalid, "count")
	_, err = e.svc.Reassign(e.ctx, e.admin, p.ID, pool.ReassignRequest{To: license.NewID(), Count: 1})
	poolCode(t, err, license.NotFound, "target")
	_, err = e.svc.AcquireLease(e.ctx, e.admin, p.ID, pool.LeaseRequest{Consumer: license.Consumer{User: "u"}})
	poolCode(t, err, license.Invalid, "metric")
	_, err = e.svc.AddComment(e.ctx, e.admin, p.ID, pool.CommentRequest{Text: "  "})
	poolCode(t, err, license.Invalid, "comment")
	_, err = e.svc.AddAttachment(e.ctx, e.admin, p.ID, pool.AttachmentInput{Name: "", Data: []byte("x")})
	poolCode(t, err, license.Invalid, "name")
	_, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: "seen", Software: "Office"})
	poolCode(t, err, license.Invalid, "kind")
	_, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactInstalled, Consumer: license.Consumer{Asset: "a"}})
	poolCode(t, err, license.Invalid, "software")
	_, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactResponsibleChanged, Consumer: license.Consumer{Asset: "a"}})
	poolCode(t, err, license.Invalid, "previous_user")
	_, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactContractBound, Software: "Office", Consumer: license.Consumer{Asset: "a"}})
	poolCode(t, err, license.Invalid, "contract")

	assert.Equal(t, before, poolSnap(t, e.store, "acme"), "bad input changed stored state")
}

func poolTestMetricChange(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	p := e.create(poolSpec("p", license.InstalledInstance))
	e.buy(p.ID, 3)
	al, err := e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset("a1"))
	require.NoError(t, err)
	_, err = e.svc.Update(e.ctx, e.admin, p.ID, poolSpec("p", license.NamedUser))
	poolCode(t, err, license.Conflict, "metric")
	assert.Contains(t, license.ErrorMessage(err), "unallocate")
	// Other attributes can still change with allocations present.
	spec := poolSpec("p renamed", license.InstalledInstance)
	_, err = e.svc.Update(e.ctx, e.admin, p.ID, spec)
	require.NoError(t, err)
	_, err = e.svc.Release(e.ctx, e.admin, p.ID, al.ID)
	require.NoError(t, err)
	up, err := e.svc.Update(e.ctx, e.admin, p.ID, poolSpec("p", license.NamedUser))
	require.NoError(t, err, "after unallocating, licensed by can change")
	assert.Equal(t, license.NamedUser, up.Metric)
	rental := poolSpec("p", license.NamedUser)
	rental.Model = license.Rental
	_, err = e.svc.Update(e.ctx, e.admin, p.ID, rental)
	poolCode(t, err, license.Conflict, "model")
}

func poolTestTransactions(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("rented", license.InstalledInstance)
	spec.Model = license.Rental
	p := e.create(spec)
	jan := license.Period{Start: poolT0, End: poolT0.AddDate(0, 1, 0)}
	jan2 := license.Period{Start: poolT0, End: poolT0.AddDate(0, 2, 0)}
	_, err := e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: 3, Period: jan})
	require.NoError(t, err)
	_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: 2, Period: jan2})
	require.NoError(t, err)
	_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxMaintenance, Period: jan2, OrderNumber: "M-1"})
	require.NoError(t, err)
	_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxUpgrade, Count: 2, Note: "to v2"})
	require.NoError(t, err)
	_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1})
	poolCode(t, err, license.Invalid, "kind")
	assert.Equal(t, int64(5), e.counts(p.ID).Total, "maintenance and upgrade do not change the total")

	for _, a := range []string{"a1", "a2", "a3", "a4"} {
		_, err := e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset(a))
		require.NoError(t, err)
	}
	e.clock.Set(jan.End) // the first rental period ends: its 3 licenses stop counting
	c := e.counts(p.ID)
	assert.Equal(t, pool.Counts{Total: 2, AllocatedManually: 4, Allocated: 4, Shortfall: 2}, c)
	_, err = e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset("a5"))
	poolCode(t, err, license.InsufficientLicenses, "pool")
	allocs, err := e.svc.Allocations(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.Len(t, allocs, 4, "nothing is deleted silently when a rental period ends")
	got, err := e.svc.Get(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	require.Len(t, got.Transactions, 4, "ended transactions are kept")
	var statuses []pool.TxStatus
	for _, tx := range got.Transactions {
		statuses = append(statuses, tx.Status)
	}
	assert.Equal(t, []pool.TxStatus{pool.TxEnded, pool.TxActive, pool.TxActive, pool.TxActive}, statuses)

	// Renewing covers the shortfall again.
	_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxRentalPeriod, Count: 3, Period: license.Period{Start: jan.End, End: jan.End.AddDate(1, 0, 0)}})
	require.NoError(t, err)
	c = e.counts(p.ID)
	assert.Equal(t, pool.Counts{Total: 5, Available: 1, AllocatedManually: 4, Allocated: 4}, c)
	e.clock.Set(jan.End.AddDate(2, 0, 0))
	assert.Equal(t, int64(0), e.counts(p.ID).Total, "every rental period has ended")

	// Pure: purchases count from their date.
	txs := []pool.Transaction{{Kind: pool.TxPurchase, Count: 4, Date: poolT0}}
	assert.Equal(t, int64(0), pool.TotalAt(txs, poolT0.Add(-time.Second)))
	assert.Equal(t, int64(4), pool.TotalAt(txs, poolT0))
}

func poolTestPrices(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	p := e.create(poolSpec("priced", license.NamedUser))
	price, err := license.ParseMoney("12.50", "EUR")
	require.NoError(t, err)
	tx, err := e.svc.AddTransaction(e.ctx, e.admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 10, UnitPrice: &price, OrderNumber: "PO-42", Date: poolT0.AddDate(0, 0, -3)})
	require.NoError(t, err)
	require.NotNil(t, tx.UnitPrice)
	assert.True(t, tx.UnitPrice.Equal(price))
	assert.Equal(t, "PO-42", tx.OrderNumber)
	assert.Equal(t, poolT0.AddDate(0, 0, -3), tx.Date)
	for _, role := range []license.Role{license.Owner, license.Admin, license.Editor, license.LicenseAdmin} {
		got, err := e.svc.Get(e.ctx, license.Actor{Company: "acme", Email: "r@acme.example", Role: role}, p.ID)
		require.NoError(t, err)
		require.NotNil(t, got.Transactions[0].UnitPrice, "role %s sees unit prices", role)
		assert.Equal(t, "12.50 EUR", got.Transactions[0].UnitPrice.String())
	}
	got, err := e.svc.Get(e.ctx, e.viewer, p.ID)
	require.NoError(t, err)
	assert.Nil(t, got.Transactions[0].UnitPrice, "a viewer does not see unit prices")
	assert.Equal(t, int64(10), got.Transactions[0].Count)
	ls, err := e.svc.List(e.ctx, e.viewer, pool.ListOptions{})
	require.NoError(t, err)
	assert.Nil(t, ls[0].Transactions[0].UnitPrice)
	// The stored price is not lost by a viewer's read.
	got, err = e.svc.Get(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.NotNil(t, got.Transactions[0].UnitPrice)
}

func poolTestReassign(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	a := e.create(poolSpec("A", license.InstalledInstance))
	b := e.create(poolSpec("B", license.NamedUser))
	e.buy(a.ID, 5)
	e.buy(b.ID, 1)
	_, err := e.svc.Allocate(e.ctx, e.admin, a.ID, e.asset("x1"))
	require.NoError(t, err)
	_, err = e.svc.Reassign(e.ctx, e.admin, a.ID, pool.ReassignRequest{To: b.ID, Count: 5})
	poolCode(t, err, license.InsufficientLicenses, "pool")
	r, err := e.svc.Reassign(e.ctx, e.admin, a.ID, pool.ReassignRequest{To: b.ID, Count: 3})
	require.NoError(t, err)
	assert.Equal(t, pool.TxReassignOut, r.Out.Kind)
	assert.Equal(t, pool.TxReassignIn, r.In.Kind)
	assert.Equal(t, b.ID, r.Out.Counterpart)
	assert.Equal(t, a.ID, r.In.Counterpart)
	ca, cb := e.counts(a.ID), e.counts(b.ID)
	assert.Equal(t, int64(2), ca.Total)
	assert.Equal(t, int64(4), cb.Total)
	assert.Equal(t, int64(6), ca.Total+cb.Total, "reassign conserves licenses")
	ga, _ := e.svc.Get(e.ctx, e.admin, a.ID)
	gb, _ := e.svc.Get(e.ctx, e.admin, b.ID)
	assert.Equal(t, pool.TxReassignOut, ga.Transactions[len(ga.Transactions)-1].Kind)
	assert.Equal(t, pool.TxReassignIn, gb.Transactions[len(gb.Transactions)-1].Kind)

	spec := poolSpec("R", license.NamedUser)
	spec.Model = license.Rental
	rp := e.create(spec)
	_, err = e.svc.Reassign(e.ctx, e.admin, a.ID, pool.ReassignRequest{To: rp.ID, Count: 1})
	poolCode(t, err, license.Conflict, "model")
	// Another company's pool is not found.
	otherCo := license.Actor{Company: "globex", Email: "g@globex.example", Role: license.Admin}
	gp, err := e.svc.Create(e.ctx, otherCo, pool.CreateRequest{Spec: poolSpec("G", license.NamedUser)})
	require.NoError(t, err)
	_, err = e.svc.Reassign(e.ctx, e.admin, a.ID, pool.ReassignRequest{To: gp.ID, Count: 1})
	poolCode(t, err, license.NotFound, "target")
	assert.Equal(t, int64(2), e.counts(a.ID).Total)
}

func poolTestMetrics(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	alloc := func(id string, c license.Consumer) (pool.Allocation, error) {
		return e.svc.Allocate(e.ctx, e.admin, id, pool.AllocateRequest{Consumer: c})
	}

	named := e.create(poolSpec("named", license.NamedUser))
	e.buy(named.ID, 2)
	al, err := alloc(named.ID, license.Consumer{User: "ann", Asset: "laptop", UserAssets: []string{"desktop", "tablet"}})
	require.NoError(t, err)
	assert.Equal(t, int64(1), al.Units)
	assert.Equal(t, []string{"laptop", "desktop", "tablet"}, al.Covers)
	_, err = alloc(named.ID, license.Consumer{User: "ann", Asset: "desktop"})
	poolCode(t, err, license.Conflict, "consumer") // one license per user, whatever the asset
	assert.Equal(t, int64(1), e.counts(named.ID).Allocated)

	inst := e.create(poolSpec("inst", license.InstalledInstance))
	e.buy(inst.ID, 2)
	_, err = alloc(inst.ID, license.Consumer{User: "ann", Asset: "laptop"})
	require.NoError(t, err)
	_, err = alloc(inst.ID, license.Consumer{User: "ann", Asset: "desktop"})
	require.NoError(t, err, "one license per installation: the same user's second asset takes another")
	_, err = alloc(inst.ID, license.Consumer{User: "ann", Asset: "tablet"})
	poolCode(t, err, license.InsufficientLicenses, "pool")
	assert.Equal(t, int64(2), e.counts(inst.ID).Allocated)

	srv := e.create(poolSpec("server", license.PhysicalServer))
	e.buy(srv.ID, 2)
	_, err = alloc(srv.ID, license.Consumer{Asset: "vm1", Server: "host1"})
	require.NoError(t, err)
	_, err = alloc(srv.ID, license.Consumer{Asset: "vm2", Server: "host1"})
	poolCode(t, err, license.Conflict, "consumer") // one per server
	_, err = alloc(srv.ID, license.Consumer{Asset: "host2"})
	require.NoError(t, err, "an asset without a server is its own server")
	assert.Equal(t, int64(2), e.counts(srv.ID).Allocated)

	cpu := e.create(poolSpec("cpu", license.PhysicalCPU))
	e.buy(cpu.ID, 6)
	_, err = alloc(cpu.ID, license.Consumer{Asset: "vm1", Server: "host1"})
	poolCode(t, err, license.Invalid, "consumer.cpus")
	al, err = alloc(cpu.ID, license.Consumer{Asset: "vm1", Server: "host1", CPUs: 4})
	require.NoError(t, err)
	assert.Equal(t, int64(4), al.Units)
	_, err = alloc(cpu.ID, license.Consumer{Asset: "db", CPUs: 4})
	poolCode(t, err, license.InsufficientLicenses, "pool")
	_, err = alloc(cpu.ID, license.Consumer{Asset: "db", CPUs: 2})
	require.NoError(t, err)
	c := e.counts(cpu.ID)
	assert.Equal(t, int64(6), c.Allocated)
	assert.Equal(t, int64(0), c.Available)

	conc := e.create(poolSpec("conc", license.ConcurrentUser))
	e.buy(conc.ID, 1)
	_, err = alloc(conc.ID, license.Consumer{User: "ann"})
	poolCode(t, err, license.Invalid, "metric")

	// Pure demand per metric.
	for _, tc := range []struct {
		m     license.Metric
		c     license.Consumer
		key   string
		units int64
	}{
		{license.NamedUser, license.Consumer{User: "u", Asset: "a"}, "user:u", 1},
		{license.ConcurrentUser, license.Consumer{User: "u"}, "user:u", 1},
		{license.InstalledInstance, license.Consumer{User: "u", Asset: "a"}, "asset:a", 1},
		{license.PhysicalServer, license.Consumer{Asset: "a", Server: "s"}, "server:s", 1},
		{license.PhysicalCPU, license.Consumer{Asset: "a", CPUs: 8}, "server:a", 8},
	} {
		d, err := pool.DemandOf(tc.m, tc.c)
		require.NoError(t, err)
		assert.Equal(t, pool.Demand{Key: tc.key, Units: tc.units}, d, "metric %s", tc.m)
	}
}

func poolTestLeases(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("conc", license.ConcurrentUser)
	spec.LeaseTTL = time.Minute
	spec.MinAllocationDays = 30 // does not apply to leases
	p := e.create(spec)
	e.buy(p.ID, 2)
	lease := func(u string) (pool.Lease, error) {
		return e.svc.AcquireLease(e.ctx, e.admin, p.ID, pool.LeaseRequest{Consumer: license.Consumer{User: u}})
	}
	la, err := lease("ann")
	require.NoError(t, err)
	assert.Equal(t, poolT0.Add(time.Minute), la.ExpiresAt)
	lb, err := lease("bob")
	require.NoError(t, err)
	_, err = lease("cat")
	poolCode(t, err, license.InsufficientLicenses, "pool")
	again, err := lease("ann")
	require.NoError(t, err, "a user holding a lease renews it")
	assert.Equal(t, la.ID, again.ID)
	assert.Equal(t, int64(2), e.counts(p.ID).Allocated)

	e.clock.Advance(40 * time.Second)
	_, err = e.svc.Heartbeat(e.ctx, e.admin, p.ID, la.ID)
	require.NoError(t, err)
	e.clock.Advance(40 * time.Second) // bob's heartbeat lapsed, ann's did not
	c := e.counts(p.ID)
	assert.Equal(t, int64(1), c.Allocated, "a lapsed lease no longer holds a seat")
	assert.Equal(t, int64(1), c.Available)
	_, err = e.svc.Heartbeat(e.ctx, e.admin, p.ID, lb.ID)
	poolCode(t, err, license.Expired, "lease")
	lc, err := lease("cat")
	require.NoError(t, err, "the lapsed seat is culled and reused")
	ls, err := e.svc.Leases(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.Len(t, ls, 2, "bob's lapsed lease was culled")
	require.NoError(t, e.svc.ReleaseLease(e.ctx, e.admin, p.ID, lc.ID))
	c = e.counts(p.ID)
	assert.Equal(t, int64(0), c.Quarantined, "leases are not quarantined")
	assert.Equal(t, int64(1), c.Available)
	poolCode(t, e.svc.ReleaseLease(e.ctx, e.admin, p.ID, lc.ID), license.NotFound, "lease")

	e.clock.Advance(2 * time.Minute)
	n, err := e.svc.CullLeases(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, int64(2), e.counts(p.ID).Available)
}

func poolTestRestrictions(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("restricted", license.InstalledInstance)
	spec.Restrictions = pool.Restrictions{
		AssetGroups: []string{"laptops"}, Locations: []string{"Helsinki"}, Organisations: []string{"R&D"},
		Users: []string{"ann"}, Contracts: []string{"C-1"}, CostCenters: []string{"CC-9"}, Companies: []string{"Acme Oy"},
	}
	p := e.create(spec)
	e.buy(p.ID, 5)
	good := license.Consumer{Asset: "a1", User: "ann", AssetGroups: []string{"desktops", "laptops"}, Location: "Helsinki",
		Organisation: "R&D", Contracts: []string{"C-1"}, CostCenter: "CC-9", NamedCompany: "Acme Oy"}
	before := poolSnap(t, e.store, "acme")
	for _, tc := range []struct {
		field string
		mut   func(*license.Consumer)
	}{
		{"restrictions.asset_group", func(c *license.Consumer) { c.AssetGroups = []string{"servers"} }},
		{"restrictions.location", func(c *license.Consumer) { c.Location = "Oulu" }},
		{"restrictions.organisation", func(c *license.Consumer) { c.Organisation = "" }},
		{"restrictions.user", func(c *license.Consumer) { c.User = "bob" }},
		{"restrictions.contract", func(c *license.Consumer) { c.Contracts = nil }},
		{"restrictions.cost_center", func(c *license.Consumer) { c.CostCenter = "CC-1" }},
		{"restrictions.company", func(c *license.Consumer) { c.NamedCompany = "Globex" }},
	} {
		c := good
		tc.mut(&c)
		_, err := e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Consumer: c})
		poolCode(t, err, license.RestrictionFailed, tc.field)
		assert.Contains(t, license.ErrorMessage(err), "restricted to")
	}
	assert.Equal(t, before, poolSnap(t, e.store, "acme"))
	_, err := e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Consumer: good})
	require.NoError(t, err)
	// No restrictions: anyone may use the pool.
	require.NoError(t, pool.CheckRestrictions(pool.Restrictions{}, license.NamedUser, license.Consumer{}))
	// A named-company restriction only binds asset-based metrics.
	require.NoError(t, pool.CheckRestrictions(pool.Restrictions{Companies: []string{"X"}}, license.NamedUser, license.Consumer{}))
}

func poolTestForm(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	off := e.create(poolSpec("off", license.InstalledInstance))
	spec := poolSpec("on", license.InstalledInstance)
	spec.FormAllocations = true
	on := e.create(spec)
	e.buy(off.ID, 1)
	e.buy(on.ID, 1)
	req := e.asset("a1")
	req.FromForm = true
	_, err := e.svc.Allocate(e.ctx, e.admin, off.ID, req)
	poolCode(t, err, license.Forbidden, "form_allocations")
	_, err = e.svc.Allocate(e.ctx, e.admin, on.ID, req)
	require.NoError(t, err)
	req.FromForm = false
	_, err = e.svc.Allocate(e.ctx, e.admin, off.ID, req)
	require.NoError(t, err, "allocations not made from a form are not affected")
}

func poolTestQuarantine(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("q", license.InstalledInstance)
	spec.MinAllocationDays = 30
	p := e.create(spec)
	e.buy(p.ID, 2)
	a1, err := e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset("a1"))
	require.NoError(t, err)
	_, err = e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset("a2"))
	require.NoError(t, err)
	e.clock.Advance(10 * 24 * time.Hour)
	rel, err := e.svc.Release(e.ctx, e.admin, p.ID, a1.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rel.Quarantined)
	assert.Equal(t, poolT0.AddDate(0, 0, 30), rel.Until)
	c := e.counts(p.ID)
	assert.Equal(t, pool.Counts{Total: 2, Quarantined: 1, AllocatedManually: 1, Allocated: 1}, c, "quarantined counts as neither available nor allocated")
	_, err = e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset("a3"))
	poolCode(t, err, license.Quarantined, "pool")
	e.clock.Set(rel.Until.Add(-time.Second))
	assert.Equal(t, int64(1), e.counts(p.ID).Quarantined)
	e.clock.Set(rel.Until)
	c = e.counts(p.ID)
	assert.Equal(t, pool.Counts{Total: 2, Available: 1, AllocatedManually: 1, Allocated: 1}, c, "quarantine ends at the minimum allocation time")
	a3, err := e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset("a3"))
	require.NoError(t, err)
	// a2 has been allocated for more than 30 days: releasing needs no quarantine.
	all, err := e.svc.Allocations(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	for _, al := range all {
		if al.ID != a3.ID {
			rel, err := e.svc.Release(e.ctx, e.admin, p.ID, al.ID)
			require.NoError(t, err)
			assert.Zero(t, rel.Quarantined)
		}
	}
	assert.Equal(t, int64(1), e.counts(p.ID).Available)
	assert.Equal(t, poolT0.AddDate(0, 1, 0), pool.QuarantineUntil(poolT0, 31))
}

func poolTestUnmanaged(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("u", license.NamedUser)
	spec.Restrictions.Users = []string{"ann"}
	p := e.create(spec)
	e.buy(p.ID, 10)
	al, err := e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Amount: 7})
	require.NoError(t, err)
	assert.True(t, al.Unmanaged())
	assert.Equal(t, int64(7), al.Units)
	_, err = e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Amount: 4})
	poolCode(t, err, license.InsufficientLicenses, "pool")
	al2, err := e.svc.Allocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Amount: 3})
	require.NoError(t, err)
	assert.NotEqual(t, al.ID, al2.ID)
	c := e.counts(p.ID)
	assert.Equal(t, int64(10), c.AllocatedManually)
	_, err = e.svc.Release(e.ctx, e.admin, p.ID, al.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(7), e.counts(p.ID).Available)
}

func poolAuto(name string, m license.Metric, rule pool.Rule, prio int) pool.Spec {
	s := poolSpec(name, m)
	s.Automatic = pool.Automatic{Enabled: true, Rule: rule}
	s.Priority = prio
	return s
}

func poolTestInventory(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	inst := e.create(poolAuto("inst", license.InstalledInstance, pool.RuleSoftwareInventory, 0))
	e.buy(inst.ID, 5)
	fact := func(k pool.FactKind, asset, user string) (pool.Outcome, error) {
		return e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: k, Software: "Office", Consumer: license.Consumer{Asset: asset, User: user}})
	}
	out, err := fact(pool.FactInstalled, "pc1", "ann")
	require.NoError(t, err)
	require.NotNil(t, out.Allocated)
	assert.True(t, out.Allocated.Automatic)
	assert.Equal(t, pool.RuleSoftwareInventory, out.Allocated.Rule)
	out, err = fact(pool.FactInstalled, "pc1", "ann")
	require.NoError(t, err)
	assert.Nil(t, out.Allocated, "an inventory seen twice allocates once")
	require.NotNil(t, out.Existing)
	c := e.counts(inst.ID)
	assert.Equal(t, int64(1), c.AllocatedAutomatically)
	assert.Equal(t, int64(0), c.AllocatedManually)
	out, err = fact(pool.FactUninstalled, "pc1", "ann")
	require.NoError(t, err)
	require.Len(t, out.Released, 1)
	assert.Equal(t, int64(0), e.counts(inst.ID).Allocated)
	// Software no pool grants changes nothing.
	out, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactInstalled, Software: "Game", Consumer: license.Consumer{Asset: "pc1"}})
	require.NoError(t, err)
	assert.Equal(t, pool.Outcome{}, out)
	// Manual allocations are not released by inventory.
	_, err = e.svc.Allocate(e.ctx, e.admin, inst.ID, e.asset("pc9"))
	require.NoError(t, err)
	out, err = fact(pool.FactUninstalled, "pc9", "")
	require.NoError(t, err)
	assert.Empty(t, out.Released)

	named := e.create(poolAuto("named", license.NamedUser, pool.RuleSoftwareInventory, 0))
	named.Software = nil
	e.buy(named.ID, 5)
	spec := poolAuto("named", license.NamedUser, pool.RuleSoftwareInventory, 0)
	spec.Software = []string{"Visio"}
	_, err = e.svc.Update(e.ctx, e.admin, named.ID, spec)
	require.NoError(t, err)
	vis := func(k pool.FactKind, asset, user string, userAssets ...string) (pool.Outcome, error) {
		return e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: k, Software: "Visio", Consumer: license.Consumer{Asset: asset, User: user, UserAssets: userAssets}})
	}
	out, err = vis(pool.FactInstalled, "laptop", "bob", "desktop")
	require.NoError(t, err)
	require.NotNil(t, out.Allocated)
	assert.Equal(t, []string{"laptop", "desktop"}, out.Allocated.Covers, "a named-user license covers all of the person's assets")
	out, err = vis(pool.FactInstalled, "desktop", "bob")
	require.NoError(t, err)
	require.NotNil(t, out.Existing)
	assert.Equal(t, []string{"laptop", "desktop"}, out.Existing.Installs)
	assert.Equal(t, int64(1), e.counts(named.ID).AllocatedAutomatically, "one license per user however many assets")
	out, err = vis(pool.FactUninstalled, "laptop", "bob")
	require.NoError(t, err)
	assert.Empty(t, out.Released, "still installed on the desktop")
	assert.Equal(t, int64(1), e.counts(named.ID).Allocated)
	out, err = vis(pool.FactUninstalled, "desktop", "bob")
	require.NoError(t, err)
	assert.Len(t, out.Released, 1)
	assert.Equal(t, int64(0), e.counts(named.ID).Allocated)

	// A change of responsible person releases the previous person's license.
	_, err = vis(pool.FactInstalled, "laptop", "bob")
	require.NoError(t, err)
	out, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactResponsibleChanged, Consumer: license.Consumer{Asset: "laptop", User: "cat"}, PreviousUser: "bob"})
	require.NoError(t, err)
	require.Len(t, out.Released, 1)
	assert.Equal(t, "user:bob", out.Released[0].Allocation.Key)
	out, err = vis(pool.FactInstalled, "laptop", "cat")
	require.NoError(t, err)
	require.NotNil(t, out.Allocated)
	assert.Equal(t, "user:cat", out.Allocated.Key)
	assert.Equal(t, int64(1), e.counts(named.ID).Allocated)
}

func poolTestPriority(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	low := e.create(poolAuto("low", license.InstalledInstance, pool.RuleSoftwareInventory, 1))
	tieOld := e.create(poolAuto("tie-old", license.InstalledInstance, pool.RuleSoftwareInventory, 5))
	tieNew := e.create(poolAuto("tie-new", license.InstalledInstance, pool.RuleSoftwareInventory, 5))
	restricted := poolAuto("restricted-top", license.InstalledInstance, pool.RuleSoftwareInventory, 9)
	restricted.Restrictions.Locations = []string{"Oulu"}
	top := e.create(restricted)
	for _, p := range []*pool.Pool{low, tieOld, tieNew, top} {
		e.buy(p.ID, 1)
	}
	install := func(asset string) (pool.Outcome, error) {
		return e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactInstalled, Software: "Office", Consumer: license.Consumer{Asset: asset, Location: "Helsinki"}})
	}
	var got []string
	for _, a := range []string{"a1", "a2", "a3"} {
		out, err := install(a)
		require.NoError(t, err)
		require.NotNil(t, out.Allocated)
		got = append(got, out.Allocated.Pool)
	}
	assert.Equal(t, []string{tieOld.ID, tieNew.ID, low.ID}, got, "highest priority first, ties to the oldest pool, restricted pool skipped")
	_, err := install("a4")
	poolCode(t, err, license.InsufficientLicenses, "pool")
	out, err := e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactInstalled, Software: "Office", Consumer: license.Consumer{Asset: "o1", Location: "Oulu"}})
	require.NoError(t, err)
	assert.Equal(t, top.ID, out.Allocated.Pool)
	// Closed pools are not eligible.
	_, err = e.svc.Close(e.ctx, e.admin, low.ID)
	require.NoError(t, err)
	_, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactUninstalled, Software: "Office", Consumer: license.Consumer{Asset: "a1"}})
	require.NoError(t, err)
	out, err = install("a5")
	require.NoError(t, err)
	assert.Equal(t, tieOld.ID, out.Allocated.Pool)

	// Pure: the same rule without a store.
	mk := func(id string, prio int, avail int64) pool.Candidate {
		return pool.Candidate{Pool: &pool.Pool{ID: id, Status: pool.StatusActive, Spec: pool.Spec{Priority: prio, Software: []string{"S"}}}, Counts: pool.Counts{Total: avail, Available: avail}}
	}
	one := func(*pool.Pool) (int64, error) { return 1, nil }
	ch, err := pool.ChoosePool([]pool.Candidate{mk("b", 1, 1), mk("a", 1, 1), mk("c", 0, 1)}, license.Consumer{}, "S", one)
	require.NoError(t, err)
	assert.Equal(t, "a", ch.ID)
	ch, err = pool.ChoosePool([]pool.Candidate{mk("b", 1, 0), mk("a", 1, 0), mk("c", 0, 1)}, license.Consumer{}, "S", one)
	require.NoError(t, err)
	assert.Equal(t, "c", ch.ID)
}

func poolTestServiceContract(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolAuto("contract", license.NamedUser, pool.RuleServiceContract, 0)
	spec.Automatic.Contract = "SC-7"
	p := e.create(spec)
	e.buy(p.ID, 2)
	out, err := e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactContractBound, Contract: "SC-8", Software: "Office", Consumer: license.Consumer{User: "ann", Asset: "pc"}})
	require.NoError(t, err)
	assert.Nil(t, out.Allocated, "another contract's binding does not allocate")
	out, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactContractBound, Contract: "SC-7", Software: "Office", Consumer: license.Consumer{User: "ann", Asset: "pc"}})
	require.NoError(t, err)
	require.NotNil(t, out.Allocated)
	assert.Equal(t, pool.RuleServiceContract, out.Allocated.Rule)
	// Installation by a user already bound to the contract allocates too.
	out, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactInstalled, Software: "Office", Consumer: license.Consumer{User: "bob", Asset: "pc2", Contracts: []string{"SC-7"}}})
	require.NoError(t, err)
	require.NotNil(t, out.Allocated)
	before := poolSnap(t, e.store, "acme")
	out, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactContractUnbound, Contract: "SC-7", Software: "Office", Consumer: license.Consumer{User: "ann", Asset: "pc"}})
	require.NoError(t, err)
	assert.Empty(t, out.Released, "ending the binding does not release the license")
	// Uninstall does not release service-contract allocations either.
	_, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactUninstalled, Software: "Office", Consumer: license.Consumer{User: "ann", Asset: "pc"}})
	require.NoError(t, err)
	assert.Equal(t, before, poolSnap(t, e.store, "acme"))
	assert.Equal(t, int64(2), e.counts(p.ID).AllocatedAutomatically)
}

func poolTestDistribution(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolAuto("dist", license.InstalledInstance, pool.RulePackageDistribution, 0)
	spec.Automatic.Package = "office-2026.msi"
	p := e.create(spec)
	e.buy(p.ID, 1)
	dist := func(asset, pkg string) (pool.Outcome, error) {
		return e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactDistributed, Software: "Office", Package: pkg, Consumer: license.Consumer{Asset: asset}})
	}
	out, err := dist("pc1", "other.msi")
	require.NoError(t, err)
	assert.Nil(t, out.Allocated)
	out, err = dist("pc1", "office-2026.msi")
	require.NoError(t, err)
	require.NotNil(t, out.Allocated)
	before := poolSnap(t, e.store, "acme")
	_, err = dist("pc2", "office-2026.msi")
	poolCode(t, err, license.InsufficientLicenses, "pool")
	assert.True(t, errors.Is(err, license.ErrInsufficientLicenses), "a typed error the product can warn or deny on")
	assert.Equal(t, before, poolSnap(t, e.store, "acme"))
}

func poolTestStatusPane(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	inst := e.create(poolAuto("inst", license.InstalledInstance, pool.RuleSoftwareInventory, 0))
	for _, tc := range []struct {
		n    int64
		date time.Time
	}{{4, poolT0.AddDate(0, -2, 0)}, {3, poolT0.AddDate(0, -2, 5)}, {2, poolT0}} {
		_, err := e.svc.AddTransaction(e.ctx, e.admin, inst.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: tc.n, Date: tc.date})
		require.NoError(t, err)
	}
	_, err := e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactInstalled, Software: "Office", Consumer: license.Consumer{Asset: "auto1"}})
	require.NoError(t, err)
	for _, a := range []string{"m1", "m2"} {
		_, err := e.svc.Allocate(e.ctx, e.admin, inst.ID, e.asset(a))
		require.NoError(t, err)
	}
	pane, err := e.svc.Status(e.ctx, e.viewer, inst.ID)
	require.NoError(t, err)
	assert.Equal(t, pool.Counts{Total: 9, Available: 6, AllocatedAutomatically: 1, AllocatedManually: 2, Allocated: 3}, pane.Counts)
	assert.Equal(t, []pool.MonthTotal{
		{Month: "2025-11", Purchased: 7, Total: 7},
		{Month: "2025-12", Purchased: 0, Total: 7},
		{Month: "2026-01", Purchased: 2, Total: 9},
	}, pane.PerMonth)
}

func poolTestAttachments(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	p := e.create(poolSpec("docs", license.NamedUser))
	att, err := e.svc.AddAttachment(e.ctx, e.admin, p.ID, pool.AttachmentInput{Name: "agreement.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.7")})
	require.NoError(t, err)
	assert.Equal(t, int64(8), att.Size)
	got, data, err := e.svc.Attachment(e.ctx, e.viewer, p.ID, att.ID)
	require.NoError(t, err)
	assert.Equal(t, "agreement.pdf", got.Name)
	assert.Equal(t, "application/pdf", got.ContentType)
	assert.Equal(t, []byte("%PDF-1.7"), data)

	before := poolSnap(t, e.store, "acme")
	_, err = e.svc.AddAttachment(e.ctx, e.admin, p.ID, pool.AttachmentInput{Name: "big.bin", Data: make([]byte, 2<<10)})
	poolCode(t, err, license.Invalid, "attachment") // the blob store's 1 KiB limit
	_, err = e.svc.AddAttachment(e.ctx, e.admin, p.ID, pool.AttachmentInput{Name: "huge.bin", Data: make([]byte, pool.MaxAttachmentSize+1)})
	poolCode(t, err, license.Invalid, "attachment")
	assert.Equal(t, before, poolSnap(t, e.store, "acme"))
	assert.Equal(t, 1, e.blobs.Len())

	c, err := e.svc.AddComment(e.ctx, e.admin, p.ID, pool.CommentRequest{Text: "renewal due in March"})
	require.NoError(t, err)
	assert.Equal(t, e.admin.Email, c.Author)
	pp, err := e.svc.Get(e.ctx, e.viewer, p.ID)
	require.NoError(t, err)
	require.Len(t, pp.Comments, 1)
	assert.Equal(t, "renewal due in March", pp.Comments[0].Text)
	require.Len(t, pp.Attachments, 1)

	require.NoError(t, e.svc.RemoveAttachment(e.ctx, e.admin, p.ID, att.ID))
	_, _, err = e.svc.Attachment(e.ctx, e.admin, p.ID, att.ID)
	poolCode(t, err, license.NotFound, "attachment")
	assert.Equal(t, 0, e.blobs.Len())
	poolCode(t, e.svc.RemoveAttachment(e.ctx, e.admin, p.ID, att.ID), license.NotFound, "attachment")
}

func poolTestTenants(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	p := e.create(poolSpec("mine", license.InstalledInstance))
	e.buy(p.ID, 1)
	globex := license.Actor{Company: "globex", Email: "g@globex.example", Role: license.Owner}
	_, err := e.svc.Get(e.ctx, globex, p.ID)
	poolCode(t, err, license.NotFound, "pool")
	_, err = e.svc.Allocate(e.ctx, globex, p.ID, e.asset("x"))
	poolCode(t, err, license.NotFound, "pool")
	_, err = e.svc.Status(e.ctx, globex, p.ID)
	poolCode(t, err, license.NotFound, "pool")
	ls, err := e.svc.List(e.ctx, globex, pool.ListOptions{IncludeRetired: true})
	require.NoError(t, err)
	assert.Empty(t, ls)
	// Automatic allocation only considers the actor's company's pools.
	gp, err := e.svc.Create(e.ctx, globex, pool.CreateRequest{Spec: poolAuto("theirs", license.InstalledInstance, pool.RuleSoftwareInventory, 0)})
	require.NoError(t, err)
	_, err = e.svc.Reconcile(e.ctx, e.admin, pool.Fact{Kind: pool.FactInstalled, Software: "Office", Consumer: license.Consumer{Asset: "a"}})
	require.NoError(t, err)
	c, err := e.svc.Status(e.ctx, globex, gp.ID)
	require.NoError(t, err)
	assert.Zero(t, c.Counts.Allocated)
}

func poolTestIdempotency(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	p := e.create(poolSpec("idem", license.InstalledInstance))
	in := pool.TransactionInput{Kind: pool.TxPurchase, Count: 3, IdempotencyKey: "po-1"}
	t1, err := e.svc.AddTransaction(e.ctx, e.admin, p.ID, in)
	require.NoError(t, err)
	t2, err := e.svc.AddTransaction(e.ctx, e.admin, p.ID, in)
	require.NoError(t, err)
	assert.Equal(t, t1.ID, t2.ID)
	assert.Equal(t, int64(3), e.counts(p.ID).Total, "a retried purchase is not counted twice")
	in.Count = 4
	_, err = e.svc.AddTransaction(e.ctx, e.admin, p.ID, in)
	poolCode(t, err, license.Conflict, "idempotency_key")
	req := e.asset("a1")
	req.IdempotencyKey = "alloc-1"
	a1, err := e.svc.Allocate(e.ctx, e.admin, p.ID, req)
	require.NoError(t, err)
	a2, err := e.svc.Allocate(e.ctx, e.admin, p.ID, req)
	require.NoError(t, err, "a retried allocation returns the first result")
	assert.Equal(t, a1.ID, a2.ID)
	assert.Equal(t, int64(1), e.counts(p.ID).Allocated)

	b := e.create(poolSpec("idem-b", license.InstalledInstance))
	r1, err := e.svc.Reassign(e.ctx, e.admin, p.ID, pool.ReassignRequest{To: b.ID, Count: 1, IdempotencyKey: "move-1"})
	require.NoError(t, err)
	r2, err := e.svc.Reassign(e.ctx, e.admin, p.ID, pool.ReassignRequest{To: b.ID, Count: 1, IdempotencyKey: "move-1"})
	require.NoError(t, err)
	assert.Equal(t, r1, r2)
	assert.Equal(t, int64(2), e.counts(p.ID).Total, "a retried reassign moves licenses once")
	assert.Equal(t, int64(1), e.counts(b.ID).Total)
	_, err = e.svc.Reassign(e.ctx, e.admin, p.ID, pool.ReassignRequest{To: b.ID, Count: 2, IdempotencyKey: "move-1"})
	poolCode(t, err, license.Conflict, "idempotency_key")
}

func poolTestEvents(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	spec := poolSpec("ev", license.InstalledInstance)
	spec.MinAllocationDays = 7
	p := e.create(spec)
	b := e.create(poolSpec("ev2", license.InstalledInstance))
	e.buy(p.ID, 4)
	al, err := e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset("a1"))
	require.NoError(t, err)
	_, err = e.svc.Release(e.ctx, e.admin, p.ID, al.ID)
	require.NoError(t, err)
	_, err = e.svc.Reassign(e.ctx, e.admin, p.ID, pool.ReassignRequest{To: b.ID, Count: 2})
	require.NoError(t, err)
	var evs []eventlog.Event
	require.NoError(t, e.store.View(e.ctx, func(tx storage.Tx) error {
		return tx.Events(e.ctx, eventlog.Filter{Company: "acme"}, func(ev eventlog.Event) error { evs = append(evs, ev); return nil })
	}))
	var types []string
	for _, ev := range evs {
		types = append(types, string(ev.Type))
		assert.Equal(t, e.admin.Email, ev.Actor)
		assert.True(t, license.ValidID(ev.ID))
		assert.Equal(t, poolT0, ev.Time)
		if ev.Type == pool.EventAllocated || ev.Type == pool.EventReleased || ev.Type == pool.EventQuarantined {
			assert.Equal(t, p.ID, ev.Subject)
			assert.Equal(t, int64(1), ev.Count)
			var d map[string]any
			require.NoError(t, json.Unmarshal(ev.Details, &d))
			assert.Equal(t, al.ID, d["allocation"])
		}
		if ev.Type == pool.EventReassign {
			assert.Equal(t, p.ID, ev.Source)
			assert.Equal(t, b.ID, ev.Target)
			assert.Equal(t, int64(2), ev.Count)
		}
	}
	assert.Equal(t, []string{"pool.created", "pool.created", "pool.purchase", "pool.allocated", "pool.released", "pool.quarantined", "pool.reassign"}, types)
}

func poolTestConcurrentAllocate(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	const n, workers = 10, 64
	p := e.create(poolSpec("hot", license.InstalledInstance))
	e.buy(p.ID, n)
	errs := make(chan error, workers)
	for i := 0; i < workers; i++ {
		go func(i int) {
			_, err := e.svc.Allocate(e.ctx, e.admin, p.ID, e.asset(fmt.Sprintf("asset-%02d", i)))
			errs <- err
		}(i)
	}
	ok, refused := 0, 0
	for i := 0; i < workers; i++ {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case license.ErrorCode(err) == license.InsufficientLicenses:
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, n, ok, "exactly N allocations succeed")
	assert.Equal(t, workers-n, refused, "the rest are refused with insufficient_licenses")
	c := e.counts(p.ID)
	assert.Equal(t, int64(n), c.Allocated)
	assert.Zero(t, c.Available)
	allocs, err := e.svc.Allocations(e.ctx, e.admin, p.ID)
	require.NoError(t, err)
	assert.Len(t, allocs, n)
}

func poolTestPreview(t *testing.T, newStore Factory, _ Features) {
	e := newPoolEnv(t, newStore)
	p := e.create(poolSpec("cpu", license.PhysicalCPU))
	e.buy(p.ID, 8)
	req := pool.AllocateRequest{Consumer: license.Consumer{Asset: "db1", CPUs: 6}}
	before := poolSnap(t, e.store, "acme")
	pv, err := e.svc.PreviewAllocate(e.ctx, e.admin, p.ID, req)
	require.NoError(t, err)
	assert.Equal(t, before, poolSnap(t, e.store, "acme"), "a preview writes nothing")
	assert.Equal(t, pool.Counts{Total: 8, Available: 8}, pv.Before)
	assert.Equal(t, pool.Counts{Total: 8, Available: 2, AllocatedManually: 6, Allocated: 6}, pv.After)
	al, err := e.svc.Allocate(e.ctx, e.admin, p.ID, req)
	require.NoError(t, err)
	assert.Equal(t, pv.Allocation, al)
	assert.Equal(t, pv.After, e.counts(p.ID))
	_, err = e.svc.PreviewAllocate(e.ctx, e.admin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "db2", CPUs: 4}})
	poolCode(t, err, license.InsufficientLicenses, "pool")
}
