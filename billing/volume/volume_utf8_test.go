package volume_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

// Names that are not valid UTF-8 are refused rather than stored mangled.
func TestInvalidUTF8NamesRefused(t *testing.T) {
	ctx := context.Background()
	svc := &volume.Service{Store: memory.New(), Clock: licensetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	owner := license.Actor{Company: "partner", Email: "owner@partner.example", Role: license.Owner}
	price, _ := license.ParseMoney("3", "USD")
	_, err := svc.CreateLicense(ctx, owner, volume.NewLicense{Product: "MDR \xff", Seats: 10, RenewalDate: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), PricePerUser: price})
	require.Equal(t, "product", license.ErrorField(err), "%v", err)
	l, err := svc.CreateLicense(ctx, owner, volume.NewLicense{Product: "MDR Complete", Seats: 10, RenewalDate: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), PricePerUser: price})
	require.NoError(t, err)
	_, err = svc.Onboard(ctx, owner, volume.Onboarding{LegalName: "Acme \xc3\x28 Oy", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.Equal(t, "legal_name", license.ErrorField(err), "%v", err)
	cs, err := svc.Customers(ctx, owner)
	require.NoError(t, err)
	require.Empty(t, cs)
}
