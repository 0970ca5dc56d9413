package http

import (
	"context"
	"errors"
	"net/http"
	"reflect"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
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
	rs = append(rs, h.vendorRoutes()...)
	rs = append(rs, h.eventRoutes()...)
	rs = append(rs, h.webhookRoutes()...)
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
				if err := h.probeStore(c.r.Context()); err != nil {
					return Health{}, err
				}
				return Health{Status: "ready"}, nil
			}),
		openapi,
	}
}

// probeStore is the readiness probe: a ping and an empty read transaction,
// both within Config.ReadyTimeout. A store whose connections are all taken
// (a saturated pool) fails it as surely as one that cannot be reached.
func (h *Handler) probeStore(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, h.cfg.ReadyTimeout)
	defer cancel()
	err := h.cfg.Store.Ping(pctx)
	if err == nil {
		err = h.cfg.Store.View(pctx, func(storage.Tx) error { return nil })
	}
	if err == nil {
		return nil
	}
	if errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return license.Errorf(license.Unavailable, "store",
			"the store gave no connection within %s: it is saturated (every connection is in use)", h.cfg.ReadyTimeout)
	}
	return license.Wrap(license.Unavailable, err, "the store cannot be reached")
}

var _ = reflect.TypeFor[Health]
