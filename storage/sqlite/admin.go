package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/url"
	"os"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

// SchemaVersion reports the schema version of the database file at path
// (0 for a missing file or one licensekit never opened) and the newest
// version this code knows. It opens the file read-only and changes nothing:
// Open is what migrates. A current version above known is a file written by
// a newer licensekit, which Open refuses.
func SchemaVersion(ctx context.Context, path string) (current, known int, err error) {
	migs, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return 0, 0, license.Wrap(license.Internal, err, "sqlite: embedded migrations")
	}
	known = len(migs)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, known, nil
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", dsn(path, q))
	if err != nil {
		return 0, known, mapError(err, "open "+path)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, known, mapError(err, "read "+path)
	}
	if tables == 0 {
		return 0, known, nil
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, known, mapError(err, "read the schema version of "+path)
	}
	return current, known, nil
}

// Backup writes a consistent copy of the database to the new file path with
// VACUUM INTO, while the store stays open: readers go on, writers wait for
// the copy (it holds the writer connection). The copy is compacted and is a
// database Open accepts. An existing file at path is refused.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return license.Errorf(license.Conflict, "path", "sqlite: %s exists; a backup never overwrites a file", path)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wc == nil {
		return license.Errorf(license.Unavailable, "", "sqlite: store is closed")
	}
	if _, err := s.wc.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return mapError(err, "back up to "+path)
	}
	return nil
}
