package postgres_test

import (
	"context"
	"fmt"
	"os"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
)

// Open a PostgreSQL database (its schema is migrated at Open) and run an
// operation in one transaction.
func ExampleOpen() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithMaxConns(16))
	if err != nil {
		fmt.Println(err) // e.g. licensekit unavailable: postgres: cannot reach the database at ...
		return
	}
	defer s.Close()
	err = s.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, "acme", "pool", "p1") // row lock until commit
		if err != nil {
			return err
		}
		r.Data = []byte(`{"allocated":1}`)
		return tx.Put(ctx, r)
	})
	fmt.Println(err)
}
