package storagetest

import (
	"context"
	"sync"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// FaultError is the error Faulty injects. Its code is Unavailable, as a dropped
// connection would be.
var FaultError = &license.Error{Code: license.Unavailable, Message: "storagetest: injected fault"}

// Faulty wraps a store and fails chosen steps: the Nth write (Put, Insert, Delete,
// AppendEvent) counted across the store's life, or the Nth commit. A failed write
// returns FaultError to the caller; a failed commit returns FaultError from Update
// after the wrapped store has rolled back. Use it to prove that a failed operation
// changes nothing.
type Faulty struct {
	storage.Store

	mu         sync.Mutex
	writes     int // writes seen so far
	commits    int // commits attempted so far
	failWrite  int // 1-based write to fail; 0 = none
	failCommit int // 1-based commit to fail; 0 = none
	injected   int
}

var _ storage.Store = (*Faulty)(nil)

// NewFaulty wraps s with no faults armed.
func NewFaulty(s storage.Store) *Faulty { return &Faulty{Store: s} }

// FailWrite arms a fault on the nth write from now (1 = the next write).
func (f *Faulty) FailWrite(n int) {
	f.mu.Lock()
	f.failWrite = f.writes + n
	f.mu.Unlock()
}

// FailCommit arms a fault on the nth commit from now (1 = the next commit).
func (f *Faulty) FailCommit(n int) {
	f.mu.Lock()
	f.failCommit = f.commits + n
	f.mu.Unlock()
}

// Disarm clears armed faults.
func (f *Faulty) Disarm() {
	f.mu.Lock()
	f.failWrite, f.failCommit = 0, 0
	f.mu.Unlock()
}

// Injected returns how many faults have fired.
func (f *Faulty) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// Writes returns how many writes have gone through the wrapper.
func (f *Faulty) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *Faulty) tickWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if f.failWrite != 0 && f.writes == f.failWrite {
		f.failWrite = 0
		f.injected++
		return FaultError
	}
	return nil
}

func (f *Faulty) tickCommit() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commits++
	if f.failCommit != 0 && f.commits == f.failCommit {
		f.failCommit = 0
		f.injected++
		return FaultError
	}
	return nil
}

// Update runs fn through a faulty Tx; an armed commit fault makes fn's work roll back.
func (f *Faulty) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return f.Store.Update(ctx, func(tx storage.Tx) error {
		if err := fn(&faultyTx{Tx: tx, f: f}); err != nil {
			return err
		}
		return f.tickCommit()
	})
}

type faultyTx struct {
	storage.Tx
	f *Faulty
}

func (t *faultyTx) Put(ctx context.Context, r storage.Record) error {
	if err := t.f.tickWrite(); err != nil {
		return err
	}
	return t.Tx.Put(ctx, r)
}

func (t *faultyTx) Insert(ctx context.Context, r storage.Record) error {
	if err := t.f.tickWrite(); err != nil {
		return err
	}
	return t.Tx.Insert(ctx, r)
}

func (t *faultyTx) Delete(ctx context.Context, company string, kind storage.Kind, id string) error {
	if err := t.f.tickWrite(); err != nil {
		return err
	}
	return t.Tx.Delete(ctx, company, kind, id)
}

func (t *faultyTx) AppendEvent(ctx context.Context, e eventlog.Event) (int64, error) {
	if err := t.f.tickWrite(); err != nil {
		return 0, err
	}
	return t.Tx.AppendEvent(ctx, e)
}

// Seal passes through to the wrapped store when it is a storage.Sealer.
func (f *Faulty) Seal(ctx context.Context, company string) error {
	if s, ok := f.Store.(storage.Sealer); ok {
		return s.Seal(ctx, company)
	}
	return nil
}

// SealPending passes through to the wrapped store when it is a storage.Sealer.
func (f *Faulty) SealPending(ctx context.Context) (int, error) {
	if s, ok := f.Store.(storage.Sealer); ok {
		return s.SealPending(ctx)
	}
	return 0, nil
}
