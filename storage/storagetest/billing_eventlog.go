package storagetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("eventlog-query",
		Test{"PagesEqualTheReferenceListing", testEventlogPaging},
		Test{"ExportIsScopedAndNeutralised", testEventlogExport},
	)
}

// eventlogReference sorts and filters evs as eventlog.Query must, with no store.
func eventlogReference(evs []eventlog.Event, company string, req eventlog.Request) []eventlog.Event {
	cols := req.Columns
	if len(cols) == 0 {
		cols = eventlog.DefaultColumns
	}
	sortCol := cmp.Or(req.Sort, eventlog.ColTime)
	var out []eventlog.Event
	for _, e := range evs {
		if e.Company != company {
			continue
		}
		if req.Search != "" && !slices.ContainsFunc(cols, func(c eventlog.Column) bool {
			return containsEqualFold(eventlog.Cell(e, c), req.Search)
		}) {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b eventlog.Event) int {
		var c int
		switch sortCol {
		case eventlog.ColCount:
			c = cmp.Compare(a.Count, b.Count)
		case eventlog.ColTime:
			c = a.Time.Compare(b.Time)
		default:
			c = strings.Compare(storage.CursorKey(a, sortCol), storage.CursorKey(b, sortCol))
		}
		c = cmp.Or(c, cmp.Compare(a.Seq, b.Seq))
		if req.Desc {
			return -c
		}
		return c
	})
	return out
}

// testEventlogPaging appends random events of two companies and checks that
// paging through eventlog.Query with any sort, direction, search, columns and
// page size lists exactly the reference listing of the caller's company.
func testEventlogPaging(t *testing.T, newStore Factory, f Features) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	alice := license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}
	billingRapid(t, f, func(rt *rapid.T) {
		st := newStore(t)
		n := rapid.IntRange(0, 25).Draw(rt, "events")
		words := []string{"Helsinki", "Oulu", "helsinki", "=cmd", ""}
		require.NoError(rt, st.Update(ctx, func(tx storage.Tx) error {
			for i := range n {
				e := eventlog.Event{
					ID:      license.NewID(),
					Company: rapid.SampledFrom([]string{"acme", "acme", "evil"}).Draw(rt, fmt.Sprint("company", i)),
					Time:    t0.Add(time.Duration(rapid.IntRange(0, 4).Draw(rt, fmt.Sprint("time", i))) * 90 * time.Minute),
					Type:    rapid.SampledFrom([]eventlog.Type{"license.purchase", "license.decrease", "site.enroll"}).Draw(rt, fmt.Sprint("type", i)),
					Source:  rapid.SampledFrom(words).Draw(rt, fmt.Sprint("source", i)),
					Target:  rapid.SampledFrom(words).Draw(rt, fmt.Sprint("target", i)),
					Count:   int64(rapid.IntRange(0, 12).Draw(rt, fmt.Sprint("count", i))),
					Actor:   rapid.SampledFrom([]string{"system", "alice@acme.example"}).Draw(rt, fmt.Sprint("actor", i)),
					Subject: rapid.SampledFrom([]string{"s1", "s2"}).Draw(rt, fmt.Sprint("subject", i)),
				}
				if _, err := tx.AppendEvent(ctx, e); err != nil {
					return err
				}
			}
			return nil
		}))
		var stored []eventlog.Event
		require.NoError(rt, st.View(ctx, func(tx storage.Tx) error {
			for _, c := range []string{"acme", "evil"} {
				if err := tx.Events(ctx, eventlog.Filter{Company: c}, func(e eventlog.Event) error {
					stored = append(stored, e)
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}))
		require.Len(rt, stored, n, "the store lists every appended event")
		sortable := []eventlog.Column{eventlog.ColTime, eventlog.ColType, eventlog.ColSource, eventlog.ColTarget, eventlog.ColCount, eventlog.ColActor, eventlog.ColSubject, eventlog.ColID}
		req := eventlog.Request{
			Search:  rapid.SampledFrom([]string{"", "hel", "OULU", "1", "s2", "system", "=", "T10"}).Draw(rt, "search"),
			Sort:    rapid.SampledFrom(sortable).Draw(rt, "sort"),
			Desc:    rapid.Bool().Draw(rt, "desc"),
			Limit:   rapid.IntRange(1, 6).Draw(rt, "limit"),
			Columns: rapid.SliceOfNDistinct(rapid.SampledFrom(eventlog.AllColumns), 0, 4, func(c eventlog.Column) eventlog.Column { return c }).Draw(rt, "columns"),
		}
		want := eventlogReference(stored, "acme", req)
		var got []int64
		for pages := 0; ; pages++ {
			require.Less(rt, pages, 100, "paging does not end")
			var p eventlog.Page
			require.NoError(rt, st.View(ctx, func(tx storage.Tx) error {
				var err error
				p, err = eventlog.Query(ctx, tx, alice, req)
				return err
			}))
			require.LessOrEqual(rt, len(p.Events), req.Limit)
			for _, e := range p.Events {
				got = append(got, e.Seq)
			}
			if p.Next == "" {
				break
			}
			req.Cursor = p.Next
		}
		var wantSeqs []int64
		for _, e := range want {
			wantSeqs = append(wantSeqs, e.Seq)
		}
		require.Equal(rt, wantSeqs, got, "pages (as event Seqs) differ from the reference listing")
	})
}

func testEventlogExport(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	st := newStore(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
		for i, e := range []eventlog.Event{
			{Company: "acme", Type: "license.purchase", Target: "=HYPERLINK(\"x\")", Count: 3, Actor: "alice@acme.example"},
			{Company: "evil", Type: "license.purchase", Target: "Evil", Count: 9, Actor: "mallory@evil.example"},
			{Company: "acme", Type: "license.transfer", Source: "@A", Target: "B", Count: 1, Actor: "system", Details: []byte(`{"k":"-v"}`)},
		} {
			e.ID, e.Time = license.NewID(), at.Add(time.Duration(i)*time.Minute)
			if _, err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}))
	alice := license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}
	export := func(mode eventlog.ExportMode, req eventlog.Request) [][]string {
		var buf bytes.Buffer
		require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
			return eventlog.Export(ctx, tx, alice, mode, req, &buf)
		}))
		rows, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		return rows
	}
	require.Equal(t, [][]string{
		{"Event date", "Event type", "Source", "Target", "License count", "Initiated by"},
		{"2026-11-02T09:02:00Z", "license.transfer", "'@A", "B", "1", "system"},
		{"2026-11-02T09:00:00Z", "license.purchase", "", "'=HYPERLINK(\"x\")", "3", "alice@acme.example"},
	}, export(eventlog.CurrentView, eventlog.Request{Desc: true}))
	rows := export(eventlog.OriginalData, eventlog.Request{Search: "nothing"})
	require.Len(t, rows, 3, "header and acme's two events")
	require.Equal(t, `{"k":"-v"}`, rows[2][8])
}
