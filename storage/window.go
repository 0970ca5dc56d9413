package storage

import "context"

// Window asks ListOf, through the context, for one page of the records of
// Kind: those with an ID after AfterID, at most Limit of them, in ID order
// (keyset paging). A caller that pages a service's list this way must only do
// so when the service returns what ListOf gives, in ID order and unfiltered;
// a ListQuery that sets AfterID or Limit itself is left alone.
type Window struct {
	Kind    Kind
	AfterID string
	Limit   int
}

type windowKey struct{}

// WithWindow returns ctx carrying w.
func WithWindow(ctx context.Context, w Window) context.Context {
	return context.WithValue(ctx, windowKey{}, w)
}

// windowed applies the context's Window to q when it selects its kind.
func windowed(ctx context.Context, q ListQuery) ListQuery {
	w, ok := ctx.Value(windowKey{}).(Window)
	if !ok || w.Kind != q.Kind || q.AfterID != "" || q.Limit != 0 {
		return q
	}
	q.AfterID, q.Limit = w.AfterID, w.Limit
	return q
}
