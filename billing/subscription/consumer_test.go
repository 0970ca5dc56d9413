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
	"github.com/licensekit/licensekit/storage/memory"
)

// Subscription licenses take the one consumer type: a computer is its Asset (or
// its Fingerprint) with User its owner, a user is User alone; an assignment
// keeps only those, and the kind must match the license type.
func TestAssignTakesLicenseConsumer(t *testing.T) {
	ctx := context.Background()
	s := subscription.New(memory.New(), licensetest.NewClock(time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)))
	msp := license.Actor{Company: "msp-1", Email: "admin@msp.example", Role: license.Admin}
	buy := func(typ subscription.Type) subscription.License {
		out, err := s.Purchase(ctx, msp, subscription.Purchase{Type: typ, Quantity: 1, Period: subscription.Monthly,
			UnitPrice: license.NewMoney(decimal.RequireFromString("5.99"), "USD")})
		require.NoError(t, err)
		return out.Licenses[0]
	}
	pc, user := buy(subscription.PerComputer), buy(subscription.PerUser)

	l, err := s.Assign(ctx, msp, subscription.AssignRequest{Type: subscription.PerComputer, License: pc.ID,
		Consumer: license.Consumer{Fingerprint: "fp-7", User: "ann", Location: "Oulu", CPUs: 4}})
	require.NoError(t, err)
	assert.Equal(t, &license.Consumer{Asset: "fp-7", User: "ann"}, l.Assignee, "the fingerprint stands for the asset; nothing else is kept")
	v, err := s.Validate(ctx, msp, pc.ID, license.ValidationRequest{Consumer: license.Consumer{Asset: "fp-7"}})
	require.NoError(t, err)
	assert.Equal(t, license.CodeValid, v.Code)

	_, err = s.Assign(ctx, msp, subscription.AssignRequest{Type: subscription.PerUser, License: user.ID,
		Consumer: license.Consumer{Asset: "pc-1", User: "bob"}})
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	assert.Equal(t, "consumer.asset", license.ErrorField(err))
	l, err = s.Assign(ctx, msp, subscription.AssignRequest{Type: subscription.PerUser, License: user.ID,
		Consumer: license.Consumer{User: "bob"}})
	require.NoError(t, err)
	assert.Equal(t, &license.Consumer{User: "bob"}, l.Assignee)
	v, err = s.Validate(ctx, msp, user.ID, license.ValidationRequest{Consumer: license.Consumer{User: "bob", Asset: "any-pc"}})
	require.NoError(t, err)
	assert.Equal(t, license.CodeValid, v.Code, "a per-user license is the user's on any computer")
}
