package notify

import (
	"context"
	"log/slog"

	"github.com/licensekit/licensekit/topup"
)

// Log writes each top-up notification to a structured logger instead of
// sending it: for development, or for products that forward logs to their own
// alerting. It never fails.
type Log struct {
	Logger *slog.Logger // nil means slog.Default()
	Level  slog.Level   // the zero value is Info
}

var _ topup.Notifier = Log{}

// Notify logs n with its site, figures and recipients.
func (l Log) Notify(ctx context.Context, n topup.Notification) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.LogAttrs(ctx, l.Level, "automatic top-up notification",
		slog.String("notification", n.ID),
		slog.String("company", n.Company),
		slog.String("site", n.Site),
		slog.String("site_name", n.SiteName),
		slog.Int64("licenses_added", n.Added),
		slog.Int64("devices_enrolled", n.Enrolled),
		slog.Int64("new_total", n.NewTotal),
		slog.Any("recipients", n.Recipients),
		slog.String("subject", n.Subject()),
	)
	return nil
}
