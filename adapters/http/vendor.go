package http

import (
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// DefaultOfflineGrace is Config.OfflineGrace when unset: a product that
// validated successfully may keep running a day without reaching the server.
const DefaultOfflineGrace = 24 * time.Hour

// ValidationAnswer is a validation result as the API answers it: the
// license.Validation and, when it is valid, offline_until, the instant until
// which the product may rely on this answer while the server cannot be
// reached (Config.OfflineGrace from now, never past the license's expiry).
type ValidationAnswer struct {
	license.Validation
	OfflineUntil *time.Time `json:"offline_until,omitempty"`
}

// answer adds the offline grace to a validation result.
func (h *Handler) answer(v license.Validation, err error) (ValidationAnswer, error) {
	if err != nil {
		return ValidationAnswer{}, err
	}
	out := ValidationAnswer{Validation: v}
	if !v.Valid || h.cfg.OfflineGrace < 0 {
		return out, nil
	}
	until := h.cfg.Clock.Now().UTC().Add(h.cfg.OfflineGrace)
	for _, end := range []*time.Time{v.ExpiresAt, v.GraceEnds} {
		if end != nil && end.Before(until) {
			until = end.UTC()
		}
	}
	out.OfflineUntil = &until
	return out, nil
}

// BorrowBody checks out a concurrent-user seat for offline use.
type BorrowBody struct {
	Consumer license.Consumer `json:"consumer"`
	Days     int              `json:"days"` // 1 to pool.MaxBorrowDays
}

// BorrowView is a borrowed seat: its lease (live until expires_at without
// heartbeats) and the Ed25519-signed license file (licensefile format) that
// lets the product run offline until then.
type BorrowView struct {
	Lease LeaseView `json:"lease"`
	File  string    `json:"file"`
}

// DeactivateBody names the consumer whose activation is undone.
type DeactivateBody struct {
	Consumer license.Consumer `json:"consumer"`
}

// vendorRoutes are the routes a shipped product's SDK (package client) needs
// besides validation and leases: undo an activation, and check a floating
// seat out for offline use with a signed license file.
func (h *Handler) vendorRoutes() []Route {
	p := func() *pool.Service { return h.cfg.Pools }
	return []Route{
		op("POST", "/v1/pools/{id}/deactivate", "validation", "Undo an activation: release the consumer's allocation (or concurrent-user lease); released is false when it held none", Editor,
			func(c *call, req DeactivateBody) (pool.Deactivation, error) {
				return p().Deactivate(c.r.Context(), c.actor, c.path("id"), req.Consumer)
			}),
		withKey(op("POST", "/v1/pools/{id}/borrow", "leases", "Borrow a concurrent-user seat for 1 to 30 days: the lease lives without heartbeats until then, with a signed license file for offline use (return it early with DELETE on the lease)", Editor,
			func(c *call, req BorrowBody) (BorrowView, error) {
				b, err := p().Borrow(c.r.Context(), c.actor, c.path("id"),
					pool.BorrowRequest{Consumer: req.Consumer, Days: req.Days, IdempotencyKey: c.idem},
					pool.FileSigner{Key: h.cfg.LicenseKey})
				return BorrowView{Lease: leaseView(b.Lease), File: b.File}, err
			})),
	}
}
