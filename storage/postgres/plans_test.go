package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

// literals writes args as SQL literals.
func literals(args []any) string {
	out := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(out, ", ")
}

// TestGenericPlansUseKeys checks that the statements which find rows by key
// (sqlcore.KeyedStatements: lookups, lists of a kind or of a parent's
// children, in a company or across companies, and the chain's links) use
// their index in the generic plan of a prepared statement, on
// tables that have never been analysed (as with autovacuum off, or before it
// runs). pgx prepares every statement, and PostgreSQL may keep a generic plan
// for the connection's life. Such a plan was once a scan of all of a
// company's events for each chain link, which made a link cost as much as the
// log was long.
func TestGenericPlansUseKeys(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// A few rows, so that the tables are neither empty nor analysed.
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 50 {
			id := strconv.Itoa(i)
			if err := tx.Put(ctx, storage.Record{Company: "acme", Kind: "pool", ID: "p" + id, Parent: "c" + strconv.Itoa(i%3), Unique: "u" + id, Data: []byte(`{}`)}); err != nil {
				return err
			}
			if _, err := tx.AppendEvent(ctx, eventlog.Event{ID: "e" + id, Company: "acme", Time: time.Now(), Type: "pool.created", Subject: "p" + id}); err != nil {
				return err
			}
		}
		return nil
	}))
	conn, err := s.Pool().Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }() // the link statement's EXPLAIN does not run it; roll back all the same
	_, err = tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	for i, st := range sqlcore.KeyedStatements(false) {
		name := "keyed_" + strconv.Itoa(i)
		_, err := tx.Exec(ctx, `PREPARE `+name+` AS `+st.SQL)
		require.NoError(t, err, st.Name)
		rows, err := tx.Query(ctx, `EXPLAIN EXECUTE `+name+`(`+literals(st.Args)+`)`)
		require.NoError(t, err, st.Name)
		var plan []string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan = append(plan, line)
		}
		require.NoError(t, rows.Err(), st.Name)
		text := strings.Join(plan, "\n")
		uses := strings.Contains(text, "using "+st.Index+" on ") || strings.Contains(text, "Bitmap Index Scan on "+st.Index+"  ")
		require.True(t, uses, "%s: generic plan does not use %s:\n%s", st.Name, st.Index, text)
		require.NotContains(t, text, "Seq Scan", "%s: generic plan:\n%s", st.Name, text)
	}
}
