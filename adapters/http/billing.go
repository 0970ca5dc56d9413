package http

import (
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
)

// NewCompany creates the caller's company (the key's company) when it does not
// exist yet.
type NewCompany struct {
	Name string `json:"name"`
}

// NewMember adds a member or changes a member's role.
type NewMember struct {
	Email string       `json:"email"`
	Role  license.Role `json:"role"`
}

// Quantity is the body of purchase, decrease, enrol and unenrol requests.
type Quantity struct {
	Quantity int64 `json:"quantity"`
}

// SiteView is a site as the API shows it: UnitPrice is omitted for roles that
// may not see prices.
type SiteView struct {
	billing.Site
	UnitPrice *license.Money `json:"unit_price,omitempty"`
	// Version is the version of the site's record (its ETag) on the answers
	// of GET and PATCH /v1/sites/{id}; absent elsewhere.
	Version int64 `json:"version,omitempty"`
}

func siteView(role license.Role, s billing.Site) SiteView {
	v := SiteView{Site: s}
	if role.CanSeePrices() {
		p := s.UnitPrice
		v.UnitPrice = &p
	}
	return v
}

// EnrollView is the outcome of an enrolment.
type EnrollView struct {
	Site     SiteView `json:"site"`
	ToppedUp int64    `json:"topped_up"`
}

func (h *Handler) companyRoutes() []Route {
	b := func() *billing.Service { return h.cfg.Billing }
	return []Route{
		created(op("POST", "/v1/company", "company", "Create the API key's company (tenants are bound to keys)", Owner,
			func(c *call, req NewCompany) (billing.Company, error) {
				return b().CreateCompany(c.r.Context(), c.actor, req.Name)
			})),
		op("GET", "/v1/company", "company", "The API key's company", Member,
			func(c *call, _ none) (billing.Company, error) { return b().GetCompany(c.r.Context(), c.actor) }),
		paged(op("GET", "/v1/company/members", "company", "The company's members and their roles", Manage,
			func(c *call, _ none) (List[billing.Member], error) {
				ms, err := b().Members(c.r.Context(), c.actor)
				return pageOf(c, ms, err, func(m billing.Member) string { return access.MemberID(m.Email) })
			})),
		op("PUT", "/v1/company/members", "company", "Add a member or change a member's role", Manage,
			func(c *call, req NewMember) (billing.Member, error) {
				return b().AddMember(c.r.Context(), c.actor, req.Email, req.Role)
			}),
		withQuery(op("GET", "/v1/company/invoice-estimate", "company", "Estimate the next monthly invoice", Prices,
			func(c *call, _ none) (billing.Invoice, error) {
				opts, err := parseEstimateQuery(c.r.URL.Query())
				if err != nil {
					return billing.Invoice{}, err
				}
				return b().Estimate(c.r.Context(), c.actor, opts)
			}),
			Param{Name: "month", Description: "the month whose activity is adjusted, YYYY-MM (default: the current month)"},
			Param{Name: "prorate", Type: "boolean", Description: "prorate adjustments by the days left in the month"}),
	}
}

// parseEstimateQuery reads ?month=YYYY-MM&prorate=true.
func parseEstimateQuery(q map[string][]string) (billing.EstimateOptions, error) {
	var opts billing.EstimateOptions
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if m := get("month"); m != "" {
		t, err := time.Parse("2006-01", m)
		if err != nil {
			return opts, license.Errorf(license.Invalid, "month", "month must be YYYY-MM")
		}
		opts.Month = t.UTC()
	}
	p, err := queryBool(get("prorate"), "prorate")
	if err != nil {
		return opts, err
	}
	opts.Prorate = p
	return opts, nil
}

func (h *Handler) siteRoutes() []Route {
	b := func() *billing.Service { return h.cfg.Billing }
	return []Route{
		created(op("POST", "/v1/sites", "sites", "Create a site", Manage,
			func(c *call, req billing.NewSite) (SiteView, error) {
				s, err := b().CreateSite(c.r.Context(), c.actor, req)
				return siteView(c.actor.Role, s), err
			})),
		paged(op("GET", "/v1/sites", "sites", "List the company's sites", Member,
			func(c *call, _ none) (List[SiteView], error) {
				ss, err := b().Sites(c.r.Context(), c.actor)
				out := make([]SiteView, 0, len(ss))
				for _, s := range ss {
					out = append(out, siteView(c.actor.Role, s))
				}
				return pageOf(c, out, err, func(s SiteView) string { return s.ID })
			})),
		versioned(op("GET", "/v1/sites/{id}", "sites", "Get a site", Member,
			func(c *call, _ none) (SiteView, error) {
				s, err := b().GetSite(c.r.Context(), c.actor, c.path("id"))
				v := siteView(c.actor.Role, s)
				v.Version = c.version()
				return v, err
			}), billing.KindSite),
		versioned(op("PATCH", "/v1/sites/{id}", "sites", "Change a site's name, plan, unit price, payment type or group (If-Match honoured)", Manage,
			func(c *call, req billing.SiteChange) (SiteView, error) {
				s, err := b().UpdateSite(c.r.Context(), c.actor, c.path("id"), req)
				v := siteView(c.actor.Role, s)
				v.Version = c.version()
				return v, err
			}), billing.KindSite),
		withKey(op("POST", "/v1/sites/{id}/enroll", "sites", "Record devices enrolled on a site (automatic top-up covers a shortfall when enabled)", Editor,
			func(c *call, req Quantity) (EnrollView, error) {
				r, err := b().Enroll(c.r.Context(), c.actor, billing.EnrollRequest{Site: c.path("id"), Devices: req.Quantity, IdempotencyKey: c.idem})
				return EnrollView{Site: siteView(c.actor.Role, r.Site), ToppedUp: r.ToppedUp}, err
			})),
		withKey(op("POST", "/v1/sites/{id}/unenroll", "sites", "Record devices removed from a site", Editor,
			func(c *call, req Quantity) (SiteView, error) {
				s, err := b().Unenroll(c.r.Context(), c.actor, billing.EnrollRequest{Site: c.path("id"), Devices: req.Quantity, IdempotencyKey: c.idem})
				return siteView(c.actor.Role, s), err
			})),
		op("POST", "/v1/sites/{id}/purchase/preview", "licenses", "Preview a purchase of licenses (changes nothing)", Manage,
			func(c *call, req Quantity) (billing.PurchaseQuote, error) {
				return b().PreviewPurchase(c.r.Context(), c.actor, billing.PurchaseRequest{Site: c.path("id"), Quantity: req.Quantity})
			}),
		withKey(op("POST", "/v1/sites/{id}/purchase", "licenses", "Purchase licenses for a site", Manage,
			func(c *call, req Quantity) (billing.PurchaseQuote, error) {
				return b().Purchase(c.r.Context(), c.actor, billing.PurchaseRequest{Site: c.path("id"), Quantity: req.Quantity, IdempotencyKey: c.idem})
			})),
		op("POST", "/v1/sites/{id}/decrease/preview", "licenses", "Preview a decrease of licenses (changes nothing)", Manage,
			func(c *call, req Quantity) (billing.DecreaseQuote, error) {
				return b().PreviewDecrease(c.r.Context(), c.actor, billing.DecreaseRequest{Site: c.path("id"), Quantity: req.Quantity})
			}),
		withKey(op("POST", "/v1/sites/{id}/decrease", "licenses", "Decrease the licenses of a site (never below its enrolled devices)", Manage,
			func(c *call, req Quantity) (billing.DecreaseQuote, error) {
				return b().Decrease(c.r.Context(), c.actor, billing.DecreaseRequest{Site: c.path("id"), Quantity: req.Quantity, IdempotencyKey: c.idem})
			})),
		op("POST", "/v1/transfers/preview", "licenses", "Preview a transfer of licenses between two sites (changes nothing)", Manage,
			func(c *call, req billing.TransferRequest) (billing.TransferQuote, error) {
				return b().PreviewTransfer(c.r.Context(), c.actor, req)
			}),
		withKey(op("POST", "/v1/transfers", "licenses", "Transfer licenses between two sites", Manage,
			func(c *call, req billing.TransferRequest) (billing.TransferQuote, error) {
				req.IdempotencyKey = c.idem
				return b().Transfer(c.r.Context(), c.actor, req)
			})),
	}
}
