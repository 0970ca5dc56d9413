package http

import (
	"net/http"
	"reflect"

	"github.com/licensekit/licensekit/license"
)

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}

// table is the route table: every route the handler serves.
func (h *Handler) table() []Route {
	var rs []Route
	rs = append(rs, h.systemRoutes()...)
	rs = append(rs, h.apiKeyRoutes()...)
	rs = append(rs, h.companyRoutes()...)
	rs = append(rs, h.siteRoutes()...)
	rs = append(rs, h.topUpRoutes()...)
	rs = append(rs, h.poolRoutes()...)
	rs = append(rs, h.attachmentRoutes()...)
	rs = append(rs, h.volumeRoutes()...)
	rs = append(rs, h.subscriptionRoutes()...)
	rs = append(rs, h.validateRoutes()...)
	rs = append(rs, h.eventRoutes()...)
	return rs
}

func (h *Handler) systemRoutes() []Route {
	openapi := Route{Method: "GET", Path: "/openapi.json", Tag: "system", Summary: "This API's OpenAPI 3 document",
		Access: Public, Produces: "application/json", Status: http.StatusOK,
		serve: func(c *call) error {
			c.w.Header().Set("Content-Type", "application/json")
			c.w.WriteHeader(http.StatusOK)
			_, _ = c.w.Write(h.openapi)
			return nil
		}}
	return []Route{
		op("GET", "/healthz", "system", "Liveness: the process answers", Public,
			func(c *call, _ none) (Health, error) { return Health{Status: "ok"}, nil }),
		op("GET", "/readyz", "system", "Readiness: the store can be reached", Public,
			func(c *call, _ none) (Health, error) {
				if err := h.cfg.Store.Ping(c.r.Context()); err != nil {
					return Health{}, license.Wrap(license.Unavailable, err, "the store cannot be reached")
				}
				return Health{Status: "ready"}, nil
			}),
		openapi,
	}
}

var _ = reflect.TypeFor[Health]
