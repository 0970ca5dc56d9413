package pool

import "github.com/licensekit/licensekit/eventlog"

// Event types the pool service appends to the event log. Subject is the pool ID;
// Count is the number of licenses involved; Details is a JSON object.
const (
	EventCreated           eventlog.Type = "pool.created"
	EventUpdated           eventlog.Type = "pool.updated"
	EventClosed            eventlog.Type = "pool.closed"
	EventRetired           eventlog.Type = "pool.retired"
	EventPurchase          eventlog.Type = "pool.purchase"
	EventRentalPeriod      eventlog.Type = "pool.rental_period"
	EventMaintenance       eventlog.Type = "pool.maintenance"
	EventUpgrade           eventlog.Type = "pool.upgrade"
	EventReassign          eventlog.Type = "pool.reassign" // Source and Target are the pool IDs
	EventAllocated         eventlog.Type = "pool.allocated"
	EventAllocationChanged eventlog.Type = "pool.allocation_changed" // a named-user allocation's assets changed
	EventReleased          eventlog.Type = "pool.released"
	EventQuarantined       eventlog.Type = "pool.quarantined"
	EventLeaseAcquired     eventlog.Type = "pool.lease_acquired"
	EventLeaseHeartbeat    eventlog.Type = "pool.lease_heartbeat"
	EventLeaseReleased     eventlog.Type = "pool.lease_released"
	EventLeaseExpired      eventlog.Type = "pool.lease_expired"
	EventAttachmentAdded   eventlog.Type = "pool.attachment_added"
	EventAttachmentRemoved eventlog.Type = "pool.attachment_removed"
	EventCommentAdded      eventlog.Type = "pool.comment_added"
	EventSuspended         eventlog.Type = "pool.suspended"
	EventUnsuspended       eventlog.Type = "pool.unsuspended"
)

// allocatedEvent is the details of pool.allocated: the same JSON as the map
// of these five keys it replaced (keys in sorted order, every key present),
// encoded without sorting map keys.
type allocatedEvent struct {
	Allocation string `json:"allocation"`
	Automatic  bool   `json:"automatic"`
	Key        string `json:"key"`
	Rule       Rule   `json:"rule"`
	Software   string `json:"software"`
}

// releasedEvent is the details of pool.released, likewise.
type releasedEvent struct {
	Allocation string `json:"allocation"`
	Key        string `json:"key"`
	Reason     string `json:"reason"`
}

// leaseEvent is the details of the lease events: the same JSON as a map of
// "lease" and "user", encoded without sorting map keys.
type leaseEvent struct {
	Lease string `json:"lease"`
	User  string `json:"user"`
}
