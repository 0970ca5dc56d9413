package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

// A kept statement whose rows are still being read is not run again
// underneath them: the same query inside gets a statement of its own, both
// row sets read whole and in order, and the kept statement serves again once
// its rows are closed.
func TestDirectReadsNestSameQuery(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "direct.db"), WithSynchronous(Normal))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 5 {
			if err := tx.Put(ctx, storage.Record{Company: "acme", Kind: "pool", ID: fmt.Sprintf("p%d", i), Data: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	}))
	var list sqlcore.KeyedStatement
	for _, ks := range sqlcore.KeyedStatements(dialect.IndexedBy) {
		if ks.Name == "list a kind" {
			list = ks
		}
	}
	require.True(t, s.readSQL[list.SQL])
	var leftOpen *readConn
	ids := func(rows sqlcore.Rows, n int) []string {
		var out []string
		for len(out) < n && rows.Next() {
			var r storage.Record
			var kind string
			require.NoError(t, rows.Scan(&r.Company, &kind, &r.ID, &r.Parent, &r.Unique, &r.Data, &r.Version))
			out = append(out, r.ID)
		}
		require.NoError(t, rows.Err())
		return out
	}
	require.NoError(t, s.viewDirect(ctx, func(tx storage.Tx) error {
		c := tx.(*sqlcore.Tx).C.(directConn)
		outer, err := c.Query(ctx, list.SQL, list.Args...)
		require.NoError(t, err)
		assert.Equal(t, []string{"p0", "p1"}, ids(outer, 2))
		kept := c.c.stmts[list.SQL]
		require.NotNil(t, kept)
		require.True(t, kept.busy)

		inner, err := c.Query(ctx, list.SQL, list.Args...)
		require.NoError(t, err)
		assert.Equal(t, []string{"p0", "p1", "p2", "p3", "p4"}, ids(inner, 10))
		require.NoError(t, inner.Close())
		assert.Equal(t, []string{"p2", "p3", "p4"}, ids(outer, 10), "the outer rows go on where they were")
		require.NoError(t, outer.Close())
		require.False(t, kept.busy)

		again, err := c.Query(ctx, list.SQL, list.Args...)
		require.NoError(t, err)
		require.Same(t, kept, c.c.stmts[list.SQL])
		require.True(t, kept.busy, "the kept statement serves again")
		assert.Len(t, ids(again, 10), 5)
		require.NoError(t, again.Close())

		_, err = c.Query(ctx, list.SQL, list.Args...) // left open: the View closes it
		require.NoError(t, err)
		leftOpen = c.c
		return nil
	}))
	require.Empty(t, leftOpen.open)
	require.False(t, leftOpen.stmts[list.SQL].busy)
}

type scanned struct{ v any }

func (s *scanned) Scan(src any) error { s.v = src; return nil }

// assign stores what the driver reads as database/sql's Scan would, and
// refuses what it cannot store.
func TestAssign(t *testing.T) {
	var (
		str  string
		blob []byte
		i64  int64
		n    int
		f    float64
		b    bool
		ni   *int64
		a    any
		sc   scanned
		ns   sql.NullString
	)
	src := []byte("data")
	for _, c := range []struct {
		dst, src, want any
		got            func() any
	}{
		{&str, "text", "text", func() any { return str }},
		{&str, []byte("bytes"), "bytes", func() any { return str }},
		{&str, int64(42), "42", func() any { return str }},
		{&blob, src, []byte("data"), func() any { return blob }},
		{&blob, nil, []byte(nil), func() any { return blob }},
		{&blob, "text", []byte("text"), func() any { return blob }},
		{&i64, int64(-7), int64(-7), func() any { return i64 }},
		{&n, int64(9), 9, func() any { return n }},
		{&f, 1.5, 1.5, func() any { return f }},
		{&f, int64(2), 2.0, func() any { return f }},
		{&b, int64(1), true, func() any { return b }},
		{&ni, nil, (*int64)(nil), func() any { return ni }},
		{&a, int64(3), int64(3), func() any { return a }},
		{&sc, "x", "x", func() any { return sc.v }},
		{&ns, "y", sql.NullString{String: "y", Valid: true}, func() any { return ns }},
	} {
		require.NoError(t, assign(c.dst, c.src), "%T <- %T", c.dst, c.src)
		assert.Equal(t, c.want, c.got(), "%T <- %T", c.dst, c.src)
	}
	require.NoError(t, assign(&ni, int64(5)))
	assert.Equal(t, int64(5), *ni)
	require.NoError(t, assign(&blob, src))
	src[0] = 'X'
	assert.Equal(t, []byte("data"), blob, "blobs are copied")
	for _, c := range []struct{ dst, src any }{{&str, nil}, {&i64, "1"}, {&i64, nil}, {&n, 1.5}, {new(uint8), int64(1)}} {
		assert.Error(t, assign(c.dst, c.src), "%T <- %T", c.dst, c.src)
	}
}
