package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// SearchRows is what CheckBackfilledSearch reads: the rows of
// `SELECT "type", source, target, "count", actor, subject, search FROM events
// ORDER BY seq`, from database/sql or pgx.
type SearchRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// AppendSearchUpgradeEvents appends, to company "acme" of s, the events with
// non-ASCII text that the SQL stores' search-column upgrade tests backfill,
// and returns how many.
func AppendSearchUpgradeEvents(t *testing.T, s storage.Store) int {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	evs := []eventlog.Event{
		{Type: "site.created", Target: "École Paris", Actor: "admin@acme.example", Count: 3},
		{Type: "site.created", Target: "Ääni Oy", Actor: "ADMIN@acme.example"},
		{Type: "site.created", Target: "plain", Actor: "admin@acme.example"},
	}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range evs {
			evs[i].Company, evs[i].ID, evs[i].Time = "acme", license.NewID(), at
			if _, err := tx.AppendEvent(ctx, evs[i]); err != nil {
				return err
			}
		}
		return nil
	}))
	return len(evs)
}

// CheckBackfilledSearch checks, after the upgrade, that each of the n rows
// holds storage.SearchText of its event and that s finds the events by
// Unicode-folded search.
func CheckBackfilledSearch(t *testing.T, s storage.Store, rows SearchRows, n int) {
	t.Helper()
	ctx := context.Background()
	got := 0
	for rows.Next() {
		var e eventlog.Event
		var typ, search string
		require.NoError(t, rows.Scan(&typ, &e.Source, &e.Target, &e.Count, &e.Actor, &e.Subject, &search))
		e.Type = eventlog.Type(typ)
		assert.Equal(t, storage.SearchText(e), search, "event %d", got)
		got++
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, n, got)
	for search, want := range map[string]int64{"école": 1, "ÄÄNI": 1, "admin@": 3, "PLAIN": 1} {
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			got, err := tx.CountEvents(ctx, eventlog.Filter{Company: "acme", Search: search})
			assert.Equal(t, want, got, "search %q", search)
			return err
		}))
	}
}
