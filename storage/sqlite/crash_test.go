package sqlite_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/storage/storagetest"
)

const writerEnv = "LICENSEKIT_SQLITE_CRASH_WRITER"

// TestHelperWriter is the writer process of TestCrashSafety; it does nothing
// unless started by it.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(writerEnv)
	if path == "" {
		return
	}
	var opts []sqlite.Option
	if os.Getenv(writerEnv+"_SYNC") == "NORMAL" {
		opts = append(opts, sqlite.WithSynchronous(sqlite.Normal))
	}
	s, err := sqlite.Open(path, opts...)
	require.NoError(t, err)
	err = storagetest.CrashWriter(context.Background(), s, os.Stdout)
	t.Fatalf("writer stopped: %v", err)
}

func TestCrashSafety(t *testing.T) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		t.Run(sync, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			var all []int64
			for round := range 3 {
				reported := storagetest.RunCrash(t, "TestHelperWriter", []string{writerEnv + "=" + path, writerEnv + "_SYNC=" + sync})
				s, err := sqlite.Open(path)
				require.NoError(t, err, "reopen after kill %d", round)
				all = append(all, reported...)
				storagetest.CheckCrash(t, s, all)
				// CheckCrash wrote one more operation.
				all = append(all, all[len(all)-1]+1)
				require.NoError(t, s.Close())
			}
		})
	}
}

func requireOpenError(t *testing.T, path string, code license.Code, contains string) {
	t.Helper()
	var s *sqlite.Store
	var err error
	require.NotPanics(t, func() { s, err = sqlite.Open(path) })
	if s != nil {
		s.Close()
	}
	require.Error(t, err)
	assert.Equal(t, code, license.ErrorCode(err), "error code of %v", err)
	assert.Contains(t, err.Error(), contains)
}

func TestOpenRandomBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "random.db")
	b := make([]byte, 16384)
	_, _ = rand.Read(b)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	requireOpenError(t, path, license.Internal, "not a licensekit SQLite database or it is corrupted")
}

func TestOpenTextFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("hello, this is not a database\n", 200)), 0o600))
	requireOpenError(t, path, license.Internal, "not a licensekit SQLite database")
}

// fill writes enough records to span many pages, then closes the store.
func fill(t *testing.T, path string) {
	t.Helper()
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		for i := range 2000 {
			r := storage.Record{Company: "acme", Kind: "thing", ID: strings.Repeat("k", 20) + string(rune('a'+i%26)) + strings.Repeat("x", i%50) + string(rune('0'+i%10)) + "-" + strings.Repeat("y", i/100),
				Data: []byte(`{"pad":"` + strings.Repeat("z", 100) + `"}`)}
			if err := tx.Put(context.Background(), r); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.Close())
}

func TestOpenCorruptedHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corrupt.db")
	fill(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, 100), 0) // wipe the header
	require.NoError(t, err)
	require.NoError(t, f.Close())
	requireOpenError(t, path, license.Internal, "sqlite")
}

func TestOpenCorruptedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corrupt.db")
	fill(t, path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Greater(t, fi.Size(), int64(8*4096), "the database spans several pages")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	junk := make([]byte, 4096*3)
	_, _ = rand.Read(junk)
	_, err = f.WriteAt(junk, 4096) // pages 2-4: schema and b-tree pages
	require.NoError(t, err)
	require.NoError(t, f.Close())
	requireOpenError(t, path, license.Internal, "corrupt")
}

func TestOpenForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "foreign.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	requireOpenError(t, path, license.Internal, "another application")
	// And it was left alone.
	db, err = sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'records'`).Scan(&n))
	assert.Zero(t, n, "Open did not create tables in a foreign file")
}

func TestOpenFutureSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.db")
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', '2030-01-01T00:00:00Z')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	requireOpenError(t, path, license.Internal, "newer than this licensekit knows")
}

func TestOpenDirectory(t *testing.T) {
	requireOpenError(t, t.TempDir(), license.Invalid, "is a directory")
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keep.db")
	ctx := context.Background()
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Record{Company: "acme", Kind: "thing", ID: "a", Data: []byte(`{"v":1}`)})
	}))
	require.NoError(t, s.Close())
	s, err = sqlite.Open(path, sqlite.WithSynchronous(sqlite.Normal))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		r, err := tx.Get(ctx, "acme", "thing", "a")
		require.NoError(t, err)
		assert.JSONEq(t, `{"v":1}`, string(r.Data))
		return nil
	}))
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var n, top int
	require.NoError(t, db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &top))
	assert.Equal(t, migrationFiles(t), n, "every migration applied once")
	assert.Equal(t, n, top)
}

func TestEmptyFileIsNewDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestBadSynchronous(t *testing.T) {
	_, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"), sqlite.WithSynchronous("OFF"))
	require.Error(t, err)
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
}

func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

// TestOpenUpgradesSchema makes a file as the version before migration 3 left
// it (records_parent led by company), with children stored, and opens it:
// Open applies migration 3 once, the index has its new columns, and the
// children are still listed, in id order.
func TestOpenUpgradesSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	ctx := context.Background()
	s, err := sqlite.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, id := range []string{"c", "a", "b"} {
			if err := tx.Put(ctx, storage.Record{Company: "acme", Kind: "thing", ID: id, Parent: "p", Data: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range []string{
		`DROP INDEX records_parent`,
		`CREATE INDEX records_parent ON records (company, kind, parent, id)`,
		`ALTER TABLE events DROP COLUMN search`, // added by migration 4
		`DELETE FROM schema_migrations WHERE version >= 3`,
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}

	s, err = sqlite.Open(path)
	require.NoError(t, err)
	defer s.Close()
	var ids []string
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		rs, err := tx.List(ctx, storage.ListQuery{Company: "acme", Kind: "thing", Parent: "p"})
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return err
	}))
	assert.Equal(t, []string{"a", "b", "c"}, ids)
	var def string
	require.NoError(t, db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'records_parent'`).Scan(&def))
	assert.Contains(t, def, "(kind, parent, company, id)")
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 3`).Scan(&n))
	assert.Equal(t, 1, n)
}
