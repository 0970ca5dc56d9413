package http

import (
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// ValidateKeyBody validates the subscription license whose key is Key; the
// other fields are those of every validation request (consumer, software,
// features).
type ValidateKeyBody struct {
	Key string `json:"key"`
	license.ValidationRequest
}

// SuspendBody suspends a pool or a license, with an optional reason shown in validation answers.
type SuspendBody struct {
	Reason string `json:"reason,omitempty"`
}

// validateRoutes are the vendor-validation routes: validate a consumer against
// a pool (never changes state), validate and allocate in one transaction, and
// suspend or unsuspend a pool; and the same for subscription licenses (by ID
// or by key), with their vendor terms (entitlements, grace days). A refused validation is a 200 answer whose code
// says why (license.Validation); only bad input, a missing role or a rate
// limit are errors.
func (h *Handler) validateRoutes() []Route {
	p := func() *pool.Service { return h.cfg.Pools }
	sub := func() *subscription.Service { return h.cfg.Subscriptions }
	return []Route{
		op("POST", "/v1/pools/{id}/validate", "validation", "Validate a consumer against a pool: valid or one typed code, in the documented order (never changes state)", Member,
			func(c *call, req license.ValidationRequest) (ValidationAnswer, error) {
				return h.answer(p().Validate(c.r.Context(), c.actor, c.path("id"), req))
			}),
		op("POST", "/v1/pools/{id}/validate-and-allocate", "validation", "Validate a consumer and, when it only lacks an allocation and a license is free, allocate it in the same transaction", Editor,
			func(c *call, req license.ValidationRequest) (ValidationAnswer, error) {
				req.Allocate = true
				return h.answer(p().Validate(c.r.Context(), c.actor, c.path("id"), req))
			}),
		op("POST", "/v1/pools/{id}/suspend", "pools", "Suspend a pool: validation answers suspended, no new allocations", Manage,
			func(c *call, req SuspendBody) (PoolView, error) {
				pl, err := p().Suspend(c.r.Context(), c.actor, c.path("id"), req.Reason)
				return poolView(pl, 0), err
			}),
		op("POST", "/v1/pools/{id}/unsuspend", "pools", "Lift a pool's suspension", Manage,
			func(c *call, _ none) (PoolView, error) {
				pl, err := p().Unsuspend(c.r.Context(), c.actor, c.path("id"))
				return poolView(pl, 0), err
			}),
		op("POST", "/v1/subscriptions/licenses/{id}/validate", "validation", "Validate a consumer against a subscription license (never changes state)", Member,
			func(c *call, req license.ValidationRequest) (ValidationAnswer, error) {
				return h.answer(sub().Validate(c.r.Context(), c.actor, c.path("id"), req))
			}),
		op("POST", "/v1/subscriptions/validate-key", "validation", "Validate a consumer against the subscription license of a key (never changes state)", Member,
			func(c *call, req ValidateKeyBody) (ValidationAnswer, error) {
				return h.answer(sub().ValidateKey(c.r.Context(), c.actor, req.Key, req.ValidationRequest))
			}),
		op("GET", "/v1/subscriptions/licenses/{id}/terms", "subscriptions", "A license's vendor terms: entitlements, grace days, suspension", Member,
			func(c *call, _ none) (subscription.Terms, error) {
				return sub().Terms(c.r.Context(), c.actor, c.path("id"))
			}),
		op("PUT", "/v1/subscriptions/licenses/{id}/terms", "subscriptions", "Set a license's entitlements and grace days", Manage,
			func(c *call, req subscription.TermsInput) (subscription.Terms, error) {
				return sub().SetTerms(c.r.Context(), c.actor, c.path("id"), req)
			}),
		op("POST", "/v1/subscriptions/licenses/{id}/suspend", "subscriptions", "Suspend a license: validation answers suspended", Manage,
			func(c *call, req SuspendBody) (subscription.Terms, error) {
				return sub().Suspend(c.r.Context(), c.actor, c.path("id"), req.Reason)
			}),
		op("POST", "/v1/subscriptions/licenses/{id}/unsuspend", "subscriptions", "Lift a license's suspension", Manage,
			func(c *call, _ none) (subscription.Terms, error) {
				return sub().Unsuspend(c.r.Context(), c.actor, c.path("id"))
			}),
	}
}
