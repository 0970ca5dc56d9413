package pool_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
)

func TestValidateSuiteOnMemory(t *testing.T) {
	storagetest.RunSuite(t, "validate", func(t testing.TB) storage.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storagetest.Features{Short: testing.Short()})
}

func TestRentalExpiry(t *testing.T) {
	day := 24 * time.Hour
	rent := func(n int64, from, to int) pool.Transaction {
		return pool.Transaction{Kind: pool.TxRentalPeriod, Count: n, Period: license.Period{Start: t0.Add(time.Duration(from) * day), End: t0.Add(time.Duration(to) * day)}}
	}
	txs := []pool.Transaction{
		rent(1, 0, 10), rent(1, 10, 20), // a run without a gap
		rent(1, 30, 40),
		rent(0, 40, 50), // zero licenses do not count
		{Kind: pool.TxPurchase, Count: 5, Date: t0},
	}
	end := func(d int) time.Time { return t0.Add(time.Duration(d)*day - time.Nanosecond) }
	for _, c := range []struct {
		at   time.Time
		want time.Time
	}{
		{t0.Add(-time.Nanosecond), time.Time{}}, // nothing started
		{t0, end(20)},
		{t0.Add(15 * day), end(20)},
		{end(20), end(20)},
		{t0.Add(20 * day), end(20)}, // in the gap: the last ended period
		{t0.Add(30 * day), end(40)},
		{t0.Add(45 * day), end(40)},
	} {
		assert.Equal(t, c.want, pool.RentalExpiry(txs, c.at), "at %s", c.at)
	}
	assert.True(t, pool.RentalExpiry(nil, t0).IsZero())
}
