package http

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// DefaultKeyCacheTTL is the key cache lifetime when Config.KeyCacheTTL is 0.
const DefaultKeyCacheTTL = 2 * time.Second

// MaxKeyCacheTTL is the longest Config.KeyCacheTTL: the bound on how long a
// revoked key may keep working on another process sharing the store.
const MaxKeyCacheTTL = 30 * time.Second

// DefaultWriteTimeout is the per-write deadline when Config.WriteTimeout is 0.
const DefaultWriteTimeout = 30 * time.Second

// DefaultReadyTimeout bounds the readiness probe when Config.ReadyTimeout is 0.
const DefaultReadyTimeout = 2 * time.Second

// Config configures a Handler. Store is required; every service left nil is
// built from Store and Clock with its defaults.
type Config struct {
	Store  storage.Store
	Clock  license.Clock // nil: license.SystemClock
	Logger *slog.Logger  // nil: slog.Default()
	// MaxBodyBytes limits request bodies (413 beyond); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Limiter, when set, rate-limits requests per API key (key "apikey:<id>"):
	// beyond it the answer is 429 with Retry-After. nil means no limit.
	Limiter license.Limiter
	// Limits are the rate limits on failed authentications, validations and
	// activations, on by default (see Limits). Refusals are audited: a 403 of
	// a known actor is an EventAccessDenied event of its company; a 401 (no
	// known company) is a WARN log line with the client address and the
	// presented key's prefix, never a store write.
	Limits Limits
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client address (for the limits, the audit and the access
	// log). Empty: the peer address (RemoteAddr) is the client, whatever the
	// header says.
	TrustedProxies []netip.Prefix
	// KeyCacheTTL is how long an authenticated API key is remembered in this
	// process, sparing a store read per request: 0 means DefaultKeyCacheTTL,
	// a negative value turns the cache off, more than MaxKeyCacheTTL is
	// refused. A key revoked through this handler is refused at once; one
	// revoked through another handler or process sharing the store is refused
	// here at most KeyCacheTTL after the revocation commits (the lifetime of
	// a cache entry starts before the store read that fills it). Expiry is
	// checked on every request, cached or not.
	KeyCacheTTL time.Duration
	// CheckpointSigner, when set, signs the company's event-chain head on
	// POST /v1/events/checkpoints (see storage.Checkpoint). It must hold an
	// Ed25519 key, kept outside the store.
	CheckpointSigner crypto.Signer
	// CheckpointKeys are the public keys GET /v1/events/verify checks the
	// stored checkpoints with; empty means the public key of CheckpointSigner.
	// With neither, verify checks the plain chain only.
	CheckpointKeys []ed25519.PublicKey
	// WriteTimeout is how long one write of a response may wait for the
	// client: before each write (at most every eighth of it) the connection's
	// write deadline is moved to now plus WriteTimeout, so a client that reads
	// gets a response of any length, and one that stops reading is cut off
	// within about WriteTimeout, the handler's goroutine freed. 0 means
	// DefaultWriteTimeout; a negative value sets no deadline (the server's own
	// WriteTimeout, if any, then applies).
	WriteTimeout time.Duration
	// ReadyTimeout bounds /readyz: a store that cannot give a connection and
	// run a read transaction within it is reported saturated (503). 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// LicenseKey, when set, signs the license files of borrowed seats
	// (POST /v1/pools/{id}/borrow; key id licensefile.KeyID of its public
	// key). Without it the route answers 503 unavailable. Keep it outside the
	// store: whoever holds it can issue license files.
	LicenseKey ed25519.PrivateKey
	// OfflineGrace is how long a product may rely on a valid validation
	// answer while it cannot reach the server: every valid answer of the
	// validation routes carries offline_until, now plus OfflineGrace (never
	// past the license's expiry). 0 means DefaultOfflineGrace; a negative
	// value sets none.
	OfflineGrace time.Duration
	Services
}

// Handler is the licensekit REST API. It implements net/http.Handler.
type Handler struct {
	cfg     Config
	keys    keyCache
	lim     *limits
	mux     *http.ServeMux
	routes  []Route
	openapi []byte
	// draining ends when Drain is called: requests waiting for a seat stop.
	draining context.Context
	drain    context.CancelFunc
}

// New returns the API handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, license.Errorf(license.Invalid, "store", "http: a store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = license.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.KeyCacheTTL == 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if cfg.KeyCacheTTL > MaxKeyCacheTTL {
		return nil, license.Errorf(license.Invalid, "key_cache_ttl", "http: the key cache lifetime may be at most %s (a revoked key works that long on other processes)", MaxKeyCacheTTL)
	}
	if cfg.CheckpointSigner != nil {
		pub, err := eventlog.SignerKey(cfg.CheckpointSigner)
		if err != nil {
			return nil, err
		}
		if len(cfg.CheckpointKeys) == 0 {
			cfg.CheckpointKeys = []ed25519.PublicKey{pub}
		}
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.OfflineGrace == 0 {
		cfg.OfflineGrace = DefaultOfflineGrace
	}
	if cfg.LicenseKey != nil && len(cfg.LicenseKey) != ed25519.PrivateKeySize {
		return nil, license.Errorf(license.Invalid, "license_key", "http: the license key is not an Ed25519 private key")
	}
	cfg.Services.fill(cfg.Store, cfg.Clock)
	lim := newLimits(cfg.Limits)
	cfg.Services.withValidationLimit(lim.validation)
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), lim: lim}
	h.draining, h.drain = context.WithCancel(context.Background())
	h.routes = h.table()
	for i := range h.routes {
		rt := &h.routes[i]
		h.mux.Handle(rt.Method+" "+rt.Path, h.serveRoute(rt))
	}
	doc, err := json.MarshalIndent(OpenAPI(h.routes), "", "  ")
	if err != nil {
		return nil, license.Wrap(license.Internal, err, "http: build the OpenAPI document")
	}
	h.openapi = doc
	return h, nil
}

// Drain ends the waits of the requests waiting for a seat
// (POST /v1/pools/{id}/leases with wait_seconds): they answer 503 at once,
// and requests that come later do not wait. Call it when the server starts
// to shut down (http.Server.RegisterOnShutdown), so that a shutdown does not
// wait for them; the clients try again, elsewhere or later.
func (h *Handler) Drain() { h.drain() }

// waitContext returns ctx, ended early by Drain.
func (h *Handler) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(h.draining, cancel)
	return ctx, func() { stop(); cancel() }
}

// Routes returns the route table (a copy).
func (h *Handler) Routes() []Route { return append([]Route(nil), h.routes...) }

// Matches reports whether the mux has a route for r (not a 404 or 405 of the mux).
func (h *Handler) Matches(r *http.Request) bool { return h.Pattern(r) != "" }

// Pattern returns the route pattern that serves r, such as
// "GET /v1/sites/{id}", or "" when no route does. Metrics and logs label a
// request with it: a bounded set of values, unlike the path.
func (h *Handler) Pattern(r *http.Request) string {
	_, pattern := h.mux.Handler(r)
	return pattern
}

type ctxKey int

const requestIDKey ctxKey = 1

// RequestID returns the request id of a request served by a Handler.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// statusWriter records the status written, for the access log, and gives
// every write of every response its deadline (Config.WriteTimeout).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	code   license.Code
	actor  license.Actor
	keyID  string
	// refused, when set, is called once before a 401 or 403 is written.
	refused func(status int)
	// timeout is the per-write deadline (<= 0: none); extended is when the
	// deadline was last moved.
	timeout  time.Duration
	extended time.Time
}

// extend moves the connection's write deadline to now + timeout, at most
// every eighth of the timeout (a deadline is a timer reset, not free). A
// writer that cannot take deadlines (a test recorder) is left as it is.
func (w *statusWriter) extend() {
	if w.timeout <= 0 {
		return
	}
	now := time.Now()
	if !w.extended.IsZero() && now.Sub(w.extended) < w.timeout/8 {
		return
	}
	w.extended = now
	_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(now.Add(w.timeout))
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
		if (s == http.StatusUnauthorized || s == http.StatusForbidden) && w.refused != nil {
			w.refused(s)
		}
	}
	w.extend()
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.extend()
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	w.extend()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP assigns the request id, logs the request (never its Authorization
// header; its line carries the request id, the route pattern and, once
// authenticated, the company and the API key's id) and dispatches to the route; the mux's own 404 and 405 answers are
// rewritten as problem details (keeping the Allow header).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := cleanRequestID(r.Header.Get("X-Request-Id"))
	if id == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	if _, ok := r.Header["Authorization"]; ok {
		// An answer to a request with credentials is never for a cache, even
		// when no route matched.
		w.Header().Set("Cache-Control", "no-store")
	}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
	sw := &statusWriter{ResponseWriter: w, timeout: h.cfg.WriteTimeout}
	handler, pattern := h.mux.Handler(r)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.cfg.Logger.Error("panic", "request_id", id, "route", pattern, "panic", fmt.Sprint(p))
			if sw.status == 0 {
				writeError(sw, license.Errorf(license.Internal, "", "internal error"))
			}
		}
		attrs := []any{"request_id", id, "client", h.clientAddr(r), "method", r.Method, "path", r.URL.Path,
			"route", pattern, "status", sw.status, "bytes", sw.bytes, "duration", time.Since(start)}
		if sw.actor.Company != "" {
			attrs = append(attrs, "company", sw.actor.Company, "key_id", sw.keyID, "actor", sw.actor.Email, "role", string(sw.actor.Role))
		}
		if sw.code != "" {
			attrs = append(attrs, "error_code", string(sw.code))
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		h.cfg.Logger.Log(r.Context(), level, "http request", attrs...)
	}()
	sw.refused = func(status int) { h.auditRefusal(r, sw, pattern, status) }
	if pattern == "" {
		// The mux would answer 404 or 405 in plain text: find out which, answer JSON.
		rec := &headerRecorder{header: http.Header{}}
		handler.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusNotFound
		}
		if allow := rec.header.Get("Allow"); allow != "" {
			sw.Header().Set("Allow", allow)
		}
		if status == http.StatusMethodNotAllowed {
			sw.code = CodeMethodNotAllowed
			writeProblem(sw, status, CodeMethodNotAllowed, fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, rec.header.Get("Allow")), "")
			return
		}
		if status >= 300 && status < 400 {
			for k, v := range rec.header {
				sw.Header()[k] = v
			}
			sw.WriteHeader(status)
			return
		}
		sw.code = license.NotFound
		writeProblem(sw, http.StatusNotFound, string(license.NotFound), "no route for "+r.Method+" "+r.URL.Path, "")
		return
	}
	h.mux.ServeHTTP(sw, r)
}

// headerRecorder captures the mux's own answer (404, 405 or a redirect).
type headerRecorder struct {
	header http.Header
	status int
}

func (r *headerRecorder) Header() http.Header { return r.header }
func (r *headerRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *headerRecorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}

// cleanRequestID accepts a caller's X-Request-Id of at most 128 printable,
// non-space ASCII characters; anything else is replaced.
func cleanRequestID(s string) string {
	if s == "" || len(s) > 128 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return ""
		}
	}
	return s
}

// StatusOf maps a license.Error code to its HTTP status. It is the one place
// where that mapping lives:
//
//	invalid 400, unauthenticated, key_expired and key_revoked 401,
//	forbidden 403, not_found 404,
//	conflict 409, and the state-dependent refusals insufficient_licenses,
//	below_enrolled, quarantined, restriction_failed and expired 409 (the request
//	was well formed but the current state of the resource refuses it; it may
//	succeed after the state changes), currency_mismatch 422 (the request can
//	never succeed with those resources), rate_limited 429, unavailable 503,
//	internal and anything unknown 500.
func StatusOf(code license.Code) int {
	switch code {
	case license.Invalid:
		return http.StatusBadRequest
	case license.Unauthenticated, license.KeyExpired, license.KeyRevoked:
		return http.StatusUnauthorized
	case license.Forbidden:
		return http.StatusForbidden
	case license.NotFound:
		return http.StatusNotFound
	case storage.PreconditionFailed:
		return http.StatusPreconditionFailed
	case license.Conflict, license.InsufficientLicenses, license.BelowEnrolled,
		license.Quarantined, license.RestrictionFailed, license.Expired:
		return http.StatusConflict
	case license.CurrencyMismatch:
		return http.StatusUnprocessableEntity
	case license.RateLimited:
		return http.StatusTooManyRequests
	case license.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// ProblemTypeBase is the prefix of every problem type URI: the type of an
// error with code c is ProblemTypeBase + c (for example
// https://licensekit.dev/problems/not_found). The URI names the kind of problem;
// clients compare it (or the code member) and need not fetch it.
const ProblemTypeBase = "https://licensekit.dev/problems/"

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// Protocol error codes: failures of the HTTP exchange itself, beside the
// license.Error codes of the domain.
const (
	CodeMethodNotAllowed     = "method_not_allowed"     // 405: the path exists, the method does not
	CodeTooLarge             = "too_large"              // 413: the body exceeds the route's limit
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: a JSON route got another Content-Type
	CodeNotAcceptable        = "not_acceptable"         // 406: no media type the export offers is acceptable
	// CodePreconditionRequired (428): a change that must carry If-Match came without it.
	CodePreconditionRequired = "precondition_required"
)

// ProblemCode describes one error code: its HTTP status and the title of its
// problem type.
type ProblemCode struct {
	Code   string
	Status int
	Title  string
}

// ProblemCodes lists every code an error response can carry, with its status
// and title; the OpenAPI document's enum on Problem.code is this list.
var ProblemCodes = []ProblemCode{
	{string(license.Invalid), http.StatusBadRequest, "The request is invalid"},
	{string(license.Unauthenticated), http.StatusUnauthorized, "Missing or unknown API key"},
	{string(license.KeyExpired), http.StatusUnauthorized, "The API key has expired"},
	{string(license.KeyRevoked), http.StatusUnauthorized, "The API key was revoked"},
	{string(license.Forbidden), http.StatusForbidden, "The key's role may not do this"},
	{string(license.NotFound), http.StatusNotFound, "No such resource"},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, "Method not allowed on this path"},
	{CodeNotAcceptable, http.StatusNotAcceptable, "No acceptable media type"},
	{string(license.Conflict), http.StatusConflict, "The current state refuses the request"},
	{string(license.InsufficientLicenses), http.StatusConflict, "Not enough free licenses"},
	{string(license.BelowEnrolled), http.StatusConflict, "Licenses would fall below the enrolled devices"},
	{string(license.Quarantined), http.StatusConflict, "The licenses are held in quarantine"},
	{string(license.RestrictionFailed), http.StatusConflict, "The consumer is outside the pool's restrictions"},
	{string(license.Expired), http.StatusConflict, "The license or subscription has expired"},
	{CodeTooLarge, http.StatusRequestEntityTooLarge, "The request body is too large"},
	{string(storage.PreconditionFailed), http.StatusPreconditionFailed, "The resource changed since the version given"},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, "Unsupported request media type"},
	{string(license.CurrencyMismatch), http.StatusUnprocessableEntity, "Amounts in different currencies"},
	{CodePreconditionRequired, http.StatusPreconditionRequired, "If-Match is required"},
	{string(license.RateLimited), http.StatusTooManyRequests, "Too many requests"},
	{string(license.Internal), http.StatusInternalServerError, "Internal error"},
	{string(license.Unavailable), http.StatusServiceUnavailable, "A dependency is unavailable"},
}

// problemTitle is the title of code's problem type.
func problemTitle(code string, status int) string {
	for _, pc := range ProblemCodes {
		if pc.Code == code {
			return pc.Title
		}
	}
	return http.StatusText(status)
}

// Problem is the body of every error response, an RFC 9457 problem details
// object served as application/problem+json. Type, Title and Status follow
// from Code (one type URI and title per code); Detail says what went wrong in
// words a person can act on; Code is the stable machine-readable code (a
// license.Error code or one of the protocol codes); Field names the input at
// fault when there is one.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	// Details carries structured data of some errors: the sites that keep
	// automatic top-up from being enabled ([]topup.SiteProblem).
	Details any `json:"details,omitempty"`
}

// ParseProblem decodes an error response body. It fails when body is not a
// problem object carrying a code, so a caller (a client, a test) can tell an
// error body from any other JSON.
func ParseProblem(body []byte) (Problem, error) {
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		return p, license.Wrap(license.Invalid, err, "the body is not a problem object")
	}
	if p.Code == "" || p.Status == 0 {
		return p, license.Errorf(license.Invalid, "code", "the body is not a problem object (no code or status)")
	}
	return p, nil
}

// protocolError is an error of the HTTP layer itself with its own status.
type protocolError struct {
	status int
	code   string
	field  string
	msg    string
}

func (e *protocolError) Error() string { return e.msg }

func writeProblem(w http.ResponseWriter, status int, code, msg, field string) {
	writeErrorBody(w, Problem{Status: status, Code: code, Detail: msg, Field: field})
}

// writeErrorBody writes p as an application/problem+json response, filling in
// its type and title from its code.
func writeErrorBody(w http.ResponseWriter, p Problem) {
	p.Type = ProblemTypeBase + p.Code
	p.Title = problemTitle(p.Code, p.Status)
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeError writes err as an error response; internal details are not leaked.
func writeError(w http.ResponseWriter, err error) {
	var pe *protocolError
	if errors.As(err, &pe) {
		if sw, ok := w.(*statusWriter); ok {
			sw.code = license.Code(pe.code)
		}
		writeProblem(w, pe.status, pe.code, pe.msg, pe.field)
		return
	}
	code := license.ErrorCode(err)
	if sw, ok := w.(*statusWriter); ok {
		sw.code = code
	}
	if code == license.RateLimited && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfterSeconds(license.RetryAfterOf(err)))
	}
	msg := license.ErrorMessage(err)
	if code == license.Internal {
		msg = "internal error"
	}
	p := Problem{Status: StatusOf(code), Code: string(code), Detail: msg, Field: license.ErrorField(err)}
	var pre *topup.PrerequisiteError
	if errors.As(err, &pre) {
		p.Details = pre.Problems
	}
	writeErrorBody(w, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(w, license.Wrap(license.Internal, err, "encode response"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// DecodeJSON reads one JSON value of type T from body, at most limit bytes,
// refusing unknown fields and trailing data. An empty body decodes to the zero
// T when allowEmpty. Errors are *license.Error (invalid, with the field) or a
// 413 protocol error for an oversized body.
func DecodeJSON[T any](body io.Reader, limit int64, allowEmpty bool) (T, error) {
	var v T
	var seen bytes.Buffer // the body as read, to name the field of a value its decoder refused
	lr := &limitReader{r: io.TeeReader(body, &seen), n: limit}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	if err == nil {
		// Only whitespace may follow.
		var extra json.RawMessage
		if err2 := dec.Decode(&extra); err2 != io.EOF {
			if lr.over {
				return v, tooLarge(limit)
			}
			return v, license.Errorf(license.Invalid, "body", "the body must hold exactly one JSON value")
		}
		return v, nil
	}
	if lr.over {
		return v, tooLarge(limit)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return v, tooLarge(mbe.Limit)
	}
	if err == io.EOF {
		if allowEmpty {
			return v, nil
		}
		return v, license.Errorf(license.Invalid, "body", "a JSON request body is required")
	}
	var le *license.Error
	if errors.As(err, &le) {
		return v, withBodyField(le, seen.Bytes())
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return v, license.Errorf(license.Invalid, "body", "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return v, license.Errorf(license.Invalid, field, "%s must be a JSON %s", field, jsonKind(te.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return v, license.Errorf(license.Invalid, "body", "the JSON body ends too early")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return v, license.Errorf(license.Invalid, f, "unknown field %q", f)
	}
	return v, license.Errorf(license.Invalid, "body", "the body is not valid JSON for this request")
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "integer"
	case strings.HasPrefix(k, "float"):
		return "number"
	case k == "slice", k == "array":
		return "array"
	case k == "struct", k == "map":
		return "object"
	case k == "bool":
		return "boolean"
	}
	return k
}

func tooLarge(limit int64) error {
	return &protocolError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
		field: "body", msg: fmt.Sprintf("the request body exceeds %d bytes", limit)}
}

// limitReader is like http.MaxBytesReader without needing a ResponseWriter
// (the handler wraps the body in http.MaxBytesReader as well, which also stops
// the server from reading further).
type limitReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Probe one byte to see whether the body goes on.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.over = true
			return 0, errors.New("request body too large")
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
