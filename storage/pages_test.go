package storage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// ForEachRecord walks every company's records across page boundaries, each
// once, in ID order, and stops at fn's error.
func TestForEachRecord(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	var want []string
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 5 {
			id := fmt.Sprintf("r%d", i)
			want = append(want, id)
			if err := tx.Insert(ctx, storage.Record{Company: fmt.Sprintf("c%d", i%2), Kind: "k", ID: id, Data: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return tx.Insert(ctx, storage.Record{Company: "c0", Kind: "other", ID: "x", Data: []byte(`{}`)})
	}))
	for _, page := range []int{1, 2, 5, 6, 0} {
		var got []string
		require.NoError(t, storage.ForEachRecord(ctx, s, storage.ListQuery{AllCompanies: true, Kind: "k"}, page,
			func(r storage.Record) error { got = append(got, r.ID); return nil }))
		assert.Equal(t, want, got, "page %d", page)
	}
	stop := fmt.Errorf("stop")
	n := 0
	err := storage.ForEachRecord(ctx, s, storage.ListQuery{AllCompanies: true, Kind: "k"}, 2,
		func(storage.Record) error { n++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
}
