package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// Open a database file, write a record in a transaction and read it back.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "licensekit-example")
	defer os.RemoveAll(dir)
	s, err := sqlite.Open(filepath.Join(dir, "licensekit.db"), sqlite.WithSynchronous(sqlite.Full))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Record{Company: "acme", Kind: "site", ID: "s1", Unique: "Helsinki", Data: []byte(`{"licenses":10}`)})
	})
	fmt.Println("update:", err)
	_ = s.View(ctx, func(tx storage.Tx) error {
		r, err := tx.GetByUnique(ctx, "acme", "site", "Helsinki")
		fmt.Println(r.ID, string(r.Data), r.Version, err)
		return nil
	})
	// Output:
	// update: <nil>
	// s1 {"licenses":10} 1 <nil>
}
