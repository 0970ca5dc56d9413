package pool

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/licensekit/licensekit/license"
)

// Waiting for a seat.
//
// An acquire with LeaseRequest.Wait does not answer "no seat free" at once:
// it queues for the pool and tries again when a seat may have become free,
// until it gets one or Wait runs out. Clients that would otherwise retry at
// once (and spend a round trip and a transaction on each refusal) park on the
// server instead, holding no transaction, and the seat a release frees goes to
// the waiter that has waited longest.
//
// The queue is per process: a release in this process wakes the first waiter
// of its pool, and a waiter that got its seat while a wake-up was on its way
// passes the wake-up on, so none is lost. Seats freed in another process
// sharing the store, or by a lease that lapsed, are found by trying again
// every leaseWaitPoll.

// MaxLeaseWait is the longest an acquire may wait for a seat
// (LeaseRequest.Wait).
const MaxLeaseWait = 30 * time.Second

// MaxLeaseWaiters is how many acquires may wait for seats of one pool in one
// process at a time; one more is refused at once, as without Wait.
const MaxLeaseWaiters = 1024

// leaseWaitPoll is how often a waiting acquire tries again when no release in
// this process woke it.
var leaseWaitPoll = 250 * time.Millisecond

type seatQueue struct {
	mu      sync.Mutex
	waiters list.List // of chan struct{}, oldest first
}

type queueKey struct{ company, pool string }

var (
	queuesMu sync.Mutex
	queues   = map[queueKey]*seatQueue{}
)

// waiter is one acquire's place in its pool's queue.
type waiter struct {
	key  queueKey
	q    *seatQueue
	wake chan struct{} // receives at most one wake-up
	el   *list.Element // its place; removing it again, once woken, does nothing
}

// enqueue puts a new waiter at the back of the pool's queue, or returns nil
// when the queue is full.
func enqueue(company, poolID string) *waiter {
	k := queueKey{company, poolID}
	queuesMu.Lock()
	q := queues[k]
	if q == nil {
		q = &seatQueue{}
		queues[k] = q
	}
	q.mu.Lock() // before queuesMu is released: dropQueue checks emptiness under both
	queuesMu.Unlock()
	defer q.mu.Unlock()
	if q.waiters.Len() >= MaxLeaseWaiters {
		return nil
	}
	w := &waiter{key: k, q: q, wake: make(chan struct{}, 1)}
	w.el = q.waiters.PushBack(w.wake)
	return w
}

// leave takes w out of its queue. A wake-up w received but did not use (it
// got its seat or gave up meanwhile) is passed to the next waiter.
func (w *waiter) leave() {
	w.q.mu.Lock()
	if w.el != nil {
		w.q.waiters.Remove(w.el)
		w.el = nil
	}
	w.q.mu.Unlock()
	select {
	case <-w.wake:
		seatFreed(w.key.company, w.key.pool)
	default:
	}
	dropQueue(w.key)
}

// seatFreed wakes the pool's oldest waiter, if any.
func seatFreed(company, poolID string) {
	queuesMu.Lock()
	q := queues[queueKey{company, poolID}]
	queuesMu.Unlock()
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if front := q.waiters.Front(); front != nil {
		ch := q.waiters.Remove(front).(chan struct{})
		ch <- struct{}{}
	}
}

// dropQueue forgets the pool's queue once nobody waits in it.
func dropQueue(k queueKey) {
	queuesMu.Lock()
	defer queuesMu.Unlock()
	if q := queues[k]; q != nil {
		q.mu.Lock()
		if q.waiters.Len() == 0 {
			delete(queues, k)
		}
		q.mu.Unlock()
	}
}

// acquireWaiting is AcquireLease with req.Wait > 0: it tries, and while the
// answer is that no seat is free, waits in the pool's queue and tries again,
// until Wait has passed (the last refusal is returned) or ctx ends.
func (s *Service) acquireWaiting(ctx context.Context, a license.Actor, poolID string, req LeaseRequest) (Lease, error) {
	deadline := time.NewTimer(req.Wait)
	defer deadline.Stop()
	for {
		w := enqueue(a.Company, poolID)
		l, err := s.acquireOnce(ctx, a, poolID, req)
		if w == nil || !isCapacity(err) {
			if w != nil {
				w.leave()
			}
			return l, err
		}
		poll := time.NewTimer(leaseWaitPoll)
		var end error // the answer when the wait is over
		select {
		case <-w.wake: // a release in this process: try again
		case <-poll.C: // a seat freed elsewhere, perhaps: try again
		case <-deadline.C:
			end = err
		case <-ctx.Done():
			end = license.Wrap(license.Unavailable, ctx.Err(), "pool: gave up waiting for a seat")
		}
		poll.Stop()
		w.leave()
		if end != nil {
			return Lease{}, end
		}
	}
}
