package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
)

func openGroup(t *testing.T, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "group.db"), append([]sqlite.Option{sqlite.WithSynchronous(sqlite.Normal)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	sqlite.AdmitForever(s) // the tests hold batches open
	return s
}

// write inserts record id (with data) and appends its event.
func write(ctx context.Context, tx storage.Tx, id, data string) error {
	if err := tx.Insert(ctx, storage.Record{Company: "acme", Kind: "thing", ID: id, Data: []byte(strconv.Quote(data))}); err != nil {
		return err
	}
	_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "ev-" + id + "-" + data, Company: "acme", Time: time.Now(), Type: "thing.created", Actor: "t@example.com", Subject: id})
	return err
}

// holdWriter starts an Update that holds the writer until release is closed,
// and returns once it holds it; its outcome arrives on the returned channel.
func holdWriter(t *testing.T, s *sqlite.Store, fn func(storage.Tx) error) (release func(), outcome <-chan error) {
	t.Helper()
	in, rel, out := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		out <- s.Update(context.Background(), func(tx storage.Tx) error {
			err := fn(tx)
			close(in)
			<-rel
			return err
		})
	}()
	<-in
	return func() { close(rel) }, out
}

// queue starts an Update of fn and waits until it is queued behind the
// holder (the n-th in the queue); its outcome arrives on the returned channel.
func queue(t *testing.T, s *sqlite.Store, ctx context.Context, n int, fn func(storage.Tx) error) <-chan error {
	t.Helper()
	out := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				out <- fmt.Errorf("panic: %v", p)
			}
		}()
		out <- s.Update(ctx, fn)
	}()
	require.Eventually(t, func() bool { return sqlite.QueuedWriters(s) == n }, 5*time.Second, time.Millisecond)
	return out
}

func get(t *testing.T, s storage.Store, id string) (string, error) {
	t.Helper()
	var data string
	err := s.View(context.Background(), func(tx storage.Tx) error {
		r, err := tx.Get(context.Background(), "acme", "thing", id)
		if err != nil {
			return err
		}
		data, err = strconv.Unquote(string(r.Data))
		return err
	})
	return data, err
}

func events(t *testing.T, s storage.Store) []string {
	t.Helper()
	var subjects []string
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: "acme", Sort: eventlog.ColSeq}, func(e eventlog.Event) error {
			subjects = append(subjects, e.Subject)
			return nil
		})
	}))
	return subjects
}

func requireChain(t *testing.T, s storage.Store) {
	t.Helper()
	v, err := storage.VerifyChain(context.Background(), s, "acme", time.Now())
	require.NoError(t, err)
	require.True(t, v.Intact, "chain: %+v", v)
}

// One batch of five callers: the second fails after writing, the fourth
// panics after writing; each is rolled back alone, the others' records and
// events commit in one COMMIT, and the chain links them.
func TestGroupCommitFailingCallerRollsBackAlone(t *testing.T) {
	ctx := context.Background()
	s := openGroup(t)
	commits := sqlite.GroupCommits(s)
	release, a := holdWriter(t, s, func(tx storage.Tx) error { return write(ctx, tx, "a", "A") })
	errB := license.Errorf(license.Invalid, "", "b refuses")
	b := queue(t, s, ctx, 1, func(tx storage.Tx) error {
		if err := write(ctx, tx, "b", "B"); err != nil {
			return err
		}
		return errB
	})
	// c must not see b's rolled-back record: it inserts the same id.
	c := queue(t, s, ctx, 2, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, "acme", "thing", "b"); !storage.IsNotFound(err) {
			return fmt.Errorf("c sees b's record: %v", err)
		}
		return write(ctx, tx, "b", "C")
	})
	d := queue(t, s, ctx, 3, func(tx storage.Tx) error {
		if err := write(ctx, tx, "d", "D"); err != nil {
			return err
		}
		panic("d panics")
	})
	e := queue(t, s, ctx, 4, func(tx storage.Tx) error { return write(ctx, tx, "e", "E") })
	release()
	require.NoError(t, <-a)
	require.ErrorIs(t, <-b, errB)
	require.NoError(t, <-c)
	require.EqualError(t, <-d, "panic: d panics")
	require.NoError(t, <-e)
	assert.Equal(t, commits+1, sqlite.GroupCommits(s), "the batch commits once")

	for id, want := range map[string]string{"a": "A", "b": "C", "e": "E"} {
		got, err := get(t, s, id)
		require.NoError(t, err, id)
		assert.Equal(t, want, got, id)
	}
	_, err := get(t, s, "d")
	require.True(t, storage.IsNotFound(err), "d's record rolled back: %v", err)
	assert.Equal(t, []string{"a", "b", "e"}, events(t, s))
	requireChain(t, s)

	// The store goes on: a lone writer afterwards.
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return write(ctx, tx, "f", "F") }))
	requireChain(t, s)
}

// A COMMIT that fails is reported to every caller of the batch, and none of
// their work is kept.
func TestGroupCommitFailureReportedToAll(t *testing.T) {
	ctx := context.Background()
	s := openGroup(t)
	boom := errors.New("injected commit failure")
	release, a := holdWriter(t, s, func(tx storage.Tx) error { return write(ctx, tx, "a", "A") })
	b := queue(t, s, ctx, 1, func(tx storage.Tx) error { return write(ctx, tx, "b", "B") })
	c := queue(t, s, ctx, 2, func(tx storage.Tx) error { return write(ctx, tx, "c", "C") })
	sqlite.FailCommits(s, boom)
	release()
	for name, ch := range map[string]<-chan error{"a": a, "b": b, "c": c} {
		err := <-ch
		require.ErrorIs(t, err, boom, name)
		var le *license.Error
		require.ErrorAs(t, err, &le, name)
	}
	sqlite.FailCommits(s, nil)
	for _, id := range []string{"a", "b", "c"} {
		_, err := get(t, s, id)
		require.True(t, storage.IsNotFound(err), "%s: %v", id, err)
	}
	assert.Empty(t, events(t, s))
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return write(ctx, tx, "a", "A2") }))
	got, err := get(t, s, "a")
	require.NoError(t, err)
	assert.Equal(t, "A2", got)
	requireChain(t, s)
}

// A caller whose context ends while it waits for the writer returns at once,
// its function never runs, and the callers queued behind it commit.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	ctx := context.Background()
	s := openGroup(t)
	release, a := holdWriter(t, s, func(tx storage.Tx) error { return write(ctx, tx, "a", "A") })
	bctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{}, 1)
	b := queue(t, s, bctx, 1, func(tx storage.Tx) error {
		ran <- struct{}{}
		return write(ctx, tx, "b", "B")
	})
	c := queue(t, s, ctx, 2, func(tx storage.Tx) error { return write(ctx, tx, "c", "C") })
	cancel()
	err := <-b // while a still holds the writer
	assert.Equal(t, license.Unavailable, license.ErrorCode(err), "%v", err)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, sqlite.QueuedWriters(s), "b left the queue")
	release()
	require.NoError(t, <-a)
	require.NoError(t, <-c)
	assert.Empty(t, ran, "b's function ran")
	_, err = get(t, s, "b")
	require.True(t, storage.IsNotFound(err))
	assert.Equal(t, []string{"a", "c"}, events(t, s))
	requireChain(t, s)
}

// A lone writer is not delayed: the fastest of many sequential Updates with
// group commit is about as fast as without (no wait for followers).
func TestGroupCommitLoneWriterNotDelayed(t *testing.T) {
	ctx := context.Background()
	fastest := func(s *sqlite.Store, prefix string) time.Duration {
		best := time.Hour
		for i := range 60 {
			start := time.Now()
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return write(ctx, tx, prefix+strconv.Itoa(i), "x") }))
			best = min(best, time.Since(start))
		}
		return best
	}
	on := openGroup(t)
	off := openGroup(t, sqlite.WithGroupCommit(false))
	commits := sqlite.GroupCommits(on)
	var bestOn, bestOff time.Duration = time.Hour, time.Hour
	for round := range 3 { // interleaved: the machine may be busy
		bestOn = min(bestOn, fastest(on, "on"+strconv.Itoa(round)+"-"))
		bestOff = min(bestOff, fastest(off, "off"+strconv.Itoa(round)+"-"))
	}
	t.Logf("fastest Update: group commit %v, without %v", bestOn, bestOff)
	assert.Less(t, bestOn, bestOff*3/2+300*time.Microsecond)
	assert.Equal(t, commits+180, sqlite.GroupCommits(on), "one COMMIT per lone Update")
	requireChain(t, on)
}

// Many writers at once on one counter: failures, panics and cancellations
// mixed in; the counter, the events and the chain agree with the Updates
// that reported success.
func TestGroupCommitConcurrent(t *testing.T) {
	for _, group := range []bool{true, false} {
		t.Run(fmt.Sprintf("group=%v", group), func(t *testing.T) {
			ctx := context.Background()
			s := openGroup(t, sqlite.WithGroupCommit(group))
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
				return tx.Put(ctx, storage.Record{Company: "acme", Kind: "counter", ID: "n", Data: []byte("0")})
			}))
			var mu sync.Mutex
			ok := 0
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 15 {
						id := fmt.Sprintf("%d-%d", g, i)
						mode := rand.IntN(8)
						cctx, cancel := context.WithCancel(ctx)
						if mode == 0 {
							go cancel()
						}
						err := func() (err error) {
							defer func() {
								if p := recover(); p != nil {
									err = fmt.Errorf("panic: %v", p)
								}
							}()
							return s.Update(cctx, func(tx storage.Tx) error {
								r, err := tx.GetForUpdate(cctx, "acme", "counter", "n")
								if err != nil {
									return err
								}
								n, _ := strconv.Atoi(string(r.Data))
								r.Data = []byte(strconv.Itoa(n + 1))
								if err := tx.Put(cctx, r); err != nil {
									return err
								}
								if err := write(cctx, tx, id, "x"); err != nil {
									return err
								}
								switch mode {
								case 1:
									return errors.New("refused")
								case 2:
									panic("boom")
								}
								return nil
							})
						}()
						cancel()
						if err == nil {
							mu.Lock()
							ok++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
				r, err := tx.Get(ctx, "acme", "counter", "n")
				require.NoError(t, err)
				assert.Equal(t, strconv.Itoa(ok), string(r.Data))
				return nil
			}))
			assert.Len(t, events(t, s), ok)
			requireChain(t, s)
			t.Logf("%d of %d Updates committed", ok, 32*15)
		})
	}
}

// A caller that fails after reading the uncommitted work of a caller before
// it in the batch returns only once that work is committed: whoever it tells
// of its failure then sees what it saw (the linearizability of the store).
func TestGroupCommitFailureReportedAfterCommit(t *testing.T) {
	ctx := context.Background()
	s := openGroup(t)
	release, a := holdWriter(t, s, func(tx storage.Tx) error { return write(ctx, tx, "a", "A") })
	refused := license.Errorf(license.Conflict, "", "a exists")
	b := queue(t, s, ctx, 1, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, "acme", "thing", "a"); err != nil {
			return err
		}
		return refused
	})
	// c holds the batch open a while: b must not return meanwhile.
	c := queue(t, s, ctx, 2, func(tx storage.Tx) error {
		time.Sleep(100 * time.Millisecond)
		return write(ctx, tx, "c", "C")
	})
	release()
	require.ErrorIs(t, <-b, refused)
	for _, id := range []string{"a", "c"} {
		got, err := get(t, s, id)
		require.NoError(t, err, "%s committed before b returned", id)
		assert.Equal(t, strings.ToUpper(id), got)
	}
	require.NoError(t, <-a)
	require.NoError(t, <-c)
}
