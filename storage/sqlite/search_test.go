package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/storage/storagetest"
)

// TestOpenBackfillsEventSearch makes a file as the version before migration 4
// left it (no search column), with events of non-ASCII text, and opens it:
// migration 4 fills every event's search column with eventlog.SearchText, so
// that "école" finds "École Paris" in events written before the upgrade.
func TestOpenBackfillsEventSearch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	n := storagetest.AppendSearchUpgradeEvents(t, s)
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range []string{
		`ALTER TABLE events DROP COLUMN search`,
		`DELETE FROM schema_migrations WHERE version >= 4`,
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}

	s, err = sqlite.Open(path)
	require.NoError(t, err)
	defer s.Close()
	rows, err := db.Query(`SELECT "type", source, target, "count", actor, subject, search FROM events ORDER BY seq`)
	require.NoError(t, err)
	storagetest.CheckBackfilledSearch(t, s, rows, n)
}
