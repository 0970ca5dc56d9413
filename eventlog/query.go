package eventlog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/licensekit/licensekit/internal/eventcore"
	"github.com/licensekit/licensekit/license"
)

// Reader is what Query and Export need from a store: a storage.Tx satisfies it.
// Events must call fn in f's order and should stream (not load every matching
// event at once) when f.Limit is 0.
type Reader interface {
	Events(ctx context.Context, f Filter, fn func(Event) error) error
}

// sortKey returns e's value in column c as cursor text: count, seq and chain
// as decimals, time fixed-width in UTC with nine fractional digits, other
// columns as they are. Stores compare cursor keys with these values (the
// numbers numerically, the rest as text).
func sortKey(e Event, c Column) string { return eventcore.SortKey(e.fields(), string(c)) }

var columnTitles = map[Column]string{
	ColID:      "Event ID",
	ColTime:    "Event date",
	ColType:    "Event type",
	ColSource:  "Source",
	ColTarget:  "Target",
	ColCount:   "License count",
	ColActor:   "Initiated by",
	ColSubject: "Subject",
	ColDetails: "Details",
}

// Title returns the column's header as the MSP portal shows it ("Event date").
func (c Column) Title() string {
	if t, ok := columnTitles[c]; ok {
		return t
	}
	return string(c)
}

// Valid reports whether c is one of AllColumns.
func (c Column) Valid() bool { _, ok := columnTitles[c]; return ok }

// ParseColumn accepts a column code ("time") or title ("Event date"), ignoring
// case and surrounding spaces.
func ParseColumn(s string) (Column, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for _, c := range AllColumns {
		if k == string(c) || k == strings.ToLower(c.Title()) {
			return c, nil
		}
	}
	return "", license.Errorf(license.Invalid, "columns", "unknown column %q: use one of id, time, type, source, target, count, actor, subject, details", s)
}

// Cell returns the text of e's column c as shown and exported: time in RFC 3339
// (UTC, seconds, fractional seconds only when present), count as a decimal,
// details as compact JSON.
func Cell(e Event, c Column) string {
	switch c {
	case ColTime:
		return e.Time.UTC().Format(time.RFC3339Nano)
	case ColDetails:
		return string(e.Details)
	default:
		return sortKey(e, c)
	}
}

// Request is a view of the log as a user chose it: search text, columns and
// their order, sort, and a page.
type Request struct {
	// Search keeps events where any of the chosen Columns' text (Cell) contains
	// it, ignoring case by Unicode simple case folding (see Filter.Matches).
	Search string `json:"search,omitempty"`
	// Types, when set, keeps only these event types.
	Types []Type `json:"types,omitempty"`
	// Columns are the visible columns in display order; empty means
	// DefaultColumns. Unknown or repeated columns are invalid.
	Columns []Column `json:"columns,omitempty"`
	// Sort is the sort column ("" = time); ties are broken by append order.
	Sort Column `json:"sort,omitempty"`
	Desc bool   `json:"desc,omitempty"`
	// Cursor continues after the last event of a previous page (Page.Next). It
	// is only valid with the same Sort and Desc.
	Cursor string `json:"cursor,omitempty"`
	// Limit is the page size: 0 means DefaultLimit; at most MaxLimit.
	Limit int `json:"limit,omitempty"`
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Page is one page of a query.
type Page struct {
	Columns []Column `json:"columns"`
	Events  []Event  `json:"events"`
	// Rows holds, for each event, its cells in Columns order.
	Rows [][]string `json:"rows"`
	// Next is the cursor of the next page; "" on the last page.
	Next string `json:"next,omitempty"`
}

type cursorJSON struct {
	Cursor
	Sort Column `json:"c"`
	Desc bool   `json:"d,omitempty"`
}

// EncodeCursor returns the opaque text form of a position in a listing sorted
// by sort (desc when desc).
func EncodeCursor(c Cursor, sort Column, desc bool) string {
	b, _ := json.Marshal(cursorJSON{Cursor: c, Sort: sort, Desc: desc})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor made by EncodeCursor and checks that it belongs
// to a listing sorted by sort (desc when desc).
func DecodeCursor(s string, sort Column, desc bool) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var cj cursorJSON
	if err == nil {
		err = json.Unmarshal(b, &cj)
	}
	if err != nil {
		return Cursor{}, license.Errorf(license.Invalid, "cursor", "the cursor is malformed; start again without it")
	}
	if cj.Sort != sort || cj.Desc != desc {
		return Cursor{}, license.Errorf(license.Invalid, "cursor", "the cursor belongs to a listing with another sort order; start again without it")
	}
	return cj.Cursor, nil
}

// view is a validated Request.
type view struct {
	filter  Filter
	columns []Column
	needle  string // folded search
	limit   int
}

// storeSearchable are the columns a store's Filter.Search looks at.
var storeSearchable = []Column{ColType, ColSource, ColTarget, ColActor, ColSubject, ColCount}

func (req Request) validate(company string) (view, error) {
	if company == "" {
		return view{}, license.Errorf(license.Invalid, "company", "a company is required to read the event log")
	}
	cols := req.Columns
	if len(cols) == 0 {
		cols = DefaultColumns
	}
	seen := map[Column]bool{}
	for _, c := range cols {
		if !c.Valid() {
			return view{}, license.Errorf(license.Invalid, "columns", "unknown column %q: use one of id, time, type, source, target, count, actor, subject, details", c)
		}
		if seen[c] {
			return view{}, license.Errorf(license.Invalid, "columns", "column %q is chosen twice", c)
		}
		seen[c] = true
	}
	sort := req.Sort
	if sort == "" {
		sort = ColTime
	}
	if !sort.Valid() || !sort.Sortable() {
		return view{}, license.Errorf(license.Invalid, "sort", "cannot sort by %q: use one of id, time, type, source, target, count, actor, subject", req.Sort)
	}
	if req.Limit < 0 || req.Limit > MaxLimit {
		return view{}, license.Errorf(license.Invalid, "limit", "the page size must be between 1 and %d", MaxLimit)
	}
	if len(req.Search) > 200 {
		return view{}, license.Errorf(license.Invalid, "search", "the search text may be at most 200 bytes")
	}
	v := view{
		filter:  Filter{Company: company, Types: slices.Clone(req.Types), Sort: sort, Desc: req.Desc},
		columns: slices.Clone(cols),
		needle:  eventcore.Fold(req.Search),
		limit:   req.Limit,
	}
	if v.limit == 0 {
		v.limit = DefaultLimit
	}
	if req.Cursor != "" {
		c, err := DecodeCursor(req.Cursor, sort, req.Desc)
		if err != nil {
			return view{}, err
		}
		v.filter.After = &c
	}
	// A store's search looks at a fixed set of columns; when the visible columns
	// are among them it narrows the scan (a superset of the matches, which
	// v.matches then makes exact).
	if v.needle != "" && !slices.ContainsFunc(v.columns, func(c Column) bool { return !slices.Contains(storeSearchable, c) }) {
		v.filter.Search = req.Search
	}
	return v, nil
}

func (v view) matches(e Event) bool {
	if v.needle == "" {
		return true
	}
	for _, c := range v.columns {
		if strings.Contains(eventcore.Fold(Cell(e, c)), v.needle) {
			return true
		}
	}
	return false
}

func (v view) row(e Event, into []string) []string {
	into = into[:0]
	for _, c := range v.columns {
		into = append(into, Cell(e, c))
	}
	return into
}

// checkReader validates actor and checks that its role may read the log.
func checkReader(actor license.Actor) error {
	if err := actor.Check(); err != nil {
		return err
	}
	if !actor.Role.CanManageLicenses() {
		return license.Errorf(license.Forbidden, "role", "reading the event log needs the Owner or Admin role; %s has the %s role", actor.Email, actor.Role)
	}
	return nil
}

var errPageFull = errors.New("eventlog: page full")

// Query returns one page of the event log of actor's company, and only that
// company: the search matches the chosen columns' text, sorting is by any
// sortable column in either direction with ties broken by append order, and
// paging uses keyset cursors, so a page never repeats or skips an event when
// new events are appended between pages.
//
// Reading the log needs the Owner or Admin role: the role actor carries,
// which the caller resolves first (access.QueryEvents resolves it against the
// company's stored membership in the same transaction).
//
// Errors: invalid (actor, columns, sort, limit, search, cursor), forbidden
// (role), and the reader's errors.
func Query(ctx context.Context, r Reader, actor license.Actor, req Request) (Page, error) {
	if err := checkReader(actor); err != nil {
		return Page{}, err
	}
	v, err := req.validate(actor.Company)
	if err != nil {
		return Page{}, err
	}
	page := Page{Columns: v.columns, Events: []Event{}, Rows: [][]string{}}
	if v.needle == "" {
		v.filter.Limit = v.limit + 1 // one more tells whether a next page exists
	}
	more := false
	err = r.Events(ctx, v.filter, func(e Event) error {
		if e.Company != actor.Company || !v.matches(e) {
			return nil
		}
		if len(page.Events) == v.limit {
			more = true
			return errPageFull
		}
		page.Events = append(page.Events, e)
		page.Rows = append(page.Rows, v.row(e, nil))
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return Page{}, err
	}
	if more {
		last := page.Events[len(page.Events)-1]
		page.Next = EncodeCursor(Cursor{Key: sortKey(last, v.filter.Sort), Seq: last.Seq}, v.filter.Sort, v.filter.Desc)
	}
	return page, nil
}
