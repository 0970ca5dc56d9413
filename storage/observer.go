package storage

import "time"

// Observer receives a store's operational signals, for metrics (see
// adapters/metrics). Each field may be nil. The functions are called on the
// store's hot paths: they must be cheap, must not block, and must be safe for
// concurrent use. The SQLite and PostgreSQL stores take one with their
// WithObserver options.
type Observer struct {
	// Transaction is called once per Update or View, when it returns: write
	// tells which, err is what the caller got (nil when it committed), took
	// is the whole time, retries and waits included.
	Transaction func(write bool, err error, took time.Duration)
	// Retry is called each time Update runs its function again: reason is
	// "busy" (another process held the SQLite write lock), "batch_lost" (a
	// SQLite group-commit batch was rolled back by another caller's failure),
	// or "conflict" (a PostgreSQL serialization failure or deadlock).
	Retry func(reason string)
	// Batch is called with the number of Updates that shared one committed
	// SQLite group-commit transaction.
	Batch func(size int)
	// LockWait is called with how long an Update waited for the right to
	// write: the SQLite writer's turn, a PostgreSQL pool connection.
	LockWait func(took time.Duration)
}

// ObserveTransaction calls o.Transaction, when o and it are set, with the
// time since start (stores use it).
func (o *Observer) ObserveTransaction(write bool, err error, start time.Time) {
	if o != nil && o.Transaction != nil {
		o.Transaction(write, err, time.Since(start))
	}
}

// ObserveRetry calls o.Retry when o and it are set.
func (o *Observer) ObserveRetry(reason string) {
	if o != nil && o.Retry != nil {
		o.Retry(reason)
	}
}

// ObserveBatch calls o.Batch when o and it are set.
func (o *Observer) ObserveBatch(size int) {
	if o != nil && o.Batch != nil {
		o.Batch(size)
	}
}

// ObserveLockWait calls o.LockWait when o and it are set.
func (o *Observer) ObserveLockWait(start time.Time) {
	if o != nil && o.LockWait != nil {
		o.LockWait(time.Since(start))
	}
}
