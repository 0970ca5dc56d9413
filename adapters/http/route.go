package http

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Access is who may call a route.
type Access string

// Access levels. The adapter checks them before calling the domain, which
// checks its own rules again (the domain is the authority; the adapter's check
// only documents the route and answers early).
const (
	Public Access = "public" // no API key (health, readiness, the OpenAPI document)
	Member Access = "member" // any role: owner, admin, editor, license_admin, viewer
	Editor Access = "editor" // roles that may edit pools (license.Role.CanEdit)
	Prices Access = "prices" // roles that may see prices (license.Role.CanSeePrices)
	Manage Access = "manage" // license management: owner or admin (license.Role.CanManageLicenses)
	Owner  Access = "owner"  // owner only
)

// Allows reports whether role may call a route of access a.
func (a Access) Allows(role license.Role) bool {
	switch a {
	case Public, Member:
		return true
	case Editor:
		return role.CanEdit()
	case Prices:
		return role.CanSeePrices()
	case Manage:
		return role.CanManageLicenses()
	case Owner:
		return role == license.Owner
	}
	return false
}

// Param documents a query parameter.
type Param struct {
	Name        string
	Type        string // "string", "integer" or "boolean"
	Description string
	Enum        []string
}

// Route is one entry of the route table: the mux pattern, its documentation
// and its handler. The mux and the OpenAPI document are both generated from the
// table, so every route is documented.
type Route struct {
	Method   string // GET, POST, PUT, PATCH, DELETE
	Path     string // Go ServeMux path pattern, e.g. /v1/pools/{id}
	Tag      string // OpenAPI tag (pools, sites, events, ...)
	Summary  string
	Access   Access
	Request  reflect.Type // JSON body type; nil when the route takes no body
	Response reflect.Type // JSON response type; nil for non-JSON responses
	Produces string       // content type of a non-JSON response (text/csv, ...)
	Consumes string       // content type of a raw (non-JSON) request body
	MaxBody  int64        // body limit of this route; 0 means Config.MaxBodyBytes
	Query    []Param
	Status   int // success status (200 or 201)
	// Retry says what an Idempotency-Key header does on this route (mutating
	// routes only; "" for reads).
	Retry Retry
	// Versioned, when set, is the kind of the stored record the route reads
	// or changes, its ID being the path's {id}: the answer carries the
	// record's version (ETag) and PUT, PATCH and DELETE honour If-Match.
	Versioned storage.Kind
	// IfMatchRequired refuses a change sent without If-Match (428
	// precondition_required): the routes that replace a whole object.
	IfMatchRequired bool
	// RoleInTx says the route's domain call resolves the caller's effective
	// role inside its own transaction and refuses (Forbidden) every role that
	// Access refuses before it reads anything else. The adapter then checks
	// only the key's role before the call (a key's role is never below its
	// effective role, so what it refuses stays refused) and saves the read
	// transaction of its early check: the hot lease routes. When the call
	// fails otherwise than as the domain fails after its own check (see
	// lateRoleCheck), the adapter reads the effective role then and answers
	// 403 when Access refuses it, so that a demoted key learns nothing more
	// than on any other route.
	RoleInTx bool
	// Example holds sample path values for tests and documentation, by name.
	serve func(c *call) error

	// Description, when set, is the operation's description in the OpenAPI
	// document; otherwise one is written from Summary, Access and Retry.
	Description string
	// Alternatives are the other content types of a non-JSON response (chosen
	// by a query parameter), for the OpenAPI document.
	Alternatives []string
}

// call is one request being served.
type call struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	actor license.Actor
	idem  string // Idempotency-Key header
	rt    *Route
	watch *storage.Watch // the versioned record of the route (Route.Versioned)
}

func (c *call) path(name string) string { return c.r.PathValue(name) }

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

func asMaxBytes(err error, target **http.MaxBytesError) bool { return errors.As(err, target) }

// none is the request type of routes without a body.
type none struct{}

var noneType = reflect.TypeFor[none]()

// op builds a JSON route: Req is decoded from the body (none: no body), the
// handler's result is written as JSON with the route's status.
func op[Req, Resp any](method, path, tag, summary string, access Access, fn func(c *call, req Req) (Resp, error)) Route {
	rt := Route{Method: method, Path: path, Tag: tag, Summary: summary, Access: access,
		Response: reflect.TypeFor[Resp](), Status: http.StatusOK}
	if t := reflect.TypeFor[Req](); t != noneType {
		rt.Request = t
	}
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete {
		rt.Retry = RetrySafe
	}
	rt.serve = func(c *call) error {
		var req Req
		if rt.Request != nil || method != http.MethodGet {
			var err error
			req, err = DecodeJSON[Req](c.r.Body, c.h.cfg.MaxBodyBytes, rt.Request == nil)
			if err != nil {
				return err
			}
		}
		resp, err := fn(c, req)
		if err != nil {
			return err
		}
		c.setETag()
		if c.rt.Status == http.StatusCreated {
			if loc := c.location(resp); loc != "" {
				c.w.Header().Set("Location", loc)
			}
		}
		writeJSON(c.w, c.rt.Status, resp)
		return nil
	}
	return rt
}

// Retry is how a route treats retries and the Idempotency-Key header.
type Retry string

// Retry kinds.
const (
	// RetryKey: the domain honours Idempotency-Key: the same key and request
	// return the first result and change nothing; the same key with another
	// request is a conflict (409, field idempotency_key).
	RetryKey Retry = "key"
	// RetrySafe: repeating the request cannot apply it twice (it sets absolute
	// values, changes nothing, or a repeat is refused as a conflict or not
	// found); the header is accepted and has no further effect.
	RetrySafe Retry = "safe"
	// RetryUnsafe: repeating the request applies it again and the domain
	// cannot honour a key for it yet, so a request carrying Idempotency-Key is
	// refused (400) rather than silently unprotected.
	RetryUnsafe Retry = "unsafe"
)

// withKey marks a route whose domain call receives the Idempotency-Key.
func withKey(rt Route) Route { rt.Retry = RetryKey; return rt }

// roleInTx marks a route whose domain call checks the effective role first
// in its own transaction (see Route.RoleInTx).
func roleInTx(rt Route) Route { rt.RoleInTx = true; return rt }

// unsafeRetry marks a route that cannot honour Idempotency-Key.
func unsafeRetry(rt Route) Route { rt.Retry = RetryUnsafe; return rt }

// created marks a route as answering 201 Created.
func created(rt Route) Route { rt.Status = http.StatusCreated; return rt }

// noted adds note to the description the OpenAPI document gives rt.
func noted(note string, rt Route) Route { rt.Description = describe(rt) + " " + note; return rt }

// withQuery documents the query parameters of a route.
func withQuery(rt Route, ps ...Param) Route { rt.Query = append(rt.Query, ps...); return rt }

// serveRoute wraps a route with authentication, the access check and the body
// limit. The access check uses the caller's effective role (package access),
// the same role the services apply inside their transactions.
func (h *Handler) serveRoute(rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{h: h, w: w, r: r, rt: rt, idem: strings.TrimSpace(r.Header.Get("Idempotency-Key"))}
		if rt.Access != Public {
			// Every answer of an authenticated route (errors included) holds
			// or reveals a tenant's data: no cache may keep it.
			w.Header().Set("Cache-Control", "no-store")
		}
		limit := h.cfg.MaxBodyBytes
		if rt.MaxBody > 0 {
			limit = rt.MaxBody
		}
		if r.ContentLength > limit {
			// Refused on the declared length, before a byte of the body is
			// read; the connection is not kept for a body nobody will read.
			w.Header().Set("Connection", "close")
			writeError(w, tooLarge(limit))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		if rt.Access != Public {
			if len(r.Header.Values("Authorization")) > 1 {
				writeError(w, license.Errorf(license.Invalid, "Authorization", "send exactly one Authorization header"))
				return
			}
			actor, keyID, err := h.authenticate(r)
			if err != nil {
				if StatusOf(license.ErrorCode(err)) == http.StatusUnauthorized && !h.allowFailedAuth(w, r) {
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="licensekit"`)
				writeError(w, err)
				return
			}
			if !h.allow(w, "apikey:"+keyID) {
				return
			}
			// The key's role is a claim: the role applied is the effective
			// one (access.EffectiveRole), read afresh on every request so a
			// demotion or a promotion of the key's member applies at once.
			// Handlers (price visibility) and the services see it. On a
			// RoleInTx route the domain call reads it in its transaction.
			if !rt.RoleInTx {
				role, err := access.ViewRole(r.Context(), h.cfg.Store, actor)
				if err != nil {
					writeError(w, err)
					return
				}
				actor.Role = role
			}
			c.actor = actor
			if sw, ok := w.(*statusWriter); ok {
				sw.actor, sw.keyID = actor, keyID
			}
			if err := rt.Access.check(actor.Role); err != nil {
				writeError(w, err)
				return
			}
		}
		if err := c.serve(); err != nil {
			if rt.RoleInTx && rt.Access != Public {
				err = c.lateRoleCheck(err)
			}
			writeError(w, err)
		}
	})
}

// serve checks the request's query, headers and preconditions, then runs
// the route.
func (c *call) serve() error {
	r, rt := c.r, c.rt
	if err := checkRawQuery(r.URL.RawQuery); err != nil {
		return err
	}
	if rt.Retry == RetryUnsafe && c.idem != "" {
		return license.Errorf(license.Invalid, "Idempotency-Key",
			"this operation cannot honour an Idempotency-Key yet: send it without one (a retry repeats it)")
	}
	if len(c.idem) > 255 {
		return license.Errorf(license.Invalid, "Idempotency-Key", "an idempotency key may be at most 255 bytes")
	}
	if rt.Request != nil && r.ContentLength != 0 {
		ct := r.Header.Get("Content-Type")
		if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
			return &protocolError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
				field: "Content-Type", msg: "send the body as application/json"}
		}
	}
	if err := checkQuery(rt, r); err != nil {
		return err
	}
	if err := c.precondition(); err != nil {
		return err
	}
	return rt.serve(c)
}

// lateRoleCheck is the role check of a RoleInTx route whose call failed with
// err. The domain refuses a role before anything else in its transaction,
// so a refusal it gives after that check (a 403 itself, a 404, a 409, a 410)
// tells nothing a refused role may not learn; any other failure (a malformed
// request, a precondition, an unavailable store) may have come first, and is
// answered 403 when the effective role, read now, is one Access refuses.
func (c *call) lateRoleCheck(err error) error {
	switch StatusOf(license.ErrorCode(err)) {
	case http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusGone:
		return err
	}
	role, rerr := access.ViewRole(c.r.Context(), c.h.cfg.Store, c.actor)
	if rerr != nil {
		return rerr
	}
	return cmp.Or(c.rt.Access.check(role), err)
}

// check returns the Forbidden error of a role that a may not let through.
func (a Access) check(role license.Role) error {
	if a.Allows(role) {
		return nil
	}
	return license.Errorf(license.Forbidden, "role", "the %s role may not do this (needs %s)", role, accessWords(a))
}

// allow takes a token of the limiter for key; when refused it answers 429.
func (h *Handler) allow(w http.ResponseWriter, key string) bool {
	if h.cfg.Limiter == nil {
		return true
	}
	ok, wait := h.cfg.Limiter.Allow(key, h.cfg.Clock.Now())
	if ok {
		return true
	}
	writeError(w, license.RateLimitedError(wait))
	return false
}

func accessWords(a Access) string {
	switch a {
	case Editor:
		return "owner, admin, editor or license administrator"
	case Prices:
		return "a role that may see prices"
	case Manage:
		return "owner or admin"
	case Owner:
		return "owner"
	}
	return string(a)
}

// queryInt parses an integer query parameter; "" gives def.
func queryInt(v, name string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, license.Errorf(license.Invalid, name, "%s must be an integer", name)
	}
	return n, nil
}

// queryBool parses a boolean query parameter; "" gives false.
func queryBool(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, license.Errorf(license.Invalid, name, "%s must be true or false", name)
	}
	return b, nil
}

// checkRawQuery refuses a query string that Go's parser would read only in
// part: it silently drops a pair holding a semicolon or a malformed escape,
// which would let such a pair past the refusal of unknown parameters (and
// answer as if it had not been sent). The field is the pair's name.
func checkRawQuery(raw string) error {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		field := name
		if i := strings.IndexByte(field, ';'); i >= 0 {
			field = field[:i]
		}
		if f, err := url.QueryUnescape(field); err == nil && f != "" && len(f) <= 100 {
			field = f
		} else {
			field = "query"
		}
		if strings.Contains(pair, ";") {
			return license.Errorf(license.Invalid, field,
				"the query parameter %q holds a \";\": separate parameters with \"&\" and send a semicolon in a value as %%3B", field)
		}
		if _, err := url.QueryUnescape(name); err != nil {
			return license.Errorf(license.Invalid, field, "the query parameter name %q has a malformed %%-escape", field)
		}
		if _, err := url.QueryUnescape(value); err != nil {
			return license.Errorf(license.Invalid, field, "the value of the query parameter %q has a malformed %%-escape", field)
		}
	}
	return nil
}
