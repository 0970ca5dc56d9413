// Package licensetest provides helpers for testing code that embeds
// licensekit, in the way net/http/httptest does for net/http: a [Clock] the
// test sets and advances, so that expiry, grace, quarantine and billing months
// can be checked at exact instants.
package licensetest

import (
	"sync"
	"time"
)

// Clock is a settable license.Clock for tests. The zero value starts at the
// zero time; use NewClock. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to t (converted to UTC).
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC()} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (converted to UTC).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC()
	c.mu.Unlock()
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
