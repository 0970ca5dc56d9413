package eventlog_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
)

var (
	t0      = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	alice   = license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}
	mallory = license.Actor{Company: "evil", Email: "mallory@evil.example", Role: license.Owner}
)

func appendEvents(t tb, s storage.Store, evs ...eventlog.Event) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		for _, e := range evs {
			if e.ID == "" {
				e.ID = license.NewID()
			}
			if _, err := tx.AppendEvent(context.Background(), e); err != nil {
				return err
			}
		}
		return nil
	}))
}

func query(t tb, s storage.Store, a license.Actor, req eventlog.Request) (eventlog.Page, error) {
	var p eventlog.Page
	err := s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		p, err = eventlog.Query(context.Background(), tx, a, req)
		return err
	})
	return p, err
}

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	require.TestingT
	Helper()
}

func sample() []eventlog.Event {
	return []eventlog.Event{
		{Company: "acme", Time: t0, Type: "license.purchase", Target: "Helsinki", Count: 30, Actor: "alice@acme.example", Subject: "site-1", Details: []byte(`{"note":"zebra"}`)},
		{Company: "acme", Time: t0.Add(time.Hour), Type: "license.transfer", Source: "Helsinki", Target: "Oulu", Count: 5, Actor: "bob@acme.example", Subject: "site-1"},
		{Company: "evil", Time: t0.Add(2 * time.Hour), Type: "license.purchase", Target: "Helsinki", Count: 7, Actor: "mallory@evil.example"},
		{Company: "acme", Time: t0.Add(3 * time.Hour), Type: "license.decrease", Source: "Oulu", Count: 2, Actor: "system", Subject: "site-2"},
	}
}

func TestQueryIsScopedToTheActorsCompany(t *testing.T) {
	s := memory.New()
	appendEvents(t, s, sample()...)
	p, err := query(t, s, alice, eventlog.Request{Search: "helsinki"})
	require.NoError(t, err)
	require.Len(t, p.Events, 2)
	for _, e := range p.Events {
		assert.Equal(t, "acme", e.Company)
	}
	p, err = query(t, s, mallory, eventlog.Request{})
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	assert.Equal(t, int64(7), p.Events[0].Count)
}

func TestQuerySearchesOnlyTheVisibleColumns(t *testing.T) {
	s := memory.New()
	appendEvents(t, s, sample()...)
	// "site-2" is in the subject column, hidden by default.
	p, err := query(t, s, alice, eventlog.Request{Search: "SITE-2"})
	require.NoError(t, err)
	assert.Empty(t, p.Events)
	p, err = query(t, s, alice, eventlog.Request{Search: "SITE-2", Columns: []eventlog.Column{eventlog.ColSubject, eventlog.ColType}})
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	assert.Equal(t, []string{"site-2", "license.decrease"}, p.Rows[0])
	// Details and time are searchable when shown.
	p, err = query(t, s, alice, eventlog.Request{Search: "zebra", Columns: []eventlog.Column{eventlog.ColDetails}})
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	p, err = query(t, s, alice, eventlog.Request{Search: "T10:00"})
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	assert.Equal(t, eventlog.Type("license.transfer"), p.Events[0].Type)
	// The count column matches its decimal text.
	p, err = query(t, s, alice, eventlog.Request{Search: "30"})
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	assert.Equal(t, "30", p.Rows[0][4])
}

func TestQueryRefusesBadRequests(t *testing.T) {
	s := memory.New()
	appendEvents(t, s, sample()...)
	p, err := query(t, s, alice, eventlog.Request{Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, p.Next)
	for name, tc := range map[string]struct {
		req   eventlog.Request
		field string
	}{
		"unknown column":    {eventlog.Request{Columns: []eventlog.Column{"price"}}, "columns"},
		"repeated column":   {eventlog.Request{Columns: []eventlog.Column{"type", "type"}}, "columns"},
		"unsortable":        {eventlog.Request{Sort: eventlog.ColDetails}, "sort"},
		"unknown sort":      {eventlog.Request{Sort: "price"}, "sort"},
		"limit too large":   {eventlog.Request{Limit: eventlog.MaxLimit + 1}, "limit"},
		"negative limit":    {eventlog.Request{Limit: -1}, "limit"},
		"garbage cursor":    {eventlog.Request{Cursor: "!!"}, "cursor"},
		"cursor other sort": {eventlog.Request{Cursor: p.Next, Sort: eventlog.ColCount}, "cursor"},
		"cursor other dir":  {eventlog.Request{Cursor: p.Next, Desc: true}, "cursor"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := query(t, s, alice, tc.req)
			require.Error(t, err)
			assert.Equal(t, license.Invalid, license.ErrorCode(err))
			assert.Equal(t, tc.field, license.ErrorField(err))
		})
	}
	_, err = query(t, s, license.Actor{Email: "x@y.example", Role: license.Admin}, eventlog.Request{})
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
}

func TestParseColumnAcceptsCodesAndTitles(t *testing.T) {
	c, err := eventlog.ParseColumn(" Initiated by ")
	require.NoError(t, err)
	assert.Equal(t, eventlog.ColActor, c)
	c, err = eventlog.ParseColumn("COUNT")
	require.NoError(t, err)
	assert.Equal(t, eventlog.ColCount, c)
	_, err = eventlog.ParseColumn("price")
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
}

func TestPagingIsStableWhileEventsAreAppended(t *testing.T) {
	s := memory.New()
	var evs []eventlog.Event
	for i := range 10 {
		evs = append(evs, eventlog.Event{Company: "acme", Time: t0.Add(time.Duration(i) * time.Minute), Type: "site.enroll", Count: int64(i), Actor: "system"})
	}
	appendEvents(t, s, evs...)
	next := int64(100)
	for _, desc := range []bool{false, true} {
		before, err := query(t, s, alice, eventlog.Request{Sort: eventlog.ColCount, Desc: desc, Limit: eventlog.MaxLimit})
		require.NoError(t, err)
		var seen []int64
		seqs := map[int64]bool{}
		req := eventlog.Request{Sort: eventlog.ColCount, Desc: desc, Limit: 3}
		for {
			p, err := query(t, s, alice, req)
			require.NoError(t, err)
			for _, e := range p.Events {
				require.False(t, seqs[e.Seq], "event %d listed twice", e.Seq)
				seqs[e.Seq] = true
				seen = append(seen, e.Count)
			}
			// A new event with a count above all others: ascending, it comes
			// after the cursor and is listed; descending, it is before the
			// cursor and is not. Either way nothing is skipped or repeated.
			appendEvents(t, s, eventlog.Event{Company: "acme", Time: t0, Type: "site.enroll", Count: next, Actor: "system"})
			next++
			if p.Next == "" {
				break
			}
			req.Cursor = p.Next
		}
		var want []int64
		for _, e := range before.Events {
			want = append(want, e.Count)
		}
		if desc {
			assert.Equal(t, want, seen)
		} else {
			require.Greater(t, len(seen), len(want))
			assert.Equal(t, want, seen[:len(want)])
			assert.True(t, slices.IsSorted(seen))
		}
	}
}

// reference sorts and filters evs as Query must, with no store involved.
func reference(evs []eventlog.Event, company string, req eventlog.Request) []eventlog.Event {
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
			return strings.Contains(strings.ToLower(eventlog.Cell(e, c)), strings.ToLower(req.Search))
		}) {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b eventlog.Event) int {
		var c int
		if sortCol == eventlog.ColCount {
			c = cmp.Compare(a.Count, b.Count)
		} else {
			c = strings.Compare(eventlog.SortKey(a, sortCol), eventlog.SortKey(b, sortCol))
		}
		c = cmp.Or(c, cmp.Compare(a.Seq, b.Seq))
		if req.Desc {
			return -c
		}
		return c
	})
	return out
}

func TestQueryPagesEqualTheReferenceListing(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := memory.New()
		n := rapid.IntRange(0, 30).Draw(rt, "events")
		words := []string{"Helsinki", "Oulu", "Espoo", "=cmd", ""}
		var evs []eventlog.Event
		for i := range n {
			evs = append(evs, eventlog.Event{
				ID:      license.NewID(),
				Company: rapid.SampledFrom([]string{"acme", "acme", "evil"}).Draw(rt, fmt.Sprint("company", i)),
				Time:    t0.Add(time.Duration(rapid.IntRange(0, 5).Draw(rt, fmt.Sprint("time", i))) * time.Hour),
				Type:    rapid.SampledFrom([]eventlog.Type{"license.purchase", "license.decrease", "site.enroll"}).Draw(rt, fmt.Sprint("type", i)),
				Source:  rapid.SampledFrom(words).Draw(rt, fmt.Sprint("source", i)),
				Target:  rapid.SampledFrom(words).Draw(rt, fmt.Sprint("target", i)),
				Count:   int64(rapid.IntRange(0, 12).Draw(rt, fmt.Sprint("count", i))),
				Actor:   rapid.SampledFrom([]string{"system", "alice@acme.example"}).Draw(rt, fmt.Sprint("actor", i)),
				Subject: rapid.SampledFrom([]string{"s1", "s2"}).Draw(rt, fmt.Sprint("subject", i)),
			})
		}
		appendEvents(rt, s, evs...)
		// Learn the Seqs the store assigned.
		var stored []eventlog.Event
		require.NoError(rt, s.View(context.Background(), func(tx storage.Tx) error {
			for _, c := range []string{"acme", "evil"} {
				if err := tx.Events(context.Background(), eventlog.Filter{Company: c}, func(e eventlog.Event) error {
					stored = append(stored, e)
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}))
		sortable := []eventlog.Column{eventlog.ColTime, eventlog.ColType, eventlog.ColSource, eventlog.ColTarget, eventlog.ColCount, eventlog.ColActor, eventlog.ColSubject, eventlog.ColID}
		req := eventlog.Request{
			Search:  rapid.SampledFrom([]string{"", "hel", "OULU", "1", "s2", "system", "=", "T1"}).Draw(rt, "search"),
			Sort:    rapid.SampledFrom(sortable).Draw(rt, "sort"),
			Desc:    rapid.Bool().Draw(rt, "desc"),
			Limit:   rapid.IntRange(1, 7).Draw(rt, "limit"),
			Columns: rapid.SliceOfNDistinct(rapid.SampledFrom(eventlog.AllColumns), 0, 4, func(c eventlog.Column) eventlog.Column { return c }).Draw(rt, "columns"),
		}
		want := reference(stored, "acme", req)
		var got []eventlog.Event
		for pages := 0; ; pages++ {
			require.Less(rt, pages, 100, "paging does not end")
			p, err := query(rt, s, alice, req)
			require.NoError(rt, err)
			require.LessOrEqual(rt, len(p.Events), req.Limit)
			require.Len(rt, p.Rows, len(p.Events))
			got = append(got, p.Events...)
			if p.Next == "" {
				break
			}
			req.Cursor = p.Next
		}
		require.Equal(rt, len(want), len(got))
		for i := range want {
			require.Equal(rt, want[i].Seq, got[i].Seq, "position %d", i)
		}
	})
}

func TestConformanceOnMemory(t *testing.T) {
	storagetest.RunSuite(t, "eventlog-query", func(t testing.TB) storage.Store { return memory.New() }, storagetest.Features{})
}

// Reading or exporting the log needs the Owner or Admin role; other roles are
// refused with forbidden and get no rows.
func TestQueryAndExportNeedOwnerOrAdmin(t *testing.T) {
	s := memory.New()
	appendEvents(t, s, sample()...)
	for _, role := range []license.Role{license.Owner, license.Admin, license.Editor, license.LicenseAdmin, license.Viewer} {
		a := license.Actor{Company: alice.Company, Email: alice.Email, Role: role}
		p, qerr := query(t, s, a, eventlog.Request{})
		var csv strings.Builder
		xerr := s.View(context.Background(), func(tx storage.Tx) error {
			return eventlog.Export(context.Background(), tx, a, eventlog.OriginalData, eventlog.Request{}, &csv)
		})
		if role.CanManageLicenses() {
			require.NoError(t, qerr, role)
			require.NoError(t, xerr, role)
			assert.NotEmpty(t, p.Events, role)
			assert.NotEmpty(t, csv.String(), role)
			continue
		}
		assert.Equal(t, license.Forbidden, license.ErrorCode(qerr), role)
		assert.Equal(t, "role", license.ErrorField(qerr), role)
		assert.Empty(t, p.Events, role)
		assert.Equal(t, license.Forbidden, license.ErrorCode(xerr), role)
		assert.Empty(t, csv.String(), role)
	}
}
