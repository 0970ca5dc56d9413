package billing_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

func TestEnrollWithKeyAppliesOnce(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	svc := &billing.Service{Store: store}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	_, err := svc.CreateCompany(ctx, owner, "Acme MSP")
	require.NoError(t, err)
	price, _ := license.ParseMoney("2.50", "EUR")
	site, err := svc.CreateSite(ctx, owner, billing.NewSite{Name: "Oulu", Plan: "business", UnitPrice: price, PaymentType: billing.MonthlyInvoice})
	require.NoError(t, err)
	events := func() int64 {
		var n int64
		require.NoError(t, store.View(ctx, func(tx storage.Tx) error {
			var err error
			n, err = tx.CountEvents(ctx, eventlog.Filter{Company: "acme"})
			return err
		}))
		return n
	}

	first, err := svc.Enroll(ctx, owner, billing.EnrollRequest{Site: site.ID, Devices: 7, IdempotencyKey: "enrol-1"})
	require.NoError(t, err)
	require.EqualValues(t, 7, first.Site.Enrolled)
	before := events()
	again, err := svc.Enroll(ctx, owner, billing.EnrollRequest{Site: site.ID, Devices: 7, IdempotencyKey: "enrol-1"})
	require.NoError(t, err)
	require.Equal(t, first.Site.Enrolled, again.Site.Enrolled, "a retry returns the first result")
	require.Equal(t, before, events(), "a retry writes no event")
	got, err := svc.GetSite(ctx, owner, site.ID)
	require.NoError(t, err)
	require.EqualValues(t, 7, got.Enrolled, "a retry enrols nothing more")

	_, err = svc.Enroll(ctx, owner, billing.EnrollRequest{Site: site.ID, Devices: 8, IdempotencyKey: "enrol-1"})
	require.Equal(t, license.Conflict, license.ErrorCode(err), "same key, different request")
	_, err = svc.Unenroll(ctx, owner, billing.EnrollRequest{Site: site.ID, Devices: 7, IdempotencyKey: "enrol-1"})
	require.Equal(t, license.Conflict, license.ErrorCode(err), "same key, different operation")

	s2, err := svc.Unenroll(ctx, owner, billing.EnrollRequest{Site: site.ID, Devices: 2, IdempotencyKey: "unenrol-1"})
	require.NoError(t, err)
	require.EqualValues(t, 5, s2.Enrolled)
	s3, err := svc.Unenroll(ctx, owner, billing.EnrollRequest{Site: site.ID, Devices: 2, IdempotencyKey: "unenrol-1"})
	require.NoError(t, err)
	require.EqualValues(t, 5, s3.Enrolled)
	got, _ = svc.GetSite(ctx, owner, site.ID)
	require.EqualValues(t, 5, got.Enrolled)
}
