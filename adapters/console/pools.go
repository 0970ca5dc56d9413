package console

import (
	"cmp"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

func (h *Handler) poolRoutes() {
	h.mux.HandleFunc("GET /pools", h.authed(h.poolsPage))
	h.mux.HandleFunc("GET /pools/new", h.authed(h.newPoolPage))
	h.mux.HandleFunc("POST /pools", h.authed(h.createPool))
	h.mux.HandleFunc("GET /pools/{id}", h.authed(h.poolPage))
	h.mux.HandleFunc("POST /pools/{id}/edit", h.authed(h.updatePool))
	h.mux.HandleFunc("POST /pools/{id}/status", h.authed(h.poolStatus))
	h.mux.HandleFunc("POST /pools/{id}/transactions", h.authed(h.addTransaction))
	h.mux.HandleFunc("POST /pools/{id}/reassign", h.authed(h.reassign))
	h.mux.HandleFunc("POST /pools/{id}/allocate", h.authed(h.allocate))
	h.mux.HandleFunc("POST /pools/{id}/release", h.authed(h.release))
	h.mux.HandleFunc("POST /pools/{id}/leases", h.authed(h.acquireLease))
	h.mux.HandleFunc("POST /pools/{id}/leases/release", h.authed(h.releaseLease))
	h.mux.HandleFunc("POST /pools/{id}/attachments", h.authed(h.upload))
	h.mux.HandleFunc("GET /pools/{id}/attachments/{att}", h.authed(h.download))
	h.mux.HandleFunc("POST /pools/{id}/attachments/remove", h.authed(h.removeAttachment))
	h.mux.HandleFunc("POST /pools/{id}/comments", h.authed(h.addComment))
}

// poolRow is one row of the pool list.
type poolRow struct {
	Pool   *pool.Pool
	Counts pool.Counts
}

var poolStatuses = []pool.Status{pool.StatusActive, pool.StatusClosed, pool.StatusRetired}

func (h *Handler) poolsPage(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	q := r.URL.Query()
	status := pool.Status(q.Get("status"))
	if !slices.Contains(poolStatuses, status) {
		status = ""
	}
	retired := q.Get("retired") == "1" || status == pool.StatusRetired
	all, err := h.cfg.Pools.List(ctx, u.actor, pool.ListOptions{IncludeRetired: true})
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	software := q.Get("software")
	var names []string
	var rows []poolRow
	for _, p := range all {
		for _, s := range p.Software {
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
		if (p.Status == pool.StatusRetired && !retired) || (status != "" && p.Status != status) || (software != "" && !p.Grants(software)) {
			continue
		}
		pane, err := h.cfg.Pools.Status(ctx, u.actor, p.ID)
		if err != nil {
			h.fail(w, r, u, statusOf(err), message(err))
			return
		}
		rows = append(rows, poolRow{Pool: p, Counts: pane.Counts})
	}
	slices.Sort(names)
	h.render(w, "pools", http.StatusOK, h.base(u, "License pools", r, map[string]any{
		"Rows": rows, "Software": names, "SoftwareFilter": software, "Status": string(status), "Statuses": poolStatuses,
		"Retired": retired, "Notice": h.sessions.popFlash(u.token), "CanEdit": u.role.CanEdit(),
	}))
}

// poolView is everything the pool form shows.
type poolView struct {
	Pool      *pool.Pool
	New       bool
	Pane      pool.Pane
	Chart     chart
	Allocs    []pool.Allocation
	Leases    []pool.Lease
	AsOf      time.Time
	AsOfTotal int64
	Targets   []*pool.Pool // pools licenses may be reassigned to
	Now       time.Time
}

func (h *Handler) newPoolPage(w http.ResponseWriter, r *http.Request, u *user) {
	h.showNewPool(w, r, u, http.StatusOK, nil)
}

func (h *Handler) showNewPool(w http.ResponseWriter, r *http.Request, u *user, status int, f *formState) {
	if !u.role.CanEdit() {
		h.fail(w, r, u, http.StatusForbidden, "Creating pools needs an owner, admin, editor or license admin.")
		return
	}
	p := &pool.Pool{Spec: pool.Spec{Model: license.Perpetual, Metric: license.NamedUser, FormAllocations: true, LeaseTTL: pool.DefaultLeaseTTL}}
	h.render(w, "pool", status, h.base(u, "New license pool", r, map[string]any{
		"V": poolView{Pool: p, New: true}, "F": f, "Metrics": license.Metrics, "CanEdit": true, "Idem": randomToken(),
	}))
}

func (h *Handler) createPool(w http.ResponseWriter, r *http.Request, u *user) {
	spec, err := specFromForm(r)
	var p *pool.Pool
	if err == nil {
		p, err = h.cfg.Pools.Create(r.Context(), u.actor, pool.CreateRequest{Spec: spec, IdempotencyKey: idempotencyKey(r)})
	}
	back := ""
	if p != nil {
		back = "/pools/" + p.ID
	}
	h.done(w, r, u, err, "spec", specFields, "Pool created.", back, func(status int, f *formState) {
		h.showNewPool(w, r, u, status, f)
	})
}

func (h *Handler) poolPage(w http.ResponseWriter, r *http.Request, u *user) {
	h.showPool(w, r, u, http.StatusOK, nil, h.sessions.popFlash(u.token))
}

// showPool renders the pool form of the pool in the path; f, when set, is a
// refused form to show again with its message.
func (h *Handler) showPool(w http.ResponseWriter, r *http.Request, u *user, status int, f *formState, notice string) {
	ctx := r.Context()
	id := r.PathValue("id")
	p, err := h.cfg.Pools.Get(ctx, u.actor, id)
	if err == nil && !u.role.CanSeePrices() {
		for i := range p.Transactions { // the service clears them; the console makes sure
			p.Transactions[i].UnitPrice = nil
		}
	}
	var v poolView
	if err == nil {
		v.Pool = p
		v.Pane, err = h.cfg.Pools.Status(ctx, u.actor, id)
	}
	if err == nil {
		v.Allocs, err = h.cfg.Pools.Allocations(ctx, u.actor, id)
	}
	if err == nil {
		v.Leases, err = h.cfg.Pools.Leases(ctx, u.actor, id)
	}
	var all []*pool.Pool
	if err == nil {
		all, err = h.cfg.Pools.List(ctx, u.actor, pool.ListOptions{})
	}
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	for _, o := range all {
		if o.ID != p.ID && o.Status == pool.StatusActive {
			v.Targets = append(v.Targets, o)
		}
	}
	v.Now = v.Pane.At
	v.AsOf = v.Now
	if s := r.URL.Query().Get("asof"); s != "" {
		if t, perr := time.Parse("2006-01-02", s); perr == nil {
			v.AsOf = license.EndOfDay(t)
		}
	}
	v.AsOfTotal = pool.TotalAt(p.Transactions, v.AsOf)
	v.Chart = poolChart(p, v.Allocs, v.Leases, v.Now)
	h.render(w, "pool", status, h.base(u, p.Name, r, map[string]any{
		"V": v, "F": f, "Notice": notice, "Metrics": license.Metrics, "CanEdit": u.role.CanEdit(), "Idem": randomToken(),
	}))
}

// poolChange runs a change of the pool in the path and shows the pool again.
func (h *Handler) poolChange(w http.ResponseWriter, r *http.Request, u *user, form string, fields []string, do func(id string) (string, error)) {
	id := r.PathValue("id")
	notice, err := do(id)
	h.done(w, r, u, err, form, fields, notice, "/pools/"+url.PathEscape(id)+"#"+form, func(status int, f *formState) {
		h.showPool(w, r, u, status, f, "")
	})
}

var specFields = []string{"name", "model", "metric", "software", "priority", "supply_contract", "license_agreement", "description",
	"responsible.purchase", "responsible.technical", "responsible.owner", "min_allocation_days", "lease_ttl", "entitlements", "grace_days",
	"restrictions.asset_group", "restrictions.location", "restrictions.organisation", "restrictions.user", "restrictions.contract",
	"restrictions.cost_center", "restrictions.company", "automatic.rule", "automatic.contract", "automatic.package", "form_allocations"}

// specFromForm reads the pool form's general, restriction and rule fields.
func specFromForm(r *http.Request) (pool.Spec, error) {
	v := r.PostFormValue
	s := pool.Spec{
		Name: v("name"), Model: license.Model(v("model")), Metric: license.Metric(v("metric")), Software: lines(v("software")),
		SupplyContract: v("supply_contract"), LicenseAgreement: v("license_agreement"), Description: v("description"),
		Responsible:     pool.Responsible{Purchase: v("responsible.purchase"), Technical: v("responsible.technical"), Owner: v("responsible.owner")},
		FormAllocations: v("form_allocations") != "", Entitlements: lines(v("entitlements")),
		Restrictions: pool.Restrictions{AssetGroups: lines(v("restrictions.asset_group")), Locations: lines(v("restrictions.location")),
			Organisations: lines(v("restrictions.organisation")), Users: lines(v("restrictions.user")), Contracts: lines(v("restrictions.contract")),
			CostCenters: lines(v("restrictions.cost_center")), Companies: lines(v("restrictions.company"))},
		Automatic: pool.Automatic{Enabled: v("automatic.rule") != "", Rule: pool.Rule(v("automatic.rule")),
			Contract: v("automatic.contract"), Package: v("automatic.package")},
	}
	for _, n := range []struct {
		name, what string
		to         *int
	}{{"priority", "the priority", &s.Priority}, {"min_allocation_days", "the minimum allocation time", &s.MinAllocationDays},
		{"grace_days", "the grace period", &s.GraceDays}} {
		if strings.TrimSpace(v(n.name)) == "" {
			continue
		}
		x, err := formInt(r, n.name, n.name, n.what)
		if err != nil {
			return s, err
		}
		if x < -1_000_000_000 || x > 1_000_000_000 {
			return s, license.Errorf(license.Invalid, n.name, "%s is out of range", n.what)
		}
		*n.to = int(x)
	}
	if t := strings.TrimSpace(v("lease_ttl")); t != "" {
		secs, err := formInt(r, "lease_ttl", "lease_ttl", "the lease time-to-live in seconds")
		if err != nil {
			return s, err
		}
		if secs < 0 || secs > int64(pool.MaxLeaseTTL/time.Second)*2 {
			return s, license.Errorf(license.Invalid, "lease_ttl", "lease time-to-live must be between %s and %s", pool.MinLeaseTTL, pool.MaxLeaseTTL)
		}
		s.LeaseTTL = time.Duration(secs) * time.Second
	}
	return s, nil
}

func (h *Handler) updatePool(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "spec", specFields, func(id string) (string, error) {
		spec, err := specFromForm(r)
		if err != nil {
			return "", err
		}
		_, err = h.cfg.Pools.Update(r.Context(), u.actor, id, spec)
		return "Pool saved.", err
	})
}

func (h *Handler) poolStatus(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "status", []string{"status"}, func(id string) (string, error) {
		var err error
		switch r.PostFormValue("to") {
		case string(pool.StatusClosed):
			_, err = h.cfg.Pools.Close(r.Context(), u.actor, id)
			return "Pool closed: it keeps its allocations and takes no new ones.", err
		case string(pool.StatusRetired):
			_, err = h.cfg.Pools.Retire(r.Context(), u.actor, id)
			return "Pool retired.", err
		}
		return "", license.Errorf(license.Invalid, "status", "choose closed or retired")
	})
}

func (h *Handler) addTransaction(w http.ResponseWriter, r *http.Request, u *user) {
	fields := []string{"count", "kind", "unit_price", "date", "period", "order_number", "note"}
	h.poolChange(w, r, u, "tx", fields, func(id string) (string, error) {
		in := pool.TransactionInput{Kind: pool.TxKind(r.PostFormValue("kind")), OrderNumber: r.PostFormValue("order_number"),
			Note: r.PostFormValue("note"), IdempotencyKey: idempotencyKey(r)}
		var err error
		if strings.TrimSpace(r.PostFormValue("count")) != "" || in.Kind != pool.TxMaintenance {
			if in.Count, err = formInt(r, "count", "count", "the number of licenses"); err != nil {
				return "", err
			}
		}
		if in.Date, err = formDate(r, "date", "date"); err != nil {
			return "", err
		}
		if in.Period.Start, err = formDate(r, "period_start", "period"); err != nil {
			return "", err
		}
		if in.Period.End, err = formDate(r, "period_end", "period"); err != nil {
			return "", err
		}
		if !in.Period.End.IsZero() {
			in.Period.End = license.EndOfDay(in.Period.End)
		}
		if p := strings.TrimSpace(r.PostFormValue("unit_price")); p != "" && u.role.CanSeePrices() {
			m, err := license.ParseMoney(p, r.PostFormValue("currency"))
			if err != nil {
				return "", license.Errorf(license.Invalid, "unit_price", "%s", license.ErrorMessage(err))
			}
			in.UnitPrice = &m
		}
		t, err := h.cfg.Pools.AddTransaction(r.Context(), u.actor, id, in)
		return "Recorded " + strings.ReplaceAll(string(t.Kind), "_", " ") + " of " + strconv.FormatInt(t.Count, 10) + " licenses.", err
	})
}

func (h *Handler) reassign(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "reassign", []string{"count", "to", "target"}, func(id string) (string, error) {
		n, err := formInt(r, "count", "count", "the number of licenses")
		if err != nil {
			return "", err
		}
		res, err := h.cfg.Pools.Reassign(r.Context(), u.actor, id, pool.ReassignRequest{To: r.PostFormValue("to"), Count: n, IdempotencyKey: idempotencyKey(r)})
		return "Reassigned " + strconv.FormatInt(res.Out.Count, 10) + " licenses.", err
	})
}

func (h *Handler) allocate(w http.ResponseWriter, r *http.Request, u *user) {
	fields := []string{"consumer.user", "consumer.asset", "consumer.server", "consumer.cpus", "amount", "software", "pool", "consumer"}
	h.poolChange(w, r, u, "alloc", fields, func(id string) (string, error) {
		req := pool.AllocateRequest{Consumer: license.Consumer{User: strings.TrimSpace(r.PostFormValue("consumer.user")),
			Asset: strings.TrimSpace(r.PostFormValue("consumer.asset")), Server: strings.TrimSpace(r.PostFormValue("consumer.server"))},
			IdempotencyKey: idempotencyKey(r)}
		if strings.TrimSpace(r.PostFormValue("consumer.cpus")) != "" {
			n, err := formInt(r, "consumer.cpus", "consumer.cpus", "the CPUs of the server")
			if err != nil {
				return "", err
			}
			if n < 0 || n > 1<<20 {
				return "", license.Errorf(license.Invalid, "consumer.cpus", "the CPUs of the server are out of range")
			}
			req.Consumer.CPUs = int(n)
		}
		if strings.TrimSpace(r.PostFormValue("amount")) != "" {
			n, err := formInt(r, "amount", "amount", "the allocated amount")
			if err != nil {
				return "", err
			}
			req.Amount = n
		}
		al, err := h.cfg.Pools.Allocate(r.Context(), u.actor, id, req)
		who := cmp.Or(al.Consumer.User, al.Consumer.Asset, al.Consumer.Server, "an unmanaged allocation")
		return "Allocated " + strconv.FormatInt(al.Units, 10) + " license(s) to " + who + ".", err
	})
}

func (h *Handler) release(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "allocs", []string{"allocation"}, func(id string) (string, error) {
		rel, err := h.cfg.Pools.Release(r.Context(), u.actor, id, r.PostFormValue("allocation"))
		if err == nil && rel.Quarantined > 0 {
			return "Released. " + strconv.FormatInt(rel.Quarantined, 10) + " license(s) released before the minimum allocation time are quarantined until " + day(rel.Until) + ".", nil
		}
		return "Released.", err
	})
}

func (h *Handler) acquireLease(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "lease", []string{"consumer.user", "metric", "pool"}, func(id string) (string, error) {
		l, err := h.cfg.Pools.AcquireLease(r.Context(), u.actor, id, pool.LeaseRequest{Consumer: license.Consumer{User: strings.TrimSpace(r.PostFormValue("consumer.user"))}})
		return "Seat taken by " + l.User + " until " + l.ExpiresAt.UTC().Format("15:04:05") + " UTC unless renewed.", err
	})
}

func (h *Handler) releaseLease(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "leases", []string{"lease"}, func(id string) (string, error) {
		return "Seat released.", h.cfg.Pools.ReleaseLease(r.Context(), u.actor, id, r.PostFormValue("lease"))
	})
}

func (h *Handler) upload(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "attach", []string{"attachment", "name", "content_type"}, func(id string) (string, error) {
		file, hdr, err := r.FormFile("file")
		if err != nil {
			return "", license.Errorf(license.Invalid, "attachment", "choose a file to upload")
		}
		defer file.Close()
		data, err := io.ReadAll(io.LimitReader(file, pool.MaxAttachmentSize+1))
		if err != nil {
			return "", license.Wrap(license.Invalid, err, "attachment: the upload did not arrive whole")
		}
		ct := hdr.Header.Get("Content-Type")
		if _, _, err := mime.ParseMediaType(ct); err != nil || len(ct) > pool.MaxTextLength {
			ct = "application/octet-stream"
		}
		a, err := h.cfg.Pools.AddAttachment(r.Context(), u.actor, id, pool.AttachmentInput{Name: hdr.Filename, ContentType: ct, Data: data})
		return "Attached " + a.Name + ".", err
	})
}

// download sends an attachment as a download (never shown inline, so an
// uploaded HTML file cannot run in the console's origin).
func (h *Handler) download(w http.ResponseWriter, r *http.Request, u *user) {
	a, data, err := h.cfg.Pools.Attachment(r.Context(), u.actor, r.PathValue("id"), r.PathValue("att"))
	if err != nil {
		h.fail(w, r, u, statusOf(err), message(err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func (h *Handler) removeAttachment(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "attachments", []string{"attachment"}, func(id string) (string, error) {
		return "Attachment removed.", h.cfg.Pools.RemoveAttachment(r.Context(), u.actor, id, r.PostFormValue("attachment"))
	})
}

func (h *Handler) addComment(w http.ResponseWriter, r *http.Request, u *user) {
	h.poolChange(w, r, u, "comment", []string{"text"}, func(id string) (string, error) {
		_, err := h.cfg.Pools.AddComment(r.Context(), u.actor, id, pool.CommentRequest{Text: r.PostFormValue("text"), IdempotencyKey: idempotencyKey(r)})
		return "Comment added.", err
	})
}
