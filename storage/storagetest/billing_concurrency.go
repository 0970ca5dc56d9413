package storagetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
)

func init() {
	Register("billing-concurrency", Test{"InvariantsUnderContention", testBillingConcurrency})
}

// testBillingConcurrency runs purchases, decreases, transfers and enrolments
// from many goroutines on the same three sites, then checks that licenses never
// fell below enrolled devices, that the sum of licenses moved only by the
// committed purchases and decreases, and that each committed change has one event.
func testBillingConcurrency(t *testing.T, newStore Factory, feat Features) {
	ctx := context.Background()
	f := newBillingFixture(t, newStore(t))
	var ids []string
	for _, name := range []string{"A", "B", "C"} {
		ids = append(ids, f.site(t, f.owner, name, "business", "1", "EUR", billing.MonthlyInvoice, billingCount(20)).ID)
	}
	events0 := len(billingEvents(t, f.store, "acme"))
	workers, rounds := 8, 40
	if feat.Short {
		rounds = 10
	}
	var purchased, decreased, committed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				site, other := ids[(w+r)%3], ids[(w+r+1)%3]
				var err error
				switch (w + r) % 5 {
				case 0:
					_, err = f.svc.Purchase(ctx, f.admin, billing.PurchaseRequest{Site: site, Quantity: 2})
					if err == nil {
						purchased.Add(2)
					}
				case 1:
					_, err = f.svc.Decrease(ctx, f.admin, billing.DecreaseRequest{Site: site, Quantity: 3})
					if err == nil {
						decreased.Add(3)
					}
				case 2:
					_, err = f.svc.Transfer(ctx, f.owner, billing.TransferRequest{From: site, To: other, Quantity: 2})
				case 3:
					_, err = f.svc.Enroll(ctx, f.system, billing.EnrollRequest{Site: site, Devices: 2})
				default:
					_, err = f.svc.Unenroll(ctx, f.system, billing.EnrollRequest{Site: site, Devices: 1})
				}
				switch license.ErrorCode(err) {
				case "":
					committed.Add(1)
				case license.BelowEnrolled, license.InsufficientLicenses, license.Invalid:
					// refused by the rules under the state other goroutines left
				default:
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	sites, err := f.svc.Sites(ctx, f.owner)
	require.NoError(t, err)
	var sum int64
	for _, s := range sites {
		require.GreaterOrEqual(t, s.LicenseCount(), s.Enrolled, "site %s", s.Name)
		sum += s.LicenseCount()
	}
	require.Equal(t, 60+purchased.Load()-decreased.Load(), sum)
	require.Equal(t, events0+int(committed.Load()), len(billingEvents(t, f.store, "acme")), "one event per committed change")
	require.Positive(t, committed.Load())
}
