package pool_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
)

func TestCreateAndCommentWithKeyApplyOnce(t *testing.T) {
	ctx := context.Background()
	svc, _ := exampleService()
	events := func() int64 {
		var n int64
		require.NoError(t, svc.Store.View(ctx, func(tx storage.Tx) error {
			var err error
			n, err = tx.CountEvents(ctx, eventlog.Filter{Company: exampleAdmin.Company})
			return err
		}))
		return n
	}
	spec := pool.Spec{Name: "Office", Model: license.Perpetual, Metric: license.NamedUser, Software: []string{"Office"}}
	p1, err := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: spec, IdempotencyKey: "create-1"})
	require.NoError(t, err)
	n := events()
	p2, err := svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: spec, IdempotencyKey: "create-1"})
	require.NoError(t, err)
	require.Equal(t, p1.ID, p2.ID, "a retry returns the pool the first request created")
	require.Equal(t, n, events(), "a retry writes nothing")
	all, err := svc.List(ctx, exampleAdmin, pool.ListOptions{})
	require.NoError(t, err)
	require.Len(t, all, 1)
	spec.Name = "Visio"
	_, err = svc.Create(ctx, exampleAdmin, pool.CreateRequest{Spec: spec, IdempotencyKey: "create-1"})
	require.Equal(t, license.Conflict, license.ErrorCode(err), "same key, different spec")

	c1, err := svc.AddComment(ctx, exampleAdmin, p1.ID, pool.CommentRequest{Text: "renewal in May", IdempotencyKey: "c-1"})
	require.NoError(t, err)
	c2, err := svc.AddComment(ctx, exampleAdmin, p1.ID, pool.CommentRequest{Text: "renewal in May", IdempotencyKey: "c-1"})
	require.NoError(t, err)
	require.Equal(t, c1.ID, c2.ID)
	got, err := svc.Get(ctx, exampleAdmin, p1.ID)
	require.NoError(t, err)
	require.Len(t, got.Comments, 1, "a retried comment is not added twice")
}
