package bench

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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
		b.Run(prefix+"base-tx", func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "bare.db")
			s, err := sqlite.Open(path) // the store's schema: events table, indexes
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			q := url.Values{}
			q.Add("_pragma", "busy_timeout(5000)")
			q.Add("_pragma", "foreign_keys(1)")
			q.Add("_pragma", "journal_mode(WAL)")
			q.Add("_pragma", "synchronous("+string(sync)+")")
			db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			c, err := db.Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if _, err := c.ExecContext(ctx, `CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counters VALUES ('p1', 0)`); err != nil {
				b.Fatal(err)
			}
			upd, err := c.PrepareContext(ctx, `UPDATE counters SET n = n + 1 WHERE id = ?`)
			if err != nil {
				b.Fatal(err)
			}
			ins, err := c.PrepareContext(ctx, `INSERT INTO events (id, company, "time", "type", "count", actor, subject) VALUES (?, 'acme', ?, 'pool.allocated', 1, 'bench@acme.example', 'p1')`)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
					b.Fatal(err)
				}
				if _, err := upd.ExecContext(ctx, "p1"); err != nil {
					b.Fatal(err)
				}
				if _, err := ins.ExecContext(ctx, license.NewID(), time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")); err != nil {
					b.Fatal(err)
				}
				if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
