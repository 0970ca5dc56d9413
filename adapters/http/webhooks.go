package http

import (
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/webhook"
)

// NewWebhookBody registers a webhook endpoint.
type NewWebhookBody struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
}

// RotateSecretBody asks for a new webhook secret; the previous one keeps
// signing beside it for OverlapSeconds (0 or absent: a day; at most a week;
// -1 ends it at once).
type RotateSecretBody struct {
	OverlapSeconds int64 `json:"overlap_seconds,omitempty"`
}

func (h *Handler) webhookRoutes() []Route {
	w := func() *webhook.Service { return h.cfg.Webhooks }
	return []Route{
		created(withKey(op("POST", "/v1/webhooks", "webhooks", "Register a webhook endpoint; the answer holds its signing secret, shown this once", Owner,
			func(c *call, req NewWebhookBody) (webhook.Created, error) {
				return w().Create(c.r.Context(), c.actor, webhook.CreateRequest{URL: req.URL, Events: req.Events,
					Description: req.Description, IdempotencyKey: c.idem})
			}))),
		paged(op("GET", "/v1/webhooks", "webhooks", "List the company's webhook endpoints", Owner,
			func(c *call, _ none) (List[webhook.Endpoint], error) {
				es, err := w().List(c.r.Context(), c.actor)
				return pageOf(c, es, err, func(e webhook.Endpoint) string { return e.ID })
			})),
		op("GET", "/v1/webhooks/{id}", "webhooks", "A webhook endpoint", Owner,
			func(c *call, _ none) (webhook.Endpoint, error) { return w().Get(c.r.Context(), c.actor, c.path("id")) }),
		op("PATCH", "/v1/webhooks/{id}", "webhooks", "Change a webhook endpoint's URL, event types, description or enabled state (enabling resets its failure count)", Owner,
			func(c *call, req webhook.UpdateRequest) (webhook.Endpoint, error) {
				return w().Update(c.r.Context(), c.actor, c.path("id"), req)
			}),
		op("DELETE", "/v1/webhooks/{id}", "webhooks", "Delete a webhook endpoint (its pending deliveries fail)", Owner,
			func(c *call, _ none) (webhook.Endpoint, error) {
				return w().Delete(c.r.Context(), c.actor, c.path("id"))
			}),
		unsafeRetry(op("POST", "/v1/webhooks/{id}/rotate-secret", "webhooks", "Make a new signing secret (shown this once); the previous one also signs during the overlap", Owner,
			func(c *call, req RotateSecretBody) (webhook.Created, error) {
				if req.OverlapSeconds < -1 {
					return webhook.Created{}, license.Errorf(license.Invalid, "overlap_seconds", "overlap_seconds must be -1 (none), 0 (the default) or positive")
				}
				return w().RotateSecret(c.r.Context(), c.actor, c.path("id"), time.Duration(req.OverlapSeconds)*time.Second)
			})),
		paged(withQuery(op("GET", "/v1/webhooks/{id}/deliveries", "webhooks", "The endpoint's deliveries with their status and attempts", Owner,
			func(c *call, _ none) (List[webhook.Delivery], error) {
				st := webhook.Status(c.r.URL.Query().Get("status"))
				switch st {
				case "", webhook.StatusPending, webhook.StatusDelivered, webhook.StatusFailed:
				default:
					return List[webhook.Delivery]{}, license.Errorf(license.Invalid, "status", "status must be pending, delivered or failed")
				}
				ds, err := w().Deliveries(c.r.Context(), c.actor, c.path("id"), st)
				return pageOf(c, ds, err, func(d webhook.Delivery) string { return d.ID })
			}),
			Param{Name: "status", Enum: []string{"pending", "delivered", "failed"}, Description: "only deliveries in this status"})),
		unsafeRetry(op("POST", "/v1/webhooks/{id}/deliveries/{delivery}/redeliver", "webhooks", "Send a delivery again, with the same delivery ID and body", Owner,
			func(c *call, _ none) (webhook.Delivery, error) {
				return w().Redeliver(c.r.Context(), c.actor, c.path("id"), c.path("delivery"))
			})),
	}
}
