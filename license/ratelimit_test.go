package license_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
)

func TestTokenBucket(t *testing.T) {
	l := license.NewTokenBucket(2, 3) // 2/s, burst 3
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		ok, _ := l.Allow("k", t0)
		require.True(t, ok, "burst %d", i)
	}
	ok, wait := l.Allow("k", t0)
	require.False(t, ok)
	assert.Equal(t, 500*time.Millisecond, wait)
	ok, _ = l.Allow("other", t0)
	assert.True(t, ok, "keys are independent")
	ok, _ = l.Allow("k", t0.Add(500*time.Millisecond))
	assert.True(t, ok, "refilled one token")
	ok, _ = l.Allow("k", t0.Add(500*time.Millisecond))
	assert.False(t, ok)
	assert.Equal(t, license.RateLimited, license.RateLimitedError(wait).Code)
	assert.Equal(t, wait, license.RetryAfterOf(fmt.Errorf("wrapped: %w", license.RateLimitedError(wait))))
	assert.Zero(t, license.RetryAfterOf(license.ErrNotFound))
}

// Many keys (addresses, key prefixes) never grow the map beyond MaxKeys; the
// least recently used bucket is the one forgotten, so a key in use keeps its
// refusals while a flood of fresh keys passes by.
func TestTokenBucketBoundedLRU(t *testing.T) {
	l := &license.TokenBucket{Rate: 1.0 / 60, Burst: 2, MaxKeys: 100}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		ok, _ := l.Allow("attacker", now)
		require.True(t, ok)
	}
	for i := 0; i < 10000; i++ {
		l.Allow(fmt.Sprintf("flood-%d", i), now)
		require.LessOrEqual(t, l.Len(), 100)
		if i%50 == 0 {
			ok, _ := l.Allow("attacker", now)
			require.False(t, ok, "the attacker's bucket is in use and must not be evicted (i=%d)", i)
		}
	}
	assert.Equal(t, 100, l.Len())
	// Buckets that refilled are dropped as calls go on.
	later := now.Add(time.Hour)
	for i := 0; i < 200; i++ {
		l.Allow("steady", later.Add(time.Duration(i)*time.Minute))
	}
	assert.Equal(t, 1, l.Len(), "only the key in use remains")
}

func TestTokenBucketDefaultBound(t *testing.T) {
	l := license.NewTokenBucket(1, 1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < license.DefaultMaxKeys+500; i++ {
		l.Allow(strconv.Itoa(i), now)
	}
	assert.Equal(t, license.DefaultMaxKeys, l.Len())
}

func TestTokenBucketConcurrentNeverExceedsBurst(t *testing.T) {
	l := license.NewTokenBucket(1, 10)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if ok, _ := l.Allow("leaked-key", now); ok {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(10), allowed.Load())
}

func TestExpiryCheckAndEntitlements(t *testing.T) {
	exp := license.EndOfDay(time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC))
	c, _ := license.ExpiryCheck(exp, exp, 0)
	assert.Equal(t, license.CodeValid, c)
	c, _ = license.ExpiryCheck(exp.Add(time.Nanosecond), exp, 0)
	assert.Equal(t, license.CodeExpired, c)
	c, end := license.ExpiryCheck(exp.Add(time.Hour), exp, 48*time.Hour)
	assert.Equal(t, license.CodeInGrace, c)
	require.NotNil(t, end)
	assert.Equal(t, exp.Add(48*time.Hour), *end)
	c, _ = license.ExpiryCheck(exp.Add(49*time.Hour), exp, 48*time.Hour)
	assert.Equal(t, license.CodeExpired, c)
	c, _ = license.ExpiryCheck(exp.AddDate(100, 0, 0), time.Time{}, 0)
	assert.Equal(t, license.CodeValid, c, "perpetual never expires")
	assert.Equal(t, []string{"b", "d"}, license.MissingEntitlements([]string{"a", "c"}, []string{"a", "b", "c", "d"}))
	assert.Nil(t, license.MissingEntitlements([]string{"a"}, nil))
}
