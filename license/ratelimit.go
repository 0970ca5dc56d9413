package license

import (
	"container/list"
	"errors"
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

// DefaultMaxKeys is how many keys a TokenBucket remembers when MaxKeys is 0.
const DefaultMaxKeys = 65536

// TokenBucket is an in-process Limiter: each key has a bucket of Burst tokens
// refilled at Rate tokens per second. Its memory is bounded: buckets that have
// refilled are dropped (a full bucket is the same as none), and at most
// MaxKeys buckets are kept; beyond that the least recently used bucket is
// evicted (so a key must stay quiet while MaxKeys other keys are used before
// it forgets its refusals). It is safe for concurrent use.
type TokenBucket struct {
	Rate    float64 // tokens per second, > 0
	Burst   float64 // bucket size, >= 1
	MaxKeys int     // at most this many buckets; 0 means DefaultMaxKeys

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
}

type bucket struct {
	key    string
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
	return &TokenBucket{Rate: rate, Burst: burst, buckets: map[string]*list.Element{}}
}

// Allow implements Limiter.
func (l *TokenBucket) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*list.Element{}
	}
	var b *bucket
	if e := l.buckets[key]; e != nil {
		b = e.Value.(*bucket)
		l.lru.MoveToFront(e)
	} else {
		max := l.MaxKeys
		if max <= 0 {
			max = DefaultMaxKeys
		}
		for len(l.buckets) >= max {
			l.drop(l.lru.Back())
		}
		b = &bucket{key: key, tokens: l.Burst, last: now}
		l.buckets[key] = l.lru.PushFront(b)
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.Burst, b.tokens+el*l.Rate)
		b.last = now
	}
	// Forget up to two idle buckets that have refilled: a steady trickle of
	// calls keeps the map near the number of keys actually limited.
	for i := 0; i < 2; i++ {
		e := l.lru.Back()
		if e == nil || e.Value.(*bucket) == b {
			break
		}
		o := e.Value.(*bucket)
		if o.tokens+now.Sub(o.last).Seconds()*l.Rate < l.Burst {
			break
		}
		l.drop(e)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
	return false, wait
}

func (l *TokenBucket) drop(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// Len is the number of buckets held (for tests and metrics).
func (l *TokenBucket) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// RateLimitedError returns the error for a refused attempt; its RetryAfter is
// retryAfter (adapters turn it into a Retry-After header).
func RateLimitedError(retryAfter time.Duration) *Error {
	e := Errorf(RateLimited, "", "too many attempts; retry after %s", retryAfter.Round(time.Millisecond))
	e.RetryAfter = retryAfter
	return e
}

// RetryAfterOf returns how long the first *Error in err's chain asks to wait
// before a retry (0 when it does not say).
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
