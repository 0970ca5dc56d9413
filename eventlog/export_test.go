package eventlog_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

func export(t *testing.T, s storage.Store, a license.Actor, mode eventlog.ExportMode, req eventlog.Request) [][]string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		return eventlog.Export(context.Background(), tx, a, mode, req, &buf)
	}))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	return rows
}

func TestExportCurrentViewKeepsColumnsFilterAndSort(t *testing.T) {
	s := memory.New()
	appendEvents(t, s, sample()...)
	rows := export(t, s, alice, eventlog.CurrentView, eventlog.Request{
		Columns: []eventlog.Column{eventlog.ColCount, eventlog.ColType},
		Sort:    eventlog.ColCount, Desc: true, Search: "license",
		Limit: 1, Cursor: "", // a page size does not limit an export
	})
	assert.Equal(t, [][]string{
		{"License count", "Event type"},
		{"30", "license.purchase"},
		{"5", "license.transfer"},
		{"2", "license.decrease"},
	}, rows)
	rows = export(t, s, alice, eventlog.CurrentView, eventlog.Request{Search: "oulu"})
	require.Len(t, rows, 3)
	assert.Equal(t, []string{"Event date", "Event type", "Source", "Target", "License count", "Initiated by"}, rows[0])
	assert.Equal(t, []string{"2026-11-02T10:00:00Z", "license.transfer", "Helsinki", "Oulu", "5", "bob@acme.example"}, rows[1])
}

func TestExportOriginalDataHasEveryColumnAndNoFilter(t *testing.T) {
	s := memory.New()
	appendEvents(t, s, sample()...)
	rows := export(t, s, alice, eventlog.OriginalData, eventlog.Request{Search: "nothing matches this", Columns: []eventlog.Column{eventlog.ColType}})
	require.Len(t, rows, 4, "header and the company's three events")
	assert.Equal(t, []string{"Event ID", "Event date", "Event type", "Source", "Target", "License count", "Initiated by", "Subject", "Details"}, rows[0])
	assert.Equal(t, "license.purchase", rows[1][2])
	assert.Equal(t, `{"note":"zebra"}`, rows[1][8])
	assert.Equal(t, "license.decrease", rows[3][2])
	for _, r := range rows[1:] {
		assert.NotContains(t, r, "mallory@evil.example")
	}
	var buf bytes.Buffer
	err := s.View(context.Background(), func(tx storage.Tx) error {
		return eventlog.Export(context.Background(), tx, alice, "pdf", eventlog.Request{}, &buf)
	})
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
}

func TestExportNeutralisesFormulas(t *testing.T) {
	s := memory.New()
	appendEvents(t, s,
		eventlog.Event{Company: "acme", Time: t0, Type: "license.purchase", Target: "=HYPERLINK(\"http://x\")", Source: "+1+1", Count: 1, Actor: "@SUM(A1)", Subject: "-2"},
		eventlog.Event{Company: "acme", Time: t0, Type: "license.purchase", Target: "\tcmd", Source: "\r=1", Count: 1, Actor: "ok"},
	)
	rows := export(t, s, alice, eventlog.CurrentView, eventlog.Request{Columns: []eventlog.Column{eventlog.ColSource, eventlog.ColTarget, eventlog.ColActor, eventlog.ColSubject}})
	assert.Equal(t, []string{"'+1+1", "'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'-2"}, rows[1])
	assert.Equal(t, []string{"'\r=1", "'\tcmd", "ok", ""}, rows[2])
}

func TestNeutraliseCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "a=b": "a=b", "=1": "'=1", "+": "'+", "-5": "'-5", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx", "'=1": "'=1", " =1": " =1",
	} {
		assert.Equal(t, want, eventlog.NeutraliseCell(in), "NeutraliseCell(%q)", in)
	}
}

// formulaStarts are the first characters a spreadsheet may read as the start
// of a formula.
const formulaStarts = "=+-@\t\r\uFF1D\uFF0B\uFF0D\uFF20\uFE66\uFE62\uFE63\uFE6B\u2212"

func firstRune(s string) rune { r, _ := utf8.DecodeRuneInString(s); return r }

func TestNeutraliseCellFullWidthAndSmallForms(t *testing.T) {
	for _, in := range []string{
		"\uFF1DHYPERLINK(\"http://x\")", "\uFF0B1", "\uFF0D1", "\uFF20SUM(A1)", // full-width ＝ ＋ － ＠
		"\uFE66cmd", "\uFE621", "\uFE631", "\uFE6Bx", "\u22121",
	} {
		assert.Equal(t, "'"+in, eventlog.NeutraliseCell(in), "NeutraliseCell(%q)", in)
	}
	for _, in := range []string{"a\uFF1Db", "\uFF21", "\uFF10", "日本"} {
		assert.Equal(t, in, eventlog.NeutraliseCell(in), "NeutraliseCell(%q)", in)
	}
}

func TestExportNeutralisesFullWidthFormulas(t *testing.T) {
	s := memory.New()
	appendEvents(t, s,
		eventlog.Event{Company: "acme", Time: t0, Type: "license.purchase", Target: "\uFF1DHYPERLINK(\"http://x\")", Source: "\uFF0B1", Count: 1, Actor: "\uFF20SUM(A1)", Subject: "\uFF0D2"},
	)
	rows := export(t, s, alice, eventlog.CurrentView, eventlog.Request{Columns: []eventlog.Column{eventlog.ColSource, eventlog.ColTarget, eventlog.ColActor, eventlog.ColSubject}})
	assert.Equal(t, []string{"'\uFF0B1", "'\uFF1DHYPERLINK(\"http://x\")", "'\uFF20SUM(A1)", "'\uFF0D2"}, rows[1])
}

func FuzzNeutraliseCell(f *testing.F) {
	for _, s := range []string{"", "=1+2", "+", "-", "@", "\t", "\r", "plain", "\"quoted\"", "a,b\nc", "\uFF1D1", "\uFE62x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := eventlog.NeutraliseCell(s)
		if n != s && n != "'"+s {
			t.Fatalf("NeutraliseCell(%q) = %q: only a leading quote may be added", s, n)
		}
		if n != "" && strings.ContainsRune(formulaStarts, firstRune(n)) {
			t.Fatalf("NeutraliseCell(%q) = %q still starts with a formula character", s, n)
		}
		if n == s && s != "" && strings.ContainsRune(formulaStarts, firstRune(s)) {
			t.Fatalf("NeutraliseCell(%q) left a formula unchanged", s)
		}
		// Through the exporter and back, the cell arrives neutralised and whole.
		if strings.ContainsRune(s, '\r') {
			return // encoding/csv turns \r\n into \n inside quoted fields
		}
		st := memory.New()
		appendEvents(t, st, eventlog.Event{Company: "acme", Time: t0, Type: "x", Target: s, Actor: "system"})
		var buf bytes.Buffer
		require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
			return eventlog.Export(context.Background(), tx, alice, eventlog.CurrentView, eventlog.Request{Columns: []eventlog.Column{eventlog.ColTarget}}, &buf)
		}))
		rows, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 2)
		if s == "" {
			return
		}
		require.Equal(t, []string{n}, rows[1])
	})
}

// generator is a Reader that makes n events on the fly, holding none of them:
// it measures what Export itself keeps.
type generator struct {
	n    int
	peak uint64 // heap in use after a GC at the last event
}

func (g *generator) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	if f.Sort == eventlog.ColSeq && f.Desc { // the newest event (Export's bound)
		return fn(eventlog.Event{Seq: int64(g.n), Company: f.Company})
	}
	// Time order is Seq order: honour the keyset cursor and the page size.
	first, emitted := 0, 0
	if f.After != nil {
		first = int(f.After.Seq)
	}
	for i := first; i < g.n; i++ {
		if f.Limit > 0 && emitted == f.Limit {
			return nil
		}
		emitted++
		e := eventlog.Event{
			ID: license.NewID(), Seq: int64(i + 1), Company: f.Company, Time: t0.Add(time.Duration(i) * time.Second),
			Type: "license.purchase", Source: "site " + strconv.Itoa(i), Target: "=target " + strconv.Itoa(i), Count: int64(i),
			Actor: "alice@acme.example", Subject: license.NewID(), Details: []byte(`{"new_total":` + strconv.Itoa(i) + `,"padding":"` + strings.Repeat("x", 200) + `"}`),
		}
		if err := fn(e); err != nil {
			return err
		}
		if i == g.n-1 {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			g.peak = ms.HeapAlloc
		}
	}
	return nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestExportMemoryDoesNotGrowWithEventCount(t *testing.T) {
	heap := func(n int) (uint64, int64) {
		g := &generator{n: n}
		w := &countingWriter{}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		require.NoError(t, eventlog.Export(context.Background(), g, alice, eventlog.OriginalData, eventlog.Request{}, w))
		if g.peak < base {
			return 0, w.n
		}
		return g.peak - base, w.n
	}
	small, smallBytes := heap(1_000)
	large, largeBytes := heap(50_000)
	require.Greater(t, largeBytes, 40*smallBytes, "the large export wrote its rows")
	t.Logf("heap retained at the last row: %d bytes for 1,000 events, %d bytes for 50,000 (%d bytes written)", small, large, largeBytes)
	// 50,000 rows are over 15 MB of CSV; keeping them would show here.
	assert.Less(t, large, small+1<<20, "export memory grows with the number of events")
}

func TestExportStopsOnWriterErrors(t *testing.T) {
	g := &generator{n: 10_000}
	err := eventlog.Export(context.Background(), g, alice, eventlog.OriginalData, eventlog.Request{}, failingWriter{})
	require.Error(t, err)
	assert.True(t, errors.Is(err, io.ErrClosedPipe))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// BenchmarkExport streams events from a generator (no store) to io.Discard:
// B/op divided by the events per op is the per-row cost, which stays flat.
func BenchmarkExport100kEvents(b *testing.B) {
	g := &generator{n: 100_000}
	for b.Loop() {
		if err := eventlog.Export(context.Background(), g, alice, eventlog.OriginalData, eventlog.Request{}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExportAllocationsPerEventAreConstant exports from the memory store: the
// allocations per exported event stay the same from 1,000 to 10,000 events
// (no buffering that grows with the log).
func TestExportAllocationsPerEventAreConstant(t *testing.T) {
	perEvent := func(n int) float64 {
		s := memory.New()
		evs := make([]eventlog.Event, n)
		for i := range evs {
			evs[i] = eventlog.Event{Company: "acme", Time: t0.Add(time.Duration(i) * time.Second), Type: "license.purchase",
				Source: "site " + strconv.Itoa(i), Target: "=x", Count: int64(i), Actor: "alice@acme.example", Details: []byte(`{"n":1}`)}
		}
		appendEvents(t, s, evs...)
		allocs := testing.AllocsPerRun(3, func() {
			require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
				return eventlog.Export(context.Background(), tx, alice, eventlog.OriginalData, eventlog.Request{}, io.Discard)
			}))
		})
		return allocs / float64(n)
	}
	small, large := perEvent(1_000), perEvent(10_000)
	t.Logf("allocations per exported event: %.2f for 1,000 events, %.2f for 10,000", small, large)
	assert.LessOrEqual(t, large, small*1.05+0.5)
	assert.Less(t, large, 20.0, "a row should cost a handful of allocations")
}
