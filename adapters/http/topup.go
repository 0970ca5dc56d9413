package http

import (
	"strings"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/topup"
)

// IncrementBody sets a site's top-up increment (a multiple of 5).
type IncrementBody struct {
	Increment int64 `json:"increment"`
}

// RecipientsBody adds notification recipients.
type RecipientsBody struct {
	Emails []string `json:"emails"`
}

// Recipients is the company's list of top-up notification recipients.
type Recipients struct {
	Recipients []string `json:"recipients"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Handler) topUpRoutes() []Route {
	t := func() *topup.Service { return h.cfg.TopUp }
	return []Route{
		op("GET", "/v1/topup", "topup", "The company's automatic top-up settings, site increments and recipients", Member,
			func(c *call, _ none) (topup.Settings, error) { return t().Get(c.r.Context(), c.actor) }),
		op("POST", "/v1/topup/enable", "topup", "Enable automatic top-up for every site (needs the accepted terms version)", Manage,
			func(c *call, req topup.EnableRequest) (topup.Settings, error) {
				return t().Enable(c.r.Context(), c.actor, req)
			}),
		op("POST", "/v1/topup/disable", "topup", "Disable automatic top-up", Manage,
			func(c *call, _ none) (topup.Settings, error) { return t().Disable(c.r.Context(), c.actor) }),
		op("PUT", "/v1/topup/sites/{id}/increment", "topup", "Set a site's top-up increment (multiples of 5)", Manage,
			func(c *call, req IncrementBody) (topup.SiteIncrement, error) {
				return t().SetIncrement(c.r.Context(), c.actor, c.path("id"), req.Increment)
			}),
		op("POST", "/v1/sites/{id}/enroll/preview", "topup", "Preview enrolling devices on a site: the shortfall and the licenses top-up would add (changes nothing)", Member,
			func(c *call, req Quantity) (topup.Quote, error) {
				return t().Preview(c.r.Context(), c.actor, c.path("id"), req.Quantity)
			}),
		paged(op("GET", "/v1/topup/recipients", "topup", "List the top-up notification recipients", Manage,
			func(c *call, _ none) (List[string], error) {
				r, err := t().Recipients(c.r.Context(), c.actor)
				return pageOf(c, r, err, strings.ToLower)
			})),
		op("POST", "/v1/topup/recipients", "topup", "Add top-up notification recipients", Manage,
			func(c *call, req RecipientsBody) (Recipients, error) {
				if len(req.Emails) == 0 {
					return Recipients{}, license.Errorf(license.Invalid, "emails", "give at least one e-mail address")
				}
				r, err := t().AddRecipients(c.r.Context(), c.actor, req.Emails...)
				return Recipients{Recipients: nonNil(r)}, err
			}),
		op("DELETE", "/v1/topup/recipients/{email}", "topup", "Remove a top-up notification recipient", Manage,
			func(c *call, _ none) (Recipients, error) {
				r, err := t().RemoveRecipient(c.r.Context(), c.actor, c.path("email"))
				return Recipients{Recipients: nonNil(r)}, err
			}),
		paged(op("GET", "/v1/topup/owners", "topup", "The company's owners, to choose recipients from", Manage,
			func(c *call, _ none) (List[string], error) {
				o, err := t().Owners(c.r.Context(), c.actor)
				return pageOf(c, o, err, strings.ToLower)
			})),
		paged(withQuery(op("GET", "/v1/topup/notifications", "topup", "Top-up notifications (the outbox) and their delivery status", Manage,
			func(c *call, _ none) (List[topup.OutboxEntry], error) {
				st := topup.Status(c.r.URL.Query().Get("status"))
				switch st {
				case "", topup.StatusPending, topup.StatusDelivered, topup.StatusFailed:
				default:
					return List[topup.OutboxEntry]{}, license.Errorf(license.Invalid, "status", "status must be pending, delivered or failed")
				}
				es, err := t().Outbox(c.r.Context(), c.actor, st)
				return pageOf(c, es, err, func(e topup.OutboxEntry) string { return e.ID })
			}),
			Param{Name: "status", Enum: []string{"pending", "delivered", "failed"}, Description: "only notifications in this status"})),
	}
}
