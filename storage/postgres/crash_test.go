package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/storagetest"
)

const writerEnv = "LICENSEKIT_POSTGRES_CRASH_WRITER"

// TestHelperWriter is the writer process of TestCrashSafety; it does nothing
// unless started by it.
func TestHelperWriter(t *testing.T) {
	schema := os.Getenv(writerEnv)
	if schema == "" {
		return
	}
	// The writer's sessions carry the schema's name, so that the test can wait
	// for the server to finish what the killed process had sent.
	named := postgres.WithPoolConfig(func(c *pgxpool.Config) {
		c.MaxConns = 2
		c.ConnConfig.RuntimeParams["application_name"] = schema
	})
	s, err := postgres.Open(context.Background(), os.Getenv(dsnEnv), postgres.WithSchema(schema), named)
	require.NoError(t, err)
	err = storagetest.CrashWriter(context.Background(), s, os.Stdout)
	t.Fatalf("writer stopped: %v", err)
}

func TestCrashSafety(t *testing.T) {
	dsn, schema := freshSchema(t)
	var all []int64
	for round := range 3 {
		reported := storagetest.RunCrash(t, "TestHelperWriter", []string{writerEnv + "=" + schema})
		waitWriterGone(t, schema)
		s, err := postgres.Open(context.Background(), dsn, postgres.WithSchema(schema), postgres.WithMaxConns(2))
		require.NoError(t, err, "reopen after kill %d", round)
		all = append(all, reported...)
		storagetest.CheckCrash(t, s, all)
		all = append(all, all[len(all)-1]+1)
		require.NoError(t, s.Close())
	}
}

// waitWriterGone waits until the database has no session left of the killed
// writer. SIGKILL ends the client at once, but a COMMIT it had already sent
// still completes on the server; checking before that would read the store
// half-way between two snapshots (the counter before the commit, the chain
// after it).
func waitWriterGone(t *testing.T, schema string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		require.NoError(t, admin.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, schema).Scan(&n))
		if n == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "the killed writer's %d sessions are still open after 30 s", n)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	require.NotPanics(t, func() {
		var s *postgres.Store
		s, err = postgres.Open(ctx, "postgres://postgres:secret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", postgres.WithOpenTimeout(5*time.Second))
		if s != nil {
			s.Close()
		}
	})
	require.Error(t, err)
	assert.Equal(t, license.Unavailable, license.ErrorCode(err), "%v", err)
	assert.Contains(t, err.Error(), "cannot reach the database at 127.0.0.1:1")
	assert.NotContains(t, license.ErrorMessage(err), "secret", "the message does not leak the password")
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"postgres://user:pa ss@%zz/db", "host=127.0.0.1 port=notaport", "mysql://root@localhost/db"} {
		var err error
		require.NotPanics(t, func() { _, err = postgres.Open(context.Background(), dsn, postgres.WithOpenTimeout(3*time.Second)) })
		require.Error(t, err, "DSN %q", dsn)
		code := license.ErrorCode(err)
		assert.Contains(t, []license.Code{license.Invalid, license.Unavailable}, code, "DSN %q: %v", dsn, err)
	}
	_, err := postgres.Open(context.Background(), "postgres://127.0.0.1/x", postgres.WithSchema("bad-name; drop"))
	require.Error(t, err)
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
}

func TestOpenFutureSchema(t *testing.T) {
	dsn, schema := freshSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', '2030-01-01T00:00:00Z')`)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.Error(t, err)
	assert.Equal(t, license.Internal, license.ErrorCode(err))
	assert.Contains(t, err.Error(), "newer than this licensekit knows")
}

// TestConcurrentOpen opens one empty schema from several goroutines at once:
// the migration runs exactly once.
func TestConcurrentOpen(t *testing.T) {
	dsn, schema := freshSchema(t)
	ctx := context.Background()
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema), postgres.WithMaxConns(2))
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 6 {
		require.NoError(t, <-errs)
	}
	var n, top int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*), max(version) FROM `+schema+`.schema_migrations`).Scan(&n, &top))
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	assert.Equal(t, len(files), n, "every migration applied exactly once")
	assert.Equal(t, n, top)
}
