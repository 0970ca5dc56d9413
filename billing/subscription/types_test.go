package subscription

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
)

func TestTypeMetric(t *testing.T) {
	want := map[Type]license.Metric{
		PerComputer: license.InstalledInstance, PerHost: license.PhysicalServer, PerSocket: license.PhysicalCPU,
		PerUser: license.NamedUser, PerAdministrator: license.NamedUser,
	}
	require.Len(t, Types, len(want))
	for _, typ := range Types {
		assert.Equal(t, want[typ], typ.Metric(), "%s", typ)
		assert.True(t, typ.Metric().Valid())
	}
	assert.Equal(t, ConsumerUser, PerAdministrator.ConsumerKind())
	assert.Equal(t, ConsumerComputer, PerSocket.ConsumerKind())
	for in, typ := range map[string]Type{"Per-computer": PerComputer, "per host": PerHost, "SOCKET": PerSocket, "per_administrator": PerAdministrator} {
		got, err := ParseType(in)
		require.NoError(t, err, in)
		assert.Equal(t, typ, got)
	}
	_, err := ParseType("per laptop")
	assert.ErrorIs(t, err, license.ErrInvalid)
}

func TestRenewalDateAnchored(t *testing.T) {
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 9, 30, 0, 0, time.UTC) }
	cases := []struct {
		name   string
		period BillingPeriod
		anchor time.Time
		want   []time.Time // periods 1, 2, 3, ...
	}{
		{"31 Jan monthly, non-leap", Monthly, at(2026, 1, 31), []time.Time{at(2026, 2, 28), at(2026, 3, 31), at(2026, 4, 30), at(2026, 5, 31)}},
		{"31 Jan monthly, leap", Monthly, at(2028, 1, 31), []time.Time{at(2028, 2, 29), at(2028, 3, 31)}},
		{"30 Jan monthly", Monthly, at(2026, 1, 30), []time.Time{at(2026, 2, 28), at(2026, 3, 30)}},
		{"31 Dec over the year end", Monthly, at(2026, 12, 31), []time.Time{at(2027, 1, 31), at(2027, 2, 28), at(2027, 3, 31)}},
		{"29 Feb yearly", Yearly, at(2024, 2, 29), []time.Time{at(2025, 2, 28), at(2026, 2, 28), at(2027, 2, 28), at(2028, 2, 29)}},
	}
	for _, c := range cases {
		for i, w := range c.want {
			assert.Equal(t, w, c.period.RenewalDate(c.anchor, i+1), "%s: period %d", c.name, i+1)
		}
	}
	// A non-UTC anchor is resolved to UTC first: 00:30 on 1 March in UTC+1 is
	// 23:30 on 28 February UTC, so the monthly day is the 28th.
	plus1 := time.FixedZone("UTC+1", 3600)
	got := Monthly.RenewalDate(time.Date(2026, 3, 1, 0, 30, 0, 0, plus1), 1)
	assert.Equal(t, time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC), got)
	assert.Equal(t, time.UTC, got.Location())
}

func TestKeys(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		key, hash := newKey()
		require.Len(t, key, 39, "32 characters in 8 groups of 4")
		assert.Equal(t, 7, strings.Count(key, "-"))
		assert.False(t, seen[key], "keys repeat")
		seen[key] = true
		normal, ok := normalKey(key)
		require.True(t, ok)
		raw, err := crockford.DecodeString(normal)
		require.NoError(t, err)
		assert.Len(t, raw, KeyBytes)
		assert.GreaterOrEqual(t, 8*len(raw), 128, "at least 128 bits")
		assert.Equal(t, hash, hashKey(normal))
		assert.Len(t, hash, 64)
		assert.True(t, sameHash(hash, hashKey(normal)))
		altered := normal[:31] + "0"
		if strings.HasSuffix(normal, "0") {
			altered = normal[:31] + "1"
		}
		assert.False(t, sameHash(hash, hashKey(altered)), "one character changed")
	}
	for _, bad := range []string{"", "ABCD", strings.Repeat("U", 32), strings.Repeat("A", 33)} {
		_, ok := normalKey(bad)
		assert.False(t, ok, "%q", bad)
	}
}
