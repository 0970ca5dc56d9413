package console

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
)

// siteRow is one row of the sites table.
type siteRow struct {
	ID, Name, Plan, Payment, Group string
	Price                          string // "" when the role may not see prices
	Licenses                       string // "—" when no amount is set
	LicenseN, Enrolled, Available  int64
}

// siteSorts are the sortable columns of the sites table.
var siteSorts = map[string]func(a, b billing.Site) int{
	"site":      func(a, b billing.Site) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) },
	"plan":      func(a, b billing.Site) int { return cmp.Compare(a.Plan, b.Plan) },
	"price":     func(a, b billing.Site) int { return a.UnitPrice.Amount.Cmp(b.UnitPrice.Amount) },
	"licenses":  func(a, b billing.Site) int { return cmp.Compare(a.LicenseCount(), b.LicenseCount()) },
	"enrolled":  func(a, b billing.Site) int { return cmp.Compare(a.Enrolled, b.Enrolled) },
	"available": func(a, b billing.Site) int { return cmp.Compare(a.Available(), b.Available()) },
	"payment":   func(a, b billing.Site) int { return cmp.Compare(a.PaymentType, b.PaymentType) },
	"group":     func(a, b billing.Site) int { return cmp.Compare(a.Group, b.Group) },
}

// head is a sortable column header of the sites table.
type head struct {
	Code, Label, Class string
	Href               string
}

// dialog is the state of an open purchase, decrease or transfer form.
type dialog struct {
	Kind     string // purchase, decrease, transfer
	Site     billing.Site
	Quantity string
	To       string
	Error    string
	Field    string // the form field the error is about (quantity, to)
	Idem     string // the idempotency token of this rendering of the form
}

func (h *Handler) licensesPage(w http.ResponseWriter, r *http.Request, u *user) {
	h.showLicenses(w, r, u, http.StatusOK, nil, h.sessions.popFlash(u.token))
}

// showLicenses renders the license management page; d, when set, is a dialog
// to show open (with the domain's refusal next to its field).
func (h *Handler) showLicenses(w http.ResponseWriter, r *http.Request, u *user, status int, d *dialog, notice string) {
	ctx := r.Context()
	sites, err := h.cfg.Billing.Sites(ctx, u.actor)
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	q := viewQuery(r)
	search := strings.TrimSpace(q.Get("q"))
	sortBy := q.Get("sort")
	if _, ok := siteSorts[sortBy]; !ok {
		sortBy = "site"
	}
	desc := q.Get("desc") == "1"
	var shown []billing.Site
	for _, s := range sites {
		if search == "" || containsFold(s.Name, search) || containsFold(s.Plan, search) || containsFold(s.Group, search) || containsFold(string(s.PaymentType), search) {
			shown = append(shown, s)
		}
	}
	slices.SortStableFunc(shown, func(a, b billing.Site) int {
		c := siteSorts[sortBy](a, b)
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	rows := make([]siteRow, 0, len(shown))
	for _, s := range shown {
		row := siteRow{ID: s.ID, Name: s.Name, Plan: s.Plan, Payment: paymentLabel(s.PaymentType), Group: s.Group,
			LicenseN: s.LicenseCount(), Enrolled: s.Enrolled, Available: s.Available(), Licenses: "—"}
		if s.Licenses != nil {
			row.Licenses = strconv.FormatInt(*s.Licenses, 10)
		}
		if u.role.CanSeePrices() {
			row.Price = s.UnitPrice.String()
		}
		rows = append(rows, row)
	}
	if d == nil && r.Method == http.MethodGet {
		d = dialogFromQuery(q, sites)
	}
	var heads []head
	for _, c := range []head{{"site", "Site", "", ""}, {"plan", "Plan", "", ""}, {"price", "Unit price", "num", ""}, {"licenses", "Licenses", "num", ""},
		{"enrolled", "Enrolled", "num", ""}, {"available", "Available", "num", ""}, {"payment", "Payment type", "", ""}, {"group", "Group", "", ""}} {
		if c.Code == "price" && !u.role.CanSeePrices() {
			continue
		}
		v := keep(q, "q")
		v.Set("sort", c.Code)
		if c.Code == sortBy && !desc {
			v.Set("desc", "1")
		}
		c.Href = "/licenses?" + v.Encode()
		heads = append(heads, c)
	}
	data := map[string]any{"Rows": rows, "Heads": heads, "Search": search, "Sort": sortBy, "Desc": desc, "Query": keep(q, "q", "sort", "desc"),
		"Sites": sites, "Dialog": d, "Notice": notice, "Total": len(sites)}
	if d != nil && d.Kind != "" && !u.role.CanManageLicenses() {
		data["Dialog"] = nil
	}
	if c, err := h.cfg.Billing.GetCompany(ctx, u.actor); err == nil {
		data["Company"] = c.Name
	}
	if u.role.CanSeePrices() {
		inv, err := h.cfg.Billing.Estimate(ctx, u.actor, billing.EstimateOptions{})
		if err == nil {
			data["Invoice"] = inv
		} else {
			data["InvoiceError"] = message(err)
		}
	}
	h.render(w, "licenses", status, h.base(u, "Licenses", r, data))
}

func keep(q url.Values, names ...string) url.Values {
	out := url.Values{}
	for _, n := range names {
		if v := q.Get(n); v != "" {
			out.Set(n, v)
		}
	}
	return out
}

func dialogFromQuery(q url.Values, sites []billing.Site) *dialog {
	kind := q.Get("dialog")
	if kind != "purchase" && kind != "decrease" && kind != "transfer" {
		return nil
	}
	for _, s := range sites {
		if s.ID == q.Get("site") {
			return &dialog{Kind: kind, Site: s, Idem: randomToken()}
		}
	}
	return nil
}

func paymentLabel(p billing.PaymentType) string {
	return strings.ReplaceAll(string(p), "_", " ")
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// formQuantity reads the quantity field; a malformed number is refused with
// the domain's error type, on the field.
func formQuantity(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.PostFormValue("quantity"))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, license.Errorf(license.Invalid, "quantity", "enter a whole number of licenses")
	}
	return n, nil
}

// act runs one license change and shows the page again: with the dialog open
// and the domain's message on a refusal, or with a notice on success.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, u *user, kind string, do func(site billing.Site, n int64) (string, error)) {
	site, err := h.cfg.Billing.GetSite(r.Context(), u.actor, r.PostFormValue("site"))
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	d := &dialog{Kind: kind, Site: site, Quantity: r.PostFormValue("quantity"), To: r.PostFormValue("to"), Idem: randomToken()}
	n, err := formQuantity(r)
	var notice string
	if err == nil {
		notice, err = do(site, n)
	}
	if err != nil {
		if license.ErrorCode(err) == license.Forbidden {
			h.fail(w, r, u, http.StatusForbidden, message(err))
			return
		}
		d.Error, d.Field = message(err), fieldOf(err)
		h.showLicenses(w, r, u, statusOf(err), d, "")
		return
	}
	// Post/redirect/get: reloading the page shows it again, never repeats the change.
	h.sessions.setFlash(u.token, notice)
	back, _ := url.ParseQuery(r.PostFormValue("back"))
	http.Redirect(w, r, "/licenses?"+keep(back, "q", "sort", "desc").Encode(), http.StatusSeeOther)
}

// idempotencyKey is the key of a license change: the random token the
// dialog was rendered with, so a double submit of one dialog (a double click,
// a resent form) makes the change once and answers the same outcome.
func idempotencyKey(r *http.Request) string {
	v := r.PostFormValue("idem")
	if v == "" || len(v) > 64 {
		return ""
	}
	return "console-" + v
}

// fieldOf names the form field an error belongs to: the domain's field when
// the form has it, else the quantity.
func fieldOf(err error) string {
	switch license.ErrorField(err) {
	case "to":
		return "to"
	}
	return "quantity"
}

func (h *Handler) purchase(w http.ResponseWriter, r *http.Request, u *user) {
	h.act(w, r, u, "purchase", func(site billing.Site, n int64) (string, error) {
		q, err := h.cfg.Billing.Purchase(r.Context(), u.actor, billing.PurchaseRequest{Site: site.ID, Quantity: n, IdempotencyKey: idempotencyKey(r)})
		if err != nil {
			return "", err
		}
		return "Bought " + strconv.FormatInt(q.AddedLicenses, 10) + " licenses for " + q.SiteName + "; it now has " + strconv.FormatInt(q.NewTotal, 10) + ".", nil
	})
}

func (h *Handler) decrease(w http.ResponseWriter, r *http.Request, u *user) {
	h.act(w, r, u, "decrease", func(site billing.Site, n int64) (string, error) {
		q, err := h.cfg.Billing.Decrease(r.Context(), u.actor, billing.DecreaseRequest{Site: site.ID, Quantity: n, IdempotencyKey: idempotencyKey(r)})
		if err != nil {
			return "", err
		}
		return "Removed " + strconv.FormatInt(q.DecreasedLicenses, 10) + " licenses from " + q.SiteName + "; it now has " + strconv.FormatInt(q.NewTotal, 10) + ".", nil
	})
}

func (h *Handler) transfer(w http.ResponseWriter, r *http.Request, u *user) {
	h.act(w, r, u, "transfer", func(site billing.Site, n int64) (string, error) {
		q, err := h.cfg.Billing.Transfer(r.Context(), u.actor, billing.TransferRequest{From: site.ID, To: r.PostFormValue("to"), Quantity: n, IdempotencyKey: idempotencyKey(r)})
		if err != nil {
			return "", err
		}
		return "Moved " + strconv.FormatInt(q.Transferred, 10) + " licenses from " + q.From.SiteName + " to " + q.To.SiteName + ".", nil
	})
}

// previewAnswer is what the live preview script shows.
type previewAnswer struct {
	OK    bool              `json:"ok"`
	Lines map[string]string `json:"lines,omitempty"`
	Order []string          `json:"order,omitempty"`
	Error string            `json:"error,omitempty"`
	Field string            `json:"field,omitempty"`
}

// preview answers the dialogs' live preview with the billing service's
// preview (which changes nothing).
func (h *Handler) preview(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	kind := r.PostFormValue("kind")
	site := r.PostFormValue("site")
	var ans previewAnswer
	n, err := formQuantity(r)
	if err == nil {
		switch kind {
		case "purchase":
			var q billing.PurchaseQuote
			q, err = h.cfg.Billing.PreviewPurchase(ctx, u.actor, billing.PurchaseRequest{Site: site, Quantity: n})
			ans.Order = []string{"Minimum purchase", "Licenses after", "Added cost", "Estimated monthly total"}
			ans.Lines = map[string]string{"Minimum purchase": strconv.FormatInt(q.Minimum, 10), "Licenses after": strconv.FormatInt(q.NewTotal, 10),
				"Added cost": q.AddedCost.String(), "Estimated monthly total": q.EstimatedTotal.String()}
		case "decrease":
			var q billing.DecreaseQuote
			q, err = h.cfg.Billing.PreviewDecrease(ctx, u.actor, billing.DecreaseRequest{Site: site, Quantity: n})
			ans.Order = []string{"Licenses after", "Decreased cost", "Estimated monthly total"}
			ans.Lines = map[string]string{"Licenses after": strconv.FormatInt(q.NewTotal, 10),
				"Decreased cost": q.DecreasedCost.String(), "Estimated monthly total": q.EstimatedTotal.String()}
		case "transfer":
			var q billing.TransferQuote
			q, err = h.cfg.Billing.PreviewTransfer(ctx, u.actor, billing.TransferRequest{From: site, To: r.PostFormValue("to"), Quantity: n})
			ans.Order = []string{"From after", "To after"}
			ans.Lines = map[string]string{"From after": q.From.SiteName + ": " + strconv.FormatInt(q.From.TotalAfter, 10) + " licenses",
				"To after": q.To.SiteName + ": " + strconv.FormatInt(q.To.TotalAfter, 10) + " licenses"}
		default:
			err = license.Errorf(license.Invalid, "kind", "kind must be purchase, decrease or transfer")
		}
	}
	status := http.StatusOK
	if err != nil {
		status = statusOf(err)
		ans = previewAnswer{Error: message(err), Field: fieldOf(err)}
	} else {
		ans.OK = true
		if !u.role.CanSeePrices() {
			for k := range ans.Lines {
				if strings.Contains(k, "cost") || strings.Contains(k, "total") {
					delete(ans.Lines, k)
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ans)
}
