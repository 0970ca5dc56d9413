package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/storagetest"
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
	n := storagetest.AppendSearchUpgradeEvents(t, s)
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
	storagetest.CheckBackfilledSearch(t, s, rows, n)
}
