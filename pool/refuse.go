package pool

import (
	"context"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Refusals off the writer.
//
// When every seat of a concurrent-user pool is held, most acquires are
// refused, and a refusal that runs as a write transaction queues for the
// store's writer (SQLite has one) only to roll back. So an acquire on a pool
// that was full the last time this process looked first reads a snapshot in
// a read transaction (Store.View), and answers InsufficientLicenses or
// Quarantined from it when the snapshot shows no seat free for the consumer:
// the snapshot is a committed state within the call, so the refusal is what
// the write path would have answered at that instant. In every other case
// (a seat free, a lease of the consumer's to renew, a lease that may have
// lapsed and must be culled, any other error) the acquire goes on to the
// write transaction, which decides under its lock as before.
//
// Which pools were full is a hint kept per process in a small table of
// hashes: a collision or a stale entry costs one read transaction, never a
// wrong answer.

const fullSlots = 1024

var (
	fullPools [fullSlots]atomic.Uint64
	fullSeed  = maphash.MakeSeed()
)

func fullSlot(company, poolID string) (*atomic.Uint64, uint64) {
	var h maphash.Hash
	h.SetSeed(fullSeed)
	h.WriteString(company)
	h.WriteByte(0)
	h.WriteString(poolID)
	sum := h.Sum64() | 1 // never 0, which marks an empty slot
	return &fullPools[sum%fullSlots], sum
}

func markFull(company, poolID string) {
	slot, sum := fullSlot(company, poolID)
	slot.Store(sum)
}

func clearFull(company, poolID string) {
	slot, sum := fullSlot(company, poolID)
	slot.CompareAndSwap(sum, 0)
}

func seemsFull(company, poolID string) bool {
	slot, sum := fullSlot(company, poolID)
	return slot.Load() == sum
}

// isCapacity reports whether err is a refusal for want of free licenses.
func isCapacity(err error) bool {
	return isCode(err, license.InsufficientLicenses) || isCode(err, license.Quarantined)
}

// refuseLease returns the capacity refusal an acquire of req would get,
// read from a snapshot, or nil when the write transaction must decide (see
// above).
func (s *Service) refuseLease(ctx context.Context, a license.Actor, poolID string, req LeaseRequest, now time.Time) error {
	if !seemsFull(a.Company, poolID) {
		return nil
	}
	var refusal error
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		eff, err := access.Resolve(ctx, tx, a)
		if err != nil || checkEditor(eff) != nil {
			return err
		}
		p, _, err := peekPool(ctx, tx, a.Company, poolID) // only read
		if err != nil {
			return err
		}
		d, err := leaseChecks(p, req)
		if err != nil || !p.leasesLive(now) {
			return err
		}
		if _, err := tx.Get(ctx, a.Company, KindLease, AllocationID(p.ID, "lease:"+d.Key)); !storage.IsNotFound(err) {
			return err // a lease to renew, or an error: the writer decides
		}
		refusal = CheckCapacity(ComputeCounts(TotalAt(p.Transactions, now), QuarantinedAt(p.Quarantine, now), p.AllocatedAuto, p.AllocatedManual, p.Leases), 1)
		return nil
	})
	if err != nil || refusal == nil {
		clearFull(a.Company, poolID)
		return nil
	}
	return refusal
}
