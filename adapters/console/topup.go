package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/topup"
)

// checkRow is one site of the prerequisites checklist.
type checkRow struct {
	Site    billing.Site
	Reasons []string
}

// topUpForm carries a refusal back to the form field it is about.
type topUpForm struct {
	Error, Field, Site, Value string
}

func (h *Handler) topUpPage(w http.ResponseWriter, r *http.Request, u *user) {
	h.showTopUp(w, r, u, http.StatusOK, nil, h.sessions.popFlash(u.token))
}

func (h *Handler) showTopUp(w http.ResponseWriter, r *http.Request, u *user, status int, f *topUpForm, notice string) {
	ctx := r.Context()
	st, err := h.cfg.TopUp.Get(ctx, u.actor)
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	sites, err := h.cfg.Billing.Sites(ctx, u.actor)
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	// The checklist is the domain's own prerequisite check, site by site.
	problems := topup.CheckPrerequisites(sites)
	rows := make([]checkRow, 0, len(sites))
	for _, s := range sites {
		row := checkRow{Site: s}
		for _, p := range problems {
			if p.Site == s.ID {
				row.Reasons = append(row.Reasons, p.Reason)
			}
		}
		rows = append(rows, row)
	}
	if f == nil {
		f = &topUpForm{}
	}
	data := map[string]any{"Settings": st, "Checks": rows, "Blocked": len(problems) > 0, "Form": f,
		"Notice": notice, "Terms": TermsVersion}
	if u.role.CanManageLicenses() {
		if owners, err := h.cfg.TopUp.Owners(ctx, u.actor); err == nil {
			data["Owners"] = owners
		}
	}
	h.render(w, "topup", status, h.base(u, "Automatic top-up", r, data))
}

// topUpDone shows the page after a change: the notice, or the refusal next
// to its field (a role refusal is a 403 page).
func (h *Handler) topUpDone(w http.ResponseWriter, r *http.Request, u *user, err error, f topUpForm, notice string) {
	if err != nil {
		if license.ErrorCode(err) == license.Forbidden {
			h.fail(w, r, u, http.StatusForbidden, message(err))
			return
		}
		f.Error = message(err)
		h.showTopUp(w, r, u, statusOf(err), &f, "")
		return
	}
	h.sessions.setFlash(u.token, notice)
	http.Redirect(w, r, "/topup", http.StatusSeeOther)
}

func (h *Handler) topUpEnable(w http.ResponseWriter, r *http.Request, u *user) {
	var err error
	if r.PostFormValue("accept") != TermsVersion {
		err = license.Errorf(license.Invalid, "accepted_terms_version", "accept the automatic top-up terms to enable it")
	} else {
		_, err = h.cfg.TopUp.Enable(r.Context(), u.actor, topup.EnableRequest{AcceptedTermsVersion: TermsVersion})
	}
	h.topUpDone(w, r, u, err, topUpForm{Field: "enable"}, "Automatic top-up is on for every site.")
}

func (h *Handler) topUpDisable(w http.ResponseWriter, r *http.Request, u *user) {
	_, err := h.cfg.TopUp.Disable(r.Context(), u.actor)
	h.topUpDone(w, r, u, err, topUpForm{Field: "enable"}, "Automatic top-up is off.")
}

func (h *Handler) topUpIncrement(w http.ResponseWriter, r *http.Request, u *user) {
	site := r.PostFormValue("site")
	v := strings.TrimSpace(r.PostFormValue("increment"))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		err = license.Errorf(license.Invalid, "increment", "enter a whole number, a multiple of 5")
	} else {
		_, err = h.cfg.TopUp.SetIncrement(r.Context(), u.actor, site, n)
	}
	h.topUpDone(w, r, u, err, topUpForm{Field: "increment", Site: site, Value: v}, "Increment saved.")
}

func (h *Handler) topUpAddRecipient(w http.ResponseWriter, r *http.Request, u *user) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	var err error
	if email == "" {
		err = license.Errorf(license.Invalid, "email", "enter an e-mail address")
	} else {
		_, err = h.cfg.TopUp.AddRecipients(r.Context(), u.actor, email)
	}
	h.topUpDone(w, r, u, err, topUpForm{Field: "email", Value: email}, "Recipient added.")
}

func (h *Handler) topUpRemoveRecipient(w http.ResponseWriter, r *http.Request, u *user) {
	_, err := h.cfg.TopUp.RemoveRecipient(r.Context(), u.actor, r.PostFormValue("email"))
	h.topUpDone(w, r, u, err, topUpForm{Field: "remove"}, "Recipient removed.")
}
