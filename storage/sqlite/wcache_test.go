package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// put writes record id with data (Put: insert or replace) and appends its
// event.
func put(ctx context.Context, tx storage.Tx, id, data string) error {
	if err := tx.Put(ctx, storage.Record{Company: "acme", Kind: "thing", ID: id, Data: []byte(strconv.Quote(data))}); err != nil {
		return err
	}
	_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "ev-" + id + "-" + data, Company: "acme", Time: time.Now(), Type: "thing.changed", Actor: "t@example.com", Subject: id})
	return err
}

// getIn reads record id in a write transaction (through the writer cache).
func getIn(ctx context.Context, s storage.Store, id string) (string, int64, error) {
	var data string
	var version int64
	err := s.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, "acme", "thing", id)
		if err != nil {
			return err
		}
		version = r.Version
		data, err = strconv.Unquote(string(r.Data))
		return err
	})
	return data, version, err
}

// Another connection (here another store on the same file, as another
// process would be) commits between two of A's transactions: A's next
// transaction reads what that connection wrote, not what A last wrote, and
// links its event after that connection's event.
func TestWriterCacheSeesOtherConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := sqlite.Open(path, sqlite.WithSynchronous(sqlite.Normal))
	require.NoError(t, err)
	defer a.Close()
	b, err := sqlite.Open(path, sqlite.WithSynchronous(sqlite.Normal))
	require.NoError(t, err)
	defer b.Close()

	require.NoError(t, a.Update(ctx, func(tx storage.Tx) error { return put(ctx, tx, "x", "from A") }))
	for range 2 {
		got, _, err := getIn(ctx, a, "x")
		require.NoError(t, err)
		require.Equal(t, "from A", got)
	}
	require.Positive(t, sqlite.WriterCacheHits(a), "A serves a record it read before from its cache")

	for round := range 3 {
		data := "from B " + strconv.Itoa(round)
		require.NoError(t, b.Update(ctx, func(tx storage.Tx) error { return put(ctx, tx, "x", data) }))
		got, version, err := getIn(ctx, a, "x")
		require.NoError(t, err)
		assert.Equal(t, data, got, "A reads B's commit")
		assert.Equal(t, int64(round+2), version)
		require.NoError(t, a.Update(ctx, func(tx storage.Tx) error { return put(ctx, tx, "y", data) }))
		requireChain(t, a)
	}
}

// A caller whose function fails after reading and writing leaves nothing of
// its work in the writer cache: the next transaction reads the record and
// the chain head as committed.
func TestWriterCacheDropsRolledBackWork(t *testing.T) {
	ctx := context.Background()
	s := openGroup(t)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return put(ctx, tx, "x", "one") }))
	boom := errors.New("refused")
	err := s.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.GetForUpdate(ctx, "acme", "thing", "x"); err != nil {
			return err
		}
		if err := put(ctx, tx, "x", "two"); err != nil {
			return err
		}
		if err := tx.Delete(ctx, "acme", "thing", "x"); err != nil {
			return err
		}
		if err := put(ctx, tx, "z", "new"); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	got, version, err := getIn(ctx, s, "x")
	require.NoError(t, err)
	assert.Equal(t, "one", got)
	assert.Equal(t, int64(1), version)
	_, _, err = getIn(ctx, s, "z")
	assert.True(t, storage.IsNotFound(err), "z was rolled back: %v", err)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return put(ctx, tx, "x", "three") }))
	requireChain(t, s)
}

// Whatever the sequence of writes, failures and reads, a point read in a
// write transaction (served by the writer cache when it can) returns what a
// read transaction reads from the file: the same data, version and absence.
func TestWriterCacheAgreesWithTheFile(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "prop.db"), sqlite.WithSynchronous(sqlite.Normal))
		require.NoError(rt, err)
		defer s.Close()
		ids := []string{"a", "b", "c"}
		refused := errors.New("refused")
		for i := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			id := rapid.SampledFrom(ids).Draw(rt, "id")
			fail := rapid.Bool().Draw(rt, "fail")
			data := strconv.Itoa(i)
			var op func(tx storage.Tx) error
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0:
				op = func(tx storage.Tx) error { return put(ctx, tx, id, data) }
			case 1:
				op = func(tx storage.Tx) error {
					err := tx.Insert(ctx, storage.Record{Company: "acme", Kind: "thing", ID: id, Data: []byte(strconv.Quote(data))})
					if license.ErrorCode(err) == license.Conflict {
						return nil
					}
					return err
				}
			case 2:
				op = func(tx storage.Tx) error {
					if err := tx.Delete(ctx, "acme", "thing", id); err != nil && !storage.IsNotFound(err) {
						return err
					}
					return nil
				}
			case 3:
				op = func(tx storage.Tx) error {
					_, err := tx.Get(ctx, "acme", "thing", id)
					if storage.IsNotFound(err) {
						return nil
					}
					return err
				}
			}
			err := s.Update(ctx, func(tx storage.Tx) error {
				if err := op(tx); err != nil {
					return err
				}
				if fail {
					return refused
				}
				return nil
			})
			if fail {
				require.ErrorIs(rt, err, refused)
			} else {
				require.NoError(rt, err)
			}
			for _, id := range ids {
				var inView, inUpdate storage.Record
				var viewErr, updateErr error
				require.NoError(rt, s.View(ctx, func(tx storage.Tx) error {
					inView, viewErr = tx.Get(ctx, "acme", "thing", id)
					return nil
				}))
				require.NoError(rt, s.Update(ctx, func(tx storage.Tx) error {
					inUpdate, updateErr = tx.Get(ctx, "acme", "thing", id)
					return nil
				}))
				require.Equal(rt, storage.IsNotFound(viewErr), storage.IsNotFound(updateErr), "%s: found in one and not the other (%v, %v)", id, viewErr, updateErr)
				require.Equal(rt, inView.Version, inUpdate.Version, id)
				require.Equal(rt, string(inView.Data), string(inUpdate.Data), id)
			}
		}
		requireChain(t, s)
	})
}

// Every read connection is held by a View, and each of them then queries:
// no query may wait for a connection of its own (preparing a statement on
// the pool would, forever), so all of them finish.
func TestReadsWithEveryReaderBusy(t *testing.T) {
	ctx := context.Background()
	const readers = 2
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "busy.db"), sqlite.WithReaders(readers), sqlite.WithSynchronous(sqlite.Normal))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return put(ctx, tx, "x", "one") }))
	var inside sync.WaitGroup
	inside.Add(readers)
	done := make(chan error, readers)
	for range readers {
		go func() {
			done <- s.View(ctx, func(tx storage.Tx) error {
				inside.Done()
				inside.Wait() // every reader is now held by a View
				if _, err := tx.Get(ctx, "acme", "thing", "x"); err != nil {
					return err
				}
				_, err := tx.List(ctx, storage.ListQuery{Company: "acme", Kind: "thing", Limit: 7})
				return err
			})
		}()
	}
	for range readers {
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("a View waits for a read connection while every reader is held")
		}
	}
}
