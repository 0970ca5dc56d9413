package client

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	api "github.com/licensekit/licensekit/adapters/http/client"
)

// LeaseEventKind says what happened to a held seat.
type LeaseEventKind string

// Lease events.
const (
	// LeaseRenewed: a heartbeat renewed the seat until ExpiresAt.
	LeaseRenewed LeaseEventKind = "renewed"
	// LeaseLost: the seat is no longer held (the heartbeat lapsed, the server
	// culled it, or it could not be reached before the seat expired); Err says
	// why. The lease keeps trying to take a seat again.
	LeaseLost LeaseEventKind = "lost"
	// LeaseRegained: after a loss, a seat was taken again.
	LeaseRegained LeaseEventKind = "regained"
	// LeaseMissed: a heartbeat failed but the seat has not expired yet; the
	// next heartbeat retries. Err says why.
	LeaseMissed LeaseEventKind = "missed"
)

// LeaseEvent reports a change of a held seat.
type LeaseEvent struct {
	Kind      LeaseEventKind
	ExpiresAt time.Time // until when the seat is held (Renewed, Regained)
	Err       error     // Lost, Missed
}

// Lease is a floating seat held in the background: it heartbeats at a safe
// fraction of the seat's time-to-live (a third, see WithHeartbeatTimer),
// reports changes on Events and re-acquires a seat after a loss as soon as
// one is free. Close (or cancelling the context given to Client.Lease)
// stops the heartbeats and releases the seat.
type Lease struct {
	c      *Client
	pool   string
	events chan LeaseEvent
	cancel context.CancelFunc
	done   chan struct{}
	wait   time.Duration // WaitForSeat

	mu      sync.Mutex
	id      string
	ttl     time.Duration
	expires time.Time
	held    bool
	relErr  error
}

// A LeaseOption changes how Client.Lease takes its seat.
type LeaseOption func(*Lease)

// MaxSeatWait is the longest WaitForSeat waits: what the server allows.
const MaxSeatWait = 30 * time.Second

// WaitForSeat makes Lease wait up to d for a seat when none is free, rather
// than fail at once: the server holds the request and answers as soon as a
// release frees a seat, so the product neither polls nor spends requests on
// refusals. d is rounded up to whole seconds and held to MaxSeatWait, and
// to 5 s less than the HTTP client's timeout (WithHTTPClient) so that the
// answer comes before the client gives up. Re-acquiring after a loss waits
// the same way.
func WaitForSeat(d time.Duration) LeaseOption {
	return func(l *Lease) { l.wait = d }
}

// waitSeconds is the wait_seconds to send, 0 for none.
func (l *Lease) waitSeconds() int {
	d := min(l.wait, MaxSeatWait)
	if t := l.c.hc.Timeout; t > 0 {
		d = min(d, t-5*time.Second)
	}
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Lease takes a seat of concurrent-user pool for this client's consumer and
// keeps it in the background until Close or until ctx is cancelled. It fails
// when no seat is free now, or within the wait of WaitForSeat (ErrorCode
// insufficient_licenses), or the server cannot be reached. A seat this
// client had borrowed from the pool becomes an ordinary seat again (the
// borrowed file is dropped from the state): the early return of a borrowed
// seat when the product is back online.
func (c *Client) Lease(ctx context.Context, pool string, opts ...LeaseOption) (*Lease, error) {
	if pool == "" || len(pool) > 128 {
		return nil, errors.New("client: a pool id is required")
	}
	l := &Lease{c: c, pool: pool, events: make(chan LeaseEvent, 64), done: make(chan struct{})}
	for _, o := range opts {
		o(l)
	}
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	go l.run(lctx)
	return l, nil
}

// ID is the lease's id on the server.
func (l *Lease) ID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

// Held reports whether the seat is held now, and until when.
func (l *Lease) Held() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held, l.expires
}

// Events reports renewals, losses and regains. It is buffered; an event that
// finds the buffer full is dropped (Held always tells the current state). It
// is closed when the lease stops.
func (l *Lease) Events() <-chan LeaseEvent { return l.events }

// Close stops the heartbeats, waits for the background goroutine and
// releases the seat. It is safe to call more than once.
func (l *Lease) Close() error {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.relErr
}

func (l *Lease) emit(e LeaseEvent) {
	select {
	case l.events <- e:
	default:
	}
}

func (l *Lease) set(v *api.HttpLeaseView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.id, l.ttl, l.expires, l.held = v.Id, time.Duration(v.TtlSeconds)*time.Second, v.ExpiresAt.UTC(), true
}

func (l *Lease) acquire(ctx context.Context) error {
	c := l.c
	key := newKey("lease")
	body := api.HttpLeaseBodyInput{Consumer: c.apiConsumer()}
	if w := l.waitSeconds(); w > 0 {
		body.WaitSeconds = &w
	}
	rsp, err := call(ctx, c, http.StatusCreated, func(ctx context.Context) (*api.PostV1PoolsIdLeasesResponse, error) {
		return c.api.PostV1PoolsIdLeasesWithResponse(ctx, l.pool, &api.PostV1PoolsIdLeasesParams{IdempotencyKey: &key}, body)
	})
	if err != nil {
		return err
	}
	if rsp.JSON201 == nil {
		return errors.New("client: the server's answer has no body")
	}
	l.set(rsp.JSON201)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.st.Borrowed[l.pool]; ok {
		delete(c.st.Borrowed, l.pool)
		return c.saveLocked()
	}
	return nil
}

func (l *Lease) heartbeat(ctx context.Context) error {
	c := l.c
	id := l.ID()
	rsp, err := call(ctx, c, http.StatusOK, func(ctx context.Context) (*api.PostV1PoolsIdLeasesLeaseHeartbeatResponse, error) {
		return c.api.PostV1PoolsIdLeasesLeaseHeartbeatWithResponse(ctx, l.pool, id, nil)
	})
	if err != nil {
		return err
	}
	if rsp.JSON200 == nil {
		return errors.New("client: the server's answer has no body")
	}
	l.set(rsp.JSON200)
	return nil
}

// run is the background loop: wait, heartbeat (or re-acquire), report.
func (l *Lease) run(ctx context.Context) {
	defer close(l.done)
	defer close(l.events)
	defer l.release(ctx)
	c := l.c
	for {
		l.mu.Lock()
		wait := c.interval(l.ttl)
		l.mu.Unlock()
		if wait <= 0 {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-c.after(wait):
		}
		held, expires := l.Held()
		if !held {
			if err := l.acquire(ctx); err == nil {
				_, exp := l.Held()
				l.emit(LeaseEvent{Kind: LeaseRegained, ExpiresAt: exp})
			}
			continue
		}
		err := l.heartbeat(ctx)
		switch {
		case err == nil:
			_, exp := l.Held()
			l.emit(LeaseEvent{Kind: LeaseRenewed, ExpiresAt: exp})
		case ctx.Err() != nil:
			return
		case Unreachable(err):
			now, _ := c.Now()
			if now.Before(expires) {
				l.emit(LeaseEvent{Kind: LeaseMissed, Err: err})
				continue
			}
			l.lose(err)
		default:
			// expired or not_found: the server no longer counts the seat.
			l.lose(err)
			if err := l.acquire(ctx); err == nil {
				_, exp := l.Held()
				l.emit(LeaseEvent{Kind: LeaseRegained, ExpiresAt: exp})
			}
		}
	}
}

func (l *Lease) lose(err error) {
	l.mu.Lock()
	l.held = false
	l.mu.Unlock()
	l.emit(LeaseEvent{Kind: LeaseLost, Err: err})
}

// release gives the seat back when the loop ends (Close or ctx cancelled).
func (l *Lease) release(ctx context.Context) {
	held, _ := l.Held()
	if !held {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c := l.c
	id := l.ID()
	_, err := call(rctx, c, http.StatusOK, func(ctx context.Context) (*api.DeleteV1PoolsIdLeasesLeaseResponse, error) {
		return c.api.DeleteV1PoolsIdLeasesLeaseWithResponse(ctx, l.pool, id, nil)
	})
	if ErrorCode(err) == "not_found" {
		err = nil
	}
	l.mu.Lock()
	l.held, l.relErr = false, err
	l.mu.Unlock()
}
