package pool

import "time"

// SetLeaseWaitPoll sets how often waiting acquires try again without a
// wake-up, and returns the function that puts it back.
func SetLeaseWaitPoll(d time.Duration) (restore func()) {
	old := leaseWaitPoll
	leaseWaitPoll = d
	return func() { leaseWaitPoll = old }
}

// LeaseWaiters returns how many acquires wait for a seat of the pool.
func LeaseWaiters(company, poolID string) int {
	queuesMu.Lock()
	q := queues[queueKey{company, poolID}]
	queuesMu.Unlock()
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiters.Len()
}
