package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// TestPlansUseKeys checks with EXPLAIN QUERY PLAN that the statements which
// find rows by key (sqlcore.KeyedStatements) search the index they are meant
// to, never scan the table.
func TestPlansUseKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "licensekit.db")
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 50 {
			id := strconv.Itoa(i)
			if err := tx.Put(ctx, storage.Record{Company: "acme", Kind: "pool", ID: "p" + id, Parent: "c" + strconv.Itoa(i%3), Unique: "u" + id, Data: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.Close())

	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	for _, st := range sqlcore.KeyedStatements(true) {
		if st.PostgresOnly {
			continue
		}
		want := "USING INDEX " + st.Index + " "
		if st.Index == "records_pkey" {
			want = "USING PRIMARY KEY "
		}
		rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+st.SQL, st.Args...)
		require.NoError(t, err, st.Name)
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Err(), st.Name)
		require.NoError(t, rows.Close())
		text := strings.Join(plan, "\n")
		uses := strings.Contains(text, want) || strings.Contains(text, "USING COVERING INDEX "+st.Index+" ")
		require.True(t, uses, "%s: plan does not use %s:\n%s", st.Name, st.Index, text)
		require.NotContains(t, text, "SCAN records", "%s: plan:\n%s", st.Name, text)
	}
}
