package main

import (
	"context"
	"log/slog"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

// backgroundLoops are the rounds the server runs every interval: delivering
// committed top-up notifications (the outbox) and the subscription tick.
func backgroundLoops(store storage.Store, clock license.Clock, log *slog.Logger) map[string]func(context.Context) error {
	d := &topup.Dispatcher{Store: store, Notifier: logNotifier{log: log}}
	return map[string]func(context.Context) error{
		"topup-notifications": func(ctx context.Context) error {
			r, err := d.RunOnce(ctx, clock.Now())
			if r.Delivered+r.Retrying+r.Failed > 0 {
				log.Info("top-up notifications", "delivered", r.Delivered, "retrying", r.Retrying, "failed", r.Failed)
			}
			return err
		},
	}
}
