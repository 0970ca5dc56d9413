package license

import (
	"sync"
	"time"
)

// Limiter decides whether one more attempt on a key (a license id, a key hash)
// is allowed now. Validation and activation calls consult it so that a leaked
// key cannot be hammered. Implementations must be safe for concurrent use; a
// product with several instances can plug in a shared one (Redis, the database).
type Limiter interface {
	// Allow takes one token for key at now, or reports how long to wait.
	Allow(key string, now time.Time) (ok bool, retryAfter time.Duration)
}

// TokenBucket is an in-process Limiter: each key has a bucket of Burst tokens
// refilled at Rate tokens per second. Idle buckets are dropped once full, so
// memory is bounded by the keys active within Burst/Rate seconds.
type TokenBucket struct {
	Rate  float64 // tokens per second, > 0
	Burst float64 // bucket size, >= 1

	mu      sync.Mutex
	buckets map[string]*bucket
	sweeps  int
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewTokenBucket returns a limiter allowing burst attempts at once and rate per second after.
func NewTokenBucket(rate, burst float64) *TokenBucket {
	if rate <= 0 {
		rate = 1
	}
	if burst < 1 {
		burst = 1
	}
	return &TokenBucket{Rate: rate, Burst: burst, buckets: map[string]*bucket{}}
}

// Allow implements Limiter.
func (l *TokenBucket) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.Burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.Burst, b.tokens+el*l.Rate)
		b.last = now
	}
	l.sweeps++
	if l.sweeps >= 1024 {
		l.sweeps = 0
		for k, o := range l.buckets {
			if k != key && o.tokens+now.Sub(o.last).Seconds()*l.Rate >= l.Burst {
				delete(l.buckets, k)
			}
		}
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
	return false, wait
}

// RateLimitedError returns the error for a refused attempt.
func RateLimitedError(retryAfter time.Duration) *Error {
	return Errorf(RateLimited, "", "too many attempts; retry after %s", retryAfter.Round(time.Millisecond))
}
