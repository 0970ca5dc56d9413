package storage_test

import (
	"context"
	"encoding/json"
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

type keptDoc struct {
	Name  string    `json:"name"`
	Tags  []string  `json:"tags,omitempty"`
	Count int       `json:"count"`
	Next  *keptDoc  `json:"next,omitempty"`
	At    time.Time `json:"at"`
}

func saveKept(t *testing.T, s storage.Store, company string, v keptDoc, fail bool) error {
	t.Helper()
	ctx := context.Background()
	return s.Update(ctx, func(tx storage.Tx) error {
		_, rec, err := storage.Load[keptDoc](ctx, tx, company, "kept", "k", true)
		if storage.IsNotFound(err) {
			rec, err = storage.Record{Company: company, Kind: "kept", ID: "k"}, nil
		}
		if err != nil {
			return err
		}
		if err := storage.SaveKept(ctx, tx, rec, v); err != nil {
			return err
		}
		if fail {
			return license.Errorf(license.Conflict, "", "rolled back on purpose")
		}
		return nil
	})
}

func loadKept(t *testing.T, s storage.Store, company string) keptDoc {
	t.Helper()
	var v keptDoc
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		v, _, err = storage.Load[keptDoc](context.Background(), tx, company, "kept", "k", false)
		return err
	}))
	return v
}

// bytesOnly is a store that does not hold values: its transactions hide
// the memory store's storage.ValueTx, so that SaveKept encodes and keeps the
// value in the decode cache, as it does for SQLite and PostgreSQL.
type bytesOnly struct{ *memory.Store }

type bytesOnlyTx struct{ storage.Tx }

func (s bytesOnly) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error { return fn(bytesOnlyTx{tx}) })
}

func (s bytesOnly) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error { return fn(bytesOnlyTx{tx}) })
}

// keptStores are the two ways a store takes what SaveKept writes.
func keptStores() map[string]func() storage.Store {
	return map[string]func() storage.Store{
		"held":  func() storage.Store { return memory.New() },
		"bytes": func() storage.Store { return bytesOnly{memory.New()} },
	}
}

// The value SaveKept wrote serves the next Load without decoding; empty
// lists left out of the document come back nil, as decoding gives them; a
// save that rolls back never serves; and what Load hands out is a copy.
func TestSaveKeptServesTheNextLoad(t *testing.T) {
	for name, newStore := range keptStores() {
		t.Run(name, func(t *testing.T) {
			s := newStore()
			c := license.NewID()
			at := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
			v := keptDoc{Name: "one", Tags: []string{}, Count: 1, Next: &keptDoc{Name: "two", Tags: []string{"a"}, At: at}, At: at}
			require.NoError(t, saveKept(t, s, c, v, false))
			v.Next.Tags[0] = "changed after the save"

			_, misses := storage.DecodeCacheStats()
			got := loadKept(t, s, c)
			_, misses2 := storage.DecodeCacheStats()
			require.Equal(t, misses, misses2, "served from the kept value, not decoded")
			require.Equal(t, keptDoc{Name: "one", Count: 1, Next: &keptDoc{Name: "two", Tags: []string{"a"}, At: at}, At: at}, got)
			got.Next.Tags[0] = "changed by the caller"
			require.Equal(t, "a", loadKept(t, s, c).Next.Tags[0])

			// A save that rolls back leaves the stored record as it was.
			require.Error(t, saveKept(t, s, c, keptDoc{Name: "rolled back", Count: 2, At: at}, true))
			require.Equal(t, "one", loadKept(t, s, c).Name)
			// The same version written again with other bytes is not served the rolled-back value.
			require.NoError(t, saveKept(t, s, c, keptDoc{Name: "three", Count: 3, At: at}, false))
			require.Equal(t, "three", loadKept(t, s, c).Name)
		})
	}
}

// A store that holds values gives every reader what the bytes would have
// given: the document (from Get, GetByUnique and List) is the value's JSON,
// a Load as another type decodes that document, a Load as the type saved
// copies the value, and a Put of plain bytes replaces the value.
func TestHeldValuesReadAsDocuments(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	c := license.NewID()
	at := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	v := keptDoc{Name: "one", Tags: []string{"a", "b"}, Count: 7, At: at}
	want, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return storage.InsertKept(ctx, tx, storage.Record{Company: c, Kind: "kept", ID: "k", Parent: "p", Unique: "one"}, v)
	}))
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		r, err := tx.Get(ctx, c, "kept", "k")
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(r.Data))
		require.EqualValues(t, 1, r.Version)
		r.Data[0] = 'X' // a caller's copy
		r, err = tx.GetByUnique(ctx, c, "kept", "one")
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(r.Data))
		rs, err := tx.List(ctx, storage.ListQuery{Company: c, Kind: "kept", Parent: "p"})
		require.NoError(t, err)
		require.Len(t, rs, 1)
		require.JSONEq(t, string(want), string(rs[0].Data))

		other, _, err := storage.Load[map[string]any](ctx, tx, c, "kept", "k", false)
		require.NoError(t, err)
		require.Equal(t, "one", other["name"])
		require.EqualValues(t, 7, other["count"])
		same, r2, err := storage.Load[keptDoc](ctx, tx, c, "kept", "k", false)
		require.NoError(t, err)
		require.Equal(t, v, same)
		require.Nil(t, r2.Data, "a held value comes without its document")
		return nil
	}))
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Record{Company: c, Kind: "kept", ID: "k", Data: []byte(`{"name":"plain","count":2,"at":"2026-11-30T06:00:00Z"}`)})
	}))
	require.Equal(t, keptDoc{Name: "plain", Count: 2, At: at}, loadKept(t, s, c))
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		_, err := tx.GetByUnique(ctx, c, "kept", "one")
		require.True(t, storage.IsNotFound(err), "the plain record has no unique: %v", err)
		return nil
	}))
}

// In a test binary SaveKept checks its contract: a value that JSON does not
// give back whole (here a time with a monotonic clock reading) panics.
func TestSaveKeptChecksItsContract(t *testing.T) {
	for name, newStore := range keptStores() {
		t.Run(name, func(t *testing.T) {
			s := newStore()
			require.Panics(t, func() {
				_ = saveKept(t, s, license.NewID(), keptDoc{Name: "now", At: time.Now()}, false)
			})
		})
	}
}

// Records that Encode wrote skip the JSON check only while Data is the slice
// it encoded: a caller that replaces Data is checked again.
func TestEncodedDataIsCheckedOnceReplaced(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	r, err := storage.Encode(storage.Record{Company: license.NewID(), Kind: "doc", ID: "d"}, map[string]int{"a": 1})
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, r) }))
	r.Data = []byte(`{"a":`)
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, r) })
	require.Equal(t, "data", license.ErrorField(err))
}

// InsertKept serves the new record's first Load from the value inserted.
func TestInsertKeptServesTheFirstLoad(t *testing.T) {
	for name, newStore := range keptStores() {
		t.Run(name, func(t *testing.T) {
			s := newStore()
			ctx := context.Background()
			c := license.NewID()
			at := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
				return storage.InsertKept(ctx, tx, storage.Record{Company: c, Kind: "kept", ID: "k"}, keptDoc{Name: "new", Count: 1, At: at})
			}))
			_, misses := storage.DecodeCacheStats()
			got := loadKept(t, s, c)
			_, misses2 := storage.DecodeCacheStats()
			require.Equal(t, misses, misses2, "served from the inserted value, not decoded")
			require.Equal(t, keptDoc{Name: "new", Count: 1, At: at}, got)
			require.Error(t, s.Update(ctx, func(tx storage.Tx) error {
				return storage.InsertKept(ctx, tx, storage.Record{Company: c, Kind: "kept", ID: "k"}, keptDoc{Name: "again"})
			}), "an insert of an existing key fails and keeps nothing")
			require.Equal(t, "new", loadKept(t, s, c).Name)
		})
	}
}

// Peek hands out the value itself, not a copy; a caller that changes it
// anyway is caught, in a test binary, by the next read of the record.
func TestPeekSharesAndCatchesChanges(t *testing.T) {
	for name, newStore := range keptStores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore()
			c := license.NewID()
			at := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
			require.NoError(t, saveKept(t, s, c, keptDoc{Name: "one", Tags: []string{"a"}, At: at}, false))
			if name == "bytes" {
				loadKept(t, s, c) // the saved value is in the cache
			}
			peek := func() keptDoc {
				var v keptDoc
				require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
					var err error
					v, _, err = storage.Peek[keptDoc](ctx, tx, c, "kept", "k")
					return err
				}))
				return v
			}
			first, second := peek(), peek()
			require.Equal(t, []string{"a"}, first.Tags)
			require.Same(t, &first.Tags[0], &second.Tags[0], "Peek shares the value")
			first.Tags[0] = "changed by a reader"
			require.Panics(t, func() { peek() }, "the change is caught at the next read")
		})
	}
}
