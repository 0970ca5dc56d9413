package eventlog_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

func ExampleQuery() {
	ctx := context.Background()
	s := memory.New()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	_ = s.Update(ctx, func(tx storage.Tx) error {
		for i, target := range []string{"Helsinki", "Oulu", "Helsinki"} {
			_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: "acme", Time: at.Add(time.Duration(i) * time.Hour),
				Type: "license.purchase", Target: target, Count: int64(10 * (i + 1)), Actor: "alice@acme.example"})
			if err != nil {
				return err
			}
		}
		return nil
	})
	actor := license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}
	_ = s.View(ctx, func(tx storage.Tx) error {
		req := eventlog.Request{Search: "helsinki", Columns: []eventlog.Column{eventlog.ColTarget, eventlog.ColCount}, Sort: eventlog.ColCount, Desc: true, Limit: 1}
		for {
			page, err := eventlog.Query(ctx, tx, actor, req)
			if err != nil {
				return err
			}
			fmt.Println(page.Rows)
			if page.Next == "" {
				return nil
			}
			req.Cursor = page.Next
		}
	})
	// Output:
	// [[Helsinki 30]]
	// [[Helsinki 10]]
}

func ExampleExport() {
	ctx := context.Background()
	s := memory.New()
	_ = s.Update(ctx, func(tx storage.Tx) error {
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: "acme", Time: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC),
			Type: "license.transfer", Source: "Helsinki", Target: "=HYPERLINK(\"http://evil\")", Count: 5, Actor: "alice@acme.example"})
		return err
	})
	actor := license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}
	_ = s.View(ctx, func(tx storage.Tx) error {
		return eventlog.Export(ctx, tx, actor, eventlog.CurrentView, eventlog.Request{}, os.Stdout)
	})
	// Output:
	// Event date,Event type,Source,Target,License count,Initiated by
	// 2026-11-02T09:00:00Z,license.transfer,Helsinki,"'=HYPERLINK(""http://evil"")",5,alice@acme.example
}
