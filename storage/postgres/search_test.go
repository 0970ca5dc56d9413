package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
)

// TestOpenBackfillsEventSearch makes a schema as the version before migration
// 5 left it (no search column), with events of non-ASCII text, and opens it:
// migration 5 fills every event's search column with eventlog.SearchText, so
// that "école" finds "École Paris" in events written before the upgrade.
func TestOpenBackfillsEventSearch(t *testing.T) {
	dsn, schema := freshSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
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
	require.NoError(t, s.Close())
	for _, q := range []string{
		`ALTER TABLE ` + schema + `.events DROP COLUMN search`,
		`DELETE FROM ` + schema + `.schema_migrations WHERE version >= 5`,
	} {
		_, err := admin.Exec(ctx, q)
		require.NoError(t, err, q)
	}

	s, err = postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	defer s.Close()
	rows, err := admin.Query(ctx, `SELECT "type", source, target, "count", actor, subject, search FROM `+schema+`.events ORDER BY seq`)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var e eventlog.Event
		var typ, search string
		require.NoError(t, rows.Scan(&typ, &e.Source, &e.Target, &e.Count, &e.Actor, &e.Subject, &search))
		e.Type = eventlog.Type(typ)
		assert.Equal(t, storage.SearchText(e), search, "event %d", n)
		n++
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, len(evs), n)
	for search, want := range map[string]int64{"école": 1, "ÄÄNI": 1, "admin@": 3, "PLAIN": 1} {
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			got, err := tx.CountEvents(ctx, eventlog.Filter{Company: "acme", Search: search})
			assert.Equal(t, want, got, "search %q", search)
			return err
		}))
	}
}
