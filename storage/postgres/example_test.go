package postgres_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
)

// countAllocation opens the PostgreSQL database at dsn (its schema is
// migrated at Open), stores a pool record, then counts an allocation on it
// the way services do (lock, read, modify, write, in one transaction), and
// prints the record read back.
func countAllocation(ctx context.Context, w io.Writer, dsn string, opts ...postgres.Option) error {
	s, err := postgres.Open(ctx, dsn, append([]postgres.Option{postgres.WithMaxConns(16)}, opts...)...)
	if err != nil {
		return err // e.g. licensekit unavailable: postgres: cannot reach the database at ...
	}
	defer s.Close()
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Record{Company: "acme", Kind: "pool", ID: "p1", Data: []byte(`{"allocated":0}`)})
	})
	if err != nil {
		return err
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, "acme", "pool", "p1") // row lock until commit
		if err != nil {
			return err
		}
		r.Data = []byte(`{"allocated":1}`)
		return tx.Put(ctx, r)
	})
	if err != nil {
		return err
	}
	return s.View(ctx, func(tx storage.Tx) error {
		r, err := tx.Get(ctx, "acme", "pool", "p1")
		if err == nil {
			fmt.Fprintln(w, string(r.Data), "version", r.Version)
		}
		return err
	})
}

// Open a PostgreSQL database and run read-modify-write operations in
// transactions. With DATABASE_URL naming an empty database this prints
//
//	{"allocated":1} version 2
//
// (the package's tests run countAllocation against their own database and
// check that output).
func ExampleOpen() {
	if err := countAllocation(context.Background(), os.Stdout, os.Getenv("DATABASE_URL")); err != nil {
		fmt.Println(err)
	}
}
