package postgres

import (
	"context"
	"embed"
	"errors"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type config struct {
	schema      string
	maxConns    int32
	retries     int
	openTimeout time.Duration
	poolConfig  func(*pgxpool.Config)
}

// Option configures Open.
type Option func(*config)

// WithSchema keeps licensekit's tables in schema (which must exist), by setting
// the connections' search_path. Names are letters, digits and underscores.
func WithSchema(schema string) Option { return func(c *config) { c.schema = schema } }

// WithMaxConns sets the pool size (pgx's default otherwise).
func WithMaxConns(n int32) Option { return func(c *config) { c.maxConns = n } }

// WithPoolConfig lets the caller adjust the pgx pool configuration (sizes,
// lifetimes, tracing) before the pool is created.
func WithPoolConfig(fn func(*pgxpool.Config)) Option { return func(c *config) { c.poolConfig = fn } }

// WithRetries sets how many times Update re-runs its function after a
// serialization failure or deadlock (10 by default).
func WithRetries(n int) Option { return func(c *config) { c.retries = n } }

// WithOpenTimeout bounds how long Open waits for the database (10s by default).
func WithOpenTimeout(d time.Duration) Option { return func(c *config) { c.openTimeout = d } }

// Store is a storage.Store on a PostgreSQL database.
type Store struct {
	pool    *pgxpool.Pool
	retries int
}

var (
	_ storage.Store  = (*Store)(nil)
	_ storage.Sealer = (*Store)(nil)
)

var dialect = &sqlcore.Dialect{
	Name:              "postgres",
	ForUpdate:         " FOR UPDATE",
	Error:             mapError,
	IsUniqueViolation: isUnique,
	ModifyingCTE:      true,
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUnique(err error) bool { return pgCode(err) == "23505" }

func isRetryable(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01"
}

func mapError(err error, what string) error {
	if err == nil {
		return nil
	}
	var le *license.Error
	if errors.As(err, &le) {
		return err
	}
	code := pgCode(err)
	var ne net.Error
	switch {
	case code == "23505":
		return license.Wrap(license.Conflict, err, "postgres: %s: duplicate key", what)
	case code == "40001" || code == "40P01":
		return license.Wrap(license.Unavailable, err, "postgres: %s: conflicting concurrent transactions; retry", what)
	case strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || code == "53300" || code == "55P03":
		return license.Wrap(license.Unavailable, err, "postgres: %s: the database is unavailable", what)
	case code == "" && (errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isConnErr(err)):
		return license.Wrap(license.Unavailable, err, "postgres: %s: cannot reach the database", what)
	}
	return license.Wrap(license.Internal, err, "postgres: %s", what)
}

func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

var schemaName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Open connects to the database at dsn (a postgres:// URL or key=value string),
// checks that it answers, and brings the schema up to date. An unreachable
// database is an Unavailable *license.Error, a bad DSN Invalid, and a schema
// newer than this code Internal.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{retries: 10, openTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN; say only what is wrong with it.
		return nil, license.Errorf(license.Invalid, "dsn", "postgres: the connection string cannot be parsed")
	}
	if cfg.schema != "" {
		if !schemaName.MatchString(cfg.schema) {
			return nil, license.Errorf(license.Invalid, "schema", "postgres: schema name %q must be letters, digits and underscores", cfg.schema)
		}
		pc.ConnConfig.RuntimeParams["search_path"] = cfg.schema
	}
	if cfg.maxConns > 0 {
		pc.MaxConns = cfg.maxConns
	}
	if cfg.poolConfig != nil {
		cfg.poolConfig(pc)
	}
	where := pc.ConnConfig.Host
	octx, cancel := context.WithTimeout(ctx, cfg.openTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(octx, pc)
	if err != nil {
		return nil, license.Wrap(license.Unavailable, err, "postgres: cannot connect to %s", where)
	}
	s := &Store{pool: pool, retries: cfg.retries}
	if err := pool.Ping(octx); err != nil {
		pool.Close()
		return nil, license.Wrap(license.Unavailable, err, "postgres: cannot reach the database at %s:%d", where, pc.ConnConfig.Port)
	}
	if err := s.migrate(octx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	migs, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return license.Wrap(license.Internal, err, "postgres: embedded migrations")
	}
	// CREATE TABLE IF NOT EXISTS can race with itself in another process; the
	// loser sees a duplicate and finds the table on its next try.
	for attempt := 0; ; attempt++ {
		_, err = s.pool.Exec(ctx, sqlcore.CreateMigrationsTable)
		if err == nil || attempt >= 3 || (pgCode(err) != "23505" && pgCode(err) != "42P07") {
			break
		}
	}
	if err != nil {
		return mapError(err, "create schema_migrations")
	}
	err = sqlcore.Migrate(ctx, dialect, func(ctx context.Context, fn func(sqlcore.Conn) error) error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			return fn(conn{tx})
		})
	}, `LOCK TABLE schema_migrations IN EXCLUSIVE MODE`, migs)
	if err != nil {
		return mapError(err, "migrate")
	}
	return nil
}

// conn adapts pgx.Tx to sqlcore.Conn.
type conn struct{ tx pgx.Tx }

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := c.tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqlcore.Rows, error) {
	r, err := c.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

type rows struct{ pgx.Rows }

func (r rows) Close() error { r.Rows.Close(); return nil }

// Update implements storage.Store: a READ COMMITTED transaction, re-run after a
// serialization failure or deadlock at most the configured number of times.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	var err error
	var fromFn bool
	for attempt := 0; ; attempt++ {
		fromFn, err = s.once(ctx, fn)
		if err == nil || !isRetryable(err) || attempt >= s.retries || ctx.Err() != nil {
			break
		}
		backoff := time.Duration(1+rand.IntN(5)) * time.Millisecond << min(attempt, 6)
		select {
		case <-ctx.Done():
			return license.Wrap(license.Unavailable, ctx.Err(), "postgres: context done while retrying a transaction")
		case <-time.After(backoff):
		}
	}
	if fromFn {
		return err // fn's own error, unchanged
	}
	return mapError(err, "update")
}

// once runs fn in one transaction; fromFn says whether err is fn's.
func (s *Store) once(ctx context.Context, fn func(storage.Tx) error) (fromFn bool, err error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return false, err
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	stx := &sqlcore.Tx{C: conn{tx}, D: dialect, Writable: true}
	if err := fn(stx); err != nil {
		return true, err
	}
	// Link this transaction's events (and earlier unlinked ones of the same
	// companies) into their chains, unless another transaction holds a head.
	if err := stx.SealTouched(ctx); err != nil {
		return false, err
	}
	done = true
	return false, tx.Commit(ctx)
}

// Seal implements storage.Sealer: it links every committed event of company
// not yet in the chain, waiting for the chain head if another transaction
// holds it. Transactions link their own events as they commit unless the head
// is busy, so Seal only has work after contention (or a crash between commit
// and a later transaction); eventlog verification calls it first
// (storage.VerifyChain).
func (s *Store) Seal(ctx context.Context, company string) error {
	return s.Update(ctx, func(tx storage.Tx) error {
		_, err := tx.(*sqlcore.Tx).Seal(ctx, company, false)
		return err
	})
}

// View implements storage.Store.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return mapError(err, "begin read")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(&sqlcore.Tx{C: conn{tx}, D: dialect})
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	return mapError(s.pool.Ping(ctx), "ping")
}

// Close implements storage.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool returns the store's connection pool (for benchmarks and administration).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
