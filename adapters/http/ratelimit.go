package http

import (
	"cmp"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Rate is a token-bucket limit: Burst attempts at once, then PerMinute
// attempts a minute. A zero PerMinute or Burst takes the default of its field
// of Limits; a negative PerMinute (NoLimit) turns the limit off.
type Rate struct {
	PerMinute float64
	Burst     int
}

// NoLimit is a Rate that turns a limit off.
var NoLimit = Rate{PerMinute: -1}

// Default rates of Limits.
var (
	DefaultFailedAuth = Rate{PerMinute: 10, Burst: 20}
	DefaultValidation = Rate{PerMinute: 600, Burst: 100}
	DefaultAudit      = Rate{PerMinute: 10, Burst: 20}
)

// Limits are the rate limits the handler applies by default. Beyond a limit
// the answer is 429 with the error code rate_limited and a Retry-After header
// (whole seconds).
type Limits struct {
	// FailedAuth limits failed authentications (401 answers) per client
	// address (an IPv6 address counts by its /64) and, separately, per prefix
	// of the presented key (its first KeyPrefixLen characters). A request with
	// a valid key is never refused by it, whatever its address. Default
	// DefaultFailedAuth: 10 a minute, 20 at once.
	FailedAuth Rate
	// Validation limits validations and activations per pool, subscription
	// license and license key: it becomes the Limiter of the pool and
	// subscription services that have none. Default DefaultValidation.
	Validation Rate
	// Audit limits how often refusals are recorded (see Config.Limits): 403
	// events per company, 401 log lines per client address. Refusals beyond
	// it are counted and the next record says how many were left out.
	// Default DefaultAudit.
	Audit Rate
	// MaxKeys bounds the memory of each limiter (addresses, prefixes,
	// licenses remembered); 0 means license.DefaultMaxKeys.
	MaxKeys int
}

// KeyPrefixLen is how many characters of a presented API key identify it in
// the failed-authentication limit and in logs ("lk_" and 7 more): enough to
// tell keys apart, far too few to help guess one.
const KeyPrefixLen = 10

// EventAccessDenied is the event type of a refused request (403) of a known
// actor: Actor is the key's e-mail, Subject the key id, Details the client
// address, method, route pattern, role and error code, and "unrecorded": how
// many refusals of the company were not recorded since the previous such
// event (the audit limit).
const EventAccessDenied eventlog.Type = "access.denied"

// bucket builds the limiter of r, zero fields taken from def; nil when off.
func (r Rate) bucket(def Rate, maxKeys int) *license.TokenBucket {
	if r.PerMinute < 0 {
		return nil
	}
	if r.PerMinute == 0 {
		r.PerMinute = def.PerMinute
	}
	if r.Burst < 1 {
		r.Burst = def.Burst
	}
	l := license.NewTokenBucket(r.PerMinute/60, float64(r.Burst))
	l.MaxKeys = maxKeys
	return l
}

// limits are the limiters built from Config.Limits (nil: off).
type limits struct {
	authAddr   *license.TokenBucket
	authPrefix *license.TokenBucket
	audit      *license.TokenBucket
	validation *license.TokenBucket
	maxKeys    int
	mu         sync.Mutex
	unrecorded map[string]int64 // refusals left out by the audit limit, by audit key
}

func newLimits(l Limits) *limits {
	return &limits{
		authAddr:   l.FailedAuth.bucket(DefaultFailedAuth, l.MaxKeys),
		authPrefix: l.FailedAuth.bucket(DefaultFailedAuth, l.MaxKeys),
		audit:      l.Audit.bucket(DefaultAudit, l.MaxKeys),
		validation: l.Validation.bucket(DefaultValidation, l.MaxKeys),
		maxKeys:    cmp.Or(max(l.MaxKeys, 0), license.DefaultMaxKeys),
		unrecorded: map[string]int64{},
	}
}

// withValidationLimit gives the pool and subscription services that have no
// Limiter the validation limiter (copies: the caller's services are not changed).
func (s *Services) withValidationLimit(l *license.TokenBucket) {
	if l == nil {
		return
	}
	if s.Pools.Limiter == nil {
		p := *s.Pools
		p.Limiter = l
		s.Pools = &p
	}
	if s.Subscriptions.Limiter == nil {
		sub := *s.Subscriptions
		sub.Limiter = l
		s.Subscriptions = &sub
	}
}

// allowFailedAuth takes a token of the failed-authentication limit for the
// client address and for the presented key prefix; when either is spent it
// answers 429.
func (h *Handler) allowFailedAuth(w http.ResponseWriter, r *http.Request) bool {
	now := h.cfg.Clock.Now()
	ok, wait := true, time.Duration(0)
	if l := h.lim.authAddr; l != nil {
		ok, wait = l.Allow("addr:"+limitKey(h.clientAddr(r)), now)
	}
	if l, p := h.lim.authPrefix, presentedPrefix(r); l != nil && p != "" {
		if ok2, wait2 := l.Allow("prefix:"+p, now); !ok2 {
			ok, wait = false, max(wait, wait2)
		}
	}
	if ok {
		return true
	}
	writeError(w, license.RateLimitedError(wait))
	return false
}

// retryAfterSeconds is d in whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

// clientAddr is the client's address: the peer's (RemoteAddr), or, when the
// peer is one of Config.TrustedProxies, the address its X-Forwarded-For
// names: the entries are read from the right, skipping trusted proxies; the
// first untrusted one is the client (an entry that does not parse stops the
// walk at the last address read).
func (h *Handler) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if !h.trusted(ip) {
		return ip.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		ip = a.Unmap()
		if !h.trusted(ip) {
			break
		}
	}
	return ip.String()
}

func (h *Handler) trusted(ip netip.Addr) bool {
	for _, p := range h.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// limitKey is the limiter key of a client address: IPv6 addresses count by
// their /64 (one subscriber's network), others as they are.
func limitKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() {
		return addr
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// presentedPrefix is the first KeyPrefixLen characters of the Bearer key of
// r, "" when there is none; characters outside the key alphabet are replaced
// by '?', so the value is safe in logs.
func presentedPrefix(r *http.Request) string {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	key = strings.TrimSpace(key)
	if len(key) > KeyPrefixLen {
		key = key[:KeyPrefixLen]
	}
	b := []byte(key)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '?'
		}
	}
	return string(b)
}

// auditAllow takes a token of the audit limit for key; when refused it counts
// the refusal and returns false. When allowed it returns how many refusals of
// key were left out since the last record.
func (l *limits) auditAllow(key string, now time.Time) (bool, int64) {
	if l.audit != nil {
		if ok, _ := l.audit.Allow(key, now); !ok {
			l.mu.Lock()
			if len(l.unrecorded) >= l.maxKeys {
				l.unrecorded = map[string]int64{} // bounded: start counting afresh
			}
			l.unrecorded[key]++
			l.mu.Unlock()
			return false, 0
		}
	}
	l.mu.Lock()
	n := l.unrecorded[key]
	delete(l.unrecorded, key)
	l.mu.Unlock()
	return true, n
}

// auditRefusal records a 401 or 403 answer before it is written. A 403 of a
// known actor becomes an EventAccessDenied event in the actor's company's
// event log. A 401 has no company (the key is unknown, or there is none): it
// is logged at WARN level with the client address and the key prefix, and
// never written to the store, so guessing keys cannot fill it. Both are
// subject to the audit limit.
func (h *Handler) auditRefusal(r *http.Request, sw *statusWriter, pattern string, status int) {
	now := h.cfg.Clock.Now().UTC()
	client := h.clientAddr(r)
	switch {
	case status == http.StatusUnauthorized:
		ok, left := h.lim.auditAllow("401:"+limitKey(client), now)
		if !ok {
			return
		}
		h.cfg.Logger.Warn("authentication failed", "client", client, "key_prefix", presentedPrefix(r),
			"method", r.Method, "route", pattern, "request_id", RequestID(r.Context()), "unlogged_before", left)
	case status == http.StatusForbidden && sw.actor.Company != "":
		ok, left := h.lim.auditAllow("403:"+sw.actor.Company, now)
		if !ok {
			return
		}
		details, _ := json.Marshal(map[string]any{"client": client, "method": r.Method, "route": pattern,
			"role": sw.actor.Role, "error_code": sw.code, "unrecorded": left})
		ev := eventlog.Event{ID: license.NewID(), Company: sw.actor.Company, Time: now, Type: EventAccessDenied,
			Actor: sw.actor.Email, Subject: sw.keyID, Details: details}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		err := h.cfg.Store.Update(ctx, func(tx storage.Tx) error {
			_, err := tx.AppendEvent(ctx, ev)
			return err
		})
		if err != nil {
			h.cfg.Logger.Error("audit event not written", "company", sw.actor.Company, "key_id", sw.keyID, "client", client,
				"route", pattern, "request_id", RequestID(r.Context()), "error_code", string(license.ErrorCode(err)), "error", license.ErrorMessage(err))
		}
	}
}
