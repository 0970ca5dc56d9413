package http

import (
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// Durations in this API are whole seconds, in fields named *_seconds. The
// domain types keep time.Duration (nanoseconds in their JSON, which is also
// how they are stored); the views below show those fields in seconds
// instead and hide the nanosecond field with a shallower field of the same
// JSON name that is never set (an absent field).

// absent hides a field of an embedded domain type: it is never written, and
// a request that sends the hidden field is refused.
type absent struct{}

// UnmarshalJSON refuses the old field.
func (*absent) UnmarshalJSON([]byte) error {
	return license.Errorf(license.Invalid, "body", "this field was replaced: durations are whole seconds, in fields named *_seconds")
}

// PoolView is a pool as this API shows it: the lease time-to-live in
// seconds, and on the routes of a single pool the version of its record
// (also its ETag).
type PoolView struct {
	*pool.Pool
	LeaseTTL        *absent `json:"lease_ttl,omitempty"`
	LeaseTTLSeconds int64   `json:"lease_ttl_seconds,omitempty"`
	Version         int64   `json:"version,omitempty"`
}

func poolView(p *pool.Pool, version int64) PoolView {
	if p == nil {
		return PoolView{}
	}
	return PoolView{Pool: p, LeaseTTLSeconds: seconds(p.LeaseTTL), Version: version}
}

func poolViews(ps []*pool.Pool) []PoolView {
	out := make([]PoolView, 0, len(ps))
	for _, p := range ps {
		out = append(out, poolView(p, 0))
	}
	return out
}

// PoolSpecBody is the body of POST /v1/pools and PUT /v1/pools/{id}: a pool's
// editable attributes, the lease time-to-live in seconds (0: the default).
type PoolSpecBody struct {
	pool.Spec
	LeaseTTL        *absent `json:"lease_ttl,omitempty"`
	LeaseTTLSeconds int64   `json:"lease_ttl_seconds,omitempty"`
}

func (b PoolSpecBody) spec() (pool.Spec, error) {
	s := b.Spec
	lo, hi := int64(pool.MinLeaseTTL/time.Second), int64(pool.MaxLeaseTTL/time.Second)
	if b.LeaseTTLSeconds != 0 && (b.LeaseTTLSeconds < lo || b.LeaseTTLSeconds > hi) {
		return s, license.Errorf(license.Invalid, "lease_ttl_seconds", "lease_ttl_seconds must be between %d and %d", lo, hi)
	}
	s.LeaseTTL = time.Duration(b.LeaseTTLSeconds) * time.Second
	return s, nil
}

// LeaseView is a concurrent-user lease, its time-to-live in seconds.
type LeaseView struct {
	pool.Lease
	TTL        *absent `json:"ttl,omitempty"`
	TTLSeconds int64   `json:"ttl_seconds"`
}

func leaseView(l pool.Lease) LeaseView { return LeaseView{Lease: l, TTLSeconds: seconds(l.TTL)} }

func seconds(d time.Duration) int64 { return int64((d + time.Second/2) / time.Second) }
