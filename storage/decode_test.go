package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

type cachedDoc struct {
	Name    string            `json:"name"`
	Tags    []string          `json:"tags"`
	Attrs   map[string]string `json:"attrs"`
	Next    *cachedDoc        `json:"next"`
	Details any               `json:"details"`
	At      time.Time         `json:"at"`
}

func put(t *testing.T, s storage.Store, r storage.Record) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error { return tx.Put(context.Background(), r) }))
}

func load(t *testing.T, s storage.Store, company, id string) cachedDoc {
	t.Helper()
	var v cachedDoc
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		v, _, err = storage.Load[cachedDoc](context.Background(), tx, company, "doc", id, false)
		return err
	}))
	return v
}

// A cached decode is handed out as a copy: changing what Load returned does
// not change what the next Load returns.
func TestDecodeCacheHandsOutCopies(t *testing.T) {
	s := memory.New()
	c := license.NewID()
	put(t, s, storage.Record{Company: c, Kind: "doc", ID: "d1", Data: []byte(`{"name":"a","tags":["x","y"],"attrs":{"k":"v"},"next":{"name":"b","tags":["z"]},"details":{"list":[1,2]}}`)})
	for range 3 { // the first decodes, the others hit the cache
		v := load(t, s, c, "d1")
		require.Equal(t, []string{"x", "y"}, v.Tags)
		require.Equal(t, "v", v.Attrs["k"])
		require.Equal(t, []string{"z"}, v.Next.Tags)
		require.Equal(t, []any{1.0, 2.0}, v.Details.(map[string]any)["list"])
		v.Tags[0], v.Attrs["k"], v.Next.Tags[0], v.Next.Name = "changed", "changed", "changed", "changed"
		v.Details.(map[string]any)["list"].([]any)[0] = "changed"
		v.Tags = append(v.Tags[:1], "appended")
	}
	hits, _ := storage.DecodeCacheStats()
	require.Positive(t, hits)
}

// An entry serves only the exact document it was decoded from: a record
// deleted and inserted again (version 1 both times) is decoded anew, and
// another company's record with the same kind, ID and version is its own.
func TestDecodeCacheIsExact(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	c1, c2 := license.NewID(), license.NewID()
	put(t, s, storage.Record{Company: c1, Kind: "doc", ID: "d", Data: []byte(`{"name":"first"}`)})
	require.Equal(t, "first", load(t, s, c1, "d").Name)
	require.Equal(t, "first", load(t, s, c1, "d").Name)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, c1, "doc", "d") }))
	put(t, s, storage.Record{Company: c1, Kind: "doc", ID: "d", Data: []byte(`{"name":"second"}`)})
	require.Equal(t, "second", load(t, s, c1, "d").Name, "same key and version, other bytes: decoded again")

	put(t, s, storage.Record{Company: c2, Kind: "doc", ID: "d", Data: []byte(`{"name":"other tenant"}`)})
	require.Equal(t, "other tenant", load(t, s, c2, "d").Name)
	require.Equal(t, "second", load(t, s, c1, "d").Name)

	put(t, s, storage.Record{Company: c1, Kind: "doc", ID: "d", Data: []byte(`{"name":"third"}`)})
	require.Equal(t, "third", load(t, s, c1, "d").Name)
	list, err := storage.ViewList[cachedDoc](ctx, s, storage.ListQuery{Company: c1, Kind: "doc"})
	require.NoError(t, err)
	require.Equal(t, "third", list[0].Name)
}

// The cache is bounded: loading many more records than it holds keeps its
// size at its bound, and every load still returns its own record.
func TestDecodeCacheIsBounded(t *testing.T) {
	s := memory.New()
	c := license.NewID()
	const n = 6000
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		for i := range n {
			if err := tx.Put(context.Background(), storage.Record{Company: c, Kind: "doc", ID: fmt.Sprint(i), Data: fmt.Appendf(nil, `{"name":"%d"}`, i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	for i := range n {
		require.Equal(t, fmt.Sprint(i), load(t, s, c, fmt.Sprint(i)).Name)
	}
	entries, bytes := storage.DecodeCacheSize()
	require.LessOrEqual(t, entries, storage.DecodeCacheMaxEntries)
	require.LessOrEqual(t, bytes, storage.DecodeCacheMaxBytes)
}
