package pool_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
)

func TestPoolSuiteOnMemory(t *testing.T) {
	storagetest.RunSuite(t, "pool", func(t testing.TB) storage.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storagetest.Features{Short: testing.Short()})
}

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func TestTotalAt(t *testing.T) {
	txs := []pool.Transaction{
		{Kind: pool.TxPurchase, Count: 5, Date: t0},
		{Kind: pool.TxRentalPeriod, Count: 3, Period: license.Period{Start: t0.AddDate(0, 1, 0), End: t0.AddDate(0, 2, 0)}},
		{Kind: pool.TxReassignOut, Count: 2, Date: t0.AddDate(0, 0, 10)},
		{Kind: pool.TxReassignIn, Count: 1, Date: t0.AddDate(0, 0, 20)},
		{Kind: pool.TxMaintenance, Count: 99, Period: license.Period{Start: t0, End: t0.AddDate(1, 0, 0)}},
		{Kind: pool.TxUpgrade, Count: 99, Date: t0},
	}
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{t0.Add(-time.Nanosecond), 0},
		{t0, 5},
		{t0.AddDate(0, 0, 10), 3},
		{t0.AddDate(0, 0, 20), 4},
		{t0.AddDate(0, 1, 0), 7},
		{t0.AddDate(0, 2, 0).Add(-time.Nanosecond), 7},
		{t0.AddDate(0, 2, 0), 4}, // the rental period's end is exclusive
	} {
		assert.Equal(t, tc.want, pool.TotalAt(txs, tc.at), "at %s", tc.at)
	}
}

func TestComputeCountsInvariant(t *testing.T) {
	for total := int64(0); total < 6; total++ {
		for q := int64(0); q < 4; q++ {
			for auto := int64(0); auto < 4; auto++ {
				for man := int64(0); man < 4; man++ {
					c := pool.ComputeCounts(total, q, auto, man, 1)
					require.Equal(t, c.Total+c.Shortfall, c.Allocated+c.Quarantined+c.Available, "%+v", c)
					require.Equal(t, man+1, c.AllocatedManually, "live leases count as manual allocations")
					if c.Shortfall > 0 {
						require.Zero(t, c.Available)
					}
				}
			}
		}
	}
}

func TestCheckCapacity(t *testing.T) {
	assert.NoError(t, pool.CheckCapacity(pool.ComputeCounts(3, 0, 1, 1, 0), 1))
	assert.Equal(t, license.Quarantined, license.ErrorCode(pool.CheckCapacity(pool.ComputeCounts(3, 1, 1, 1, 0), 1)))
	assert.Equal(t, license.InsufficientLicenses, license.ErrorCode(pool.CheckCapacity(pool.ComputeCounts(3, 0, 2, 1, 0), 1)))
	assert.Equal(t, license.InsufficientLicenses, license.ErrorCode(pool.CheckCapacity(pool.ComputeCounts(2, 0, 2, 1, 0), 1)), "shortfall")
	// 4 CPUs needed, 2 free and 2 quarantined: quarantine is what blocks.
	assert.Equal(t, license.Quarantined, license.ErrorCode(pool.CheckCapacity(pool.ComputeCounts(8, 2, 0, 4, 0), 4)))
}

func TestSpecValidateNameCountsCharacters(t *testing.T) {
	s := pool.Spec{Name: strings.Repeat("日", 250), Model: license.Rental, Metric: license.NamedUser, Software: []string{"x"}, LeaseTTL: time.Minute}
	require.NoError(t, s.Validate())
	s.Name += "日"
	err := s.Validate()
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	assert.Equal(t, "name", license.ErrorField(err))
}

func TestDemandOfMissingFields(t *testing.T) {
	for _, tc := range []struct {
		m     license.Metric
		field string
	}{
		{license.NamedUser, "consumer.user"},
		{license.ConcurrentUser, "consumer.user"},
		{license.InstalledInstance, "consumer.asset"},
		{license.PhysicalServer, "consumer.server"},
		{license.PhysicalCPU, "consumer.server"},
	} {
		_, err := pool.DemandOf(tc.m, license.Consumer{})
		assert.Equal(t, tc.field, license.ErrorField(err), "metric %s", tc.m)
	}
}

func TestAllocationIDDeterministic(t *testing.T) {
	a := pool.AllocationID("p1", "user:ann")
	assert.Equal(t, a, pool.AllocationID("p1", "user:ann"))
	assert.NotEqual(t, a, pool.AllocationID("p2", "user:ann"))
	assert.NotEqual(t, a, pool.AllocationID("p1", "user:bob"))
	assert.Len(t, a, 32)
}

func TestPurchasedPerMonthCalendar(t *testing.T) {
	txs := []pool.Transaction{
		{Kind: pool.TxPurchase, Count: 2, Date: time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)},
		{Kind: pool.TxRentalPeriod, Count: 5, Period: license.Period{Start: time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)}},
	}
	got := pool.PurchasedPerMonth(txs, time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, []pool.MonthTotal{
		{Month: "2026-01", Purchased: 2, Total: 2},
		{Month: "2026-02", Purchased: 5, Total: 7},
		{Month: "2026-03", Purchased: 0, Total: 2},
		{Month: "2026-04", Purchased: 0, Total: 2},
	}, got)
	assert.Nil(t, pool.PurchasedPerMonth(nil, t0))
}

func TestMemoryBlobsLimit(t *testing.T) {
	b := pool.NewMemoryBlobs(4)
	require.NoError(t, b.Put(t.Context(), "k", []byte("1234")))
	err := b.Put(t.Context(), "k2", []byte("12345"))
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	got, err := b.Get(t.Context(), "k")
	require.NoError(t, err)
	assert.Equal(t, []byte("1234"), got)
	require.NoError(t, b.Delete(t.Context(), "k"))
	_, err = b.Get(t.Context(), "k")
	assert.Equal(t, license.NotFound, license.ErrorCode(err))
}

func TestPoolJSONRoundTrip(t *testing.T) {
	p := pool.New("acme", pool.Spec{Name: "n", Model: license.Rental, Metric: license.PhysicalCPU, Software: []string{"s"}, Priority: 3})
	p.ID = license.NewID()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	var got pool.Pool
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, *p, got)
}

func TestTransactionStatusAt(t *testing.T) {
	rent := pool.Transaction{Kind: pool.TxRentalPeriod, Count: 1, Period: license.Period{Start: t0, End: t0.AddDate(0, 1, 0)}}
	assert.Equal(t, pool.TxUpcoming, rent.StatusAt(t0.Add(-time.Second)))
	assert.Equal(t, pool.TxActive, rent.StatusAt(t0))
	assert.Equal(t, pool.TxEnded, rent.StatusAt(t0.AddDate(0, 1, 0)))
	buy := pool.Transaction{Kind: pool.TxPurchase, Count: 1, Date: t0}
	assert.Equal(t, pool.TxUpcoming, buy.StatusAt(t0.Add(-time.Second)))
	assert.Equal(t, pool.TxActive, buy.StatusAt(t0.AddDate(10, 0, 0)), "perpetual purchases never end")
}
