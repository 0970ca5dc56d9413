package storagetest

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("search",
		Test{"UnicodeFolding", testSearchUnicodeFolding},
	)
}

// testSearchUnicodeFolding: searching the event log ignores case by Unicode
// simple case folding on every store (strings.EqualFold's rule), through the
// store's Filter.Search, eventlog.Query and the current-view CSV export alike,
// with the visible columns all among those a store searches (so that the store
// narrows the scan).
func testSearchUnicodeFolding(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	st := newStore(t)
	at := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	evs := []eventlog.Event{
		{Type: "site.created", Target: "École Paris", Actor: "élise@acme.example"},                             // 0
		{Type: "site.created", Target: "Ääni Oy", Actor: "admin@acme.example"},                                 // 1
		{Type: "site.created", Target: "Straße 1", Actor: "admin@acme.example"},                                // 2
		{Type: "site.created", Target: "STRASSE 2", Actor: "admin@acme.example"},                               // 3
		{Type: "site.created", Target: "İstanbul", Actor: "admin@acme.example"},                                // 4
		{Type: "site.created", Target: "istanbul", Actor: "admin@acme.example"},                                // 5
		{Type: "site.created", Target: "ΟΔΟΣ", Actor: "admin@acme.example"},                                    // 6
		{Type: "site.created", Target: "odos", Actor: "admin@acme.example"},                                    // 7
		{Type: "license.transfer", Source: "Ääni Oy", Target: "x\x1fy", Count: 2, Actor: "admin@acme.example"}, // 8
		{Type: "site.created", Target: "0 K", Actor: "admin@acme.example"},                                     // 9: Kelvin sign
	}
	require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
		for i, e := range evs {
			e.Company, e.ID, e.Time = "acme", license.NewID(), at.Add(time.Duration(i)*time.Minute)
			if _, err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		// Another tenant with the same text: never found.
		_, err := tx.AppendEvent(ctx, eventlog.Event{Company: "evil", ID: license.NewID(), Time: at, Type: "site.created", Target: "école"})
		return err
	}))
	var all []eventlog.Event
	view(t, st, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: "acme", Sort: eventlog.ColSeq}, func(e eventlog.Event) error {
			all = append(all, e)
			return nil
		})
	})
	require.Len(t, all, len(evs))
	alice := license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}
	cols := []eventlog.Column{eventlog.ColType, eventlog.ColSource, eventlog.ColTarget, eventlog.ColCount, eventlog.ColActor}

	for _, tc := range []struct {
		search string
		want   []int // indexes into evs
	}{
		{"école", []int{0}},
		{"ÉCOLE PARIS", []int{0}},
		{"ÉLISE@", []int{0}},
		{"ääni", []int{1, 8}},
		{"ÄÄNI OY", []int{1, 8}},
		{"straße", []int{2}},   // simple folding: ß is not "ss"
		{"STRASSE", []int{3}},  // nor is "SS" ß
		{"STRAẞE", []int{2}},   // capital sharp s folds with ß
		{"İstanbul", []int{4}}, // dotted İ matches only itself
		{"ıstanbul", nil},      // dotless ı matches only itself
		{"ISTANBUL", []int{5}},
		{"οδος", []int{6}}, // σ, ς and Σ fold together
		{"οδοσ", []int{6}},
		{"ΟΔΟς", []int{6}},
		{"ODOS", []int{7}},
		{"0 k", []int{9}}, // k, K and the Kelvin sign fold together
		{"x\x1fY", []int{8}},
		{"\x1f", []int{8}},
		{"oy\x1f", nil}, // never across two fields
		{"site.created\x1f", nil},
	} {
		var want []eventlog.Event
		for _, i := range tc.want {
			want = append(want, all[i])
		}
		for _, e := range all {
			assert.Equal(t, containsEqualFold(eventlog.Cell(e, eventlog.ColType), tc.search) ||
				containsEqualFold(e.Source, tc.search) || containsEqualFold(e.Target, tc.search) ||
				containsEqualFold(e.Actor, tc.search) || containsEqualFold(e.Subject, tc.search) ||
				containsEqualFold(eventlog.Cell(e, eventlog.ColCount), tc.search),
				matchesSearch(e, tc.search), "the model agrees with itself for %q", tc.search)
		}
		f := eventlog.Filter{Company: "acme", Search: tc.search, Sort: eventlog.ColSeq}
		assert.Equal(t, seqsOf(want), seqsOf(events(t, st, f)), "Filter.Search %q", tc.search)
		assert.EqualValues(t, len(want), countEvents(t, st, f), "CountEvents with Search %q", tc.search)
		f.Limit = 1
		assert.Equal(t, seqsOf(want[:min(1, len(want))]), seqsOf(events(t, st, f)), "Filter.Search %q with Limit 1", tc.search)

		req := eventlog.Request{Search: tc.search, Columns: cols, Sort: eventlog.ColTime}
		var page eventlog.Page
		view(t, st, func(tx storage.Tx) error {
			var err error
			page, err = eventlog.Query(ctx, tx, alice, req)
			return err
		})
		assert.Equal(t, seqsOf(want), seqsOf(page.Events), "Query with search %q", tc.search)

		var buf bytes.Buffer
		view(t, st, func(tx storage.Tx) error {
			return eventlog.Export(ctx, tx, alice, eventlog.CurrentView, req, &buf)
		})
		rows, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		var targets []string
		for _, r := range rows[1:] {
			targets = append(targets, r[2])
		}
		var wantTargets []string
		for _, e := range want {
			wantTargets = append(wantTargets, eventlog.NeutraliseCell(e.Target))
		}
		assert.Equal(t, wantTargets, targets, "current-view export with search %q", tc.search)
	}
}
