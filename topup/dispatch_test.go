package topup_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/topup"
)

// blockingNotifier counts its calls; the first one waits until released.
type blockingNotifier struct {
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (b *blockingNotifier) Notify(ctx context.Context, _ topup.Notification) error {
	if b.calls.Add(1) == 1 {
		close(b.entered)
		<-b.release
	}
	return nil
}

// Two dispatchers (two server processes) on one store: while the first is
// sending a notification, the second, due at the same instant, finds it
// claimed and sends nothing. Once the first records the outcome the
// notification is delivered after one attempt.
func TestDispatchersSendEachNotificationOnce(t *testing.T) {
	ctx, bill, top, owner := exampleSetup()
	s := site(ctx, bill, owner, "Helsinki", "north", billing.MonthlyInvoice, 2)
	_, err := top.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	require.NoError(t, err)
	_, err = top.AddRecipients(ctx, owner, "ops@acme.example")
	require.NoError(t, err)
	_, err = bill.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 4})
	require.NoError(t, err)

	n := &blockingNotifier{entered: make(chan struct{}), release: make(chan struct{})}
	first := &topup.Dispatcher{Store: bill.Store, Notifier: n}
	second := &topup.Dispatcher{Store: bill.Store, Notifier: n}
	now := time.Date(2026, 11, 21, 10, 1, 0, 0, time.UTC)

	done := make(chan topup.Report, 1)
	go func() {
		rep, err := first.RunOnce(ctx, now)
		assert.NoError(t, err)
		done <- rep
	}()
	<-n.entered
	rep, err := second.RunOnce(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, topup.Report{}, rep, "the second dispatcher finds the notification claimed")
	assert.EqualValues(t, 1, n.calls.Load(), "one send while the first is in flight")
	close(n.release)
	assert.Equal(t, topup.Report{Delivered: 1}, <-done)

	out, err := top.Outbox(ctx, owner, topup.StatusDelivered)
	require.NoError(t, err)
	require.Len(t, out, 1)
	assert.Equal(t, 1, out[0].Attempts)
	assert.EqualValues(t, 1, n.calls.Load())
}
