package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

var eventQueryParams = []Param{
	{Name: "search", Description: "keep events whose visible columns contain this text (case-insensitive)"},
	{Name: "types", Description: "comma-separated event types to keep"},
	{Name: "columns", Description: "comma-separated visible columns in display order (codes or titles)"},
	{Name: "sort", Description: "sort column", Enum: columnCodes()},
	{Name: "desc", Type: "boolean", Description: "sort descending"},
	{Name: "cursor", Description: "the next_cursor of the previous page (opaque)"},
	{Name: "limit", Type: "integer", Description: "page size (default 50, at most 1000)"},
}

// exportQueryParams are the query parameters of the event export: those of
// the query without paging (an export holds every selected event).
func exportQueryParams() []Param {
	var out []Param
	for _, p := range eventQueryParams {
		if p.Name != "limit" && p.Name != "cursor" {
			out = append(out, p)
		}
	}
	return out
}

func columnCodes() []string {
	out := make([]string, 0, len(eventlog.AllColumns))
	for _, c := range eventlog.AllColumns {
		out = append(out, string(c))
	}
	return out
}

// maxQueryValue bounds every event-log query parameter.
const maxQueryValue = 4096

// ParseEventQuery turns the query parameters of GET /v1/events into an
// eventlog.Request. Unknown parameters are refused, as unknown JSON fields are.
func ParseEventQuery(q url.Values, allowed ...string) (eventlog.Request, error) {
	var req eventlog.Request
	known := map[string]bool{"search": true, "types": true, "columns": true, "sort": true, "desc": true, "cursor": true, "limit": true}
	for _, a := range allowed {
		known[a] = true
	}
	for k, vs := range q {
		if !known[k] {
			return req, license.Errorf(license.Invalid, k, "unknown query parameter %q", k)
		}
		if len(vs) > 1 {
			return req, license.Errorf(license.Invalid, k, "give %s once", k)
		}
		if len(vs[0]) > maxQueryValue {
			return req, license.Errorf(license.Invalid, k, "%s is longer than %d bytes", k, maxQueryValue)
		}
	}
	req.Search = q.Get("search")
	for _, t := range splitList(q.Get("types")) {
		req.Types = append(req.Types, eventlog.Type(t))
	}
	for _, s := range splitList(q.Get("columns")) {
		c, err := eventlog.ParseColumn(s)
		if err != nil {
			return req, err
		}
		req.Columns = append(req.Columns, c)
	}
	if s := strings.TrimSpace(q.Get("sort")); s != "" {
		c, err := eventlog.ParseColumn(s)
		if err != nil {
			return req, license.Errorf(license.Invalid, "sort", "unknown sort column %q", s)
		}
		req.Sort = c
	}
	desc, err := queryBool(q.Get("desc"), "desc")
	if err != nil {
		return req, err
	}
	req.Desc = desc
	req.Cursor = q.Get("cursor")
	limit, err := queryInt(q.Get("limit"), "limit", 0)
	if err != nil {
		return req, err
	}
	if limit < 0 || limit > eventlog.MaxLimit || (limit == 0 && q.Get("limit") != "") {
		return req, license.Errorf(license.Invalid, "limit", "limit must be between 1 and %d", eventlog.MaxLimit)
	}
	req.Limit = limit
	return req, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// exportMode reads ?view=current|original.
func exportMode(v string) (eventlog.ExportMode, error) {
	switch v {
	case "", "current", string(eventlog.CurrentView):
		return eventlog.CurrentView, nil
	case "original", string(eventlog.OriginalData):
		return eventlog.OriginalData, nil
	}
	return "", license.Errorf(license.Invalid, "view", "view must be current or original")
}

// shortReads is the eventlog.Reader of streaming responses: every Events
// call is a read transaction of its own, so a response that reads a page,
// lets its transaction go, and only then writes the page to the client (as
// eventlog.Export does) never holds a transaction or a store connection while
// a slow or stalled client keeps a write waiting. Together with the per-write
// deadline of every response (Config.WriteTimeout) this is how a stream is
// kept from starving the store: authentication, readiness and every other
// request find a connection.
type shortReads struct{ store storage.Store }

func (r shortReads) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	return r.store.View(ctx, func(tx storage.Tx) error { return tx.Events(ctx, f, fn) })
}

// lazyWriter sets the CSV headers on the first write, so that an error found
// before any row is written can still be answered as a JSON error.
type lazyWriter struct {
	w           http.ResponseWriter
	filename    string
	contentType string // "" means text/csv
	started     bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		ct := l.contentType
		if ct == "" {
			ct = "text/csv; charset=utf-8"
		}
		l.w.Header().Set("Content-Type", ct)
		l.w.Header().Set("Content-Disposition", `attachment; filename="`+l.filename+`"`)
		l.w.Header().Set("X-Content-Type-Options", "nosniff")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// EventPage is the answer of GET /v1/events, the list envelope of every list
// route (items, next_cursor) with the chosen columns and, for each event, its
// cells in that order.
type EventPage struct {
	Items      []eventlog.Event  `json:"items"`
	Columns    []eventlog.Column `json:"columns"`
	Rows       [][]string        `json:"rows"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// CheckpointResult is the answer of POST /v1/events/checkpoints: the
// checkpoint of the current head, and whether this call signed it (false when
// the head had not moved since the latest checkpoint, which is returned).
type CheckpointResult struct {
	Checkpoint eventlog.Checkpoint `json:"checkpoint"`
	Created    bool                `json:"created"`
}

func (h *Handler) eventRoutes() []Route {
	query := withQuery(op("GET", "/v1/events", "events", "Query the event log (search, types, columns, sort, cursor paging)", Manage,
		func(c *call, _ none) (EventPage, error) {
			req, err := ParseEventQuery(c.r.URL.Query())
			if err != nil {
				return EventPage{}, err
			}
			var page eventlog.Page
			err = h.cfg.Store.View(c.r.Context(), func(tx storage.Tx) error {
				var err error
				page, err = access.QueryEvents(c.r.Context(), tx, c.actor, req)
				return err
			})
			if err != nil {
				return EventPage{}, err
			}
			if page.Next != "" {
				setNextLink(c, page.Next)
			}
			return EventPage{Items: page.Events, Columns: page.Columns, Rows: page.Rows, NextCursor: page.Next}, nil
		}), eventQueryParams...)
	export := Route{Method: "GET", Path: "/v1/events/export", Tag: "events", Access: Manage,
		Summary:  "Export the event log as CSV: the current view (columns, search, types, sort) or all original data (406 when Accept refuses text/csv)",
		Produces: "text/csv", Status: http.StatusOK,
		Query: append([]Param{{Name: "view", Description: "current (the chosen columns, search and sort) or original (every column of every event)",
			Enum: []string{"current", "original"}}}, exportQueryParams()...),
		serve: func(c *call) error {
			q := c.r.URL.Query()
			req, err := ParseEventQuery(q, "view")
			if err != nil {
				return err
			}
			mode, err := exportMode(q.Get("view"))
			if err != nil {
				return err
			}
			if _, err := negotiate(c.r, mediaCSV); err != nil {
				return err
			}
			name := "event-log-current-view.csv"
			if mode == eventlog.OriginalData {
				name = "event-log-original-data.csv"
			}
			lw := &lazyWriter{w: c.w, filename: name}
			// The effective role is resolved in a transaction of its own; the
			// export then reads in short transactions (shortReads).
			var eff license.Actor
			err = h.cfg.Store.View(c.r.Context(), func(tx storage.Tx) error {
				var err error
				eff, err = access.Resolve(c.r.Context(), tx, c.actor)
				return err
			})
			if err == nil {
				err = eventlog.Export(c.r.Context(), shortReads{h.cfg.Store}, eff, mode, req, lw)
			}
			if err != nil && lw.started {
				// Headers are gone: log it and cut the stream short.
				h.cfg.Logger.Error("event export failed mid-stream", "request_id", RequestID(c.r.Context()), "route", c.rt.Method+" "+c.rt.Path,
					"company", c.actor.Company, "error_code", string(license.ErrorCode(err)))
				panic(http.ErrAbortHandler)
			}
			return err
		}}
	verify := op("GET", "/v1/events/verify", "events", "Verify the company's tamper-evident event chain and, when the server has checkpoint keys, its signed checkpoints (owners only)", Owner,
		func(c *call, _ none) (eventlog.Verification, error) {
			if len(h.cfg.CheckpointKeys) > 0 {
				return storage.VerifyCheckpoints(c.r.Context(), h.cfg.Store, c.actor.Company, h.cfg.CheckpointKeys, h.cfg.Clock.Now().UTC())
			}
			return storage.VerifyChain(c.r.Context(), h.cfg.Store, c.actor.Company, h.cfg.Clock.Now().UTC())
		})
	checkpoint := op("POST", "/v1/events/checkpoints", "events", "Sign the company's event-chain head now with the server's checkpoint key (owners only)", Owner,
		func(c *call, _ none) (CheckpointResult, error) {
			if h.cfg.CheckpointSigner == nil {
				return CheckpointResult{}, license.Errorf(license.Conflict, "checkpoint", "this server has no checkpoint key")
			}
			cp, fresh, err := storage.Checkpoint(c.r.Context(), h.cfg.Store, c.actor.Company, h.cfg.CheckpointSigner, h.cfg.Clock.Now().UTC())
			if err == nil && cp.Chain == 0 {
				err = license.Errorf(license.Conflict, "checkpoint", "the event log is empty: there is no head to sign")
			}
			return CheckpointResult{Checkpoint: cp, Created: fresh}, err
		})
	return []Route{query, export, verify, checkpoint}
}
