package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/license"
)

func (h *Handler) subscriptionRoutes() {
	h.mux.HandleFunc("GET /subscriptions", h.authed(h.subscriptionsPage))
	h.mux.HandleFunc("POST /subscriptions/activate", h.authed(h.activate))
	h.mux.HandleFunc("POST /subscriptions/assign", h.authed(h.assign))
	h.mux.HandleFunc("POST /subscriptions/unassign", h.authed(h.unassign))
	h.mux.HandleFunc("POST /subscriptions/auto-renew", h.authed(h.autoRenew))
	h.mux.HandleFunc("POST /subscriptions/bulk-delete", h.authed(h.bulkDelete))
	h.mux.HandleFunc("POST /subscriptions/auto-exchange", h.authed(h.autoExchange))
	h.mux.HandleFunc("POST /subscriptions/user-settings", h.authed(h.userSettings))
	h.mux.HandleFunc("POST /subscriptions/company-settings", h.authed(h.companySettings))
}

var (
	subTypes    = []subscription.Type{subscription.PerComputer, subscription.PerHost, subscription.PerSocket, subscription.PerUser, subscription.PerAdministrator}
	subStates   = []subscription.State{subscription.Trial, subscription.Active, subscription.Expired}
	deleteModes = []deleteMode{
		{subscription.AllExpired, "Every expired license", "every expired license"},
		{subscription.ExpiredAutoRenew, "Expired with auto-renewal on", "the expired licenses with auto-renewal on"},
		{subscription.ExpiredUnassigned, "Expired and unassigned", "the expired licenses assigned to nobody"},
	}
)

// deleteMode is one of the three bulk delete modes with the number of
// licenses it would delete now.
type deleteMode struct {
	Mode        subscription.DeleteMode
	Label, What string
}

type deleteChoice struct {
	deleteMode
	Count int
}

// subRow is one license of the subscriptions table.
type subRow struct {
	L     subscription.License
	Price string // "" when the role may not see prices or there is none
}

func (h *Handler) subscriptionsPage(w http.ResponseWriter, r *http.Request, u *user) {
	h.showSubscriptions(w, r, u, http.StatusOK, nil, h.sessions.popFlash(u.token))
}

func (h *Handler) showSubscriptions(w http.ResponseWriter, r *http.Request, u *user, status int, f *formState, notice string) {
	ctx := r.Context()
	q := viewQuery(r)
	ls, err := h.cfg.Subscriptions.Licenses(ctx, u.actor)
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	st, err := h.cfg.Subscriptions.Settings(ctx, u.actor)
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	state, typ := subscription.State(q.Get("state")), subscription.Type(q.Get("type"))
	var rows []subRow
	var choices []deleteChoice
	for _, m := range deleteModes {
		choices = append(choices, deleteChoice{deleteMode: m})
	}
	for _, l := range ls {
		for i := range choices {
			if choices[i].Mode.Selects(l) {
				choices[i].Count++
			}
		}
		if (state != "" && l.State != state) || (typ != "" && l.Type != typ) {
			continue
		}
		row := subRow{L: l}
		if u.role.CanSeePrices() && l.UnitPrice != nil {
			row.Price = l.UnitPrice.String()
		}
		row.L.UnitPrice = nil
		rows = append(rows, row)
	}
	data := map[string]any{"Rows": rows, "Total": len(ls), "Settings": st, "Types": subTypes, "States": subStates,
		"State": string(state), "Type": string(typ), "Choices": choices, "F": f, "Notice": notice,
		"Back": keep(q, "state", "type").Encode(), "CanEdit": u.role.CanEdit()}
	if u.role.CanManageLicenses() {
		mode := subscription.DeleteMode(q.Get("delete"))
		if f != nil && f.Form == "bulk" {
			mode = subscription.DeleteMode(f.Values.Get("mode"))
		}
		for _, c := range choices {
			if c.Mode == mode {
				data["Confirm"] = c
			}
		}
		us, err := h.cfg.Subscriptions.UserSettingsList(ctx, u.actor)
		if err == nil {
			data["UserSettings"] = us
			var cs []subscription.CompanySettings
			cs, err = h.cfg.Subscriptions.CompanySettingsList(ctx, u.actor)
			data["CompanySettings"] = cs
		}
		if err != nil {
			h.fail(w, r, u, statusOf(err), message(err))
			return
		}
	}
	h.render(w, "subscriptions", status, h.base(u, "Subscriptions", r, data))
}

// subChange runs a change and shows the subscriptions page again.
func (h *Handler) subChange(w http.ResponseWriter, r *http.Request, u *user, form string, fields []string, do func() (string, error)) {
	notice, err := do()
	back, _ := url.ParseQuery(r.PostFormValue("back"))
	h.done(w, r, u, err, form, fields, notice, "/subscriptions?"+keep(back, "state", "type").Encode(), func(status int, f *formState) {
		h.showSubscriptions(w, r, u, status, f, "")
	})
}

func (h *Handler) activate(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "activate", []string{"key", "convert_trial"}, func() (string, error) {
		l, err := h.cfg.Subscriptions.Activate(r.Context(), u.actor, subscription.Activation{Key: strings.TrimSpace(r.PostFormValue("key")),
			ConvertTrial: strings.TrimSpace(r.PostFormValue("convert_trial"))})
		return fmt.Sprintf("Activated a %s license; it expires on %s.", l.Type, day(l.ExpirationDate)), err
	})
}

func consumerOf(r *http.Request) license.Consumer {
	return license.Consumer{User: strings.TrimSpace(r.PostFormValue("user")), Asset: strings.TrimSpace(r.PostFormValue("asset"))}
}

func (h *Handler) assign(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "assign", []string{"consumer.user", "type", "consumer.asset", "license"}, func() (string, error) {
		l, err := h.cfg.Subscriptions.Assign(r.Context(), u.actor, subscription.AssignRequest{Type: subscription.Type(r.PostFormValue("type")),
			Consumer: consumerOf(r), License: strings.TrimSpace(r.PostFormValue("license"))})
		return fmt.Sprintf("Assigned a %s license (expires %s).", l.Type, day(l.ExpirationDate)), err
	})
}

func (h *Handler) unassign(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "rows", []string{"license"}, func() (string, error) {
		err := h.cfg.Subscriptions.Unassign(r.Context(), u.actor, subscription.Type(r.PostFormValue("type")), consumerOf(r))
		return "The license is back in the pool.", err
	})
}

func (h *Handler) autoRenew(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "rows", []string{"license"}, func() (string, error) {
		on := r.PostFormValue("on") == "1"
		_, err := h.cfg.Subscriptions.SetAutoRenew(r.Context(), u.actor, r.PostFormValue("license"), on)
		if on {
			return "Auto-renewal is on.", err
		}
		return "Auto-renewal is off: the license expires at its expiration date.", err
	})
}

// bulkDelete deletes what the confirmation stated. When the number of
// licenses the mode selects is no longer the one confirmed, nothing is
// deleted and the confirmation is shown again with the new count.
func (h *Handler) bulkDelete(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "bulk", []string{"mode"}, func() (string, error) {
		mode := subscription.DeleteMode(r.PostFormValue("mode"))
		ls, err := h.cfg.Subscriptions.Licenses(r.Context(), u.actor)
		if err != nil {
			return "", err
		}
		n := 0
		for _, l := range ls {
			if mode.Selects(l) {
				n++
			}
		}
		if fmt.Sprint(n) != r.PostFormValue("count") && slices.ContainsFunc(deleteModes, func(m deleteMode) bool { return m.Mode == mode }) && u.role.CanManageLicenses() {
			return "", license.Errorf(license.Conflict, "mode", "the number of licenses to delete changed to %d since the confirmation; confirm again", n)
		}
		res, err := h.cfg.Subscriptions.BulkDelete(r.Context(), u.actor, mode)
		return fmt.Sprintf("Deleted %d expired license(s).", res.Deleted), err
	})
}

func (h *Handler) autoExchange(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "exchange", []string{"on"}, func() (string, error) {
		on := r.PostFormValue("on") == "1"
		_, err := h.cfg.Subscriptions.SetAutoExchange(r.Context(), u.actor, on)
		if on {
			return "Automatic exchange is on.", err
		}
		return "Automatic exchange is off.", err
	})
}

func allocationOf(r *http.Request) (subscription.Allocation, error) {
	a := subscription.Allocation{Mode: subscription.PoolMode(r.PostFormValue("mode"))}
	if a.Mode == subscription.UserPool {
		n, err := formInt(r, "limit", "allocation.limit", "the limit")
		if err != nil {
			return a, err
		}
		if n < 0 || n > 1_000_000 {
			return a, license.Errorf(license.Invalid, "allocation.limit", "the limit must be between 0 and 1000000")
		}
		a.Limit = int(n)
	}
	return a, nil
}

func (h *Handler) userSettings(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "usettings", []string{"user", "company", "allocation.mode", "allocation.limit"}, func() (string, error) {
		a, err := allocationOf(r)
		if err != nil {
			return "", err
		}
		s, err := h.cfg.Subscriptions.SetUserSettings(r.Context(), u.actor, subscription.UserSettings{User: strings.TrimSpace(r.PostFormValue("user")),
			Company: strings.TrimSpace(r.PostFormValue("company")), Allocation: a})
		return "Saved the pool settings of " + s.User + ".", err
	})
}

func (h *Handler) companySettings(w http.ResponseWriter, r *http.Request, u *user) {
	h.subChange(w, r, u, "csettings", []string{"company", "allocation.mode", "allocation.limit"}, func() (string, error) {
		a, err := allocationOf(r)
		if err != nil {
			return "", err
		}
		s, err := h.cfg.Subscriptions.SetCompanySettings(r.Context(), u.actor, subscription.CompanySettings{Company: strings.TrimSpace(r.PostFormValue("company")), Allocation: a})
		if a.Mode == "" {
			return "Removed the settings of " + s.Company + "; its users' own settings apply.", err
		}
		return "Saved the settings of " + s.Company + ".", err
	})
}
