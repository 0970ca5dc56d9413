package pool_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// Several processes read their clocks before their transactions: a release
// may commit after an allocation stamped a little later than the release's
// own time. With no minimum allocation time that must never quarantine the
// license (it did: the release saw "now" before the allocation's end of a
// zero-day quarantine, and the next allocation was refused as quarantined).
func TestReleaseStampedBeforeItsAllocationWithoutMinimumTime(t *testing.T) {
	ctx := context.Background()
	svc, clock := exampleService()
	p, err := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: pool.Spec{
		Name: "Office", Model: license.Perpetual, Metric: license.NamedUser, Software: []string{"Office"}}})
	require.NoError(t, err)
	_, err = svc.AddTransaction(ctx, exampleAdmin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1})
	require.NoError(t, err)
	clock.Advance(time.Second)
	al, err := svc.Allocate(ctx, exampleAdmin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "ann"}})
	require.NoError(t, err)
	clock.Advance(-time.Millisecond) // the releasing process's clock read came first
	rel, err := svc.Release(ctx, exampleAdmin, p.ID, al.ID)
	require.NoError(t, err)
	assert.Zero(t, rel.Quarantined)
	_, err = svc.Allocate(ctx, exampleAdmin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{User: "bob"}})
	assert.NoError(t, err, "the released license is free at once")
}
