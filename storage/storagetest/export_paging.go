package storagetest

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("eventlog-export",
		Test{"ShortReadsExportEveryEventOnce", testExportShortReads},
	)
}

// pageReads runs every Events call in a read transaction of its own, as the
// HTTP adapter's exports do.
type pageReads struct {
	s     storage.Store
	calls int
}

func (r *pageReads) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	r.calls++
	return r.s.View(ctx, func(tx storage.Tx) error { return tx.Events(ctx, f, fn) })
}

// An export read in pages, each in its own transaction, gives the rows of the
// export in one transaction: every event once, in the requested order, across
// page boundaries that fall inside runs of equal sort keys.
func testExportShortReads(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	st := newStore(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	n := 2*eventlog.ExportPageEvents + 37
	require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			for _, company := range []string{"acme", "evil"} {
				if company == "evil" && i%5 != 0 {
					continue
				}
				e := eventlog.Event{ID: license.NewID(), Company: company, Time: at.Add(time.Duration(i%13) * time.Minute),
					Type: eventlog.Type("t" + strconv.Itoa(i%3)), Target: "site " + strconv.Itoa(i), Count: int64(i % 4), Actor: "system"}
				if _, err := tx.AppendEvent(ctx, e); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	alice := license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}
	for _, req := range []eventlog.Request{
		{},
		{Sort: eventlog.ColType, Desc: true},
		{Sort: eventlog.ColCount, Columns: []eventlog.Column{eventlog.ColCount, eventlog.ColTarget}},
		{Sort: eventlog.ColTarget, Desc: true, Search: "site 1"},
	} {
		var whole, paged bytes.Buffer
		require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
			return eventlog.Export(ctx, tx, alice, eventlog.CurrentView, req, &whole)
		}))
		r := &pageReads{s: st}
		require.NoError(t, eventlog.Export(ctx, r, alice, eventlog.CurrentView, req, &paged))
		require.Equal(t, whole.String(), paged.String(), "request %+v", req)
		rows, err := csv.NewReader(&paged).ReadAll()
		require.NoError(t, err)
		if req.Search == "" {
			require.Equal(t, n+1, len(rows), "request %+v: header and every event of acme", req)
			require.Greater(t, r.calls, 3, "read in pages")
		}
		seen := map[string]bool{}
		for _, row := range rows[1:] {
			key := row[len(row)-1]
			if req.Columns == nil {
				key = row[3] // Target: unique per event
			}
			require.False(t, seen[key], "request %+v: %q exported twice", req, key)
			seen[key] = true
		}
	}
}
