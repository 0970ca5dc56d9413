package billing_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
)

func TestConformanceOnMemory(t *testing.T) {
	newMemory := func(t testing.TB) storage.Store { return memory.New() }
	storagetest.RunSuite(t, "billing", newMemory, storagetest.Features{})
	storagetest.RunSuite(t, "billing-concurrency", newMemory, storagetest.Features{})
}

func eur(t *testing.T, s string) license.Money {
	m, err := license.ParseMoney(s, "EUR")
	require.NoError(t, err)
	return m
}

func n(v int64) *int64 { return &v }

func TestQuotePurchaseIsPure(t *testing.T) {
	st := billing.Site{ID: "s", Name: "S", Plan: "p", UnitPrice: eur(t, "0.3333"), PaymentType: billing.MonthlyInvoice, Enrolled: 3}
	q, err := billing.QuotePurchase(st, 4, "")
	require.NoError(t, err)
	assert.Equal(t, int64(3), q.Minimum)
	assert.Equal(t, "1.33 EUR", q.CurrentEstimate.String()) // 1.3332
	assert.Equal(t, "0.33 EUR", q.AddedCost.String())       // 1 above the minimum
	assert.Equal(t, int64(1), q.NewAvailable)
	_, err = billing.QuotePurchase(st, 2, "")
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	// The site value is not changed by quoting.
	assert.Nil(t, st.Licenses)
}

// TestQuotePurchaseNothingEnrolled: a site with no license amount and no
// device enrolled has a minimum of 1, but every license bought is added cost.
func TestQuotePurchaseNothingEnrolled(t *testing.T) {
	st := billing.Site{ID: "s", Name: "S", Plan: "p", UnitPrice: eur(t, "2.50"), PaymentType: billing.MonthlyInvoice}
	q, err := billing.QuotePurchase(st, 30, "")
	require.NoError(t, err)
	assert.Equal(t, int64(1), q.Minimum)
	assert.Equal(t, "75.00 EUR", q.CurrentEstimate.String())
	assert.Equal(t, "75.00 EUR", q.AddedCost.String())
	assert.Equal(t, "75.00 EUR", q.EstimatedTotal.String())
	assert.Equal(t, int64(30), q.NewAvailable)
}

func TestQuoteDecreaseRefusesBelowEnrolled(t *testing.T) {
	st := billing.Site{ID: "s", Name: "S", UnitPrice: eur(t, "1"), PaymentType: billing.MonthlyInvoice, Licenses: n(30), Enrolled: 20}
	_, err := billing.QuoteDecrease(st, 11, "")
	assert.Equal(t, license.BelowEnrolled, license.ErrorCode(err))
	q, err := billing.QuoteDecrease(st, 10, "")
	require.NoError(t, err)
	assert.Equal(t, int64(20), q.NewTotal)
	assert.Equal(t, int64(30), *st.Licenses)
}

func TestProrationDays(t *testing.T) {
	for _, tc := range []struct {
		at         time.Time
		left, days int
	}{
		{time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC), 10, 30},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 31, 31},
		{time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC), 1, 29},
		{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), 28, 28},
		// 23:30 on 31 January in UTC−5 is 1 February in UTC.
		{time.Date(2027, 1, 31, 23, 30, 0, 0, time.FixedZone("EST", -5*3600)), 28, 28},
	} {
		left, days := billing.ProrationDays(tc.at)
		assert.Equal(t, [2]int{tc.left, tc.days}, [2]int{left, days}, "%s", tc.at)
	}
}

func TestEstimateLinesNeverSumAcrossCurrencies(t *testing.T) {
	usd, err := license.ParseMoney("2", "USD")
	require.NoError(t, err)
	sites := []billing.Site{
		{ID: "1", Name: "A", UnitPrice: eur(t, "1.5"), PaymentType: billing.MonthlyInvoice, Licenses: n(3)},
		{ID: "2", Name: "B", UnitPrice: usd, PaymentType: billing.MonthlyInvoice, Licenses: n(4)},
		{ID: "3", Name: "C", UnitPrice: eur(t, "1"), PaymentType: billing.MonthlyInvoice, Licenses: n(1)},
	}
	_, totals := billing.EstimateLines(sites, nil, false, "")
	require.Len(t, totals, 2)
	assert.Equal(t, "5.50 EUR", totals[0].String())
	assert.Equal(t, "8.00 USD", totals[1].String())
}

// countingStore counts the Tx calls the service makes.
type countingStore struct {
	storage.Store
	calls atomic.Int64
	lists atomic.Int64
}

func (s *countingStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error { return fn(&countingTx{Tx: tx, s: s}) })
}

type countingTx struct {
	storage.Tx
	s *countingStore
}

func (t *countingTx) Get(ctx context.Context, c string, k storage.Kind, id string) (storage.Record, error) {
	t.s.calls.Add(1)
	return t.Tx.Get(ctx, c, k, id)
}

func (t *countingTx) GetForUpdate(ctx context.Context, c string, k storage.Kind, id string) (storage.Record, error) {
	t.s.calls.Add(1)
	return t.Tx.GetForUpdate(ctx, c, k, id)
}

func (t *countingTx) GetByUnique(ctx context.Context, c string, k storage.Kind, u string) (storage.Record, error) {
	t.s.calls.Add(1)
	return t.Tx.GetByUnique(ctx, c, k, u)
}

func (t *countingTx) List(ctx context.Context, q storage.ListQuery) ([]storage.Record, error) {
	t.s.calls.Add(1)
	t.s.lists.Add(1)
	return t.Tx.List(ctx, q)
}

func (t *countingTx) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	t.s.calls.Add(1)
	return t.Tx.Events(ctx, f, fn)
}

func (t *countingTx) CountEvents(ctx context.Context, f eventlog.Filter) (int64, error) {
	t.s.calls.Add(1)
	return t.Tx.CountEvents(ctx, f)
}

// TestEstimateOf10000SitesIsOnePass counts the store calls of an estimate: the
// same handful for 10 sites as for 10,000, never one per site.
func TestEstimateOf10000SitesIsOnePass(t *testing.T) {
	ctx := context.Background()
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	calls := func(sites int) (int64, int64, billing.Invoice) {
		mem := memory.New()
		clock := licensetest.NewClock(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
		svc := &billing.Service{Store: mem, Clock: clock}
		_, err := svc.CreateCompany(ctx, owner, "Acme")
		require.NoError(t, err)
		// Bulk-load the sites in batches (the memory store checks unique names
		// against a transaction's pending writes one by one).
		var first []string
		for from := 0; from < sites; from += 250 {
			require.NoError(t, mem.Update(ctx, func(tx storage.Tx) error {
				for i := from; i < min(from+250, sites); i++ {
					st := billing.Site{ID: license.NewID(), Name: fmt.Sprintf("site %05d", i), Plan: "p", UnitPrice: eur(t, "1.25"), PaymentType: billing.MonthlyInvoice, Licenses: n(int64(i % 7))}
					if err := billing.SaveSite(ctx, tx, "acme", st); err != nil {
						return err
					}
					if i < 5 {
						first = append(first, st.ID)
					}
				}
				return nil
			}))
		}
		for _, id := range first {
			_, err := svc.Purchase(ctx, owner, billing.PurchaseRequest{Site: id, Quantity: 2})
			require.NoError(t, err)
		}
		cs := &countingStore{Store: mem}
		svc.Store = cs
		inv, err := svc.Estimate(ctx, owner, billing.EstimateOptions{})
		require.NoError(t, err)
		return cs.calls.Load(), cs.lists.Load(), inv
	}
	smallCalls, smallLists, small := calls(10)
	bigCalls, bigLists, big := calls(10_000)
	t.Logf("store calls for an estimate: %d with 10 sites, %d with 10,000 sites", smallCalls, bigCalls)
	assert.Equal(t, int64(2), bigLists, "one List of sites and one of adjustments")
	assert.Equal(t, smallLists, bigLists)
	assert.Equal(t, smallCalls, bigCalls)
	assert.LessOrEqual(t, bigCalls, int64(3), "a membership lookup and two Lists")
	assert.Len(t, small.Lines, 10+5)
	assert.Len(t, big.Lines, 10_000+5)
	// Σ (i mod 7) × 1.25 over 10,000 sites, + 5 × 2 × 1.25 purchased (recurring) + 5 × 2 × 1.25 (adjustments).
	var licenses int64
	for i := range 10_000 {
		licenses += int64(i % 7)
	}
	want := eur(t, "1.25").Mul(licenses + 20).Round("")
	assert.Equal(t, want.String(), big.Totals[0].String())
}

func TestEffectiveRoleTakesTheLesserOfClaimAndMembership(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	svc := &billing.Service{Store: mem}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	_, err := svc.CreateCompany(ctx, owner, "Acme")
	require.NoError(t, err)
	_, err = svc.AddMember(ctx, owner, "ed@acme.example", license.Editor)
	require.NoError(t, err)
	for _, tc := range []struct {
		actor license.Actor
		want  license.Role
	}{
		{license.Actor{Company: "acme", Email: "ed@acme.example", Role: license.Owner}, license.Editor},
		{license.Actor{Company: "acme", Email: "ED@acme.example", Role: license.Viewer}, license.Viewer},
		{license.Actor{Company: "acme", Email: "key@acme.example", Role: license.Admin}, license.Admin},
		{license.System("acme"), license.Owner},
	} {
		require.NoError(t, mem.View(ctx, func(tx storage.Tx) error {
			got, err := access.EffectiveRole(ctx, tx, tc.actor)
			assert.Equal(t, tc.want, got, "%+v", tc.actor)
			return err
		}))
	}
}

func BenchmarkEstimate10000Sites(b *testing.B) {
	ctx := context.Background()
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	mem := memory.New()
	svc := &billing.Service{Store: mem}
	price, _ := license.ParseMoney("1.25", "EUR")
	for from := 0; from < 10_000; from += 250 {
		if err := mem.Update(ctx, func(tx storage.Tx) error {
			for i := from; i < from+250; i++ {
				st := billing.Site{ID: license.NewID(), Name: fmt.Sprintf("site %05d", i), Plan: "p", UnitPrice: price, PaymentType: billing.MonthlyInvoice, Licenses: n(int64(i % 7))}
				if err := billing.SaveSite(ctx, tx, "acme", st); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		inv, err := svc.Estimate(ctx, owner, billing.EstimateOptions{})
		if err != nil || len(inv.Lines) != 10_000 {
			b.Fatal(err, len(inv.Lines))
		}
	}
}
