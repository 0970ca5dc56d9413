package bench

import (
	"context"
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
