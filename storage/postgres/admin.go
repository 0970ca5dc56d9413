package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

// SchemaVersion reports the schema version of the database at dsn (0 when
// licensekit never opened it) and the newest version this code knows,
// changing nothing: Open is what migrates. A current version above known is
// a database written by a newer licensekit, which Open refuses.
func SchemaVersion(ctx context.Context, dsn string) (current, known int, err error) {
	migs, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return 0, 0, license.Wrap(license.Internal, err, "postgres: embedded migrations")
	}
	known = len(migs)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, known, license.Errorf(license.Invalid, "dsn", "postgres: the connection string cannot be parsed")
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, known, license.Wrap(license.Unavailable, err, "postgres: cannot connect to %s", cfg.Host)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := c.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, known, mapError(err, "read the schema version")
	}
	if !exists {
		return 0, known, nil
	}
	if err := c.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, known, mapError(err, "read the schema version")
	}
	return current, known, nil
}
