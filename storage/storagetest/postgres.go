package storagetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDSNEnv names the environment variable of the PostgreSQL server the
// tests use (a DSN of a database on it they may create databases from).
const PostgresDSNEnv = "LICENSEKIT_TEST_POSTGRES_DSN"

var databases atomic.Int64

// PostgresDatabase creates a fresh, empty database for t on the server of
// LICENSEKIT_TEST_POSTGRES_DSN, dropped when t ends, and returns its DSN.
// Without the variable t is skipped, or fails under CI=true, where the
// PostgreSQL tests must run.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; under CI the PostgreSQL tests must run (see .ci/run)", PostgresDSNEnv)
		}
		t.Skipf("set %s to run this test on PostgreSQL", PostgresDSNEnv)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL at %s cannot be reached: %v", PostgresDSNEnv, err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("lk_t%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, databases.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create the test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("%s: %v", PostgresDSNEnv, err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(cfg.User, cfg.Password),
		Host: fmt.Sprintf("%s:%d", cfg.Host, cfg.Port), Path: "/" + name, RawQuery: "sslmode=disable"}
	if cfg.Password == "" {
		u.User = url.User(cfg.User)
	}
	return u.String()
}
