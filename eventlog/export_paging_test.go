package eventlog_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// shortReads is a Reader that runs every Events call in its own View of the
// store, as the HTTP adapter's does, and records whether a call is open.
type shortReads struct {
	s      storage.Store
	open   bool
	calls  int
	before func(call int) // runs at the start of a call, before its read opens
}

func (r *shortReads) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	r.calls++
	if r.before != nil {
		r.before(r.calls)
	}
	return r.s.View(ctx, func(tx storage.Tx) error {
		r.open = true
		defer func() { r.open = false }()
		return tx.Events(ctx, f, fn)
	})
}

// guardWriter fails the test when written to while a read is open.
type guardWriter struct {
	t      *testing.T
	r      *shortReads
	buf    bytes.Buffer
	writes int
}

func (w *guardWriter) Write(p []byte) (int, error) {
	if w.r.open {
		w.t.Fatalf("Export wrote %d bytes while a read transaction was open", len(p))
	}
	w.writes++
	return w.buf.Write(p)
}

// manyEvents makes n events of acme (and one of another company per ten)
// with few distinct types, so that sorting by type has long runs of ties.
func manyEvents(n int) []eventlog.Event {
	evs := make([]eventlog.Event, 0, n+n/10)
	for i := range n {
		evs = append(evs, eventlog.Event{Company: "acme", Time: t0.Add(time.Duration(i%97) * time.Minute),
			Type: eventlog.Type("type." + strconv.Itoa(i%3)), Target: "site " + strconv.Itoa(i), Count: int64(i % 7), Actor: "bob@acme.example"})
		if i%10 == 0 {
			evs = append(evs, eventlog.Event{Company: "evil", Time: t0, Type: "type.0", Target: "evil", Actor: "eve@evil.example"})
		}
	}
	return evs
}

// queryAll pages through Query at the largest page size: the reference order.
func queryAll(t *testing.T, s storage.Store, req eventlog.Request) [][]string {
	t.Helper()
	var rows [][]string
	req.Limit = eventlog.MaxLimit
	for {
		var p eventlog.Page
		require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
			var err error
			p, err = eventlog.Query(context.Background(), tx, alice, req)
			return err
		}))
		rows = append(rows, p.Rows...)
		if p.Next == "" {
			return rows
		}
		req.Cursor = p.Next
	}
}

// An export reads the log in pages, each in its own read, and writes each page
// only after its read has ended; across pages every event comes exactly once,
// in the Request's order.
func TestExportWritesBetweenShortReads(t *testing.T) {
	s := memory.New()
	n := 3*eventlog.ExportPageEvents + 17
	appendEvents(t, s, manyEvents(n)...)
	for _, req := range []eventlog.Request{
		{},
		{Sort: eventlog.ColType, Desc: true},
		{Sort: eventlog.ColCount, Columns: []eventlog.Column{eventlog.ColCount, eventlog.ColTarget}},
		{Search: "site 1", Sort: eventlog.ColTime},
	} {
		r := &shortReads{s: s}
		w := &guardWriter{t: t, r: r}
		require.NoError(t, eventlog.Export(context.Background(), r, alice, eventlog.CurrentView, req, w))
		rows, err := csv.NewReader(&w.buf).ReadAll()
		require.NoError(t, err)
		want := queryAll(t, s, req)
		require.Equal(t, want, rows[1:], "request %+v", req)
		if req.Search == "" {
			require.Equal(t, n+1, len(rows))
		}
		assert.GreaterOrEqual(t, r.calls, 1+(n+eventlog.ExportPageEvents-1)/eventlog.ExportPageEvents, "one read per page (and one for the bound)")
		assert.Greater(t, w.writes, 1, "pages are written as they are read")
	}
}

// A page also ends at about ExportPageBytes, so large events do not pile up
// in memory: here far fewer than ExportPageEvents events fill several pages.
func TestExportPagesAreBoundedInBytes(t *testing.T) {
	s := memory.New()
	big := strings.Repeat("x", 100<<10)
	evs := make([]eventlog.Event, 40)
	for i := range evs {
		evs[i] = eventlog.Event{Company: "acme", Time: t0.Add(time.Duration(i) * time.Second), Type: "big",
			Actor: "system", Details: []byte(`{"pad":"` + big + `"}`)}
	}
	appendEvents(t, s, evs...)
	r := &shortReads{s: s}
	w := &guardWriter{t: t, r: r}
	require.NoError(t, eventlog.Export(context.Background(), r, alice, eventlog.OriginalData, eventlog.Request{}, w))
	rows, err := csv.NewReader(&w.buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 41)
	// 40 events of 100 KiB are about 4 MiB: at least four pages of 1 MiB.
	assert.GreaterOrEqual(t, r.calls, 1+4)
}

// Events appended while an export runs are left out: it covers the log as it
// was when it started, and so always ends.
func TestExportLeavesOutEventsAppendedWhileItRuns(t *testing.T) {
	s := memory.New()
	n := 2*eventlog.ExportPageEvents + 3
	appendEvents(t, s, manyEvents(n)...)
	r := &shortReads{s: s}
	r.before = func(call int) {
		if call < 2 {
			return // the bound is read first
		}
		// Newer than every event: the pages still to come would reach it.
		appendEvents(t, s, eventlog.Event{Company: "acme", Time: t0.Add(1000 * time.Hour), Type: "type.0", Target: "late " + strconv.Itoa(call), Actor: "system"})
	}
	w := &guardWriter{t: t, r: r}
	require.NoError(t, eventlog.Export(context.Background(), r, alice, eventlog.CurrentView, eventlog.Request{}, w))
	rows, err := csv.NewReader(&w.buf).ReadAll()
	require.NoError(t, err)
	require.Equal(t, n+1, len(rows), "only the events there when the export started")
	assert.NotContains(t, w.buf.String(), "late ")
}
