package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// estimateStores are the stores the invoice estimate runs on.
var estimateStores = []struct {
	name string
	open func(b *testing.B) storage.Store
}{
	{"memory", func(*testing.B) storage.Store { return memory.New() }},
	{"sqlite", func(b *testing.B) storage.Store {
		s, err := sqlite.Open(filepath.Join(b.TempDir(), "estimate.db"), sqlite.WithSynchronous(sqlite.Normal))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}},
	{"postgres", func(b *testing.B) storage.Store { return postgresStore(b, 4) }},
}

// BenchmarkEstimate10000Sites measures an invoice estimate over a company's
// 10,000 sites (billing.Service.Estimate: one pass over the store) beside
// base-list, the same View listing and decoding the 10,000 site records and
// nothing else. The ratio is the estimate's own cost over reading its input.
func BenchmarkEstimate10000Sites(b *testing.B) {
	const sites = 10_000
	for _, st := range estimateStores {
		b.Run("store="+st.name, func(b *testing.B) {
			ctx := context.Background()
			store := st.open(b)
			a := owner()
			{
				bill := &billing.Service{Store: store}
				if _, err := bill.CreateCompany(ctx, a, "Bench MSP"); err != nil {
					b.Fatal(err)
				}
				price := license.NewMoney(decimal.RequireFromString("1.25"), "EUR")
				for from := 0; from < sites; from += 1000 {
					if err := store.Update(ctx, func(tx storage.Tx) error {
						for i := from; i < from+1000; i++ {
							n := int64(i % 7)
							s := billing.Site{ID: license.NewID(), Name: fmt.Sprintf("site %05d", i), Plan: "p", UnitPrice: price,
								PaymentType: billing.MonthlyInvoice, Licenses: &n, Enrolled: n / 2}
							if err := storage.Save(ctx, tx, storage.Record{Company: a.Company, Kind: billing.KindSite, ID: s.ID, Unique: strings.ToLower(s.Name)}, s); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run("estimate", func(b *testing.B) {
				bill := &billing.Service{Store: store}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					inv, err := bill.Estimate(context.Background(), a, billing.EstimateOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if len(inv.Lines) != sites {
						b.Fatalf("%d invoice lines for %d sites", len(inv.Lines), sites)
					}
				}
			})
			b.Run("base-list", func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := store.View(ctx, func(tx storage.Tx) error {
						list, err := storage.ListOf[billing.Site](ctx, tx, storage.ListQuery{Company: a.Company, Kind: billing.KindSite})
						if err == nil && len(list) != sites {
							err = fmt.Errorf("%d sites listed, want %d", len(list), sites)
						}
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// exportActor owns the generated event logs.
var exportActor = license.Actor{Company: "bench-export", Email: "alice@acme.example", Role: license.Owner}

// eventLog returns a SQLite store holding n events of exportActor's company.
// The file is cached in os.TempDir (licensekit-bench-events-<n>.db) between
// runs; it is built under a temporary name and renamed when complete.
func eventLog(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), "licensekit-bench-events-"+strconv.Itoa(n)+".db")
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".building"
		_ = os.Remove(tmp)
		_ = os.Remove(tmp + "-wal")
		_ = os.Remove(tmp + "-shm")
		s, err := sqlite.Open(tmp, sqlite.WithSynchronous(sqlite.Normal))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		const batch = 50_000
		start := time.Now()
		for from := 0; from < n; from += batch {
			if err := s.Update(ctx, func(tx storage.Tx) error {
				for i := from; i < min(n, from+batch); i++ {
					_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: exportActor.Company, Time: t0.Add(time.Duration(i) * time.Second),
						Type: "license.purchase", Source: "site " + strconv.Itoa(i%500), Target: "=formula " + strconv.Itoa(i%7), Count: int64(i % 1000),
						Actor: exportActor.Email, Subject: "s-" + strconv.Itoa(i%500), Details: []byte(`{"licenses":` + strconv.Itoa(i%1000) + `}`)})
					if err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		_ = os.Remove(tmp + "-wal")
		_ = os.Remove(tmp + "-shm")
		b.Logf("generated %d events in %s into %s", n, time.Since(start).Round(time.Second), path)
	}
	s, err := sqlite.Open(path, sqlite.WithSynchronous(sqlite.Normal))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var have int64
	if err := s.View(ctx, func(tx storage.Tx) error {
		var err error
		have, err = tx.CountEvents(ctx, eventlog.Filter{Company: exportActor.Company})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if have != int64(n) {
		b.Fatalf("%s holds %d events, want %d: delete it to rebuild", path, have, n)
	}
	return s
}

// peakHeap samples the live heap while fn runs and returns the most it grew
// above where it started, in bytes.
func peakHeap(fn func()) (grown uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	if peak < base {
		return 0
	}
	return peak - base
}

// shortReads runs every Events call in a read transaction of its own.
type shortReads struct{ s storage.Store }

func (r shortReads) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	return r.s.View(ctx, func(tx storage.Tx) error { return tx.Events(ctx, f, fn) })
}

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// BenchmarkExportEvents measures a CSV export of a company's whole event log
// (eventlog.Export, original data, every column) from storage/sqlite, in one
// read transaction (export) and with every page in its own (export-short-reads,
// as the HTTP adapter does), for
// 100,000 and 1,000,000 events, beside base-scan: the same View streaming the
// same events through tx.Events without writing CSV. Reported with -benchmem,
// and peak-heap-MB: the most the live heap grew during one export. Memory
// must stay flat: peak-heap-MB at 1,000,000 about what it is at 100,000.
// The event files are built once (about a minute for the larger) and cached
// in os.TempDir.
func BenchmarkExportEvents(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(name("events=%d", n), func(b *testing.B) {
			s := eventLog(b, n)
			b.Run("export", func(b *testing.B) {
				ctx := context.Background()
				var peak uint64
				var wrote int64
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					w := &countingWriter{}
					grown := peakHeap(func() {
						if err := s.View(ctx, func(tx storage.Tx) error {
							return eventlog.Export(ctx, tx, exportActor, eventlog.OriginalData, eventlog.Request{}, w)
						}); err != nil {
							b.Fatal(err)
						}
					})
					peak, wrote = max(peak, grown), w.n
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(wrote)/(1<<20), "csv-MB")
			})
			b.Run("export-short-reads", func(b *testing.B) {
				// As the HTTP adapter exports: every page its own read transaction.
				ctx := context.Background()
				var peak uint64
				var wrote int64
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					w := &countingWriter{}
					grown := peakHeap(func() {
						if err := eventlog.Export(ctx, shortReads{s}, exportActor, eventlog.OriginalData, eventlog.Request{}, w); err != nil {
							b.Fatal(err)
						}
					})
					peak, wrote = max(peak, grown), w.n
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(wrote)/(1<<20), "csv-MB")
			})
			b.Run("base-scan", func(b *testing.B) {
				ctx := context.Background()
				var peak uint64
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					var seen int
					grown := peakHeap(func() {
						if err := s.View(ctx, func(tx storage.Tx) error {
							return tx.Events(ctx, eventlog.Filter{Company: exportActor.Company}, func(eventlog.Event) error { seen++; return nil })
						}); err != nil {
							b.Fatal(err)
						}
					})
					if seen != n {
						b.Fatalf("scanned %d events, want %d", seen, n)
					}
					peak = max(peak, grown)
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			})
		})
	}
}
