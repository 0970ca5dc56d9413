// Package loadgen drives an operation from a fixed number of concurrent
// clients, bounded both in operations and in time, and reports throughput and
// latency. The benchmarks in package bench use it for their concurrent runs
// (so a run with N clients really has N goroutines), and cmd/lkload uses it
// against a running licensekit server.
package loadgen

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds a run. At least one of Requests and Duration must be set; the
// run stops at whichever comes first.
type Config struct {
	Clients  int           // concurrent clients; at least 1
	Requests int64         // operations in all, across the clients; 0 = no bound
	Duration time.Duration // wall-clock bound; 0 = no bound
	// MaxSamples caps the latencies kept per client for the percentiles
	// (0 = 4096); later operations are counted but not sampled.
	MaxSamples int
}

// Op is one operation by client (0..Clients-1); i is the operation's number
// across the run (0..Requests-1). A non-nil error stops the whole run.
type Op func(ctx context.Context, client int, i int64) error

// Result is what a run did.
type Result struct {
	Ops      int64         // operations that returned nil
	Elapsed  time.Duration // wall-clock time of the run
	TimedOut bool          // the Duration bound ended the run before Requests
	P50, P99 time.Duration // latency percentiles over the sampled operations
}

// PerSecond is the throughput of the run.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// ErrUnbounded is returned for a Config with neither Requests nor Duration.
var ErrUnbounded = errors.New("loadgen: set Requests, Duration or both")

// Run calls op from cfg.Clients goroutines until cfg.Requests operations were
// handed out or cfg.Duration passed, and returns the first error an operation
// returned (after stopping the others).
func Run(ctx context.Context, cfg Config, op Op) (Result, error) {
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return Result{}, ErrUnbounded
	}
	clients := max(1, cfg.Clients)
	maxSamples := cfg.MaxSamples
	if maxSamples <= 0 {
		maxSamples = 4096
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	var (
		next     atomic.Int64
		done     atomic.Int64
		timedOut atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	samples := make([][]time.Duration, clients)
	stop := make(chan struct{})
	go func() {
		select {
		case <-deadline:
			timedOut.Store(true)
			close(stop)
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, min(maxSamples, 1024))
			defer func() { samples[c] = lat }()
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				i := next.Add(1) - 1
				if cfg.Requests > 0 && i >= cfg.Requests {
					return
				}
				t0 := time.Now()
				if err := op(ctx, c, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				if len(lat) < maxSamples {
					lat = append(lat, time.Since(t0))
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	res := Result{Ops: done.Load(), Elapsed: time.Since(start)}
	res.TimedOut = timedOut.Load() && (cfg.Requests <= 0 || res.Ops < cfg.Requests)
	if cfg.Requests <= 0 {
		res.TimedOut = false // the duration was the only bound: reaching it is the plan
	}
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s...)
	}
	if len(all) > 0 {
		slices.Sort(all)
		res.P50 = all[len(all)/2]
		res.P99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return res, firstErr
}
