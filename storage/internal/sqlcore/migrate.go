package sqlcore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Migration is one numbered schema change, applied in its own transaction.
type Migration struct {
	Version int
	Name    string
	SQL     string
	// Go, when set, runs after SQL in the same transaction: the part of a
	// migration that needs Go (computing a column the way the store computes
	// it at write time). AttachGoSteps sets it.
	Go func(ctx context.Context, c Conn) error
}

// goSteps are the Go parts of migrations, by migration name without its number.
var goSteps = map[string]func(ctx context.Context, c Conn) error{
	"event_search": backfillEventSearch,
}

// AttachGoSteps sets the Go step of each migration that has one (by its name
// without the number, the same in every store).
func AttachGoSteps(migs []Migration) {
	for i := range migs {
		_, name, _ := strings.Cut(migs[i].Name, "_")
		migs[i].Go = goSteps[name]
	}
}

// backfillBatch is how many events backfillEventSearch reads per query.
const backfillBatch = 512

// backfillEventSearch sets the search column of every event to
// eventlog.SearchText, as AppendEvent writes it. The migration's SQL has
// already filled it with SQL's lower() of the fields, which is right for
// ASCII text; only the events where Go's folding differs are rewritten.
func backfillEventSearch(ctx context.Context, c Conn) error {
	type fix struct {
		seq    int64
		search string
	}
	var after int64
	for {
		rows, err := c.Query(ctx, `SELECT seq, "type", source, target, "count", actor, subject, search FROM events WHERE seq > $1 ORDER BY seq LIMIT `+strconv.Itoa(backfillBatch), after)
		if err != nil {
			return err
		}
		var fixes []fix
		n := 0
		for rows.Next() {
			var e eventlog.Event
			var typ, cur string
			if err := rows.Scan(&e.Seq, &typ, &e.Source, &e.Target, &e.Count, &e.Actor, &e.Subject, &cur); err != nil {
				rows.Close()
				return err
			}
			e.Type = eventlog.Type(typ)
			n++
			after = e.Seq
			if want := storage.SearchText(e); want != cur {
				fixes = append(fixes, fix{e.Seq, want})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range fixes {
			if _, err := c.Exec(ctx, `UPDATE events SET search = $1 WHERE seq = $2`, f.search, f.seq); err != nil {
				return err
			}
		}
		if n < backfillBatch {
			return nil
		}
	}
}

// LoadMigrations reads dir of fsys: files named NNNN_name.sql, numbered 1, 2, 3 ...
// without gaps.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.Name, i+1)
		}
	}
	return out, nil
}

// CreateMigrationsTable is the statement that creates the table recording
// applied migrations.
const CreateMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`

// RunTx runs fn in one read-write transaction and commits if it returns nil.
type RunTx func(ctx context.Context, fn func(c Conn) error) error

// Migrate applies the migrations not yet recorded in schema_migrations, each
// in its own transaction opened by run. lock, when set, is executed first in
// each transaction (PostgreSQL: LOCK TABLE schema_migrations IN EXCLUSIVE MODE)
// so that two processes opening one database do not both migrate. A database
// whose schema is newer than the newest migration is refused.
func Migrate(ctx context.Context, d *Dialect, run RunTx, lock string, migs []Migration) error {
	current := func(ctx context.Context, c Conn) (int, error) {
		rows, err := c.Query(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var v int
		if rows.Next() {
			if err := rows.Scan(&v); err != nil {
				return 0, err
			}
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if v > len(migs) {
			return v, license.Errorf(license.Internal, "", "%s: the database schema is at version %d, newer than this licensekit knows (%d); open it with a newer licensekit",
				d.Name, v, len(migs))
		}
		return v, nil
	}
	for _, m := range migs {
		err := run(ctx, func(c Conn) error {
			if lock != "" {
				if _, err := c.Exec(ctx, lock); err != nil {
					return err
				}
			}
			v, err := current(ctx, c)
			if err != nil || v >= m.Version {
				return err
			}
			if _, err := c.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if m.Go != nil {
				if err := m.Go(ctx, c); err != nil {
					return fmt.Errorf("migration %s: %w", m.Name, err)
				}
			}
			_, err = c.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return err
		}
	}
	// Check a database already at (or beyond) the newest version too.
	return run(ctx, func(c Conn) error {
		_, err := current(ctx, c)
		return err
	})
}
