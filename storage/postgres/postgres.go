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
	observer    *storage.Observer
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

// WithObserver reports the store's transactions, retries and waits for a
// pool connection to o (for metrics).
func WithObserver(o storage.Observer) Option { return func(c *config) { c.observer = &o } }

// WithOpenTimeout bounds how long Open waits for the database (10s by default).
func WithOpenTimeout(d time.Duration) Option { return func(c *config) { c.openTimeout = d } }

// Store is a storage.Store on a PostgreSQL database.
type Store struct {
	pool    *pgxpool.Pool
	retries int
	obs     *storage.Observer // nil: none
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
	s := &Store{pool: pool, retries: cfg.retries, obs: cfg.observer}
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
	sqlcore.AttachGoSteps(migs)
	// CREATE TABLE IF NOT EXISTS can race with itself in another process; the
	// loser sees a duplicate key, relation or row type (23505, 42P07, 42710)
	// and finds the table on its next try.
	for attempt := 0; ; attempt++ {
		_, err = s.pool.Exec(ctx, sqlcore.CreateMigrationsTable)
		if err == nil || attempt >= 3 || (pgCode(err) != "23505" && pgCode(err) != "42P07" && pgCode(err) != "42710") {
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

// writeConn is the sqlcore.Conn of a read-write transaction. It drives the
// transaction by hand on one connection so that statements share round trips
// (pgx batches, sent as one extended-protocol pipeline): BEGIN goes out with
// the first statement, writes that report only errors (sqlcore.Pipeliner.Queue)
// go out with the next statement, and the last ones go out with COMMIT. An
// allocation (lock the pool, insert the allocation, update the pool, append
// the linked event) thus takes four round trips, as many as a bare
// BEGIN; UPDATE; INSERT; COMMIT.
//
// Any failed statement aborts the PostgreSQL transaction; the first error is
// kept and returned by every later call, and commit refuses to run.
type writeConn struct {
	c       *pgx.Conn
	pending []queued
	begun   bool  // BEGIN has been sent
	failed  error // first failure; the transaction is aborted
}

type queued struct {
	sql   string
	args  []any
	check func(int64, error) error // a statement run for its effect
	rows  func(sqlcore.Rows) error // or one whose rows are read
}

var (
	_ sqlcore.Conn      = (*writeConn)(nil)
	_ sqlcore.Pipeliner = (*writeConn)(nil)
)

const beginReadCommitted = `BEGIN ISOLATION LEVEL READ COMMITTED`

func newWriteConn(c *pgx.Conn) *writeConn {
	w := &writeConn{c: c}
	w.Queue(beginReadCommitted, nil, func(_ int64, err error) error { return err })
	return w
}

// Queue implements sqlcore.Pipeliner.
func (w *writeConn) Queue(q string, args []any, check func(int64, error) error) {
	w.pending = append(w.pending, queued{sql: q, args: args, check: check})
}

// QueueRows implements sqlcore.Pipeliner.
func (w *writeConn) QueueRows(q string, args []any, rows func(sqlcore.Rows) error) {
	w.pending = append(w.pending, queued{sql: q, args: args, rows: rows})
}

func (w *writeConn) fail(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return err
}

// send sends the queued statements followed by extra in one batch and reads
// the queued statements' results.
func (w *writeConn) send(ctx context.Context, extra ...sqlcore.Stmt) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(w.pending)+len(extra))}
	for _, q := range w.pending {
		b.Queue(q.sql, q.args...)
	}
	for _, st := range extra {
		b.Queue(st.SQL, st.Args...)
	}
	pending := w.pending
	w.pending = nil
	if len(pending) > 0 && pending[0].sql == beginReadCommitted {
		w.begun = true
	}
	br := w.c.SendBatch(ctx, b)
	for _, q := range pending {
		var err error
		if q.rows != nil {
			err = readRows(br, q.rows)
		} else {
			tag, xerr := br.Exec()
			err = q.check(tag.RowsAffected(), xerr)
		}
		if err != nil {
			br.Close()
			return nil, w.fail(err)
		}
	}
	return br, nil
}

// readRows reads the next result of br with fn.
func readRows(br pgx.BatchResults, fn func(sqlcore.Rows) error) error {
	r, err := br.Query()
	if err != nil {
		return err
	}
	err = fn(rows{r})
	r.Close()
	if err == nil {
		err = r.Err()
	}
	return err
}

// Batch implements sqlcore.Pipeliner.
func (w *writeConn) Batch(ctx context.Context, stmts ...sqlcore.Stmt) error {
	if w.failed != nil {
		return w.failed
	}
	br, err := w.send(ctx, stmts...)
	if err != nil {
		return err
	}
	for _, st := range stmts {
		if st.Rows == nil {
			if _, err = br.Exec(); err != nil {
				break
			}
			continue
		}
		if err = readRows(br, st.Rows); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return w.fail(err)
	}
	return nil
}

// Exec implements sqlcore.Conn.
func (w *writeConn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if w.failed != nil {
		return 0, w.failed
	}
	if len(w.pending) == 0 {
		tag, err := w.c.Exec(ctx, q, args...)
		if err != nil {
			return 0, w.fail(err)
		}
		return tag.RowsAffected(), nil
	}
	br, err := w.send(ctx, sqlcore.Stmt{SQL: q, Args: args})
	if err != nil {
		return 0, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, w.fail(err)
	}
	return tag.RowsAffected(), nil
}

// Query implements sqlcore.Conn. The caller closes the rows before its next
// statement, as sqlcore does.
func (w *writeConn) Query(ctx context.Context, q string, args ...any) (sqlcore.Rows, error) {
	if w.failed != nil {
		return nil, w.failed
	}
	if len(w.pending) == 0 {
		r, err := w.c.Query(ctx, q, args...)
		if err != nil {
			return nil, w.fail(err)
		}
		return &writeRows{Rows: r, w: w}, nil
	}
	br, err := w.send(ctx, sqlcore.Stmt{SQL: q, Args: args})
	if err != nil {
		return nil, err
	}
	r, err := br.Query()
	if err != nil {
		br.Close()
		return nil, w.fail(err)
	}
	return &writeRows{Rows: r, w: w, br: br}, nil
}

// writeRows are the rows of a write transaction's query: closing them closes
// the batch they came in and records a failure.
type writeRows struct {
	pgx.Rows
	w  *writeConn
	br pgx.BatchResults
}

func (r *writeRows) Close() error {
	r.Rows.Close()
	err := r.Rows.Err()
	if r.br != nil {
		if cerr := r.br.Close(); err == nil {
			err = cerr
		}
		r.br = nil
	}
	if err != nil {
		r.w.fail(err)
	}
	return nil
}

// commit sends the queued statements and COMMIT in one round trip.
func (w *writeConn) commit(ctx context.Context) error {
	if w.failed != nil {
		return w.failed
	}
	br, err := w.send(ctx, sqlcore.Stmt{SQL: "COMMIT"})
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() != "COMMIT" {
		err = errors.New("postgres: the transaction was rolled back at commit")
	}
	if err != nil {
		return w.fail(err)
	}
	w.begun = false
	return nil
}

// rollback ends a transaction that will not commit. If ROLLBACK cannot be
// sent the connection still has the transaction open, and Release closes it.
func (w *writeConn) rollback(ctx context.Context) {
	w.pending = nil
	if !w.begun {
		return
	}
	w.begun = false
	_, _ = w.c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
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
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) (err error) {
	if s.obs != nil {
		start := time.Now()
		defer func() { s.obs.ObserveTransaction(true, err, start) }()
	}
	var fromFn bool
	for attempt := 0; ; attempt++ {
		fromFn, err = s.once(ctx, fn)
		if err == nil || !isRetryable(err) || attempt >= s.retries || ctx.Err() != nil {
			break
		}
		s.obs.ObserveRetry("conflict")
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
	waited := time.Now()
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	s.obs.ObserveLockWait(waited)
	// Release closes the connection instead of pooling it if a transaction
	// is still open on it (say, ROLLBACK could not be sent).
	defer pc.Release()
	w := newWriteConn(pc.Conn())
	stx := &sqlcore.Tx{C: w, D: dialect, Writable: true}
	if err := fn(stx); err != nil {
		w.rollback(ctx)
		return true, err
	}
	// Write back the chain heads this transaction moved and commit, in the
	// same round trip as the last writes.
	stx.Finish()
	if err := w.commit(ctx); err != nil {
		w.rollback(ctx)
		return false, err
	}
	return false, nil
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

// SealPending implements storage.Sealer: it seals each company that has
// committed events outside its chain, skipping a company whose head another
// transaction holds.
func (s *Store) SealPending(ctx context.Context) (int, error) {
	var companies []string
	err := s.View(ctx, func(tx storage.Tx) error {
		var err error
		companies, err = tx.(*sqlcore.Tx).UnlinkedCompanies(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	sealed := 0
	for _, c := range companies {
		var linked bool
		err := s.Update(ctx, func(tx storage.Tx) error {
			var err error
			linked, err = tx.(*sqlcore.Tx).Seal(ctx, c, true)
			return err
		})
		if err != nil {
			return sealed, err
		}
		if linked {
			sealed++
		}
	}
	return sealed, nil
}

// View implements storage.Store.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) (err error) {
	if s.obs != nil {
		start := time.Now()
		defer func() { s.obs.ObserveTransaction(false, err, start) }()
	}
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
