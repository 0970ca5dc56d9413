package client

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	api "github.com/licensekit/licensekit/adapters/http/client"
)

// Client talks to one licensekit server for one product on one machine. It
// is safe for concurrent use.
type Client struct {
	api      *api.ClientWithResponses
	hc       *http.Client
	apiKey   string
	consumer Consumer
	software string
	features []string
	retry    RetryPolicy
	now      func() time.Time
	keys     map[string]ed25519.PublicKey
	skew     time.Duration // clock tolerance
	interval func(ttl time.Duration) time.Duration
	after    func(time.Duration) <-chan time.Time

	mu    sync.Mutex // guards st and store
	store State
	st    state
}

// RetryPolicy is how a call is retried when the server cannot be reached or
// answers 429, 502, 503 or 504: at most Attempts tries in all, waiting a
// random time between half and all of Base·2^n (at most Max) before try n+1.
// When the answer says how long to wait (Retry-After, in seconds), the wait
// is that long instead; when that is longer than Max, the call returns the
// answer at once rather than retry too early.
type RetryPolicy struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
}

// DefaultRetry is the retry policy of a new Client.
var DefaultRetry = RetryPolicy{Attempts: 4, Base: 200 * time.Millisecond, Max: 5 * time.Second}

// DefaultClockTolerance is how far the clock may move back before offline
// answers are refused.
const DefaultClockTolerance = 5 * time.Minute

// Option configures a Client.
type Option func(*Client) error

// WithAPIKey authenticates every request with key (the vendor gives the
// product a key of a role that may edit pools: activation and seats change
// state).
func WithAPIKey(key string) Option {
	return func(c *Client) error {
		if key == "" || strings.ContainsAny(key, "\r\n") {
			return errors.New("client: the API key is empty or malformed")
		}
		c.apiKey = key
		return nil
	}
}

// WithHTTPClient sends the requests with hc (its transport, TLS settings and
// timeout).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("client: nil HTTP client")
		}
		c.hc = hc
		return nil
	}
}

// WithConsumer sets who this product runs as. Without it the consumer is
// this machine: Fingerprint(software of WithProduct) as fingerprint and user.
// An empty User is the asset (Asset, or else Fingerprint): one seat per
// machine.
func WithConsumer(con Consumer) Option {
	return func(c *Client) error {
		if err := con.check(); err != nil {
			return err
		}
		c.consumer = con
		return nil
	}
}

// WithProduct names the software this product is (checked against a pool's
// software) and the features it needs (checked against the entitlements).
func WithProduct(software string, features ...string) Option {
	return func(c *Client) error {
		if len(software) > 250 || len(features) > 100 {
			return errors.New("client: product name or feature list too long")
		}
		c.software, c.features = software, append([]string(nil), features...)
		return nil
	}
}

// WithRetry replaces DefaultRetry.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) error {
		if p.Attempts < 1 || p.Attempts > 20 || p.Base < 0 || p.Max < p.Base {
			return errors.New("client: retry policy needs 1 to 20 attempts and 0 <= Base <= Max")
		}
		c.retry = p
		return nil
	}
}

// WithClock replaces time.Now (tests move time with it).
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("client: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithClockTolerance replaces DefaultClockTolerance.
func WithClockTolerance(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return errors.New("client: negative clock tolerance")
		}
		c.skew = d
		return nil
	}
}

// WithState keeps the client's state (cached validations, borrowed seats,
// the clock's high-water mark) in s instead of in memory, so that it
// survives restarts: FileState(path) for a file.
func WithState(s State) Option {
	return func(c *Client) error {
		if s == nil {
			return errors.New("client: nil state")
		}
		c.store = s
		return nil
	}
}

// WithPublicKeys sets the vendor's license-file keys (key id to Ed25519
// public key) that VerifyFile and Borrow check files with. Keep old keys
// while files signed with them are in the field.
func WithPublicKeys(keys map[string]ed25519.PublicKey) Option {
	return func(c *Client) error {
		c.keys = make(map[string]ed25519.PublicKey, len(keys))
		for id, k := range keys {
			if len(k) != ed25519.PublicKeySize {
				return fmt.Errorf("client: key %q is not an Ed25519 public key", id)
			}
			c.keys[id] = k
		}
		return nil
	}
}

// WithHeartbeatTimer replaces how leases wait between heartbeats: interval
// maps a lease's TTL to the wait (default a third of it) and after starts a
// wait (default time.After). Tests drive heartbeats with their own channel.
func WithHeartbeatTimer(interval func(ttl time.Duration) time.Duration, after func(time.Duration) <-chan time.Time) Option {
	return func(c *Client) error {
		if interval != nil {
			c.interval = interval
		}
		if after != nil {
			c.after = after
		}
		return nil
	}
}

// New returns a client of the licensekit server at baseURL (for example
// https://licensing.vendor.example). It reads the state (WithState) once.
func New(baseURL string, opts ...Option) (*Client, error) {
	c := &Client{hc: &http.Client{Timeout: 30 * time.Second}, retry: DefaultRetry, now: time.Now,
		skew: DefaultClockTolerance, store: MemoryState(),
		interval: func(ttl time.Duration) time.Duration { return ttl / 3 }, after: time.After}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.consumer.User == "" && c.consumer.Fingerprint == "" && c.consumer.Asset == "" {
		fp, err := Fingerprint(c.software)
		if err != nil {
			return nil, fmt.Errorf("client: no consumer given and no machine fingerprint: %w", err)
		}
		c.consumer.Fingerprint = fp
	}
	if c.consumer.User == "" {
		c.consumer.User = c.consumer.AssetID()
	}
	hc := withTransport(c.hc, func(base http.RoundTripper) http.RoundTripper { return retryAfter{base: base} })
	if c.apiKey != "" {
		hc = withTransport(hc, func(base http.RoundTripper) http.RoundTripper {
			return bearer{base: base, value: "Bearer " + c.apiKey}
		})
	}
	a, err := api.NewClientWithResponses(baseURL, api.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.api = a
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// Consumer returns who this client runs as.
func (c *Client) Consumer() Consumer { return c.consumer }

// withTransport returns a copy of hc whose transport is wrap of hc's.
func withTransport(hc *http.Client, wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	cp := *hc
	base := cp.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = wrap(base)
	return &cp
}

// bearer adds the API key to every request.
type bearer struct {
	base  http.RoundTripper
	value string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.value)
	return b.base.RoundTrip(r)
}

// retryAfter records the Retry-After of a 429 or 503 answer in the
// request's context (see call).
type retryAfter struct{ base http.RoundTripper }

// retryAfterKey holds, in a request's context, where to record its answer's
// Retry-After.
type retryAfterKey struct{}

func (t retryAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	rsp, err := t.base.RoundTrip(r)
	if err == nil && (rsp.StatusCode == http.StatusTooManyRequests || rsp.StatusCode == http.StatusServiceUnavailable) {
		if at, ok := r.Context().Value(retryAfterKey{}).(*time.Duration); ok {
			if secs, perr := strconv.Atoi(strings.TrimSpace(rsp.Header.Get("Retry-After"))); perr == nil && secs >= 0 {
				*at = time.Duration(secs) * time.Second
			}
		}
	}
	return rsp, err
}

// newKey is the Idempotency-Key of one logical operation.
func newKey(op string) string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return "sdk-" + op + "-" + hex.EncodeToString(b[:])
}

// UnreachableError is returned when the server could not be reached (or
// answered only with gateway errors) on every attempt.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "client: server unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// Unreachable reports whether err says the server could not be reached (the
// case in which cached answers are used).
func Unreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// APIError is an error answer of the server: its status, code (invalid,
// not_found, insufficient_licenses, ...), detail and the field at fault.
type APIError = api.Error

// ErrorCode returns the server's error code of err ("" when err is not an
// answer of the server).
func ErrorCode(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// call runs one idempotent logical operation with retries: do makes one
// attempt; want is the success status.
func call[R api.Response](ctx context.Context, c *Client, want int, do func(context.Context) (R, error)) (R, error) {
	var zero R
	var last error
	for attempt := 0; ; attempt++ {
		after := time.Duration(-1) // the answer's Retry-After; -1: none
		rsp, err := do(context.WithValue(ctx, retryAfterKey{}, &after))
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return zero, ctx.Err()
			}
			last = err
		case rsp.StatusCode() == want:
			return rsp, nil
		default:
			e := api.ErrorOf(rsp.StatusCode(), rsp.Bytes())
			switch {
			case e.Status == http.StatusTooManyRequests || (e.Status == http.StatusServiceUnavailable && e.Code != ""):
				last = e
			case e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout:
				last = &UnreachableError{Err: e}
			default:
				return zero, e
			}
		}
		if attempt+1 >= c.retry.Attempts || after > c.retry.Max {
			break // no tries left, or the server asks for a longer wait than the policy allows
		}
		d := c.retry.Base << attempt
		if d > c.retry.Max || d <= 0 {
			d = c.retry.Max
		}
		if d > 0 {
			d = d/2 + rand.N(d/2+1)
		}
		if after >= 0 {
			d = after // the server said when
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		case <-t.C:
		}
	}
	var ae *api.Error
	var ue *UnreachableError
	if errors.As(last, &ae) || errors.As(last, &ue) {
		return zero, last
	}
	return zero, &UnreachableError{Err: last}
}
