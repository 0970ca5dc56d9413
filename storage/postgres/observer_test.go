package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
)

// The observer hears of every transaction with its outcome, and of the wait
// for a pool connection before each write.
func TestObserver(t *testing.T) {
	var mu sync.Mutex
	txs := map[string]int{}
	waits := 0
	obs := storage.Observer{
		Transaction: func(write bool, err error, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			k := "read"
			if write {
				k = "write"
			}
			if err != nil {
				k += " error"
			}
			txs[k]++
			assert.GreaterOrEqual(t, took, time.Duration(0))
		},
		LockWait: func(time.Duration) { mu.Lock(); waits++; mu.Unlock() },
	}
	s := newStore(t, postgres.WithObserver(obs))
	ctx := context.Background()
	rec := storage.Record{Company: license.NewID(), Kind: "k", ID: "1", Data: []byte(`{}`)}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Insert(ctx, rec) }))
	require.Error(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Insert(ctx, rec) }))
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error { _, err := tx.Get(ctx, rec.Company, "k", "1"); return err }))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]int{"write": 1, "write error": 1, "read": 1}, txs)
	assert.Equal(t, 2, waits)
}
