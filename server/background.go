package server

import (
	"context"
	"log/slog"

	"github.com/licensekit/licensekit/adapters/notify"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

// backgroundLoops are the rounds the server runs every interval: delivering
// committed top-up notifications from the outbox (to the log here; a product
// plugs in notify.SMTP or its own topup.Notifier) and the subscription tick
// (renewals, expiries, automatic exchanges across all companies).
func backgroundLoops(store storage.Store, clock license.Clock, log *slog.Logger) map[string]func(context.Context) error {
	d := &topup.Dispatcher{Store: store, Notifier: notify.Log{Logger: log}}
	subs := subscription.New(store, clock)
	loops := map[string]func(context.Context) error{
		"topup-notifications": func(ctx context.Context) error {
			r, err := d.RunOnce(ctx, clock.Now())
			if r.Delivered+r.Retrying+r.Failed > 0 {
				log.Info("top-up notifications", "delivered", r.Delivered, "retrying", r.Retrying, "failed", r.Failed)
			}
			return err
		},
		"subscription-tick": func(ctx context.Context) error {
			r, err := subs.Tick(ctx, clock.Now())
			if r.Renewed+r.Expired+r.Exchanged+r.Unexchanged > 0 {
				log.Info("subscription tick", "companies", r.Companies, "renewed", r.Renewed, "expired", r.Expired,
					"exchanged", r.Exchanged, "unexchanged", r.Unexchanged)
			}
			return err
		},
	}
	if sl, ok := store.(storage.Sealer); ok {
		// PostgreSQL: link the events that were appended while another
		// transaction held their company's chain head and that no later
		// transaction of the company has linked yet.
		loops["event-chain"] = func(ctx context.Context) error {
			n, err := sl.SealPending(ctx)
			if n > 0 {
				log.Info("event chain sealed", "companies", n)
			}
			return err
		}
	}
	return loops
}
