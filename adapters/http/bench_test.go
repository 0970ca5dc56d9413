package http_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// benchStores are the stores the HTTP benchmarks compare on.
func benchStores(b *testing.B) map[string]func() storage.Store {
	return map[string]func() storage.Store{
		"memory": func() storage.Store { return memory.New() },
		"sqlite": func() storage.Store {
			s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sqlite.Normal))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
}

// leasePool makes a concurrent-user pool with plenty of seats.
func leasePool(b *testing.B, store storage.Store) (license.Actor, string) {
	ctx := context.Background()
	actor := license.Actor{Company: license.NewID(), Email: "bench@acme.example", Role: license.Owner}
	svc := &pool.Service{Store: store}
	p, err := svc.Create(ctx, actor, pool.CreateRequest{Spec: pool.Spec{Name: "CAD", Model: license.Perpetual, Metric: license.ConcurrentUser, Software: []string{"cad"}, FormAllocations: true}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.AddTransaction(ctx, actor, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1_000_000}); err != nil {
		b.Fatal(err)
	}
	return actor, p.ID
}

// BenchmarkLeaseAcquireRelease compares a lease acquire+release pair made
// through the HTTP server (32 concurrent clients, keep-alive) with the same
// pair called directly on the pool service over the same store. The performance
// target: HTTP at least half the direct rate, without collapse at 32 clients.
func BenchmarkLeaseAcquireRelease(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name+"/direct", func(b *testing.B) {
			store := open()
			defer store.Close()
			actor, poolID := leasePool(b, store)
			svc := &pool.Service{Store: store}
			var n atomic.Int64
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				user := fmt.Sprintf("u%d", n.Add(1))
				for pb.Next() {
					l, err := svc.AcquireLease(ctx, actor, poolID, pool.LeaseRequest{Consumer: license.Consumer{User: user}})
					if err != nil {
						b.Error(err)
						return
					}
					if err := svc.ReleaseLease(ctx, actor, poolID, l.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(name+"/http", func(b *testing.B) {
			store := open()
			defer store.Close()
			actor, poolID := leasePool(b, store)
			key, err := lkhttp.IssueKey(context.Background(), store, nil, actor.Company, actor.Email, license.Owner, "", license.SystemEmail)
			if err != nil {
				b.Fatal(err)
			}
			h, err := lkhttp.New(lkhttp.Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var n atomic.Int64
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				user := fmt.Sprintf("u%d", n.Add(1))
				body := `{"consumer":{"user":"` + user + `"}}`
				for pb.Next() {
					req, _ := http.NewRequest("POST", srv.URL+"/v1/pools/"+poolID+"/leases", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key.Key)
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					var l pool.Lease
					err = decodeBody(res, &l)
					if err != nil || res.StatusCode != 201 {
						b.Errorf("acquire: %d %v", res.StatusCode, err)
						return
					}
					req, _ = http.NewRequest("DELETE", srv.URL+"/v1/pools/"+poolID+"/leases/"+l.ID, nil)
					req.Header.Set("Authorization", "Bearer "+key.Key)
					res, err = client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						b.Errorf("release: %d", res.StatusCode)
						return
					}
				}
			})
		})
	}
}
