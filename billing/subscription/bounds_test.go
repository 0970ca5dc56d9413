package subscription_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

func requireInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
	assert.Equal(t, field, license.ErrorField(err), "%v", err)
}

func TestInputBoundsChangeNothing(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	s := subscription.New(store, licensetest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	owner := license.Actor{Company: "acme", Email: "ann@acme.example", Role: license.Owner}

	for _, amount := range []decimal.Decimal{decimal.New(1, 9999), decimal.New(1, -9999), decimal.RequireFromString("1000000000000")} {
		_, err := s.Purchase(ctx, owner, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, Period: subscription.Monthly,
			UnitPrice: license.NewMoney(amount, "USD")})
		requireInvalidField(t, err, "unit_price")
	}
	for _, bad := range []string{"ann\x00", "ann\nbob", "ann\u202Exe", "ann\u2067"} {
		_, err := s.SetUserSettings(ctx, owner, subscription.UserSettings{User: bad, Allocation: subscription.Allocation{Mode: subscription.GlobalPool}})
		requireInvalidField(t, err, "user")
		_, err = s.SetCompanySettings(ctx, owner, subscription.CompanySettings{Company: bad, Allocation: subscription.Allocation{Mode: subscription.GlobalPool}})
		requireInvalidField(t, err, "company")
	}
	_, err := s.Suspend(ctx, owner, license.NewID(), "fraud\u202Edetected")
	requireInvalidField(t, err, "reason")
	n := 0
	require.NoError(t, store.View(ctx, func(tx storage.Tx) error {
		for _, kind := range []storage.Kind{subscription.KindLicense, subscription.KindUser, subscription.KindCompany, subscription.KindSettings} {
			recs, err := tx.List(ctx, storage.ListQuery{Company: "acme", Kind: kind})
			if err != nil {
				return err
			}
			n += len(recs)
		}
		return nil
	}))
	assert.Zero(t, n, "nothing stored")
}
