package volume_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

func TestVolumeInputBounds(t *testing.T) {
	ctx := context.Background()
	s := volume.New(memory.New(), licensetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
	in := func() volume.NewLicense {
		return volume.NewLicense{Product: "MDR", Seats: 10, RenewalDate: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
			PricePerUser: license.NewMoney(decimal.RequireFromString("4.5"), "USD")}
	}
	for field, change := range map[string]func(*volume.NewLicense){
		"product":        func(n *volume.NewLicense) { n.Product = "MDR\u202Eexe" },
		"price_per_user": func(n *volume.NewLicense) { n.PricePerUser = license.NewMoney(decimal.New(1, 9999), "USD") },
	} {
		n := in()
		change(&n)
		_, err := s.CreateLicense(ctx, partner, n)
		assert.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
		assert.Equal(t, field, license.ErrorField(err))
	}
	l, err := s.CreateLicense(ctx, partner, in())
	require.NoError(t, err)
	for _, bad := range []string{"Acme\x00", "Acme\u202Edtl", "Acme\u2067"} {
		_, err := s.Onboard(ctx, partner, volume.Onboarding{LegalName: bad, Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
		assert.Equal(t, license.Invalid, license.ErrorCode(err), "%q: %v", bad, err)
		assert.Equal(t, "legal_name", license.ErrorField(err))
	}
	// Runs of white space, newlines included, still become one space.
	c, err := s.Onboard(ctx, partner, volume.Onboarding{LegalName: "Acme\n  Ltd", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.NoError(t, err)
	assert.Equal(t, "Acme Ltd", c.LegalName)
}
