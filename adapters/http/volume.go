package http

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
)

// NewVolumeLicense creates a volume license. RenewalDate is a date
// ("2027-06-30", meaning the end of that day in UTC) or an RFC 3339 time.
type NewVolumeLicense struct {
	Product      string        `json:"product"`
	Seats        int64         `json:"seats"`
	RenewalDate  string        `json:"renewal_date"`
	PricePerUser license.Money `json:"price_per_user"`
}

// OnboardBody onboards a customer with seats on one or more licenses.
type OnboardBody struct {
	LegalName   string         `json:"legal_name"`
	Allocations []volume.Seats `json:"allocations"`
}

// EditBody changes a customer's legal name (when set) and seats on the licenses listed.
type EditBody struct {
	LegalName   string         `json:"legal_name,omitempty"`
	Allocations []volume.Seats `json:"allocations,omitempty"`
}

// UsageBody reports how many users the product counts for a customer on a license.
type UsageBody struct {
	License string `json:"license"`
	Users   int64  `json:"users"`
}

// SeatsBody sets a volume license's seats.
type SeatsBody struct {
	Seats int64 `json:"seats"`
}

// Offboarded answers a customer removal.
type Offboarded struct {
	Offboarded string `json:"offboarded"`
}

// UsageReported answers a usage report.
type UsageReported struct {
	Customer string `json:"customer"`
	License  string `json:"license"`
	Users    int64  `json:"users"`
}

// CustomerView is a customer account with the version of its record (also
// its ETag).
type CustomerView struct {
	volume.Customer
	Version int64 `json:"version"`
}

// VolumeLicenseView is a volume license; PricePerUser is omitted for roles that
// may not see prices.
type VolumeLicenseView struct {
	volume.License
	PricePerUser *license.Money `json:"price_per_user,omitempty"`
	Unallocated  int64          `json:"unallocated"`
	// RenewalDate is the renewal's calendar date in UTC, YYYY-MM-DD.
	RenewalDate string `json:"renewal_date"`
	// Version is the version of the license's record (its ETag) on the
	// routes of a single license; absent in lists.
	Version int64 `json:"version,omitempty"`
}

// VolumeMetricsView is the metrics of a license page, prices redacted as above.
type VolumeMetricsView struct {
	volume.Metrics
	PricePerUser *license.Money `json:"price_per_user,omitempty"`
	// RenewalDate is the renewal's calendar date in UTC, YYYY-MM-DD.
	RenewalDate string `json:"renewal_date"`
}

// dateOf is the calendar date of t in UTC, YYYY-MM-DD ("" for the zero time).
func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// VolumePageView is a volume license page.
type VolumePageView struct {
	License   VolumeLicenseView `json:"license"`
	Metrics   VolumeMetricsView `json:"metrics"`
	Customers []volume.Row      `json:"customers"`
}

func volumeView(role license.Role, l volume.License) VolumeLicenseView {
	v := VolumeLicenseView{License: l, Unallocated: l.Unallocated(), RenewalDate: dateOf(l.RenewalDate)}
	if role.CanSeePrices() {
		p := l.PricePerUser
		v.PricePerUser = &p
	}
	return v
}

func parseDate(s, field string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, license.Errorf(license.Invalid, field, "%s must be a date (2027-06-30) or an RFC 3339 time", field)
}

var volumeQueryParams = []Param{
	{Name: "search", Description: "keep customers whose legal name contains this text"},
	{Name: "sort", Enum: []string{"name", "seats", "usage", "created"}, Description: "sort column"},
	{Name: "desc", Type: "boolean", Description: "sort descending"},
}

// ParseVolumeQuery reads ?search&sort&desc of a license page or export.
func ParseVolumeQuery(q url.Values, allowed ...string) (volume.Query, error) {
	var out volume.Query
	known := map[string]bool{"search": true, "sort": true, "desc": true}
	for _, a := range allowed {
		known[a] = true
	}
	for k, vs := range q {
		if !known[k] {
			return out, license.Errorf(license.Invalid, k, "unknown query parameter %q", k)
		}
		if len(vs) > 1 || len(vs[0]) > maxQueryValue {
			return out, license.Errorf(license.Invalid, k, "give %s once, at most %d bytes", k, maxQueryValue)
		}
	}
	out.Search = q.Get("search")
	switch s := volume.SortKey(q.Get("sort")); s {
	case "", volume.SortName, volume.SortSeats, volume.SortUsage, volume.SortCreated:
		out.Sort = s
	default:
		return out, license.Errorf(license.Invalid, "sort", "sort must be name, seats, usage or created")
	}
	d, err := queryBool(q.Get("desc"), "desc")
	out.Desc = d
	return out, err
}

func (h *Handler) volumeRoutes() []Route {
	v := func() *volume.Service { return h.cfg.Volume }
	export := Route{Method: "GET", Path: "/v1/volume-licenses/{id}/export", Tag: "volume", Access: Member,
		Summary:  "Export a volume license's customers as CSV or Excel (format=csv|xlsx, or the Accept header; 406 when neither is acceptable)",
		Produces: "text/csv", Alternatives: []string{XLSXContentType}, Status: http.StatusOK,
		Query: append([]Param{{Name: "format", Enum: []string{"csv", "xlsx"}, Description: "csv (default) or xlsx"}}, volumeQueryParams...),
		serve: func(c *call) error {
			q := c.r.URL.Query()
			vq, err := ParseVolumeQuery(q, "format")
			if err != nil {
				return err
			}
			id := c.path("id")
			format := q.Get("format")
			switch format {
			case "":
				// No format given: the Accept header chooses (CSV by default).
				mt, err := negotiate(c.r, mediaCSV, mediaXLSX)
				if err != nil {
					return err
				}
				format = "csv"
				if mt == mediaXLSX {
					format = "xlsx"
				}
			case "csv":
				if _, err := negotiate(c.r, mediaCSV); err != nil {
					return err
				}
			case "xlsx":
				if _, err := negotiate(c.r, mediaXLSX); err != nil {
					return err
				}
			}
			switch format {
			case "csv":
				lw := &lazyWriter{w: c.w, filename: "volume-license-customers.csv"}
				err = v().ExportCSV(c.r.Context(), c.actor, id, vq, lw)
				if err != nil && lw.started {
					panic(http.ErrAbortHandler)
				}
				if err == nil && !lw.started {
					_, _ = lw.Write(nil)
				}
				return err
			case "xlsx":
				lw := &lazyWriter{w: c.w, filename: "volume-license-customers.xlsx",
					contentType: XLSXContentType}
				err = v().ExportXLSX(c.r.Context(), c.actor, id, vq, lw)
				if err != nil && lw.started {
					panic(http.ErrAbortHandler)
				}
				return err
			}
			return license.Errorf(license.Invalid, "format", "format must be csv or xlsx")
		}}
	return []Route{
		withKey(created(op("POST", "/v1/volume-licenses", "volume", "Create a volume license", Manage,
			func(c *call, req NewVolumeLicense) (VolumeLicenseView, error) {
				d, err := parseDate(req.RenewalDate, "renewal_date")
				if err != nil {
					return VolumeLicenseView{}, err
				}
				l, err := v().CreateLicense(c.r.Context(), c.actor, volume.NewLicense{Product: req.Product, Seats: req.Seats,
					RenewalDate: d, PricePerUser: req.PricePerUser, IdempotencyKey: c.idem})
				return volumeView(c.actor.Role, l), err
			}))),
		paged(op("GET", "/v1/volume-licenses", "volume", "List the company's volume licenses", Member,
			func(c *call, _ none) (List[VolumeLicenseView], error) {
				ctx, err := c.keyset(volume.KindLicense)
				if err != nil {
					return List[VolumeLicenseView]{}, err
				}
				ls, err := v().Licenses(ctx, c.actor)
				out := make([]VolumeLicenseView, 0, len(ls))
				for _, l := range ls {
					out = append(out, volumeView(c.actor.Role, l))
				}
				return pageOf(c, out, err, func(l VolumeLicenseView) string { return l.ID })
			})),
		withQuery(versioned(op("GET", "/v1/volume-licenses/{id}", "volume", "A volume license page: metrics and the customer table (search, sort)", Member,
			func(c *call, _ none) (VolumePageView, error) {
				vq, err := ParseVolumeQuery(c.r.URL.Query())
				if err != nil {
					return VolumePageView{}, err
				}
				p, err := v().Page(c.r.Context(), c.actor, c.path("id"), vq)
				if err != nil {
					return VolumePageView{}, err
				}
				out := VolumePageView{License: volumeView(c.actor.Role, p.License), Metrics: VolumeMetricsView{Metrics: p.Metrics, RenewalDate: dateOf(p.Metrics.RenewalDate)}, Customers: p.Customers}
				if c.actor.Role.CanSeePrices() {
					pp := p.Metrics.PricePerUser
					out.Metrics.PricePerUser = &pp
				}
				if out.Customers == nil {
					out.Customers = []volume.Row{}
				}
				out.License.Version = c.version()
				return out, nil
			}), volume.KindLicense), volumeQueryParams...),
		export,
		versioned(op("PUT", "/v1/volume-licenses/{id}/seats", "volume", "Change a volume license's seats (never below the allocated seats; If-Match honoured)", Manage,
			func(c *call, req SeatsBody) (VolumeLicenseView, error) {
				l, err := v().SetSeats(c.r.Context(), c.actor, c.path("id"), req.Seats)
				out := volumeView(c.actor.Role, l)
				out.Version = c.version()
				return out, err
			}), volume.KindLicense),
		paged(op("GET", "/v1/customers", "volume", "List the customer accounts", Member,
			func(c *call, _ none) (List[volume.Customer], error) {
				ctx, err := c.keyset(volume.KindCustomer)
				if err != nil {
					return List[volume.Customer]{}, err
				}
				cs, err := v().Customers(ctx, c.actor)
				return pageOf(c, cs, err, func(cu volume.Customer) string { return cu.ID })
			})),
		withKey(created(op("POST", "/v1/customers", "volume", "Onboard a customer with seats on volume licenses", Manage,
			func(c *call, req OnboardBody) (volume.Customer, error) {
				return v().Onboard(c.r.Context(), c.actor, volume.Onboarding{LegalName: req.LegalName, Allocations: req.Allocations, IdempotencyKey: c.idem})
			}))),
		versioned(op("GET", "/v1/customers/{id}", "volume", "Get a customer account", Member,
			func(c *call, _ none) (CustomerView, error) {
				cu, err := v().Customer(c.r.Context(), c.actor, c.path("id"))
				return CustomerView{Customer: cu, Version: c.version()}, err
			}), volume.KindCustomer),
		op("GET", "/v1/customers/{id}/edit", "volume", "A customer's edit page: its seats and the seats remaining on each license", Member,
			func(c *call, _ none) (volume.EditView, error) {
				return v().EditView(c.r.Context(), c.actor, c.path("id"))
			}),
		versioned(op("PATCH", "/v1/customers/{id}", "volume", "Change a customer's legal name or seats (If-Match honoured)", Manage,
			func(c *call, req EditBody) (CustomerView, error) {
				cu, err := v().Edit(c.r.Context(), c.actor, c.path("id"), volume.Edit{LegalName: req.LegalName, Allocations: req.Allocations})
				return CustomerView{Customer: cu, Version: c.version()}, err
			}), volume.KindCustomer),
		versioned(op("DELETE", "/v1/customers/{id}", "volume", "Offboard a customer (its seats return to unallocated; If-Match honoured)", Manage,
			func(c *call, _ none) (Offboarded, error) {
				err := v().Offboard(c.r.Context(), c.actor, c.path("id"))
				return Offboarded{Offboarded: c.path("id")}, err
			}), volume.KindCustomer),
		op("POST", "/v1/customers/{id}/usage", "volume", "Report the users the product counts for a customer on a license", Editor,
			func(c *call, req UsageBody) (UsageReported, error) {
				err := v().ReportUsage(c.r.Context(), c.actor, c.path("id"), req.License, req.Users)
				return UsageReported{Customer: c.path("id"), License: req.License, Users: req.Users}, err
			}),
	}
}
