// Package pool manages license pools: a named stock of licenses for one or more
// managed software items, consumed under one metric (named user, installed
// instance, concurrent user, physical server, physical CPU). A [Service] creates
// and closes or retires pools, records license transactions (purchase, rental
// period, maintenance, upgrade, reassign) from which the total at any moment is
// derived, allocates licenses manually or automatically by the pool's rule from
// facts the embedding product reports ([Service.Reconcile]), holds
// concurrent-user seats as leases with heartbeats, quarantines licenses
// released before the minimum allocation time, and reports the item status pane
// ([Service.Status]), where allocated + quarantined + available always equals
// the total (a shortfall is reported separately). The consumption and
// eligibility rules are pure functions ([DemandOf], [CheckRestrictions],
// [CheckUsable], [CheckCapacity], [ChoosePool], [ComputeCounts]) for reuse by
// validation front ends. Vendors embedding licensekit ask [Service.Validate]
// whether a consumer may use a pool now (one typed license.ValidationCode, in
// the fixed order of license.ValidationOrder, never changing state); with
// license.ValidationRequest.Allocate set, the same call allocates atomically
// when only the allocation is missing. Pools carry entitlements (feature codes), a
// grace period after a rental expires, and can be suspended. Every change is
// one storage transaction that also appends its pool.* events.
package pool
