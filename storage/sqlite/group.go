package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage/internal/sqlcore"
)

// Group commit.
//
// At synchronous FULL every COMMIT waits for an fsync, and SQLite serialises
// writers anyway, so N concurrent Updates pay N fsyncs one after the other.
// Group commit lets the callers that queued while one transaction was in
// progress share the next transaction and its single COMMIT, as PostgreSQL
// does with WAL flushes: a backend that wants its commit record flushed
// waits for the WAL write lock, and whoever gets it flushes everything
// queued so far, which covers the commits of those who waited meanwhile
// (XLogFlush, LWLockAcquireOrWait). What was taken from it: there is no
// fixed delay (PostgreSQL's commit_delay is off by default, and bbolt's
// DB.Batch waits MaxBatchDelay for followers; here a lone writer begins at
// once, and a batch holds exactly those who arrived while the writer was
// busy), and a batch is bounded (maxBatch callers, maxBatchAge of admission,
// like bbolt's MaxBatchSize). What was taken from bbolt's DB.Batch: a
// caller whose function fails is taken out of the batch alone and gets its
// own error, and the batch's callers learn the outcome of the one commit.
// Unlike DB.Batch, which runs every function on the leader's goroutine and,
// when one fails, runs the batch again without it and the failed one alone
// (trySolo), each caller here runs its function on its own
// goroutine when its turn comes (so that a panic or runtime.Goexit, as in
// t.FailNow, unwinds the caller that raised it), inside a SAVEPOINT, so a
// failure is rolled back without rerunning the others.
//
// The turn (the writer connection, and the open transaction if any) passes
// from caller to caller through channels; the caller holding it when the
// batch is full, or when nobody is waiting, commits and hands a fresh turn
// to the next caller in the queue.

const (
	// maxBatch bounds how many callers share one transaction, and so how
	// long the first of them waits for the COMMIT.
	maxBatch = 64
	// maxBatchAge bounds the time during which a transaction admits
	// callers after its BEGIN.
	maxBatchAge = 20 * time.Millisecond
)

// errBatchLost is returned to a caller whose function had succeeded when the
// shared transaction was rolled back by SQLite because of another caller (an
// interrupted statement, a full disk, ...): its work did not commit, through
// no fault of its own, and Update runs it again.
var errBatchLost = errors.New("sqlite: the shared transaction was rolled back by another caller's failure")

// group is the queue of writers waiting for their turn.
type group struct {
	mu    sync.Mutex
	busy  bool // some caller holds the turn
	queue []*waiter
}

// waiter is a caller waiting for its turn.
type waiter struct {
	turn chan *batch // receives the open batch, or nil: begin a new one
}

// batch is one shared transaction.
type batch struct {
	start   time.Time
	size    int          // callers that took a turn in it
	members []chan error // callers whose savepoints were released, waiting for the COMMIT
	leavers []chan error // callers rolled back to their savepoints, waiting for the end
	lost    error        // SQLite rolled the transaction back (see errBatchLost)
}

// groupTx runs fn in a savepoint of a transaction shared with the callers
// queued at the same time (see Update).
func (s *Store) groupTx(ctx context.Context, fn func(sqlcore.Conn) error) error {
	g := &s.gc
	g.mu.Lock()
	if !g.busy {
		// Nobody writes: begin at once (no added latency for a lone writer).
		g.busy = true
		g.mu.Unlock()
		return s.turn(ctx, nil, fn)
	}
	w := &waiter{turn: make(chan *batch, 1)}
	g.queue = append(g.queue, w)
	g.mu.Unlock()
	waited := time.Now()
	select {
	case b := <-w.turn:
		s.obs.ObserveLockWait(waited)
		return s.turn(ctx, b, fn)
	case <-ctx.Done():
	}
	g.mu.Lock()
	if i := slices.Index(g.queue, w); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
		g.mu.Unlock()
		return license.Wrap(license.Unavailable, ctx.Err(), "sqlite: context done while waiting for the writer")
	}
	g.mu.Unlock()
	// The turn was handed over meanwhile: take it, to pass it on (fn does
	// not run: ctx is done).
	return s.turn(ctx, <-w.turn, fn)
}

// turn runs fn holding the turn, in b or (b nil) in a new transaction, then
// passes the turn on or commits.
func (s *Store) turn(ctx context.Context, b *batch, fn func(sqlcore.Conn) error) (err error) {
	if err := ctx.Err(); err != nil {
		s.endTurn(b)
		return license.Wrap(license.Unavailable, err, "sqlite: context done while waiting for the writer")
	}
	if b == nil {
		s.wmu.Lock()
		if s.wc == nil {
			s.wmu.Unlock()
			s.endTurn(nil)
			return license.Errorf(license.Unavailable, "", "sqlite: store is closed")
		}
		if _, err := s.wc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			s.wmu.Unlock()
			s.endTurn(nil)
			return err
		}
		if s.cache != nil {
			s.cache.begin(context.WithoutCancel(ctx), s)
		}
		b = &batch{start: time.Now()}
	}
	b.size++
	if err := s.control(ctx, "SAVEPOINT member"); err != nil {
		// The transaction is unusable: end it.
		b.lost = fmt.Errorf("%w: %w", errBatchLost, err)
		s.endTurn(b)
		return err
	}
	finished := false
	defer func() {
		if finished {
			return
		}
		// fn panicked or called runtime.Goexit: undo its work and pass the
		// turn on; the panic goes on unwinding this caller alone, once the
		// batch has ended (see below).
		s.undo(b)
		<-s.leave(b)
	}()
	fnErr := fn(writer{s})
	finished = true
	if fnErr != nil {
		// fn's error may have been decided on the uncommitted work of the
		// callers before it in the batch: report it only once that work is
		// committed (or not), as a caller alone would have seen it, so that
		// nobody learns of a change before its own caller does.
		s.undo(b)
		<-s.leave(b)
		return fnErr
	}
	if err := s.control(ctx, "RELEASE member"); err != nil {
		// The savepoint is gone: SQLite rolled the transaction back during
		// fn (whose error fn did not return).
		b.lost = fmt.Errorf("%w: %w", errBatchLost, err)
	} else if s.cache != nil {
		s.cache.release()
	}
	done := make(chan error, 1)
	b.members = append(b.members, done)
	s.endTurn(b)
	return <-done
}

// leave ends the turn of a caller whose work is not in b; the channel is
// closed when b has ended.
func (s *Store) leave(b *batch) <-chan error {
	done := make(chan error, 1)
	b.leavers = append(b.leavers, done)
	s.endTurn(b)
	return done
}

// control runs a transaction-control statement on the writer connection,
// whatever ctx says (the transaction is shared).
func (s *Store) control(ctx context.Context, q string) error {
	st, err := s.stmt(context.WithoutCancel(ctx), q)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(context.WithoutCancel(ctx))
	return err
}

// undo rolls the current caller's savepoint back.
func (s *Store) undo(b *batch) {
	if s.cache != nil {
		s.cache.rollback()
	}
	ctx := context.Background()
	if err := s.control(ctx, "ROLLBACK TO member"); err != nil {
		b.lost = fmt.Errorf("%w: %w", errBatchLost, err)
		return
	}
	if err := s.control(ctx, "RELEASE member"); err != nil {
		b.lost = fmt.Errorf("%w: %w", errBatchLost, err)
	}
}

// endTurn ends the current caller's turn in b (nil: no transaction open):
// it passes b to the next caller in the queue while b admits callers, or
// else ends b (COMMIT when any caller's work is in it, ROLLBACK otherwise),
// tells b's members the outcome, and hands a new turn to the next caller.
func (s *Store) endTurn(b *batch) {
	g := &s.gc
	g.mu.Lock()
	if b != nil && b.lost == nil && len(g.queue) > 0 && b.size < maxBatch && time.Since(b.start) < s.batchAge {
		next := g.queue[0]
		g.queue = g.queue[1:]
		g.mu.Unlock()
		next.turn <- b
		return
	}
	g.mu.Unlock()
	if b != nil {
		ctx := context.Background()
		var err error
		switch {
		case b.lost != nil:
			err = b.lost
			_, _ = s.wc.ExecContext(ctx, "ROLLBACK")
			if s.cache != nil {
				s.cache.reset()
			}
		case len(b.members) == 0:
			_, err = s.wc.ExecContext(ctx, "ROLLBACK")
			err = nil // nothing of anybody's was in it
		default:
			if f := s.failCommit.Load(); f != nil {
				err = *f
			}
			if err == nil {
				_, err = s.wc.ExecContext(ctx, "COMMIT")
			}
			if err == nil {
				s.commits.Add(1)
				s.obs.ObserveBatch(len(b.members))
			} else {
				// Leave the connection outside any transaction; every
				// member gets the error (see Update).
				_, _ = s.wc.ExecContext(ctx, "ROLLBACK")
				if s.cache != nil {
					s.cache.reset()
				}
			}
		}
		s.wmu.Unlock()
		for _, m := range b.members {
			m <- err
		}
		for _, l := range b.leavers {
			close(l)
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		g.queue = g.queue[1:]
		g.mu.Unlock()
		next.turn <- nil
		return
	}
	g.busy = false
	g.mu.Unlock()
}
