package access

import (
	"context"
	"io"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// QueryEvents is eventlog.Query over tx with actor resolved to its effective
// role in tx first, so a member demoted below Admin can no longer read the log.
func QueryEvents(ctx context.Context, tx storage.Tx, actor license.Actor, req eventlog.Request) (eventlog.Page, error) {
	eff, err := Resolve(ctx, tx, actor)
	if err != nil {
		return eventlog.Page{}, err
	}
	return eventlog.Query(ctx, tx, eff, req)
}

// ExportEvents is eventlog.Export over tx with actor resolved to its
// effective role in tx first.
func ExportEvents(ctx context.Context, tx storage.Tx, actor license.Actor, mode eventlog.ExportMode, req eventlog.Request, w io.Writer) error {
	eff, err := Resolve(ctx, tx, actor)
	if err != nil {
		return err
	}
	return eventlog.Export(ctx, tx, eff, mode, req, w)
}
