package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

// Direct reads.
//
// database/sql costs about a third of a short read transaction on SQLite:
// its bookkeeping of connections and statements, a statement wrapper per
// query in a transaction and a wrapper per row set (8.4 µs against 5.5 µs
// for one point read in its own read transaction, measured with both on one
// file). Read transactions are most of what the store runs (every request's
// key and role, every refusal of a full pool, every validation), so View
// runs its transaction on the read pool's driver connection itself
// (sql.Conn.Raw), through the driver's own statements, and reads each row
// straight into the caller's variables. database/sql still owns the pool:
// it opens, hands out, checks and closes the connections.
//
// Each read connection keeps the statements of the point reads and lists
// (sqlcore.KeyedStatements) prepared once, for its life: readConn finalizes
// them when database/sql closes the connection. A statement whose rows are
// still being read is not run again underneath them: a nested query of the
// same text gets a statement of its own for that one use.

// readConnector opens the read pool's connections as readConns.
type readConnector struct{ driver.Connector }

func (c readConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &readConn{Conn: dc}, nil
}

func newReadConnector(dsn string) (driver.Connector, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return readConnector{c}, nil
}

// readConn is a read pool connection with the statements prepared on it.
// database/sql uses it one goroutine at a time.
type readConn struct {
	driver.Conn
	stmts map[string]*keptStmt
	open  []*directRows // row sets not yet closed, closed at the end of each View
}

type keptStmt struct {
	st   driver.Stmt
	busy bool // its rows are open
}

// The interfaces database/sql and direct reads use, passed to the driver's
// connection, which has them all.
func (c *readConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *readConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c *readConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *readConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *readConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *readConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *readConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

// Close finalizes the kept statements, then closes the connection.
func (c *readConn) Close() error {
	var errs []error
	for _, k := range c.stmts {
		errs = append(errs, k.st.Close())
	}
	c.stmts = nil
	errs = append(errs, c.Conn.Close())
	return errors.Join(errs...)
}

// viewDirect is View on the driver connection (see above).
func (s *Store) viewDirect(ctx context.Context, fn func(storage.Tx) error) error {
	c, err := s.r.Conn(ctx)
	if err != nil {
		return mapError(err, "begin read")
	}
	defer c.Close()
	var fnErr error
	err = c.Raw(func(dc any) error {
		rc, ok := dc.(*readConn)
		if !ok {
			return fmt.Errorf("sqlite: read connection is a %T", dc)
		}
		tx, err := rc.BeginTx(ctx, driver.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		fnErr = fn(&sqlcore.Tx{C: directConn{rc, s}, D: dialect})
		for len(rc.open) > 0 { // rows fn left open must not outlive its transaction
			rc.open[0].Close()
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return mapError(err, "begin read")
}

// directConn adapts a readConn in a read transaction to sqlcore.Conn.
type directConn struct {
	c *readConn
	s *Store
}

func (d directConn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	nv, err := namedValues(args)
	if err != nil {
		return 0, err
	}
	res, err := d.c.ExecContext(ctx, q, nv)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (d directConn) Query(ctx context.Context, q string, args ...any) (sqlcore.Rows, error) {
	nv, err := namedValues(args)
	if err != nil {
		return nil, err
	}
	k := d.c.stmts[q]
	var st driver.Stmt
	if k != nil && !k.busy {
		st = k.st
	} else {
		if st, err = d.c.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		if k == nil && d.s.readSQL[q] {
			if d.c.stmts == nil {
				d.c.stmts = map[string]*keptStmt{}
			}
			k = &keptStmt{st: st}
			d.c.stmts[q] = k
		} else {
			k = nil // a statement for this one use
		}
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, nv)
	if err != nil {
		if k == nil {
			st.Close()
		}
		return nil, err
	}
	r := &directRows{rows: rows, dest: make([]driver.Value, len(rows.Columns())), conn: d.c}
	d.c.open = append(d.c.open, r)
	if k != nil {
		k.busy = true
		r.kept = k
	} else {
		r.own = st
	}
	return r, nil
}

// namedValues converts arguments as database/sql does for a driver without
// a converter of its own.
func namedValues(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("sqlite: argument %d: %w", i+1, err)
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv, nil
}

// directRows reads a driver's rows into the caller's variables.
type directRows struct {
	rows   driver.Rows
	dest   []driver.Value
	err    error
	kept   *keptStmt   // the kept statement these rows hold
	own    driver.Stmt // or the statement prepared for them alone
	conn   *readConn
	closed bool
}

func (r *directRows) Next() bool {
	if r.closed || r.err != nil {
		return false
	}
	if err := r.rows.Next(r.dest); err != nil {
		if err != io.EOF {
			r.err = err
		}
		r.Close()
		return false
	}
	return true
}

func (r *directRows) Err() error { return r.err }

func (r *directRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	for i, o := range r.conn.open {
		if o == r {
			r.conn.open = append(r.conn.open[:i], r.conn.open[i+1:]...)
			break
		}
	}
	err := r.rows.Close()
	if r.kept != nil {
		r.kept.busy = false
	}
	if r.own != nil {
		err = errors.Join(err, r.own.Close())
	}
	return err
}

func (r *directRows) Scan(dest ...any) error {
	if len(dest) != len(r.dest) {
		return fmt.Errorf("sqlite: %d destinations for %d columns", len(dest), len(r.dest))
	}
	for i, d := range dest {
		if err := assign(d, r.dest[i]); err != nil {
			return fmt.Errorf("sqlite: column %d: %w", i+1, err)
		}
	}
	return nil
}

// assign stores src, a value the driver read, in dst, the way database/sql's
// Scan does for the types the store reads: text, blobs, integers, reals,
// booleans, nullable integers and sql.Scanners. Blobs are copied.
func assign(dst any, src driver.Value) error {
	switch d := dst.(type) {
	case *string:
		switch v := src.(type) {
		case string:
			*d = v
			return nil
		case []byte:
			*d = string(v)
			return nil
		case int64:
			*d = strconv.FormatInt(v, 10)
			return nil
		case time.Time:
			*d = v.Format(time.RFC3339Nano)
			return nil
		}
	case *[]byte:
		switch v := src.(type) {
		case nil:
			*d = nil
			return nil
		case []byte:
			*d = bytes.Clone(v)
			return nil
		case string:
			*d = []byte(v)
			return nil
		}
	case *int64:
		if v, ok := src.(int64); ok {
			*d = v
			return nil
		}
	case *int:
		if v, ok := src.(int64); ok {
			*d = int(v)
			return nil
		}
	case *float64:
		switch v := src.(type) {
		case float64:
			*d = v
			return nil
		case int64:
			*d = float64(v)
			return nil
		}
	case *bool:
		if v, ok := src.(int64); ok {
			*d = v != 0
			return nil
		}
	case **int64:
		switch v := src.(type) {
		case nil:
			*d = nil
			return nil
		case int64:
			*d = &v
			return nil
		}
	case *any:
		if b, ok := src.([]byte); ok {
			src = bytes.Clone(b)
		}
		*d = src
		return nil
	case sql.Scanner:
		if b, ok := src.([]byte); ok {
			src = bytes.Clone(b)
		}
		return d.Scan(src)
	}
	return fmt.Errorf("cannot store a %T in a %T", src, dst)
}
