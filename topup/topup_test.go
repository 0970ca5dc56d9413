package topup_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
	"github.com/licensekit/licensekit/topup"
)

func TestSuiteMemory(t *testing.T) {
	storagetest.RunSuite(t, "topup", func(t testing.TB) storage.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storagetest.Features{})
}

// reporter is the part of *testing.T and *rapid.T that amount needs.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// amount calls topup.Amount and reports a panic (a division by a zero
// increment, say) as a failure of the calling test: a panic in a test would
// end the test binary and skip every other test of the package.
func amount(t reporter, short, inc int64) (got int64, ok bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Amount(%d, %d) panicked: %v", short, inc, r)
			got, ok = 0, false
		}
	}()
	return topup.Amount(short, inc), true
}

// TestAmount checks a table and a property in subtests of their own:
// rapid.Check panics when handed a *testing.T that has already failed, and the
// panic would end the test binary, skipping the package's other tests.
func TestAmount(t *testing.T) {
	t.Run("table", func(t *testing.T) {
		for _, tc := range []struct{ short, inc, want int64 }{
			{2, 5, 5}, {12, 5, 15}, {5, 5, 5}, {6, 5, 10}, {1, 25, 25}, {0, 5, 0}, {-3, 5, 0}, {7, 0, 0}, {7, -5, 0},
		} {
			if got, ok := amount(t, tc.short, tc.inc); ok {
				assert.Equal(t, tc.want, got, "shortfall %d increment %d", tc.short, tc.inc)
			}
		}
	})
	t.Run("property", func(t *testing.T) { rapid.Check(t, amountProperty) })
}

// amountProperty: Amount is the smallest multiple of the increment that
// covers the shortfall.
func amountProperty(t *rapid.T) {
	short := rapid.Int64Range(1, 1<<30).Draw(t, "shortfall")
	inc := 5 * rapid.Int64Range(1, 1000).Draw(t, "steps")
	got, ok := amount(t, short, inc)
	if !ok {
		return
	}
	if got%inc != 0 || got < short || got-short >= inc {
		t.Fatalf("Amount(%d, %d) = %d: not the smallest multiple covering the shortfall", short, inc, got)
	}
}

func TestCheckIncrement(t *testing.T) {
	for _, ok := range []int64{5, 10, 15, 100, 500} {
		assert.NoError(t, topup.CheckIncrement(ok), "%d", ok)
	}
	for _, bad := range []int64{-5, 0, 1, 4, 6, 9, 11, 1 << 40} {
		err := topup.CheckIncrement(bad)
		assert.Equal(t, license.Invalid, license.ErrorCode(err), "%d", bad)
		assert.Equal(t, "increment", license.ErrorField(err), "%d", bad)
	}
}

func TestCheckPrerequisites(t *testing.T) {
	site := func(id string, p billing.PaymentType, g string) billing.Site {
		return billing.Site{ID: id, Name: "Site " + id, PaymentType: p, Group: g}
	}
	mi := billing.MonthlyInvoice
	assert.Empty(t, topup.CheckPrerequisites(nil))
	assert.Empty(t, topup.CheckPrerequisites([]billing.Site{site("1", mi, "g"), site("2", mi, "g")}))

	got := topup.CheckPrerequisites([]billing.Site{site("1", mi, "b"), site("2", mi, "a"), site("3", mi, "a"), site("4", billing.Card, "a"), site("5", mi, "")})
	require.Len(t, got, 3)
	assert.Equal(t, topup.SiteProblem{Site: "1", SiteName: "Site 1", Problem: topup.ProblemOtherGroup, Reason: got[0].Reason}, got[0])
	assert.Contains(t, got[0].Reason, `"b"`)
	assert.Contains(t, got[0].Reason, `"a"`, "the group of most sites is the company's")
	assert.Equal(t, topup.ProblemPaymentType, got[1].Problem)
	assert.Equal(t, "4", got[1].Site)
	assert.Equal(t, topup.ProblemNoGroup, got[2].Problem)

	// On a tie the first group by name is the company's.
	got = topup.CheckPrerequisites([]billing.Site{site("1", mi, "z"), site("2", mi, "y")})
	require.Len(t, got, 1)
	assert.Equal(t, "1", got[0].Site)
}

func TestQuoteEnrolment(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	mi := billing.MonthlyInvoice
	site := billing.Site{ID: "s", Name: "North", PaymentType: mi, Licenses: n(10), Enrolled: 8}
	assert.Equal(t, topup.Quote{Site: "s", SiteName: "North", Devices: 4, Enabled: true, Increment: 5, Shortfall: 2, Added: 5, NewTotal: 15, NewAvailable: 3},
		topup.QuoteEnrolment(site, true, 5, 4), "increment 5 covers a shortfall of 2")
	assert.Equal(t, topup.Quote{Site: "s", SiteName: "North", Devices: 4, Increment: 5, Shortfall: 2, NewTotal: 10, Refused: true},
		topup.QuoteEnrolment(site, false, 5, 4), "disabled: refused")
	assert.Equal(t, topup.Quote{Site: "s", SiteName: "North", Devices: 2, Enabled: true, Increment: 5, NewTotal: 10},
		topup.QuoteEnrolment(site, true, 5, 2), "fits: nothing added")
	card := site
	card.PaymentType = billing.Card
	assert.True(t, topup.QuoteEnrolment(card, true, 5, 4).Refused, "card sites are not topped up")
	unset := billing.Site{ID: "u", PaymentType: mi, Enrolled: 50}
	q := topup.QuoteEnrolment(unset, true, 5, 100)
	assert.False(t, q.Refused)
	assert.Zero(t, q.Added, "no license amount set: accepted without top-up")
	assert.Equal(t, int64(15), topup.QuoteEnrolment(billing.Site{PaymentType: mi, Licenses: n(20), Enrolled: 20}, true, 5, 12).Added)
}
