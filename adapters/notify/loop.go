package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/topup"
)

// Loop runs a dispatcher in the background: once at start, then every
// Interval, until the context of Run is cancelled. Dispatcher is required.
type Loop struct {
	Dispatcher *topup.Dispatcher
	Interval   time.Duration // default 30s
	Clock      license.Clock // the time passed to RunOnce; default license.SystemClock
	Logger     *slog.Logger  // store errors and non-empty reports; nil means slog.Default()
}

// Run dispatches until ctx is done and returns nil then. A pass in progress
// when ctx is cancelled ends early (its store calls fail with the context's
// error; what it delivered stays delivered and the rest stays pending). A store
// error in one pass is logged and the loop carries on at the next tick.
func (l *Loop) Run(ctx context.Context) error {
	interval := l.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	clock := l.Clock
	if clock == nil {
		clock = license.SystemClock{}
	}
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		rep, err := l.Dispatcher.RunOnce(ctx, clock.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			lg.LogAttrs(ctx, slog.LevelError, "top-up notification dispatch failed", slog.String("error", err.Error()))
		case rep != (topup.Report{}):
			lg.LogAttrs(ctx, slog.LevelInfo, "top-up notifications dispatched",
				slog.Int("delivered", rep.Delivered), slog.Int("retrying", rep.Retrying), slog.Int("failed", rep.Failed))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
