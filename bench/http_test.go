package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/bench/loadgen"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// httpStores are the stores the HTTP benchmarks run on.
var httpStores = []struct {
	name string
	open func(b *testing.B) storage.Store
}{
	{"memory", func(*testing.B) storage.Store { return memory.New() }},
	{"sqlite", func(b *testing.B) storage.Store {
		s, err := sqlite.Open(filepath.Join(b.TempDir(), "http.db"), sqlite.WithSynchronous(sqlite.Normal))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}},
}

// clientCounts are the numbers of concurrent clients of the HTTP benchmarks.
var clientCounts = []int{1, 8, 32}

// server is the reference API on a loopback listener over store, with an
// Owner key for a fresh company.
type server struct {
	store  storage.Store
	actor  license.Actor
	client func(conns int) *loadgen.Client
}

func newServer(b *testing.B, store storage.Store) server {
	b.Helper()
	ctx := context.Background()
	a := owner()
	if _, err := (&billing.Service{Store: store}).CreateCompany(ctx, a, "Bench MSP"); err != nil {
		b.Fatal(err)
	}
	key, err := lkhttp.IssueKey(ctx, store, nil, a.Company, a.Email, license.Owner, "bench", license.SystemEmail)
	if err != nil {
		b.Fatal(err)
	}
	h, err := lkhttp.New(lkhttp.Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return server{store: store, actor: a, client: func(conns int) *loadgen.Client { return loadgen.NewClient(srv.URL, key.Key, conns) }}
}

// seatWatch polls a pool's status while a run goes on and remembers the most
// seats it ever saw allocated, and whether that ever exceeded the total.
type seatWatch struct {
	peak, total atomic.Int64
	stop, done  chan struct{}
}

func watchSeats(b *testing.B, svc *pool.Service, a license.Actor, id string) *seatWatch {
	w := &seatWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			pane, err := svc.Status(context.Background(), a, id)
			if err != nil {
				b.Error(err)
				return
			}
			w.total.Store(pane.Counts.Total)
			if n := pane.Counts.Allocated; n > w.peak.Load() {
				w.peak.Store(n)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// check stops the watch and fails the benchmark when the pool ever held more
// leases than seats, as seen by the store or by the clients.
func (w *seatWatch) check(b *testing.B, clientPeak, seats int64) {
	b.Helper()
	close(w.stop)
	<-w.done
	if p := w.peak.Load(); p > seats || p > w.total.Load() {
		b.Fatalf("the store showed %d seats allocated; the pool has %d", p, seats)
	}
	if clientPeak > seats {
		b.Fatalf("clients held %d leases at once; the pool has %d seats", clientPeak, seats)
	}
	b.ReportMetric(float64(max(w.peak.Load(), clientPeak)), "peak-seats")
}

// BenchmarkHTTPLease measures concurrent-lease acquire+release pairs through
// the reference server (adapters/http on a loopback listener, keep-alive
// connections) from 1, 8 and 32 concurrent clients of the load generator,
// beside base-direct: the same pair called on pool.Service over the same store
// from as many goroutines. The pool has as many seats as clients; each run
// asserts that neither the store (polled every 2 ms) nor the clients ever saw
// more leases than seats, and that the pool's counters equal a recount
// afterwards. Targets: http at least half base-direct's rate; http at 32
// clients at least 0.8x its rate at 8.
func BenchmarkHTTPLease(b *testing.B) {
	for _, st := range httpStores {
		b.Run("store="+st.name, func(b *testing.B) {
			srv := newServer(b, st.open(b))
			svc := &pool.Service{Store: srv.store}
			for _, clients := range clientCounts {
				seats := int64(clients)
				pair := func(b *testing.B, acquire func(ctx context.Context, user string) (string, error), release func(ctx context.Context, lease string) error) {
					id := newPool(b, svc, srv.actor, license.ConcurrentUser, seats)
					var hw highWater
					watch := watchSeats(b, svc, srv.actor, id)
					runClients(b, clients, func(ctx context.Context, c int, _ int64) error {
						lease, err := acquire(ctx, id+"|u"+strconv.Itoa(c))
						if err != nil {
							return err
						}
						hw.add()
						hw.done()
						return release(ctx, id+"|"+lease)
					})
					watch.check(b, hw.peak.Load(), seats)
					checkPool(b, svc, srv.actor, id)
				}
				b.Run(name("clients=%d/http", clients), func(b *testing.B) {
					cl := srv.client(clients)
					pair(b, func(ctx context.Context, user string) (string, error) {
						id, u := split(user)
						return cl.AcquireLease(ctx, id, u)
					}, func(ctx context.Context, lease string) error {
						id, l := split(lease)
						return cl.ReleaseLease(ctx, id, l)
					})
				})
				b.Run(name("clients=%d/base-direct", clients), func(b *testing.B) {
					pair(b, func(ctx context.Context, user string) (string, error) {
						id, u := split(user)
						l, err := svc.AcquireLease(ctx, srv.actor, id, pool.LeaseRequest{Consumer: license.Consumer{User: u}})
						return l.ID, err
					}, func(ctx context.Context, lease string) error {
						id, l := split(lease)
						return svc.ReleaseLease(ctx, srv.actor, id, l)
					})
				})
			}
		})
	}
}

// split cuts "pool|rest".
func split(s string) (string, string) {
	for i := range len(s) {
		if s[i] == '|' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// BenchmarkHTTPPurchasePreview measures purchase previews (POST
// /v1/sites/{id}/purchase/preview) through the reference server from 1, 8 and
// 32 concurrent clients, beside base-direct: billing.Service.PreviewPurchase
// on the same store. Each answer is checked (minimum 20, new total 30).
// Targets as for leases.
func BenchmarkHTTPPurchasePreview(b *testing.B) {
	for _, st := range httpStores {
		b.Run("store="+st.name, func(b *testing.B) {
			ctx := context.Background()
			srv := newServer(b, st.open(b))
			bill := &billing.Service{Store: srv.store}
			site, err := bill.CreateSite(ctx, srv.actor, billing.NewSite{Name: "North", Plan: "Business", PaymentType: billing.MonthlyInvoice,
				UnitPrice: license.NewMoney(decimal.RequireFromString("2.50"), "USD")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bill.Enroll(ctx, srv.actor, billing.EnrollRequest{Site: site.ID, Devices: 20}); err != nil {
				b.Fatal(err)
			}
			want := func(minimum, total int64) error {
				if minimum != 20 || total != 30 {
					return license.Errorf(license.Internal, "", "preview: minimum %d, new total %d; want 20 and 30", minimum, total)
				}
				return nil
			}
			for _, clients := range clientCounts {
				b.Run(name("clients=%d/http", clients), func(b *testing.B) {
					cl := srv.client(clients)
					runClients(b, clients, func(ctx context.Context, _ int, _ int64) error {
						q, err := cl.PreviewPurchase(ctx, site.ID, 30)
						if err != nil {
							return err
						}
						return want(q.Minimum, q.NewTotal)
					})
				})
				b.Run(name("clients=%d/base-direct", clients), func(b *testing.B) {
					runClients(b, clients, func(ctx context.Context, _ int, _ int64) error {
						q, err := bill.PreviewPurchase(ctx, srv.actor, billing.PurchaseRequest{Site: site.ID, Quantity: 30})
						if err != nil {
							return err
						}
						return want(q.Minimum, q.NewTotal)
					})
				})
			}
		})
	}
}
