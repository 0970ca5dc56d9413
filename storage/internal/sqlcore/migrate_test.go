package sqlcore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

type sqlConn struct{ tx *sql.Tx }

func (c sqlConn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c sqlConn) Query(ctx context.Context, q string, args ...any) (sqlcore.Rows, error) {
	return c.tx.QueryContext(ctx, q, args...)
}

var dialect = &sqlcore.Dialect{Name: "test", Error: func(err error, what string) error { return err }, IsUniqueViolation: func(error) bool { return false }}

func migrate(t *testing.T, db *sql.DB, migs []sqlcore.Migration) error {
	t.Helper()
	return sqlcore.Migrate(context.Background(), dialect, func(ctx context.Context, fn func(sqlcore.Conn) error) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlcore.CreateMigrationsTable); err != nil {
			tx.Rollback()
			return err
		}
		if err := fn(sqlConn{tx}); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}, "", migs)
}

func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	return out
}

func TestMigrateUpgradesAndRefusesTheFuture(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer db.Close()
	v1 := []sqlcore.Migration{{Version: 1, Name: "0001_a", SQL: `CREATE TABLE a (x INTEGER)`}}
	v2 := append(v1, sqlcore.Migration{Version: 2, Name: "0002_b", SQL: `ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z INTEGER)`})

	require.NoError(t, migrate(t, db, v1))
	assert.Equal(t, []int{1}, versions(t, db))
	_, err = db.Exec(`INSERT INTO a (x) VALUES (7)`)
	require.NoError(t, err)
	require.NoError(t, migrate(t, db, v1), "re-running applied migrations is a no-op")

	require.NoError(t, migrate(t, db, v2), "an older database is upgraded")
	assert.Equal(t, []int{1, 2}, versions(t, db))
	var x int
	var y sql.NullString
	require.NoError(t, db.QueryRow(`SELECT x, y FROM a`).Scan(&x, &y), "data survives the upgrade")
	assert.Equal(t, 7, x)

	err = migrate(t, db, v1)
	require.Error(t, err, "code that knows only version 1 refuses a version 2 database")
	assert.Equal(t, license.Internal, license.ErrorCode(err))
	assert.Contains(t, err.Error(), "schema is at version 2, newer than this licensekit knows (1)")

	// A failing migration is rolled back whole and not recorded.
	bad := append(v2, sqlcore.Migration{Version: 3, Name: "0003_bad", SQL: `CREATE TABLE c (x INTEGER); SELECT * FROM no_such_table`})
	require.Error(t, migrate(t, db, bad))
	assert.Equal(t, []int{1, 2}, versions(t, db))
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'c'`).Scan(&n))
	assert.Zero(t, n, "the failed migration left nothing")
}

func TestLoadMigrations(t *testing.T) {
	good := fstest.MapFS{
		"m/0002_second.sql": {Data: []byte("B")},
		"m/0001_first.sql":  {Data: []byte("A")},
		"m/README.md":       {Data: []byte("ignored")},
	}
	migs, err := sqlcore.LoadMigrations(good, "m")
	require.NoError(t, err)
	require.Len(t, migs, 2)
	assert.Equal(t, sqlcore.Migration{Version: 1, Name: "0001_first", SQL: "A"}, migs[0])
	assert.Equal(t, 2, migs[1].Version)

	_, err = sqlcore.LoadMigrations(fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, "m")
	assert.Error(t, err, "a gap in the numbering")
	_, err = sqlcore.LoadMigrations(fstest.MapFS{"m/first.sql": {}}, "m")
	assert.Error(t, err, "a name without a number")
}
