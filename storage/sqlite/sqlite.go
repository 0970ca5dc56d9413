package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Synchronous is SQLite's synchronous setting for the database file.
type Synchronous string

// Synchronous settings.
const (
	// Full makes every commit durable before Update returns (the default).
	Full Synchronous = "FULL"
	// Normal (in WAL mode) may lose the last commits on power loss, never
	// consistency; an application crash loses nothing.
	Normal Synchronous = "NORMAL"
)

type config struct {
	sync        Synchronous
	busyTimeout time.Duration
	readers     int
	retries     int
	group       bool
	cache       bool
	direct      bool
	observer    *storage.Observer
}

// Option configures Open.
type Option func(*config)

// WithSynchronous sets the synchronous mode (Full by default).
func WithSynchronous(s Synchronous) Option { return func(c *config) { c.sync = s } }

// WithBusyTimeout sets how long a transaction waits for another process's write
// lock before it is retried (5s by default).
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithGroupCommit turns group commit on (the default) or off. With it on,
// concurrent Updates share one SQLite transaction, each in a savepoint of its
// own, and one COMMIT (see Store.Update); off, every Update is a transaction
// of its own.
func WithGroupCommit(on bool) Option { return func(c *config) { c.group = on } }

// WithWriterCache turns the writer cache on (the default) or off. It applies
// with group commit on: the writer connection then serves the point reads of
// its transactions (a record by key, the last event hash of a company) from
// what it last read or wrote, which stays current as long as no other
// connection commits, and drops it all when one did (see writerCache).
func WithWriterCache(on bool) Option { return func(c *config) { c.cache = on } }

// WithDirectReads turns direct reads on (the default) or off. On, a read
// transaction (View) runs on the read connection's SQLite driver directly,
// with the point reads and lists prepared once per connection; off, it runs
// through database/sql, which costs about a third more per short read (see
// viewDirect).
func WithDirectReads(on bool) Option { return func(c *config) { c.direct = on } }

// WithObserver reports the store's transactions, retries, group-commit batch
// sizes and writer waits to o (for metrics).
func WithObserver(o storage.Observer) Option { return func(c *config) { c.observer = &o } }

// WithReaders sets the number of read connections (4 by default).
func WithReaders(n int) Option { return func(c *config) { c.readers = n } }

// Store is a storage.Store on one SQLite file.
type Store struct {
	path    string
	w       *sql.DB // the writer's pool: one connection
	r       *sql.DB // query_only connections for View
	retries int
	obs     *storage.Observer // nil: none

	wmu   sync.Mutex // serialises write transactions on wc
	wc    *sql.Conn  // the writer connection; transactions begin IMMEDIATE on it
	stmts map[string]*sql.Stmt

	rstmts  map[string]*sql.Stmt // the read pool's prepared statements, fixed at Open (see readStmt)
	direct  bool                 // View runs on the driver connection (see viewDirect)
	readSQL map[string]bool      // the point reads and lists (sqlcore.KeyedStatements) kept prepared for reads

	group      bool                  // group commit on (see groupTx)
	cache      *writerCache          // the writer cache (see writerCache); nil: off
	gc         group                 // the writers waiting for their turn
	batchAge   time.Duration         // how long a batch admits callers (maxBatchAge)
	failCommit atomic.Pointer[error] // test hook: fails group COMMITs with this error
	commits    atomic.Int64          // group COMMITs that succeeded
}

// maxStmts bounds the writer's prepared-statement cache (event queries vary
// with their filter).
const maxStmts = 128

var _ storage.Store = (*Store)(nil)

var dialect = &sqlcore.Dialect{
	Name:              "sqlite",
	ForUpdate:         "",
	Error:             mapError,
	IsUniqueViolation: isUnique,
	SerialWriters:     true,
	IndexedBy:         true,
}

func sqliteCode(err error) (int, bool) {
	var se *msqlite.Error
	if errors.As(err, &se) {
		return se.Code(), true
	}
	return 0, false
}

func isUnique(err error) bool {
	c, ok := sqliteCode(err)
	return ok && (c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func isBusy(err error) bool {
	c, ok := sqliteCode(err)
	return ok && (c&0xff == sqlite3.SQLITE_BUSY || c&0xff == sqlite3.SQLITE_LOCKED)
}

func mapError(err error, what string) error {
	if err == nil {
		return nil
	}
	var le *license.Error
	if errors.As(err, &le) {
		return err
	}
	c, ok := sqliteCode(err)
	switch {
	case isUnique(err):
		return license.Wrap(license.Conflict, err, "sqlite: %s: duplicate key", what)
	case ok && (c&0xff == sqlite3.SQLITE_BUSY || c&0xff == sqlite3.SQLITE_LOCKED):
		return license.Wrap(license.Unavailable, err, "sqlite: %s: the database is busy; retry", what)
	case ok && (c&0xff == sqlite3.SQLITE_NOTADB || c&0xff == sqlite3.SQLITE_CORRUPT):
		return license.Wrap(license.Internal, err, "sqlite: %s: the file is not a licensekit SQLite database or it is corrupted", what)
	case ok && (c&0xff == sqlite3.SQLITE_CANTOPEN || c&0xff == sqlite3.SQLITE_IOERR || c&0xff == sqlite3.SQLITE_FULL || c&0xff == sqlite3.SQLITE_READONLY):
		return license.Wrap(license.Unavailable, err, "sqlite: %s: cannot read or write the database file", what)
	case errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return license.Wrap(license.Unavailable, err, "sqlite: %s", what)
	}
	return license.Wrap(license.Internal, err, "sqlite: %s", what)
}

func dsn(path string, q url.Values) string {
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. It returns a *license.Error when the file is not a
// licensekit SQLite database, is corrupted, or was written by a newer version.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := config{sync: Full, busyTimeout: 5 * time.Second, readers: 4, retries: 10, group: true, cache: true, direct: true}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.sync != Full && cfg.sync != Normal {
		return nil, license.Errorf(license.Invalid, "synchronous", "sqlite: synchronous must be FULL or NORMAL, not %q", cfg.sync)
	}
	if cfg.readers < 1 {
		cfg.readers = 1
	}
	busy := strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10)
	wq := url.Values{}
	wq.Add("_pragma", "busy_timeout("+busy+")")
	wq.Add("_pragma", "foreign_keys(1)")
	wq.Add("_pragma", "synchronous("+string(cfg.sync)+")")
	w, err := sql.Open("sqlite", dsn(path, wq))
	if err != nil {
		return nil, mapError(err, "open "+path)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, w: w, retries: cfg.retries, stmts: map[string]*sql.Stmt{}, rstmts: map[string]*sql.Stmt{}, group: cfg.group, batchAge: maxBatchAge, obs: cfg.observer}
	if cfg.group && cfg.cache {
		s.cache = newWriterCache()
	}
	ctx := context.Background()
	if err := s.setup(ctx); err != nil {
		s.closeWriter()
		return nil, err
	}
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "foreign_keys(1)")
	rq.Add("_pragma", "query_only(1)")
	rc, err := newReadConnector(dsn(path, rq))
	if err != nil {
		w.Close()
		return nil, mapError(err, "open "+path)
	}
	r := sql.OpenDB(rc)
	r.SetMaxOpenConns(cfg.readers)
	r.SetMaxIdleConns(cfg.readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, mapError(err, "open "+path+" for reading")
	}
	s.direct, s.readSQL = cfg.direct, map[string]bool{}
	for _, ks := range sqlcore.KeyedStatements(dialect.IndexedBy) {
		if strings.HasPrefix(ks.SQL, "SELECT") {
			s.readSQL[ks.SQL] = true
		}
	}
	if !s.direct {
		s.prepareReads(ctx)
	}
	return s, nil
}

// setup sets WAL mode, refuses foreign files and applies the migrations.
func (s *Store) setup(ctx context.Context) (err error) {
	defer func() {
		// The SQLite library must never bring the process down over a bad file.
		if p := recover(); p != nil {
			err = license.Errorf(license.Internal, "", "sqlite: cannot open %s: %v", s.path, p)
		}
	}()
	if fi, err := os.Stat(s.path); err == nil && fi.IsDir() {
		return license.Errorf(license.Invalid, "path", "sqlite: %s is a directory, not a database file", s.path)
	}
	wc, err := s.w.Conn(ctx)
	if err != nil {
		return s.openErr(err)
	}
	s.wc = wc
	var mode string
	if err := s.wc.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return s.openErr(err)
	}
	if mode != "wal" {
		return license.Errorf(license.Internal, "", "sqlite: %s: cannot switch to WAL mode (got %q)", s.path, mode)
	}
	var check string
	if err := s.wc.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&check); err != nil {
		return s.openErr(err)
	}
	if check != "ok" {
		return license.Errorf(license.Internal, "", "sqlite: %s is corrupted: %s", s.path, check)
	}
	migs, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return license.Wrap(license.Internal, err, "sqlite: embedded migrations")
	}
	sqlcore.AttachGoSteps(migs)
	first := true
	err = sqlcore.Migrate(ctx, dialect, func(ctx context.Context, fn func(sqlcore.Conn) error) error {
		return s.inTx(ctx, func(c sqlcore.Conn) error {
			if first {
				first = false
				if err := s.refuseForeign(ctx, c); err != nil {
					return err
				}
			}
			if _, err := c.Exec(ctx, sqlcore.CreateMigrationsTable); err != nil {
				return err
			}
			return fn(c)
		})
	}, "", migs)
	if err != nil {
		return s.openErr(err)
	}
	return nil
}

// refuseForeign fails when the file holds tables but no schema_migrations: it
// belongs to another application.
func (s *Store) refuseForeign(ctx context.Context, c sqlcore.Conn) error {
	var ours, others int
	rows, err := c.Query(ctx, `SELECT
		(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'),
		(SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\')`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&ours, &others); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if ours == 0 && others > 0 {
		return license.Errorf(license.Internal, "", "sqlite: %s is an SQLite database of another application (it has tables but no licensekit schema); refusing to change it", s.path)
	}
	return nil
}

func (s *Store) openErr(err error) error {
	var le *license.Error
	if errors.As(err, &le) {
		return err
	}
	return mapError(err, "open "+s.path)
}

// inTx runs fn in one write transaction (no retry) on the writer connection.
func (s *Store) inTx(ctx context.Context, fn func(sqlcore.Conn) error) (err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wc == nil {
		return license.Errorf(license.Unavailable, "", "sqlite: store is closed")
	}
	if _, err := s.wc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			// Also on panic: leave the connection outside any transaction.
			_, _ = s.wc.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := fn(writer{s}); err != nil {
		return err
	}
	// COMMIT whatever ctx says: a COMMIT interrupted by a context that ends
	// meanwhile may have committed and still report the context's error.
	if _, err := s.wc.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		return err
	}
	done = true
	return nil
}

// stmt returns the writer's prepared statement for q. Called with wmu held.
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	st, err := s.wc.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(s.stmts) >= maxStmts {
		for k, old := range s.stmts {
			old.Close()
			delete(s.stmts, k)
			break
		}
	}
	s.stmts[q] = st
	return st, nil
}

// writer is the sqlcore.Conn of a write transaction: statements prepared once
// on the writer connection.
type writer struct{ s *Store }

func (w writer) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := w.s.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (w writer) Query(ctx context.Context, q string, args ...any) (sqlcore.Rows, error) {
	st, err := w.s.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// conn adapts *sql.Tx to sqlcore.Conn (read transactions).
type conn struct {
	tx *sql.Tx
	s  *Store
}

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqlcore.Rows, error) {
	if st := c.s.readStmt(q); st != nil {
		// database/sql keeps the statement prepared on each read
		// connection that ran it: SQLite parses q once per connection.
		return c.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return c.tx.QueryContext(ctx, q, args...)
}

// readStmt returns the read pool's prepared statement for q, or nil when q
// is not one of those prepared at Open (the caller then runs q directly).
// The set is fixed at Open: preparing on the pool takes a connection of its
// own, which a read transaction must never wait for while it holds one (with
// every reader busy, that waits forever).
func (s *Store) readStmt(q string) *sql.Stmt { return s.rstmts[q] }

// prepareReads prepares the point reads and lists of records (readSQL) on
// the read pool: the queries of nearly every View.
func (s *Store) prepareReads(ctx context.Context) {
	for q := range s.readSQL {
		if st, err := s.r.PrepareContext(ctx, q); err == nil {
			s.rstmts[q] = st
		}
	}
}

// Update implements storage.Store. fn may run more than once when the database
// stays busy beyond the busy timeout (another process holding the write lock),
// or, with group commit, when the shared transaction was lost through no fault
// of fn (see groupTx).
//
// With group commit (the default), Updates that arrive while another is in
// progress share its transaction: each caller's fn runs in a savepoint of its
// own, on the caller's goroutine, one after the other; a caller whose fn fails
// (returns an error, panics) is rolled back to its savepoint alone, while the
// others' work stays, and gets its error once the batch has ended (its error
// may rest on the work of the callers before it, which nobody may see before
// it is committed); every caller whose fn succeeded returns only after the
// shared COMMIT succeeded, so its durability is that of a transaction of its
// own. A caller whose ctx ends while it waits for its turn leaves the queue
// at once, and its fn does not run. When the COMMIT fails, every caller of the batch
// gets the error, as each would have alone (a busy database is then retried by
// each caller, as without group commit).
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) (err error) {
	start := time.Now()
	defer func() { s.obs.ObserveTransaction(true, err, start) }()
	var fromFn bool
	run := s.inTx
	if s.group {
		run = s.groupTx
	}
	for attempt := 0; ; attempt++ {
		fromFn = false
		err = run(ctx, func(c sqlcore.Conn) error {
			tx := &sqlcore.Tx{C: c, D: dialect, Writable: true}
			if s.cache != nil { // only with group commit (see Open)
				tx.Cache = s.cache
			}
			err := fn(tx)
			fromFn = err != nil
			return err
		})
		if err != nil && !fromFn && errors.Is(err, errBatchLost) {
			if attempt >= s.retries || ctx.Err() != nil {
				return license.Wrap(license.Unavailable, err, "sqlite: update")
			}
			s.obs.ObserveRetry("batch_lost")
			continue // another caller's failure lost the batch: run again at once
		}
		if err == nil || !isBusy(err) || attempt >= s.retries || ctx.Err() != nil {
			break
		}
		s.obs.ObserveRetry("busy")
		backoff := time.Duration(1+rand.IntN(10)) * time.Millisecond << min(attempt, 5)
		select {
		case <-ctx.Done():
			return license.Wrap(license.Unavailable, ctx.Err(), "sqlite: context done while retrying a busy transaction")
		case <-time.After(backoff):
		}
	}
	if err == nil || fromFn {
		return err // fn's own error, unchanged
	}
	return mapError(err, "update")
}

// View implements storage.Store.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) (err error) {
	if s.obs != nil {
		start := time.Now()
		defer func() { s.obs.ObserveTransaction(false, err, start) }()
	}
	if s.direct {
		return s.viewDirect(ctx, fn)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapError(err, "begin read")
	}
	defer tx.Rollback()
	if err := fn(&sqlcore.Tx{C: conn{tx, s}, D: dialect}); err != nil {
		return err
	}
	return nil
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return mapError(err, "ping")
	}
	return nil
}

// Close implements storage.Store.
func (s *Store) Close() error {
	var errs []error
	for _, st := range s.rstmts {
		errs = append(errs, st.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.closeWriter())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) closeWriter() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = map[string]*sql.Stmt{}
	if s.wc != nil {
		errs = append(errs, s.wc.Close())
		s.wc = nil
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}
