package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage"
)

// When SQLite rolls the shared transaction back under a caller (as it does on
// an interrupted statement or a full disk), the callers before it in the batch
// lost work that was not theirs to lose: they run again and commit; the
// caller that failed gets its own error, or, had it not noticed, runs again
// too.
func TestGroupCommitLostBatchRunsAgain(t *testing.T) {
	for _, swallow := range []bool{false, true} {
		name := map[bool]string{false: "failure reported", true: "failure swallowed"}[swallow]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(filepath.Join(t.TempDir(), "lost.db"), WithSynchronous(Normal))
			require.NoError(t, err)
			defer s.Close()
			AdmitForever(s)
			put := func(tx storage.Tx, id string) error {
				return tx.Put(ctx, storage.Record{Company: "acme", Kind: "thing", ID: id, Data: []byte(`{}`)})
			}
			var runsA, runsB, runsC atomic.Int32
			in, rel := make(chan struct{}), make(chan struct{})
			a := make(chan error, 1)
			go func() {
				a <- s.Update(ctx, func(tx storage.Tx) error {
					if runsA.Add(1) == 1 {
						defer func() { close(in); <-rel }()
					}
					return put(tx, "a")
				})
			}()
			<-in
			queued := func(n int) {
				require.Eventually(t, func() bool { return QueuedWriters(s) == n }, 5*time.Second, time.Millisecond)
			}
			own := errors.New("b's own failure")
			b := make(chan error, 1)
			go func() {
				b <- s.Update(ctx, func(tx storage.Tx) error {
					if runsB.Add(1) == 1 {
						// What SQLite does to the transaction on SQLITE_FULL.
						if _, err := s.wc.ExecContext(ctx, "ROLLBACK"); err != nil {
							return err
						}
						if !swallow {
							return own
						}
						return nil
					}
					return put(tx, "b")
				})
			}()
			queued(1)
			c := make(chan error, 1)
			go func() {
				c <- s.Update(ctx, func(tx storage.Tx) error {
					runsC.Add(1)
					return put(tx, "c")
				})
			}()
			queued(2)
			close(rel)
			require.NoError(t, <-a)
			require.NoError(t, <-c)
			want := []string{"a", "c"}
			if swallow {
				require.NoError(t, <-b)
				assert.Equal(t, int32(2), runsB.Load())
				want = append(want, "b")
			} else {
				require.ErrorIs(t, <-b, own)
				assert.Equal(t, int32(1), runsB.Load())
			}
			assert.Equal(t, int32(2), runsA.Load(), "a runs again")
			assert.Equal(t, int32(1), runsC.Load())
			var got []string
			require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
				rs, err := tx.List(ctx, storage.ListQuery{Company: "acme", Kind: "thing"})
				for _, r := range rs {
					got = append(got, r.ID)
				}
				return err
			}))
			assert.ElementsMatch(t, want, got)
		})
	}
}
