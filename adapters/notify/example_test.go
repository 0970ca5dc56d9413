package notify_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/licensekit/licensekit/adapters/notify"
	"github.com/licensekit/licensekit/topup"
)

func ExampleLog() {
	// Drop the time attribute so the output is stable.
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	n := topup.Notification{ID: "n1", Company: "acme", Site: "s1", SiteName: "Helsinki", Added: 5, Enrolled: 12, NewTotal: 15,
		At: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Recipients: []string{"ops@acme.example"}}
	_ = notify.Log{Logger: slog.New(h)}.Notify(context.Background(), n)
	// Output:
	// level=INFO msg="automatic top-up notification" notification=n1 company=acme site=s1 site_name=Helsinki licenses_added=5 devices_enrolled=12 new_total=15 recipients=[ops@acme.example] subject="Automatic top-up: 5 licenses added to site Helsinki"
}

func ExampleLoop() {
	var d *topup.Dispatcher // &topup.Dispatcher{Store: store, Notifier: &notify.SMTP{Addr: "smtp.example.com:587", From: "noreply@example.com"}}
	loop := &notify.Loop{Dispatcher: d, Interval: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a real program cancels on shutdown
	_ = loop.Run(ctx)
	// Output:
}
