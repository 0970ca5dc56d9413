package http

import (
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
)

// SubscriptionPurchase buys subscription licenses.
type SubscriptionPurchase struct {
	Type             subscription.Type          `json:"type"`
	Quantity         int                        `json:"quantity"`
	Period           subscription.BillingPeriod `json:"billing_period,omitempty"`
	UnitPrice        license.Money              `json:"unit_price"`
	NoAutoRenew      bool                       `json:"no_auto_renew,omitempty"`
	ManualActivation bool                       `json:"manual_activation,omitempty"`
}

// TrialBody starts trial licenses ending at the end of EndsOn (a date, UTC).
type TrialBody struct {
	Type     subscription.Type `json:"type"`
	Quantity int               `json:"quantity"`
	EndsOn   string            `json:"ends_on"`
}

// ActivateBody activates a license by its key, optionally converting a trial.
type ActivateBody struct {
	Key          string `json:"key"`
	ConvertTrial string `json:"convert_trial,omitempty"`
}

// AssignBody assigns a license of Type to a consumer (License: a given one).
type AssignBody struct {
	Type     subscription.Type `json:"type"`
	Consumer license.Consumer  `json:"consumer"`
	License  string            `json:"license,omitempty"`
}

// UnassignBody takes a consumer's license of Type back to the pool.
type UnassignBody struct {
	Type     subscription.Type `json:"type"`
	Consumer license.Consumer  `json:"consumer"`
}

// Switch turns a setting on or off.
type Switch struct {
	On bool `json:"on"`
}

// BulkDeleteBody selects the expired licenses to delete.
type BulkDeleteBody struct {
	Mode subscription.DeleteMode `json:"mode"`
}

// Unassigned answers an unassignment.
type Unassigned struct {
	Unassigned bool `json:"unassigned"`
}

// replayed marks the answer to a replayed secret-issuing request.
func replayed(c *call, yes bool) {
	if yes {
		c.w.Header().Set(IdempotencyReplayedHeader, "true")
	}
}

func subView(role license.Role, l subscription.License) subscription.License {
	if !role.CanSeePrices() {
		l.UnitPrice = nil
	}
	return l
}

// SubscriptionLicenseView is a subscription license with the version of its
// record (also its ETag), on the routes of a single license.
type SubscriptionLicenseView struct {
	subscription.License
	Version int64 `json:"version,omitempty"`
}

func (h *Handler) subscriptionRoutes() []Route {
	s := func() *subscription.Service { return h.cfg.Subscriptions }
	return []Route{
		paged(op("GET", "/v1/subscriptions/licenses", "subscriptions", "List the company's subscription licenses", Member,
			func(c *call, _ none) (List[subscription.License], error) {
				ls, err := s().Licenses(c.r.Context(), c.actor)
				out := make([]subscription.License, 0, len(ls))
				for _, l := range ls {
					out = append(out, subView(c.actor.Role, l))
				}
				return pageOf(c, out, err, func(l subscription.License) string { return l.ID })
			})),
		versioned(op("GET", "/v1/subscriptions/licenses/{id}", "subscriptions", "Get a subscription license", Member,
			func(c *call, _ none) (SubscriptionLicenseView, error) {
				l, err := s().License(c.r.Context(), c.actor, c.path("id"))
				return SubscriptionLicenseView{License: subView(c.actor.Role, l), Version: c.version()}, err
			}), subscription.KindLicense),
		withKey(created(op("POST", "/v1/subscriptions/purchase", "subscriptions", "Buy subscription licenses (their keys are shown once; a replay answers without them)", Manage,
			func(c *call, req SubscriptionPurchase) (subscription.Issued, error) {
				out, err := s().Purchase(c.r.Context(), c.actor, subscription.Purchase{Type: req.Type, Quantity: req.Quantity, Period: req.Period,
					UnitPrice: req.UnitPrice, NoAutoRenew: req.NoAutoRenew, ManualActivation: req.ManualActivation, IdempotencyKey: c.idem})
				replayed(c, out.Replayed)
				return out, err
			}))),
		withKey(created(op("POST", "/v1/subscriptions/trials", "subscriptions", "Start trial licenses (their keys are shown once; a replay answers without them)", Manage,
			func(c *call, req TrialBody) (subscription.Issued, error) {
				d, err := parseDate(req.EndsOn, "ends_on")
				if err != nil {
					return subscription.Issued{}, err
				}
				out, err := s().StartTrial(c.r.Context(), c.actor, subscription.TrialRequest{Type: req.Type, Quantity: req.Quantity, EndsOn: d, IdempotencyKey: c.idem})
				replayed(c, out.Replayed)
				return out, err
			}))),
		withKey(op("POST", "/v1/subscriptions/licenses/{id}/reissue-key", "subscriptions", "Replace a license's key: the old key stops working, the new one is shown once (a replay answers without it)", Manage,
			func(c *call, _ none) (subscription.Reissued, error) {
				out, err := s().ReissueKey(c.r.Context(), c.actor, c.path("id"), subscription.ReissueRequest{IdempotencyKey: c.idem})
				replayed(c, out.Replayed)
				out.License = subView(c.actor.Role, out.License)
				return out, err
			})),
		op("POST", "/v1/subscriptions/activate", "subscriptions", "Activate a license by its key (optionally converting a trial)", Editor,
			func(c *call, req ActivateBody) (subscription.License, error) {
				l, err := s().Activate(c.r.Context(), c.actor, subscription.Activation{Key: req.Key, ConvertTrial: req.ConvertTrial})
				return subView(c.actor.Role, l), err
			}),
		op("POST", "/v1/subscriptions/assign", "subscriptions", "Assign a license to a user or computer", Editor,
			func(c *call, req AssignBody) (subscription.License, error) {
				l, err := s().Assign(c.r.Context(), c.actor, subscription.AssignRequest{Type: req.Type, Consumer: req.Consumer, License: req.License})
				return subView(c.actor.Role, l), err
			}),
		op("POST", "/v1/subscriptions/unassign", "subscriptions", "Take a consumer's license back to the pool", Editor,
			func(c *call, req UnassignBody) (Unassigned, error) {
				err := s().Unassign(c.r.Context(), c.actor, req.Type, req.Consumer)
				return Unassigned{Unassigned: err == nil}, err
			}),
		paged(op("GET", "/v1/subscriptions/assignments", "subscriptions", "List the company's assignments", Member,
			func(c *call, _ none) (List[subscription.Assignment], error) {
				as, err := s().Assignments(c.r.Context(), c.actor)
				return pageOf(c, as, err, assignmentKey)
			})),
		versioned(op("PUT", "/v1/subscriptions/licenses/{id}/auto-renew", "subscriptions", "Turn a license's auto-renewal on or off (If-Match honoured)", Manage,
			func(c *call, req Switch) (SubscriptionLicenseView, error) {
				l, err := s().SetAutoRenew(c.r.Context(), c.actor, c.path("id"), req.On)
				return SubscriptionLicenseView{License: subView(c.actor.Role, l), Version: c.version()}, err
			}), subscription.KindLicense),
		op("GET", "/v1/subscriptions/settings", "subscriptions", "The company's subscription settings (billing period, automatic exchange)", Member,
			func(c *call, _ none) (subscription.Settings, error) { return s().Settings(c.r.Context(), c.actor) }),
		op("PUT", "/v1/subscriptions/settings/auto-exchange", "subscriptions", "Switch the automatic exchange of expired licenses", Manage,
			func(c *call, req Switch) (subscription.Settings, error) {
				return s().SetAutoExchange(c.r.Context(), c.actor, req.On)
			}),
		op("PUT", "/v1/subscriptions/user-settings", "subscriptions", "Set a user's license allocation (global pool or user pool with a limit)", Manage,
			func(c *call, req subscription.UserSettings) (subscription.UserSettings, error) {
				return s().SetUserSettings(c.r.Context(), c.actor, req)
			}),
		op("PUT", "/v1/subscriptions/company-settings", "subscriptions", "Set a customer company's license allocation for all its users", Manage,
			func(c *call, req subscription.CompanySettings) (subscription.CompanySettings, error) {
				return s().SetCompanySettings(c.r.Context(), c.actor, req)
			}),
		op("POST", "/v1/subscriptions/bulk-delete", "subscriptions", "Delete expired licenses (all, with auto-renewal, or unassigned)", Manage,
			func(c *call, req BulkDeleteBody) (subscription.BulkResult, error) {
				return s().BulkDelete(c.r.Context(), c.actor, req.Mode)
			}),
		paged(op("GET", "/v1/subscriptions/charges", "subscriptions", "Purchase and renewal charges (what an invoice reads)", Prices,
			func(c *call, _ none) (List[subscription.Charge], error) {
				cs, err := s().Charges(c.r.Context(), c.actor)
				return pageOf(c, cs, err, func(ch subscription.Charge) string { return ch.ID })
			})),
	}
}
