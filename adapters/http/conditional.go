package http

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Optimistic concurrency. A versioned route (Route.Versioned) works on one
// stored record, the path's {id}; the store numbers the record's versions.
//
//   - GET answers, and PUT and PATCH answers, carry the version as a strong
//     ETag ("3") and in the body ("version": 3);
//   - PUT, PATCH and DELETE honour If-Match: "3" (or *): when the record is
//     no longer at that version the answer is 412 precondition_failed and
//     nothing changes. The comparison is made on the record the domain locks
//     inside its transaction (storage.Watch), so of two writers sending the
//     same If-Match exactly one wins;
//   - routes that replace a whole object (PUT /v1/pools/{id}) require
//     If-Match: without it the answer is 428 precondition_required;
//   - other PUT, PATCH and DELETE routes refuse If-Match (400 invalid) rather
//     than ignore it.

// versioned marks a route working on the record of kind named by the path's {id}.
func versioned(rt Route, kind storage.Kind) Route { rt.Versioned = kind; return rt }

// ifMatchRequired marks a versioned route whose changes need If-Match.
func ifMatchRequired(rt Route) Route { rt.IfMatchRequired = true; return rt }

// precondition reads If-Match and, on a versioned route, puts a watch of the
// route's record into the request context.
func (c *call) precondition() error {
	rt := c.rt
	ifMatch := strings.TrimSpace(c.r.Header.Get("If-Match"))
	write := c.r.Method == http.MethodPut || c.r.Method == http.MethodPatch || c.r.Method == http.MethodDelete
	if rt.Versioned == "" {
		if write && ifMatch != "" {
			return &protocolError{status: http.StatusBadRequest, code: string(license.Invalid), field: "If-Match",
				msg: "this operation has no version to match: send it without If-Match"}
		}
		return nil
	}
	w := &storage.Watch{Kind: rt.Versioned, ID: c.path("id")}
	if write {
		switch {
		case ifMatch == "" && rt.IfMatchRequired:
			return &protocolError{status: http.StatusPreconditionRequired, code: CodePreconditionRequired, field: "If-Match",
				msg: "this operation replaces the whole object: send If-Match with the ETag of the version you read"}
		case ifMatch == "" || ifMatch == "*":
		default:
			v, ok := parseETag(ifMatch)
			if !ok {
				return &protocolError{status: http.StatusBadRequest, code: string(license.Invalid), field: "If-Match",
					msg: `If-Match must be an ETag this API gave (such as "3") or *`}
			}
			w.Expect = v
		}
	}
	c.watch = w
	c.r = c.r.WithContext(storage.WithWatch(c.r.Context(), w))
	return nil
}

// version is the version of the route's record as the domain read or wrote
// it (0 when unknown).
func (c *call) version() int64 {
	if c.watch == nil {
		return 0
	}
	return c.watch.Version()
}

// setETag sets the ETag of a versioned route's answer (not of a deletion).
func (c *call) setETag() {
	if c.r.Method == http.MethodDelete {
		return
	}
	if v := c.version(); v > 0 {
		c.w.Header().Set("ETag", etag(v))
	}
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// parseETag reads a strong ETag of this API ("3").
func parseETag(s string) (int64, bool) {
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(s[1:len(s)-1], 10, 64)
	if err != nil || v < 1 {
		return 0, false
	}
	return v, true
}
