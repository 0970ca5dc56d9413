package license_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/license"
)

func TestNewIDIsTimeOrderedUUIDv7(t *testing.T) {
	prev := license.NewID()
	require.True(t, license.ValidID(prev))
	require.Equal(t, byte('7'), prev[14], "version nibble must be 7: %s", prev)
	for i := 0; i < 1000; i++ {
		id := license.NewID()
		require.Greater(t, id, prev, "IDs must sort by creation")
		prev = id
	}
	assert.False(t, license.ValidID("not-a-uuid"))
	assert.Equal(t, license.Invalid, license.ErrorCode(license.CheckID("pool_id", "x")))
	assert.Equal(t, "pool_id", license.ErrorField(license.CheckID("pool_id", "")))
}

func TestParseMetric(t *testing.T) {
	for _, m := range license.Metrics {
		for _, s := range []string{string(m), m.String(), "  " + m.String() + " "} {
			got, err := license.ParseMetric(s)
			require.NoError(t, err, s)
			assert.Equal(t, m, got)
		}
		assert.True(t, m.Valid())
	}
	got, err := license.ParseMetric("PHYSICAL-CPU")
	require.NoError(t, err)
	assert.Equal(t, license.PhysicalCPU, got)
	_, err = license.ParseMetric("per seat")
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	assert.Equal(t, "metric", license.ErrorField(err))
	assert.False(t, license.Metric("per_seat").Valid())
	assert.True(t, license.PhysicalCPU.AssetBased())
	assert.True(t, license.InstalledInstance.AssetBased())
	assert.False(t, license.NamedUser.AssetBased())
	assert.False(t, license.ConcurrentUser.AssetBased())
}

func TestParseModel(t *testing.T) {
	m, err := license.ParseModel("Rental")
	require.NoError(t, err)
	assert.Equal(t, license.Rental, m)
	m, err = license.ParseModel("perpetual")
	require.NoError(t, err)
	assert.Equal(t, license.Perpetual, m)
	_, err = license.ParseModel("lease")
	assert.ErrorIs(t, err, license.ErrInvalid)
}

func TestMoneyMinorUnitsAndRounding(t *testing.T) {
	cases := []struct {
		cur      string
		amount   string
		rule     license.Rounding
		want     string
		minorUse int32
	}{
		{"USD", "10.005", license.HalfAwayFromZero, "10.01", 2},
		{"USD", "-10.005", license.HalfAwayFromZero, "-10.01", 2},
		{"USD", "10.005", license.HalfEven, "10", 2},
		{"USD", "10.015", license.HalfEven, "10.02", 2},
		{"EUR", "0.125", license.HalfAwayFromZero, "0.13", 2},
		{"JPY", "1234.5", license.HalfAwayFromZero, "1235", 0},
		{"JPY", "1234.5", license.HalfEven, "1234", 0},
		{"KWD", "1.2345", license.HalfAwayFromZero, "1.235", 3},
	}
	for _, c := range cases {
		m, err := license.ParseMoney(c.amount, c.cur)
		require.NoError(t, err)
		assert.Equal(t, c.minorUse, m.Currency.MinorUnits())
		got := m.Round(c.rule)
		assert.True(t, got.Amount.Equal(decimal.RequireFromString(c.want)), "%s %s %s -> %s, want %s", c.amount, c.cur, c.rule, got.Amount, c.want)
	}
	m, _ := license.ParseMoney("12.5", "usd")
	assert.Equal(t, "12.50 USD", m.String())
	k, _ := license.ParseMoney("3", "KWD")
	assert.Equal(t, "3.000 KWD", k.String())
}

func TestMoneyNeverSumsAcrossCurrencies(t *testing.T) {
	usd, _ := license.ParseMoney("1.00", "USD")
	eur, _ := license.ParseMoney("1.00", "EUR")
	_, err := usd.Add(eur)
	require.ErrorIs(t, err, license.ErrCurrencyMismatch)
	_, err = usd.Sub(eur)
	require.ErrorIs(t, err, license.ErrCurrencyMismatch)
	sum, err := usd.Add(usd)
	require.NoError(t, err)
	assert.True(t, sum.Equal(usd.Mul(2)))
}

func TestParseMoneyRejectsBadInput(t *testing.T) {
	_, err := license.ParseMoney("1.0", "XXX")
	assert.Equal(t, "currency", license.ErrorField(err))
	_, err = license.ParseMoney("1,0", "USD")
	assert.Equal(t, "amount", license.ErrorField(err))
	var m license.Money
	assert.Error(t, m.UnmarshalJSON([]byte(`{"amount":"1","currency":"ZZZ"}`)))
	assert.Error(t, m.UnmarshalJSON([]byte(`{"amount":1.5,"currency":"USD"}`)), "amounts are strings, never JSON floats")
}

func TestMoneyJSONRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cents := rapid.Int64Range(-1e12, 1e12).Draw(t, "cents")
		cur := rapid.SampledFrom([]license.Currency{"USD", "JPY", "KWD", "EUR"}).Draw(t, "cur")
		m := license.NewMoney(decimal.New(cents, -4), cur)
		b, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back license.Money
		if err := back.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		if !back.Equal(m) {
			t.Fatalf("round trip %s -> %s -> %s", m, b, back)
		}
	})
}

func TestErrorIsAsAndCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", license.Errorf(license.InsufficientLicenses, "quantity", "only %d left", 3))
	assert.ErrorIs(t, err, license.ErrInsufficientLicenses)
	assert.NotErrorIs(t, err, license.ErrNotFound)
	assert.ErrorIs(t, err, &license.Error{Code: license.InsufficientLicenses, Field: "quantity"})
	assert.NotErrorIs(t, err, &license.Error{Code: license.InsufficientLicenses, Field: "other"})
	var le *license.Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "only 3 left", le.Message)
	assert.Equal(t, license.InsufficientLicenses, license.ErrorCode(err))
	assert.Equal(t, license.Internal, license.ErrorCode(errors.New("boom")))
	assert.Equal(t, license.Code(""), license.ErrorCode(nil))
	assert.Equal(t, "internal error", license.ErrorMessage(errors.New("secret detail")))
	cause := errors.New("disk gone")
	w := license.Wrap(license.Unavailable, cause, "store")
	assert.ErrorIs(t, w, cause)
	assert.Contains(t, w.Error(), "unavailable")
}

func TestSystemClockIsUTC(t *testing.T) {
	assert.Equal(t, time.UTC, license.SystemClock{}.Now().Location())
}

func TestCalendarArithmetic(t *testing.T) {
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 10, 0, 0, 0, time.UTC) }
	assert.Equal(t, d(2026, 2, 28), license.AddMonths(d(2026, 1, 31), 1))
	assert.Equal(t, d(2028, 2, 29), license.AddMonths(d(2028, 1, 31), 1), "leap year")
	assert.Equal(t, d(2026, 4, 30), license.AddMonths(d(2026, 3, 31), 1))
	assert.Equal(t, d(2027, 1, 31), license.AddMonths(d(2026, 12, 31), 1))
	assert.Equal(t, d(2025, 12, 31), license.AddMonths(d(2026, 1, 31), -1))
	assert.Equal(t, d(2029, 2, 28), license.AddYears(d(2028, 2, 29), 1))
	assert.Equal(t, d(2032, 2, 29), license.AddYears(d(2028, 2, 29), 4))
	eod := license.EndOfDay(time.Date(2026, 3, 31, 23, 30, 0, 0, time.FixedZone("Y", -2*3600)))
	assert.Equal(t, time.Date(2026, 4, 1, 23, 59, 59, 999999999, time.UTC), eod, "resolved to UTC first")
	rapid.Check(t, func(t *rapid.T) {
		start := time.Date(rapid.IntRange(1990, 2100).Draw(t, "y"), time.Month(rapid.IntRange(1, 12).Draw(t, "m")), rapid.IntRange(1, 31).Draw(t, "d"), 0, 0, 0, 0, time.UTC)
		n := rapid.IntRange(0, 48).Draw(t, "n")
		got := license.AddMonths(start, n)
		wantMonth := (int(start.Month())-1+n)%12 + 1
		if int(got.Month()) != wantMonth {
			t.Fatalf("AddMonths(%s,%d) = %s: month %d, want %d (never spills into the next month)", start, n, got, got.Month(), wantMonth)
		}
		if got.Day() > start.Day() {
			t.Fatalf("day grew: %s -> %s", start, got)
		}
	})
}

func TestActorAndEmail(t *testing.T) {
	a := license.Actor{Company: license.NewID(), Email: "ann@Example.COM", Role: license.Admin}
	require.NoError(t, a.Check())
	assert.NoError(t, license.System(a.Company).Check())
	assert.Equal(t, "role", license.ErrorField(license.Actor{Company: "c", Email: "a@b.c", Role: "god"}.Check()))
	assert.Equal(t, "actor", license.ErrorField(license.Actor{Company: "c", Email: "nope", Role: license.Owner}.Check()))
	e, err := license.ParseEmail(" Ann@Example.COM ")
	require.NoError(t, err)
	assert.Equal(t, "Ann@example.com", e)
	_, err = license.ParseEmail("Ann <ann@example.com>")
	assert.Error(t, err)
	assert.True(t, license.Owner.CanManageLicenses())
	assert.False(t, license.Editor.CanManageLicenses())
	assert.True(t, license.LicenseAdmin.CanSeePrices())
	assert.False(t, license.Viewer.CanSeePrices())
}

// Canonical keeps the value and gives the form that reading the JSON gives
// back, representation included (coefficient and exponent).
func TestMoneyCanonicalIsWhatJSONGivesBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cur := rapid.SampledFrom([]license.Currency{"USD", "JPY", "KWD", "EUR"}).Draw(t, "cur")
		exp := rapid.Int32Range(-int32(cur.MaxScale()), 3).Draw(t, "exp")
		m := license.NewMoney(decimal.New(rapid.Int64Range(-1e9, 1e9).Draw(t, "coef"), exp), cur)
		c := m.Canonical()
		require.True(t, c.Equal(m), "%s vs %s", c, m)
		b, err := json.Marshal(c)
		require.NoError(t, err)
		var back license.Money
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, c.Amount.Exponent(), back.Amount.Exponent(), "%s", b)
		require.Equal(t, c.Amount.Coefficient(), back.Amount.Coefficient(), "%s", b)
	})
}
