package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// columnPrefs remembers each person's chosen event-log columns (by company
// and e-mail) for as long as the process runs.
type columnPrefs struct {
	mu sync.Mutex
	m  map[string][]eventlog.Column
}

func (c *columnPrefs) get(who string) []eventlog.Column {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[who]
}

func (c *columnPrefs) set(who string, cols []eventlog.Column) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]eventlog.Column{}
	}
	c.m[who] = cols
}

// eventRequest reads the view of the log from the query: search, sort, desc,
// cursor, limit (page size, 25 by default) and the chosen columns (cols, repeated, in order; else the person's
// remembered choice; else the default).
func (h *Handler) eventRequest(r *http.Request, q url.Values, u *user) (eventlog.Request, error) {
	req := eventlog.Request{Search: q.Get("q"), Cursor: q.Get("cursor"), Desc: q.Get("desc") == "1", Limit: 25}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return req, license.Errorf(license.Invalid, "limit", "limit must be a number of events between 1 and 200")
		}
		req.Limit = n
	}
	if s := q.Get("sort"); s != "" {
		c, err := eventlog.ParseColumn(s)
		if err != nil {
			return req, license.Errorf(license.Invalid, "sort", "unknown sort column %q", s)
		}
		req.Sort = c
	}
	who := u.company + "\x00" + strings.ToLower(u.actor.Email)
	if q.Has("cols") {
		for _, s := range q["cols"] {
			c, err := eventlog.ParseColumn(s)
			if err != nil {
				return req, err
			}
			req.Columns = append(req.Columns, c)
		}
		if len(req.Columns) == 0 {
			return req, license.Errorf(license.Invalid, "cols", "choose at least one column")
		}
	} else if cols := h.columns.get(who); cols != nil {
		req.Columns = cols
	} else if c, err := r.Cookie(columnsCookie(u)); err == nil {
		for _, s := range strings.Split(c.Value, ".") {
			if col, err := eventlog.ParseColumn(s); err == nil && !slices.Contains(req.Columns, col) {
				req.Columns = append(req.Columns, col)
			}
		}
	}
	if len(req.Columns) == 0 {
		req.Columns = eventlog.DefaultColumns
	}
	return req, nil
}

// columnsCookie names the cookie that remembers a person's columns in this
// browser across server restarts (one per company and e-mail).
func columnsCookie(u *user) string {
	h := sha256.Sum256([]byte(u.company + "\x00" + strings.ToLower(u.actor.Email)))
	return "lk_cols_" + hex.EncodeToString(h[:6])
}

// rememberColumns keeps a valid choice of columns for the person: in the
// process and in a cookie of the browser.
func (h *Handler) rememberColumns(w http.ResponseWriter, r *http.Request, u *user, cols []eventlog.Column) {
	h.columns.set(u.company+"\x00"+strings.ToLower(u.actor.Email), cols)
	codes := make([]string, len(cols))
	for i, c := range cols {
		codes[i] = string(c)
	}
	http.SetCookie(w, &http.Cookie{Name: columnsCookie(u), Value: strings.Join(codes, "."), Path: "/events",
		MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
}

// colView is a column of the table or of the chooser.
type colView struct {
	Code, Title string
	Shown       bool
	Href        string // the table header's sort link
	Left, Right string // links that move a shown column one place earlier or later
}

func (h *Handler) eventsPage(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	q := r.URL.Query()
	req, err := h.eventRequest(r, q, u)
	var page eventlog.Page
	if err == nil {
		err = h.cfg.Store.View(ctx, func(tx storage.Tx) error {
			var err error
			page, err = access.QueryEvents(ctx, tx, u.actor, req)
			return err
		})
	}
	if err != nil {
		if license.ErrorCode(err) == license.Forbidden || statusOf(err) >= 500 {
			h.fail(w, r, u, statusOf(err), message(err))
			return
		}
		// A bad cursor or column: show the first page of the default view with the message.
		h.render(w, "events", statusOf(err), h.base(u, "Event log", r, map[string]any{"Error": message(err), "Query": url.Values{}, "Columns": []colView{}, "First": true}))
		return
	}
	if q.Has("cols") {
		h.rememberColumns(w, r, u, req.Columns)
	}
	shown := map[eventlog.Column]bool{}
	var cols []colView
	for _, c := range req.Columns {
		shown[c] = true
		cols = append(cols, colView{Code: string(c), Title: c.Title(), Shown: true})
	}
	var chooser []colView
	chooser = append(chooser, cols...)
	for _, c := range eventlog.AllColumns {
		if !shown[c] {
			chooser = append(chooser, colView{Code: string(c), Title: c.Title()})
		}
	}
	view := url.Values{}
	if req.Search != "" {
		view.Set("q", req.Search)
	}
	if req.Sort != "" {
		view.Set("sort", string(req.Sort))
	}
	if req.Desc {
		view.Set("desc", "1")
	}
	if req.Limit != 25 {
		view.Set("limit", strconv.Itoa(req.Limit))
	}
	for _, c := range req.Columns {
		view.Add("cols", string(c))
	}
	sortCol := req.Sort
	if sortCol == "" {
		sortCol = eventlog.ColTime
	}
	// Move links of the chooser: the same view with two neighbours swapped.
	moved := func(i, j int) string {
		v := url.Values{}
		for k, vs := range view {
			if k != "cols" {
				v[k] = vs
			}
		}
		order := append([]eventlog.Column(nil), req.Columns...)
		order[i], order[j] = order[j], order[i]
		for _, c := range order {
			v.Add("cols", string(c))
		}
		v.Set("chooser", "1")
		return "/events?" + v.Encode()
	}
	for i := range req.Columns {
		if i > 0 {
			chooser[i].Left = moved(i, i-1)
		}
		if i+1 < len(req.Columns) {
			chooser[i].Right = moved(i, i+1)
		}
	}
	for i := range cols {
		v := url.Values{}
		for k, vs := range view {
			v[k] = vs
		}
		v.Set("sort", cols[i].Code)
		v.Del("desc")
		if cols[i].Code == string(sortCol) && !req.Desc {
			v.Set("desc", "1")
		}
		cols[i].Href = "/events?" + v.Encode()
	}
	data := map[string]any{"Columns": cols, "Chooser": chooser, "Rows": page.Rows, "Next": page.Next,
		"Search": req.Search, "Sort": string(sortCol), "Desc": req.Desc, "Query": view, "First": req.Cursor == "",
		"ChooserOpen": q.Get("chooser") == "1"}
	// Owners see the chain's verification on the first page (it reads the
	// whole log, so not again on every further page).
	if u.role == license.Owner && req.Cursor == "" {
		v, err := storage.VerifyChain(ctx, h.cfg.Store, u.company, h.cfg.Clock.Now().UTC())
		if err == nil {
			data["Verify"] = v
		} else {
			data["VerifyError"] = message(err)
		}
	}
	h.render(w, "events", http.StatusOK, h.base(u, "Event log", r, data))
}

// storeReader reads events in a read transaction per call.
type storeReader struct{ store storage.Store }

func (s storeReader) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	return s.store.View(ctx, func(tx storage.Tx) error { return tx.Events(ctx, f, fn) })
}

// eventsExport downloads the current view (view=current: the chosen columns
// in their order, the search and the sort, every page) or all original data.
func (h *Handler) eventsExport(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	q := r.URL.Query()
	req, err := h.eventRequest(r, q, u)
	mode := eventlog.CurrentView
	name := "event-log-current-view.csv"
	if q.Get("view") == "original" {
		mode, name = eventlog.OriginalData, "event-log-original-data.csv"
	}
	req.Cursor, req.Limit = "", 0
	// The effective role is resolved in a transaction of its own; the export
	// then reads the log in short transactions and writes each page after its
	// transaction has ended, so a slow download holds no store connection.
	if err == nil {
		var eff license.Actor
		err = h.cfg.Store.View(ctx, func(tx storage.Tx) error {
			var err error
			eff, err = access.Resolve(ctx, tx, u.actor)
			return err
		})
		if err == nil {
			lw := &lazyCSV{w: w, filename: name}
			err = eventlog.Export(ctx, storeReader{h.cfg.Store}, eff, mode, req, lw)
			if err != nil && lw.started {
				h.cfg.Logger.Error("console: event export failed mid-stream", "error_code", string(license.ErrorCode(err)))
				panic(http.ErrAbortHandler)
			}
			if err == nil {
				if !lw.started { // cannot happen: an export writes at least its header
					_, _ = lw.Write(nil)
				}
				return
			}
		}
	}
	h.fail(w, r, u, statusOf(err), message(err))
}

// lazyCSV sets the download headers at the first write, so that an error
// found before any row is still answered as a page.
type lazyCSV struct {
	w        http.ResponseWriter
	filename string
	started  bool
}

func (l *lazyCSV) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		l.w.Header().Set("Content-Disposition", `attachment; filename="`+l.filename+`"`)
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}
