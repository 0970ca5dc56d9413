// Package console is the MSP web console: server-rendered pages over the same
// domain services as the REST API (billing, top-up, the event log, API keys).
// It holds no business rule of its own: every check, price and refusal comes
// from the services, and their messages are shown next to the field at fault.
//
// A person signs in by pasting an API key; the browser then holds only a
// random session token in an HttpOnly, SameSite=Lax cookie (Secure when the
// request came over TLS). The server keeps the session (the hash of the key,
// never the key) in memory, keyed by the hash of the token, for
// Config.SessionTTL. Every request re-reads the key, so a revoked or expired
// key ends its sessions at once, and every service call applies the
// effective role of the key's holder (package access), so a demotion takes
// effect at the next click. Every form carries a CSRF token tied to the
// session (the sign-in form one tied to a pre-session cookie); a POST without
// the right token is refused with 403 and changes nothing.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultSessionTTL is the session lifetime when Config.SessionTTL is 0.
const DefaultSessionTTL = 8 * time.Hour

// maxUpload bounds a multipart request: one attachment at the pool
// service's limit plus the form's other fields.
const maxUpload = pool.MaxAttachmentSize + 1<<16

// Cookie names.
const (
	SessionCookie = "lk_session"
	preCookie     = "lk_signin"
)

// TermsVersion is the version of the automatic top-up terms the console asks
// a person to accept before enabling top-up.
const TermsVersion = "2026-01"

// Config configures the console. Store is required; services left nil are
// built from Store and Clock with their defaults (the billing service then
// covers enrolments with automatic top-up, as the REST API's does).
type Config struct {
	Store      storage.Store
	Clock      license.Clock
	Logger     *slog.Logger
	SessionTTL time.Duration
	// SignInLimiter limits sign-in attempts per client address (the peer
	// address of the connection); nil means 20 at once and 10 a minute.
	// Beyond it the sign-in form answers 429 with Retry-After.
	SignInLimiter license.Limiter
	// SecureCookies marks the cookies Secure even on plain HTTP requests, for
	// a console behind a proxy that terminates TLS (without it, cookies are
	// Secure when the request itself came over TLS).
	SecureCookies bool
	Billing       *billing.Service
	TopUp         *topup.Service
	APIKeys       *apikey.Service
	// Pools serves the license pool pages; give it a BlobStore for
	// attachments (without one, uploads are refused as unavailable).
	Pools         *pool.Service
	Volume        *volume.Service
	Subscriptions *subscription.Service
}

// Handler serves the console. It implements net/http.Handler.
type Handler struct {
	cfg      Config
	sessions sessions
	tmpl     map[string]*template.Template
	mux      *http.ServeMux
	columns  columnPrefs
}

// New returns the console handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, license.Errorf(license.Invalid, "store", "console: a store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = license.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SignInLimiter == nil {
		cfg.SignInLimiter = license.NewTokenBucket(10.0/60, 20)
	}
	if cfg.Billing == nil {
		cfg.Billing = &billing.Service{Store: cfg.Store, Clock: cfg.Clock, Overflow: topup.Overflow()}
	}
	if cfg.TopUp == nil {
		cfg.TopUp = &topup.Service{Store: cfg.Store, Clock: cfg.Clock}
	}
	if cfg.APIKeys == nil {
		cfg.APIKeys = &apikey.Service{Store: cfg.Store, Clock: cfg.Clock}
	}
	if cfg.Pools == nil {
		cfg.Pools = &pool.Service{Store: cfg.Store, Clock: cfg.Clock}
	}
	if cfg.Volume == nil {
		cfg.Volume = volume.New(cfg.Store, cfg.Clock)
	}
	if cfg.Subscriptions == nil {
		cfg.Subscriptions = subscription.New(cfg.Store, cfg.Clock)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), tmpl: map[string]*template.Template{}}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	h.mux.HandleFunc("GET /signin", h.signInPage)
	h.mux.HandleFunc("POST /signin", h.signIn)
	h.mux.HandleFunc("POST /signout", h.authed(h.signOut))
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/licenses", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET /licenses", h.authed(h.licensesPage))
	h.mux.HandleFunc("POST /licenses/purchase", h.authed(h.purchase))
	h.mux.HandleFunc("POST /licenses/decrease", h.authed(h.decrease))
	h.mux.HandleFunc("POST /licenses/transfer", h.authed(h.transfer))
	h.mux.HandleFunc("POST /licenses/preview", h.authed(h.preview))
	h.mux.HandleFunc("GET /topup", h.authed(h.topUpPage))
	h.mux.HandleFunc("POST /topup/enable", h.authed(h.topUpEnable))
	h.mux.HandleFunc("POST /topup/disable", h.authed(h.topUpDisable))
	h.mux.HandleFunc("POST /topup/increment", h.authed(h.topUpIncrement))
	h.mux.HandleFunc("POST /topup/recipients", h.authed(h.topUpAddRecipient))
	h.mux.HandleFunc("POST /topup/recipients/remove", h.authed(h.topUpRemoveRecipient))
	h.mux.HandleFunc("GET /events", h.authed(h.eventsPage))
	h.mux.HandleFunc("GET /events/export", h.authed(h.eventsExport))
	h.poolRoutes()
	h.volumeRoutes()
	h.subscriptionRoutes()
	return h, nil
}

func staticHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the console with security headers on every answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// user is the signed-in person of a request.
type user struct {
	actor   license.Actor // the key's claimed role
	role    license.Role  // the effective role, read at this request
	csrf    string
	token   string
	company string
}

type ctxKey struct{}

// authed resolves the session of r: no session (or a key no longer usable)
// sends the browser to the sign-in page; a POST must carry the session's CSRF
// token (form field "csrf" or header X-CSRF-Token) or is refused with 403.
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		c, _ := r.Cookie(SessionCookie)
		var tok string
		if c != nil {
			tok = c.Value
		}
		se, ok := h.sessions.get(tok, time.Now())
		if !ok {
			h.toSignIn(w, r, "")
			return
		}
		u, err := h.userOf(r.Context(), se, tok)
		if err != nil {
			h.sessions.delete(tok)
			msg := "Your session has ended; sign in again."
			if license.ErrorCode(err) == license.KeyRevoked || license.ErrorCode(err) == license.KeyExpired {
				msg = license.ErrorMessage(err)
			}
			h.toSignIn(w, r, msg)
			return
		}
		if r.Method == http.MethodPost {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				limit := int64(1 << 16)
				if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
					limit = maxUpload // an attachment upload
					if r.ContentLength > limit {
						h.fail(w, r, u, http.StatusRequestEntityTooLarge, fmt.Sprintf("The file is larger than the attachment limit of %d MiB; nothing was uploaded.", pool.MaxAttachmentSize>>20))
						return
					}
				}
				r.Body = http.MaxBytesReader(w, r.Body, limit)
				got = r.PostFormValue("csrf")
			}
			if !sameToken(got, se.csrf) {
				h.fail(w, r, u, http.StatusForbidden, "The form has expired or did not come from this console (CSRF token missing or wrong). Reload the page and try again.")
				return
			}
		}
		next(w, r, u)
	}
}

// userOf re-reads the session's key (a revoked or expired key fails) and the
// effective role of its holder.
func (h *Handler) userOf(ctx context.Context, se session, tok string) (*user, error) {
	now := h.cfg.Clock.Now().UTC()
	var u *user
	err := h.cfg.Store.View(ctx, func(tx storage.Tx) error {
		k, _, err := storage.Load[apikey.Key](ctx, tx, storage.SystemCompany, apikey.Kind, se.keyHash, false)
		if err != nil {
			return err
		}
		if err := k.Usable(now); err != nil {
			return err
		}
		actor := license.Actor{Company: k.Company, Email: k.Email, Role: k.Role}
		eff, err := access.Resolve(ctx, tx, actor)
		if err != nil {
			return err
		}
		u = &user{actor: actor, role: eff.Role, csrf: se.csrf, token: tok, company: k.Company}
		return nil
	})
	return u, err
}

func (h *Handler) toSignIn(w http.ResponseWriter, r *http.Request, msg string) {
	if r.Method == http.MethodGet && msg == "" {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	h.renderSignIn(w, r, http.StatusUnauthorized, msg)
}

func (h *Handler) secure(r *http.Request) bool { return r.TLS != nil || h.cfg.SecureCookies }

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) {
	h.renderSignIn(w, r, http.StatusOK, "")
}

// renderSignIn shows the sign-in form; its CSRF token is the value of a
// pre-session cookie set here (double submit), so a forged sign-in from
// another site cannot carry it.
func (h *Handler) renderSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	pre := ""
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) >= 32 {
		pre = c.Value
	} else {
		pre = randomToken()
		http.SetCookie(w, &http.Cookie{Name: preCookie, Value: pre, Path: "/signin", HttpOnly: true,
			Secure: h.secure(r), SameSite: http.SameSiteLaxMode, MaxAge: 3600})
	}
	h.render(w, "signin", status, map[string]any{"CSRF": pre, "Error": msg, "Title": "Sign in"})
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	c, err := r.Cookie(preCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		h.render(w, "error", http.StatusForbidden, map[string]any{"Title": "Refused", "Status": http.StatusForbidden,
			"Message": "The sign-in form has expired or did not come from this console (CSRF token missing or wrong). Reload the page and try again."})
		return
	}
	addr, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ok, wait := h.cfg.SignInLimiter.Allow("console-signin:"+addr, time.Now()); !ok {
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.renderSignIn(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many sign-in attempts from this address; try again in %d seconds.", secs))
		return
	}
	k, hash, err := h.cfg.APIKeys.Authenticate(r.Context(), r.PostFormValue("key"))
	if err != nil {
		msg := license.ErrorMessage(err)
		if license.ErrorCode(err) == license.Unauthenticated {
			msg = "This API key is not known. Paste the whole key, starting with " + apikey.Prefix + "."
		}
		h.renderSignIn(w, r, http.StatusUnauthorized, msg)
		return
	}
	tok, _ := h.sessions.create(hash, time.Now().Add(h.cfg.SessionTTL))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: h.secure(r), SameSite: http.SameSiteLaxMode, MaxAge: int(h.cfg.SessionTTL / time.Second)})
	http.SetCookie(w, &http.Cookie{Name: preCookie, Value: "", Path: "/signin", MaxAge: -1, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	h.cfg.Logger.Info("console sign-in", "company", k.Company, "email", k.Email, "key_id", k.ID)
	http.Redirect(w, r, "/licenses", http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, u *user) {
	h.sessions.delete(u.token)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// statusOf maps a domain error to the HTTP status of the page that shows it.
func statusOf(err error) int {
	switch license.ErrorCode(err) {
	case license.Forbidden:
		return http.StatusForbidden
	case license.NotFound:
		return http.StatusNotFound
	case license.Conflict:
		return http.StatusConflict
	case license.Unauthenticated, license.KeyExpired, license.KeyRevoked:
		return http.StatusUnauthorized
	case license.Unavailable:
		return http.StatusServiceUnavailable
	case license.Internal:
		return http.StatusInternalServerError
	}
	var le *license.Error
	if !errors.As(err, &le) {
		return http.StatusInternalServerError
	}
	return http.StatusUnprocessableEntity
}

// message is what a person reads for err: the domain's message, or a generic
// one for a failure that is not the person's to fix.
func message(err error) string {
	if statusOf(err) >= 500 {
		return "Something went wrong on the server; try again in a moment."
	}
	return license.ErrorMessage(err)
}

// fail renders an error page (403 for a refused role or CSRF token).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, u *user, status int, msg string) {
	h.render(w, "error", status, h.base(u, "Refused", r, map[string]any{"Status": status, "Message": msg}))
}
