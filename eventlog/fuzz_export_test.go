package eventlog_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// FuzzExportRow sends every text column of an event (source, target, actor,
// subject, details) through the CSV cell writer, in both export modes, with a
// fuzzed search: the file parses, has a header and at most one row of the
// header's width, no cell starts a formula, and each text cell is the
// neutralised field.
func FuzzExportRow(f *testing.F) {
	for _, s := range [][5]string{
		{"North", "South", "ann@acme.example", "site-1", ""},
		{"=1+1", "+cmd", "-2", "@SUM(A1)", "="},
		{"\ttab", "\rcr", "a,b", "\"q\"", "North"},
		{"line\nbreak", "é✓", "", "\x00", "\xff"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	when := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	owner := license.Actor{Company: "fuzz-co", Email: "owner@fuzz.example", Role: license.Owner}
	f.Fuzz(func(t *testing.T, source, target, actor, subject, search string) {
		ctx := context.Background()
		st := memory.New()
		details, err := json.Marshal(map[string]string{"note": source + target})
		require.NoError(t, err)
		e := eventlog.Event{ID: license.NewID(), Company: owner.Company, Time: when, Type: "site.updated",
			Source: source, Target: target, Actor: actor, Subject: subject, Count: 3, Details: details}
		if err := st.Update(ctx, func(tx storage.Tx) error { _, err := tx.AppendEvent(ctx, e); return err }); err != nil {
			require.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
			return
		}
		var stored eventlog.Event
		require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
			return tx.Events(ctx, eventlog.Filter{Company: owner.Company}, func(ev eventlog.Event) error { stored = ev; return nil })
		}))
		for _, mode := range []eventlog.ExportMode{eventlog.OriginalData, eventlog.CurrentView} {
			req := eventlog.Request{Columns: eventlog.AllColumns, Search: search}
			var buf bytes.Buffer
			err := st.View(ctx, func(tx storage.Tx) error { return eventlog.Export(ctx, tx, owner, mode, req, &buf) })
			if err != nil {
				require.Equal(t, license.Invalid, license.ErrorCode(err), "%s search %q: %v", mode, search, err)
				continue
			}
			rows, err := csv.NewReader(&buf).ReadAll()
			require.NoError(t, err, "the CSV parses")
			require.NotEmpty(t, rows)
			require.LessOrEqual(t, len(rows), 2)
			if mode == eventlog.OriginalData {
				require.Len(t, rows, 2, "original data ignores the search")
			}
			for _, row := range rows[1:] {
				require.Len(t, row, len(rows[0]))
				for i, cell := range row {
					if cell != "" {
						require.NotContains(t, "=+-@\t\r", cell[:1], "column %s starts a formula: %q", rows[0][i], cell)
					}
				}
				want := map[eventlog.Column]string{eventlog.ColSource: stored.Source, eventlog.ColTarget: stored.Target,
					eventlog.ColActor: stored.Actor, eventlog.ColSubject: stored.Subject}
				for i, c := range eventlog.AllColumns {
					v, ok := want[c]
					if !ok || strings.Contains(v, "\r") { // encoding/csv reads \r\n in a quoted field as \n
						continue
					}
					require.Equal(t, eventlog.NeutraliseCell(v), row[i], "column %s", c)
				}
			}
		}
	})
}
