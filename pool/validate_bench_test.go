package pool_test

import (
	"context"
	"testing"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

// BenchmarkValidate measures one Validate of a consumer holding its
// allocation on the memory store (one read-only View: the pool, the
// allocation, the counts). Compare with BenchmarkStatus, a read of the pool
// and its counts alone, and BenchmarkAllocateRelease, a write pair.
func BenchmarkValidate(b *testing.B) {
	svc, a, id := benchValidatePool(b)
	c := license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "pc"}, Features: []string{"sso"}}
	if _, err := svc.Validate(context.Background(), a, id, license.ValidationRequest{Consumer: c.Consumer, Features: c.Features, Allocate: true}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := svc.Validate(context.Background(), a, id, c)
		if err != nil || !v.Valid {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkStatus is the baseline of BenchmarkValidate: the status pane read.
func BenchmarkStatus(b *testing.B) {
	svc, a, id := benchValidatePool(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Status(context.Background(), a, id); err != nil {
			b.Fatal(err)
		}
	}
}

func benchValidatePool(b *testing.B) (*pool.Service, license.Actor, string) {
	ctx := context.Background()
	svc := &pool.Service{Store: memory.New(), Clock: licensetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	a := license.Actor{Company: "acme", Email: "bench@acme.example", Role: license.Admin}
	p, err := svc.Create(ctx, a, pool.CreateRequest{Spec: pool.Spec{Name: "bench", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"S"}, Entitlements: []string{"sso"}}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.AddTransaction(ctx, a, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 10}); err != nil {
		b.Fatal(err)
	}
	return svc, a, p.ID
}
