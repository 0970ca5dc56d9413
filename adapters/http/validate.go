package http

import (
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// SuspendBody suspends a pool, with an optional reason shown in validation answers.
type SuspendBody struct {
	Reason string `json:"reason,omitempty"`
}

// validateRoutes are the vendor-validation routes: validate a consumer against
// a pool (never changes state), validate and allocate in one transaction, and
// suspend or unsuspend a pool. A refused validation is a 200 answer whose code
// says why (license.Validation); only bad input, a missing role or a rate
// limit are errors.
func (h *Handler) validateRoutes() []Route {
	p := func() *pool.Service { return h.cfg.Pools }
	return []Route{
		op("POST", "/v1/pools/{id}/validate", "validation", "Validate a consumer against a pool: valid or one typed code, in the documented order (never changes state)", Member,
			func(c *call, req pool.ValidationRequest) (license.Validation, error) {
				return p().ValidateRequest(c.r.Context(), c.actor, c.path("id"), req)
			}),
		op("POST", "/v1/pools/{id}/validate-and-allocate", "validation", "Validate a consumer and, when it only lacks an allocation and a license is free, allocate it in the same transaction", Editor,
			func(c *call, req pool.ValidationRequest) (license.Validation, error) {
				return p().ValidateRequestAndAllocate(c.r.Context(), c.actor, c.path("id"), req)
			}),
		op("POST", "/v1/pools/{id}/suspend", "pools", "Suspend a pool: validation answers suspended, no new allocations", Manage,
			func(c *call, req SuspendBody) (*pool.Pool, error) {
				return p().Suspend(c.r.Context(), c.actor, c.path("id"), req.Reason)
			}),
		op("POST", "/v1/pools/{id}/unsuspend", "pools", "Lift a pool's suspension", Manage,
			func(c *call, _ none) (*pool.Pool, error) { return p().Unsuspend(c.r.Context(), c.actor, c.path("id")) }),
	}
}
