package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/storage/storagetest"
)

func newStore(t testing.TB, opts ...sqlite.Option) storage.Store {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "licensekit.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// TestConformance runs every registered suite with group commit on (the
// default) and synchronous=NORMAL (the semantics do not depend on it, and it
// spares an fsync per commit; the crash test runs at the default FULL).
func TestConformance(t *testing.T) {
	storagetest.RunWith(t, func(t testing.TB) storage.Store { return newStore(t, sqlite.WithSynchronous(sqlite.Normal)) },
		storagetest.Features{Short: testing.Short()})
}

// TestConformanceWithoutGroupCommit runs the suites with every Update in a
// transaction of its own (WithGroupCommit(false)) and every View through
// database/sql (WithDirectReads(false)).
func TestConformanceWithoutGroupCommit(t *testing.T) {
	storagetest.RunWith(t, func(t testing.TB) storage.Store {
		return newStore(t, sqlite.WithSynchronous(sqlite.Normal), sqlite.WithGroupCommit(false), sqlite.WithDirectReads(false))
	}, storagetest.Features{Short: testing.Short()})
}
