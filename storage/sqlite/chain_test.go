package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/storage/storagetest"
)

func appendChainEvents(t *testing.T, s storage.Store, company string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
			_, err := tx.AppendEvent(context.Background(), eventlog.Event{ID: license.NewID(), Company: company,
				Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), Type: "license.purchase", Source: "Helsinki", Count: int64(10 + i), Actor: "ann@example.com"})
			return err
		}))
	}
}

func verifyStore(t *testing.T, s storage.Store, company string) eventlog.Verification {
	t.Helper()
	var v eventlog.Verification
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		v, err = eventlog.Verify(context.Background(), tx, company, time.Now())
		return err
	}))
	return v
}

// TestChainDetectsDirectEdits edits stored events behind the store's back (as
// someone with access to the file would) and checks that Verify finds the first
// broken link each time.
func TestChainDetectsDirectEdits(t *testing.T) {
	cases := []struct {
		name   string
		sql    string
		broken int // 1-based position of the first event Verify must report
	}{
		{"count changed", `UPDATE events SET "count" = 999 WHERE seq = (SELECT seq FROM events WHERE company = ? ORDER BY seq LIMIT 1 OFFSET 2)`, 3},
		{"actor changed", `UPDATE events SET actor = 'mallory@example.com' WHERE seq = (SELECT seq FROM events WHERE company = ? ORDER BY seq LIMIT 1 OFFSET 1)`, 2},
		{"event deleted", `DELETE FROM events WHERE seq = (SELECT seq FROM events WHERE company = ? ORDER BY seq LIMIT 1 OFFSET 1)`, 3}, // the next one loses its link
		{"hash recomputed without relinking", `UPDATE events SET "count" = 1, hash = 'x' WHERE seq = (SELECT seq FROM events WHERE company = ? ORDER BY seq LIMIT 1 OFFSET 3)`, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chain.db")
			s, err := sqlite.Open(path)
			require.NoError(t, err)
			company := license.NewID()
			appendChainEvents(t, s, company, 5)
			appendChainEvents(t, s, license.NewID(), 2) // another company's chain is independent
			v := verifyStore(t, s, company)
			require.True(t, v.Intact, "untouched chain must verify: %+v", v)
			require.EqualValues(t, 5, v.Checked)
			require.NoError(t, s.Close())

			db, err := sql.Open("sqlite", path)
			require.NoError(t, err)
			var seqs []int64
			rows, err := db.Query(`SELECT seq FROM events WHERE company = ? ORDER BY seq`, company)
			require.NoError(t, err)
			for rows.Next() {
				var n int64
				require.NoError(t, rows.Scan(&n))
				seqs = append(seqs, n)
			}
			require.NoError(t, rows.Close())
			res, err := db.Exec(tc.sql, company)
			require.NoError(t, err)
			n, _ := res.RowsAffected()
			require.EqualValues(t, 1, n)
			require.NoError(t, db.Close())

			s, err = sqlite.Open(path)
			require.NoError(t, err)
			defer s.Close()
			v = verifyStore(t, s, company)
			require.False(t, v.Intact, "tampering went unnoticed")
			require.Equal(t, seqs[tc.broken-1], v.BrokenSeq, "first broken link: %+v", v)
			require.NotEmpty(t, v.Reason)
		})
	}
}

// TestCheckpointTampering rewrites the log with plain SQL on a second
// connection; signed checkpoints must expose what the plain chain cannot.
func TestCheckpointTampering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`PRAGMA busy_timeout = 5000`)
	require.NoError(t, err)
	storagetest.CheckpointTampering(t, s, storagetest.Tamper{
		Rewrite: func(t *testing.T, evs []eventlog.Event) {
			for _, e := range evs {
				res, err := db.Exec(`UPDATE events SET "count" = ?, prev_hash = ?, hash = ? WHERE company = ? AND seq = ?`, e.Count, e.PrevHash, e.Hash, e.Company, e.Seq)
				require.NoError(t, err)
				n, _ := res.RowsAffected()
				require.EqualValues(t, 1, n)
			}
		},
		Delete: func(t *testing.T, company string, seqs ...int64) {
			for _, q := range seqs {
				res, err := db.Exec(`DELETE FROM events WHERE company = ? AND seq = ?`, company, q)
				require.NoError(t, err)
				n, _ := res.RowsAffected()
				require.EqualValues(t, 1, n)
			}
		},
	})
}
