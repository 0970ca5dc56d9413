package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/licensekit/licensekit/billing/subscription"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Every list route pages the same way:
//
//   - ?limit=N: at most N items (default DefaultPageLimit, 1..MaxPageLimit;
//     anything else is 400 invalid, field limit);
//   - ?cursor=C: the page after the one whose answer carried next_cursor C (an
//     opaque token; a token this API did not give is 400 invalid, field cursor);
//   - the answer is a List: {"items":[...],"next_cursor":"..."}, next_cursor
//     absent on the last page, and a Link header with rel="next" naming the
//     URL of the next page (the same query with the cursor replaced).
//
// Items are ordered by their key (an ID, an e-mail address) and a cursor holds
// the last key of its page, so a walk sees every item that exists throughout
// it exactly once, even when items are added or removed meanwhile.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// List is the body of every list route: one page of items and the cursor of
// the next page ("" on the last).
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// pageParams are the limit and cursor query parameters of list routes.
var pageParams = []Param{
	{Name: "limit", Type: "integer", Description: "at most this many items (default 100, at most 1000)"},
	{Name: "cursor", Description: "the next_cursor of the previous page (opaque)"},
}

// paged documents the paging parameters of a list route.
func paged(rt Route) Route { return withQuery(rt, pageParams...) }

// cursorPrefix marks the cursors of this API, so that a token changed by hand
// is refused rather than read as some other position.
const cursorPrefix = "lk1:"

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + key))
}

func decodeCursor(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) || len(b) == len(cursorPrefix) {
		return "", license.Errorf(license.Invalid, "cursor", "cursor is not a next_cursor this API gave")
	}
	return string(b[len(cursorPrefix):]), nil
}

// pageQuery reads ?limit and ?cursor: the page size and the key after which
// the page starts ("" for the first page).
func pageQuery(q url.Values) (limit int, after string, err error) {
	limit = DefaultPageLimit
	if v := q.Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > MaxPageLimit {
			return 0, "", license.Errorf(license.Invalid, "limit", "limit must be an integer between 1 and %d", MaxPageLimit)
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		after, err = decodeCursor(v)
		if err != nil {
			return 0, "", err
		}
	}
	return limit, after, nil
}

// page answers one page of items, each identified by key (unique within the
// list): the items are ordered by key, the page starts after the cursor's key
// and holds at most limit items; when more follow, the answer carries
// next_cursor and the Link header.
func page[T any](c *call, items []T, key func(T) string) (List[T], error) {
	limit, after, err := pageQuery(c.r.URL.Query())
	if err != nil {
		return List[T]{}, err
	}
	sorted := make([]T, len(items))
	copy(sorted, items)
	sort.SliceStable(sorted, func(i, j int) bool { return key(sorted[i]) < key(sorted[j]) })
	start := 0
	if after != "" {
		start = sort.Search(len(sorted), func(i int) bool { return key(sorted[i]) > after })
	}
	end := min(start+limit, len(sorted))
	out := List[T]{Items: sorted[start:end]}
	if end < len(sorted) && end > start {
		out.NextCursor = encodeCursor(key(sorted[end-1]))
		setNextLink(c, out.NextCursor)
	}
	return out, nil
}

// pageOf is page for list functions: it calls list and pages its result.
func pageOf[T any](c *call, items []T, err error, key func(T) string) (List[T], error) {
	if err != nil {
		return List[T]{Items: []T{}}, err
	}
	return page(c, items, key)
}

// setNextLink sets the Link header of the next page: this request's path and
// query with cursor replaced.
func setNextLink(c *call, cursor string) {
	q := c.r.URL.Query()
	q.Set("cursor", cursor)
	u := url.URL{Path: c.prefix() + c.r.URL.Path, RawQuery: q.Encode()}
	c.w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
}

// prefix is the part of the request's path that a handler in front of this
// one removed (http.StripPrefix), so that the URLs this API gives (Link,
// Location) name what the client called.
func (c *call) prefix() string {
	u, err := url.ParseRequestURI(c.r.RequestURI)
	if err != nil || !strings.HasSuffix(u.Path, c.r.URL.Path) {
		return ""
	}
	return strings.TrimSuffix(u.Path, c.r.URL.Path)
}

// checkQuery refuses query parameters a route does not document, as unknown
// JSON fields are refused, and parameters given more than once.
func checkQuery(rt *Route, r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	for k, vs := range r.URL.Query() {
		known := false
		for _, p := range rt.Query {
			if p.Name == k {
				known = true
				break
			}
		}
		if !known {
			return license.Errorf(license.Invalid, k, "unknown query parameter %q", k)
		}
		if len(vs) > 1 {
			return license.Errorf(license.Invalid, k, "give %s once", k)
		}
	}
	return nil
}

// assignmentKey orders assignments by type and consumer.
func assignmentKey(a subscription.Assignment) string {
	b, _ := json.Marshal(a.Consumer)
	return string(a.Type) + "\x00" + string(b)
}

// keyset returns the request's context asking the store, through ListOf,
// for just the records of kind this page needs (storage.Window: the keys
// after the cursor, one more than the limit to know whether a page follows).
// Only for services that list kind unfiltered and in ID order, with the
// item's key being its record ID; page then cuts the same page it would cut
// from the whole list.
func (c *call) keyset(kind storage.Kind) (context.Context, error) {
	limit, after, err := pageQuery(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	return storage.WithWindow(c.r.Context(), storage.Window{Kind: kind, AfterID: after, Limit: limit + 1}), nil
}
