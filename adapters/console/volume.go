package console

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
)

func (h *Handler) volumeRoutes() {
	h.mux.HandleFunc("GET /volume", h.authed(h.volumePage))
	h.mux.HandleFunc("POST /volume/onboard", h.authed(h.onboard))
	h.mux.HandleFunc("POST /volume/edit", h.authed(h.editCustomer))
	h.mux.HandleFunc("POST /volume/offboard", h.authed(h.offboard))
	h.mux.HandleFunc("POST /volume/seats", h.authed(h.setSeats))
	h.mux.HandleFunc("GET /volume/export.csv", h.authed(h.volumeExport))
	h.mux.HandleFunc("GET /volume/export.xlsx", h.authed(h.volumeExport))
}

// volumeQuery reads the license page's view from q: license, search, sort.
func volumeQuery(q url.Values) (string, volume.Query) {
	vq := volume.Query{Search: strings.TrimSpace(q.Get("q")), Sort: volume.SortKey(q.Get("sort")), Desc: q.Get("desc") == "1"}
	switch vq.Sort {
	case volume.SortName, volume.SortSeats, volume.SortUsage, volume.SortCreated:
	default:
		vq.Sort = ""
	}
	return q.Get("license"), vq
}

func (h *Handler) volumePage(w http.ResponseWriter, r *http.Request, u *user) {
	h.showVolume(w, r, u, http.StatusOK, nil, h.sessions.popFlash(u.token))
}

func (h *Handler) showVolume(w http.ResponseWriter, r *http.Request, u *user, status int, f *formState, notice string) {
	ctx := r.Context()
	q := viewQuery(r)
	ls, err := h.cfg.Volume.Licenses(ctx, u.actor)
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	id, vq := volumeQuery(q)
	if id == "" && len(ls) > 0 {
		id = ls[0].ID
	}
	data := map[string]any{"Licenses": ls, "F": f, "Notice": notice, "Search": vq.Search, "Sort": string(vq.Sort), "Desc": vq.Desc,
		"Back": keep(q, "license", "q", "sort", "desc").Encode(), "BackHref": "/volume?" + keep(q, "license", "q", "sort", "desc").Encode(),
		"Idem": randomToken()}
	if id != "" {
		p, err := h.cfg.Volume.Page(ctx, u.actor, id, vq)
		if err != nil {
			h.fail(w, r, u, statusOf(err), message(err))
			return
		}
		data["Page"] = p
		view := keep(q, "q", "sort", "desc")
		view.Set("license", id)
		data["CSV"] = "/volume/export.csv?" + view.Encode()
		data["XLSX"] = "/volume/export.xlsx?" + view.Encode()
		var heads []head
		for _, c := range []head{{"name", "Legal name", "", ""}, {"seats", "Allocated users", "num", ""}, {"usage", "Usage", "num", ""}, {"created", "Onboarded", "", ""}} {
			v := keep(q, "q")
			v.Set("license", id)
			v.Set("sort", c.Code)
			if (string(vq.Sort) == c.Code || (vq.Sort == "" && c.Code == "name")) && !vq.Desc {
				v.Set("desc", "1")
			}
			c.Href = "/volume?" + v.Encode()
			heads = append(heads, c)
		}
		data["Heads"] = heads
		if vq.Sort == "" {
			data["Sort"] = "name"
		}
	}
	if u.role.CanManageLicenses() {
		if c := q.Get("edit"); c != "" || (f != nil && f.Form == "edit") {
			if c == "" {
				c = f.Values.Get("customer")
			}
			ev, err := h.cfg.Volume.EditView(ctx, u.actor, c)
			if err != nil {
				h.fail(w, r, u, statusOf(err), message(err))
				return
			}
			data["Edit"] = ev
		}
		if c := q.Get("offboard"); c != "" {
			cu, err := h.cfg.Volume.Customer(ctx, u.actor, c)
			if err != nil {
				h.fail(w, r, u, statusOf(err), message(err))
				return
			}
			data["Offboard"] = cu
		}
	}
	h.render(w, "volume", status, h.base(u, "Volume licenses", r, data))
}

var allocField = regexp.MustCompile(`^allocations\[(\d+)\]\.(seats|license)$`)

// seatsFromForm reads the seats inputs ("seats:<license ID>") of every
// license in the form, in the order of ls; empty inputs are left out unless
// keepEmpty. A refusal about allocations[i] is moved onto that input.
func seatsFromForm(r *http.Request, ls []volume.License) ([]volume.Seats, func(error) error) {
	var out []volume.Seats
	var bad error
	for _, l := range ls {
		v := strings.TrimSpace(r.PostFormValue("seats:" + l.ID))
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil && bad == nil {
			bad = license.Errorf(license.Invalid, "seats:"+l.ID, "enter the seats on %s as a whole number", l.Product)
		}
		out = append(out, volume.Seats{License: l.ID, Seats: n})
	}
	mapErr := func(err error) error {
		if bad != nil {
			return bad
		}
		if err == nil {
			return nil
		}
		if m := allocField.FindStringSubmatch(license.ErrorField(err)); m != nil {
			i, _ := strconv.Atoi(m[1])
			if i < len(out) {
				return license.Errorf(license.ErrorCode(err), "seats:"+out[i].License, "%s", license.ErrorMessage(err))
			}
		}
		return err
	}
	return out, mapErr
}

func seatFields(ls []volume.License, first ...string) []string {
	out := first
	for _, l := range ls {
		out = append(out, "seats:"+l.ID)
	}
	return out
}

// volumeChange runs a change and shows the license page again.
func (h *Handler) volumeChange(w http.ResponseWriter, r *http.Request, u *user, form string, first []string, do func(ls []volume.License) (string, error)) {
	ls, err := h.cfg.Volume.Licenses(r.Context(), u.actor)
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	notice, err := do(ls)
	back, _ := url.ParseQuery(r.PostFormValue("back"))
	h.done(w, r, u, err, form, seatFields(ls, first...), notice, "/volume?"+keep(back, "license", "q", "sort", "desc").Encode(), func(status int, f *formState) {
		h.showVolume(w, r, u, status, f, "")
	})
}

func (h *Handler) onboard(w http.ResponseWriter, r *http.Request, u *user) {
	h.volumeChange(w, r, u, "onboard", []string{"legal_name", "allocations"}, func(ls []volume.License) (string, error) {
		seats, mapErr := seatsFromForm(r, ls)
		if err := mapErr(nil); err != nil {
			return "", err
		}
		c, err := h.cfg.Volume.Onboard(r.Context(), u.actor, volume.Onboarding{LegalName: r.PostFormValue("legal_name"), Allocations: seats, IdempotencyKey: idempotencyKey(r)})
		return "Onboarded " + c.LegalName + ".", mapErr(err)
	})
}

func (h *Handler) editCustomer(w http.ResponseWriter, r *http.Request, u *user) {
	h.volumeChange(w, r, u, "edit", []string{"legal_name", "allocations"}, func(ls []volume.License) (string, error) {
		seats, mapErr := seatsFromForm(r, ls)
		if err := mapErr(nil); err != nil {
			return "", err
		}
		c, err := h.cfg.Volume.Edit(r.Context(), u.actor, r.PostFormValue("customer"), volume.Edit{LegalName: r.PostFormValue("legal_name"), Allocations: seats})
		return "Saved " + c.LegalName + ".", mapErr(err)
	})
}

func (h *Handler) offboard(w http.ResponseWriter, r *http.Request, u *user) {
	h.volumeChange(w, r, u, "offboard", []string{"customer"}, func([]volume.License) (string, error) {
		c, err := h.cfg.Volume.Customer(r.Context(), u.actor, r.PostFormValue("customer"))
		if err == nil {
			err = h.cfg.Volume.Offboard(r.Context(), u.actor, c.ID)
		}
		return "Offboarded " + c.LegalName + "; its seats are unallocated again.", err
	})
}

func (h *Handler) setSeats(w http.ResponseWriter, r *http.Request, u *user) {
	h.volumeChange(w, r, u, "seats", []string{"seats"}, func([]volume.License) (string, error) {
		n, err := formInt(r, "seats", "seats", "the seats")
		if err != nil {
			return "", err
		}
		l, err := h.cfg.Volume.SetSeats(r.Context(), u.actor, r.PostFormValue("license"), n)
		return fmt.Sprintf("%s now has %d seats.", l.Product, l.Seats), err
	})
}

// volumeExport sends the customer table of the license page as CSV or XLSX,
// as the service writes it (text that a spreadsheet would run as a formula
// is neutralised there; the exports carry no prices).
func (h *Handler) volumeExport(w http.ResponseWriter, r *http.Request, u *user) {
	id, vq := volumeQuery(r.URL.Query())
	if id == "" { // the page shows the first license by default; so does its export
		ls, err := h.cfg.Volume.Licenses(r.Context(), u.actor)
		if err != nil || len(ls) == 0 {
			h.fail(w, r, u, http.StatusNotFound, "There is no volume license to export.")
			return
		}
		id = ls[0].ID
	}
	var buf bytes.Buffer
	xlsx := strings.HasSuffix(r.URL.Path, ".xlsx")
	var err error
	if xlsx {
		err = h.cfg.Volume.ExportXLSX(r.Context(), u.actor, id, vq, &buf)
	} else {
		err = h.cfg.Volume.ExportCSV(r.Context(), u.actor, id, vq, &buf)
	}
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	if xlsx {
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="customers.xlsx"`)
	} else {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="customers.csv"`)
	}
	_, _ = w.Write(buf.Bytes())
}
