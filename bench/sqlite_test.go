package bench

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// BenchmarkSQLiteAllocate measures committed allocations (pool.Service.Allocate
// of one license to a new asset on storage/sqlite) beside a bare
// modernc.org/sqlite loop on a file with the same pragmas (WAL, busy_timeout,
// foreign_keys, synchronous): BEGIN IMMEDIATE; UPDATE one row; INSERT one
// event row; COMMIT, with prepared statements on one connection. Both at
// synchronous FULL and NORMAL. Target: the service at least half the
// baseline's rate (its ns/op at most 2x).
func BenchmarkSQLiteAllocate(b *testing.B) {
	for _, sync := range []sqlite.Synchronous{sqlite.Full, sqlite.Normal} {
		prefix := "sync=" + string(sync) + "/"
		b.Run(prefix+"service", func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sync))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			svc := &pool.Service{Store: s}
			a := owner()
			id := newPool(b, svc, a, license.InstalledInstance, pool.MaxCount)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := svc.Allocate(ctx, a, id, pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc-" + strconv.Itoa(i)}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(prefix+"base-tx", func(b *testing.B) { bareSQLiteLoop(b, sync) })
	}
}

// BenchmarkSQLiteValidate measures pool.Service.Validate of a consumer that
// holds its allocation, on storage/sqlite (one read transaction: the pool,
// the allocation, the counts), beside base-read: a bare read transaction on
// the same file of one row by primary key (BEGIN; SELECT data FROM records
// WHERE company, kind, id; COMMIT) with a prepared statement on a read
// connection, the pool's own row. Target: Validate within 2x base-read.
func BenchmarkSQLiteValidate(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "validate.db")
	s, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	svc := &pool.Service{Store: s}
	a := owner()
	id := newPool(b, svc, a, license.InstalledInstance, 10)
	c := license.Consumer{Asset: "pc-1"}
	if _, err := svc.Allocate(ctx, a, id, pool.AllocateRequest{Consumer: c}); err != nil {
		b.Fatal(err)
	}
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := svc.Validate(ctx, a, id, license.ValidationRequest{Consumer: c})
			if err != nil || !v.Valid {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("base-read", func(b *testing.B) {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "query_only(1)")
		db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		st, err := db.PrepareContext(ctx, `SELECT data FROM records WHERE company = ? AND kind = ? AND id = ?`)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		b.ReportAllocs()
		for b.Loop() {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			var data []byte
			if err := tx.StmtContext(ctx, st).QueryRowContext(ctx, a.Company, string(pool.KindPool), id).Scan(&data); err != nil || len(data) == 0 {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
