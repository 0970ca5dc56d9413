package server

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/licensekit/licensekit/adapters/metrics"
	"github.com/licensekit/licensekit/adapters/notify"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

// bgLoop is a round run every period in the background.
type bgLoop struct {
	name  string
	every time.Duration
	once  func(context.Context) error
}

// backgroundLoops are every background round of the server, the one place
// they are listed (run starts each in its goroutine and stops them all at
// shutdown): every -interval, delivering committed top-up notifications from
// the outbox (to the log here; a product plugs in notify.SMTP or its own
// topup.Notifier), the subscription tick (renewals, expiries, automatic
// exchanges across all companies), on PostgreSQL linking pending events into
// their chains, and with metrics on, refreshing the outbox and domain gauges;
// every -checkpoint-interval, with a checkpoint key, the event-chain
// checkpoints.
func backgroundLoops(store storage.Store, clock license.Clock, log *slog.Logger, c config, cpKey ed25519.PrivateKey, m *metrics.Metrics) []bgLoop {
	d := &topup.Dispatcher{Store: store, Notifier: notify.Log{Logger: log}}
	subs := subscription.New(store, clock)
	loops := []bgLoop{
		{"topup-notifications", c.interval, func(ctx context.Context) error {
			r, err := d.RunOnce(ctx, clock.Now())
			if m != nil {
				m.ObserveNotifications(r)
			}
			if r.Delivered+r.Retrying+r.Failed > 0 {
				log.Info("top-up notifications", "delivered", r.Delivered, "retrying", r.Retrying, "failed", r.Failed)
			}
			return err
		}},
		{"subscription-tick", c.interval, func(ctx context.Context) error {
			r, err := subs.Tick(ctx, clock.Now())
			if r.Renewed+r.Expired+r.Exchanged+r.Unexchanged > 0 {
				log.Info("subscription tick", "companies", r.Companies, "renewed", r.Renewed, "expired", r.Expired,
					"exchanged", r.Exchanged, "unexchanged", r.Unexchanged)
			}
			return err
		}},
	}
	if sl, ok := store.(storage.Sealer); ok {
		// PostgreSQL: link the events that were appended while another
		// transaction held their company's chain head and that no later
		// transaction of the company has linked yet.
		loops = append(loops, bgLoop{"event-chain", c.interval, func(ctx context.Context) error {
			n, err := sl.SealPending(ctx)
			if n > 0 {
				log.Info("event chain sealed", "companies", n)
			}
			return err
		}})
	}
	if m != nil {
		loops = append(loops, bgLoop{"metrics-refresh", c.interval, func(ctx context.Context) error {
			return m.Refresh(ctx, store, clock.Now())
		}})
	}
	if cpKey != nil {
		loops = append(loops, bgLoop{"event-checkpoints", c.checkpointEvery, checkpointRound(store, clock, cpKey, log)})
	}
	return loops
}
