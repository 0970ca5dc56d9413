package storage

import (
	"context"
	"sync"

	"github.com/licensekit/licensekit/license"
)

// PreconditionFailed is the code of the error Load returns when a record
// watched by a Watch carries another version than the one expected (an HTTP
// If-Match that no longer matches: 412).
const PreconditionFailed license.Code = "precondition_failed"

// Watch follows one record, (Kind, ID), through the store calls of a request:
// Load records the version it read, Save the version it wrote, and a Load for
// update of a record whose version differs from Expect (when not 0) fails with
// PreconditionFailed. Because the comparison happens on the record Load has
// just locked, inside the caller's transaction, two writers that expect the
// same version cannot both pass it: the second one sees the first one's write.
//
// A Watch travels in the context (WithWatch); domain code needs no change as
// long as it reads the record through Load and writes it through Save.
type Watch struct {
	Kind   Kind
	ID     string
	Expect int64 // 0: no expectation, only record the version

	mu      sync.Mutex
	version int64
	checked bool // a Load for update compared Expect
}

// Version is the last version of the record seen through Load or Save (0 when
// the record was never read).
func (w *Watch) Version() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version
}

type watchKey struct{}

// WithWatch returns ctx carrying w.
func WithWatch(ctx context.Context, w *Watch) context.Context {
	return context.WithValue(ctx, watchKey{}, w)
}

func watchOf(ctx context.Context, kind Kind, id string) *Watch {
	w, _ := ctx.Value(watchKey{}).(*Watch)
	if w == nil || w.Kind != kind || w.ID != id {
		return nil
	}
	return w
}

// seen checks and records the version of a record Load read.
func (w *Watch) seen(r Record, forUpdate bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if forUpdate && w.Expect != 0 && r.Version != w.Expect {
		return license.Errorf(PreconditionFailed, "If-Match",
			"the %s was changed since version %d (it is at version %d): read it again and retry", r.Kind, w.Expect, r.Version)
	}
	w.version = r.Version
	if forUpdate {
		w.checked = true
	}
	return nil
}

// saved records the version of a record Save wrote, read back inside the
// same transaction.
func (w *Watch) saved(ctx context.Context, tx Tx, r Record) error {
	w.mu.Lock()
	unchecked := w.Expect != 0 && !w.checked
	w.mu.Unlock()
	if unchecked {
		// The write did not start from a locked Load: refuse rather than
		// let an expectation pass unchecked.
		return license.Errorf(license.Internal, "If-Match", "storage: %s %s written without a Load for update; its version cannot be checked", r.Kind, r.ID)
	}
	got, err := tx.Get(ctx, r.Company, r.Kind, r.ID)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.version = got.Version
	w.mu.Unlock()
	return nil
}
