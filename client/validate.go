package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	api "github.com/licensekit/licensekit/adapters/http/client"
)

// Code is a validation code of the server.
type Code string

// Validation codes, the server's own.
const (
	CodeValid               Code = "valid"
	CodeInGrace             Code = "in_grace"
	CodeNotFound            Code = "not_found"
	CodeInactive            Code = "inactive"
	CodeSuspended           Code = "suspended"
	CodeExpired             Code = "expired"
	CodeOutsideRestrictions Code = "outside_restrictions"
	CodeNoAllocation        Code = "no_allocation"
	CodeQuarantined         Code = "quarantined"
	CodeSeatsExhausted      Code = "seats_exhausted"
	CodeEntitlementsMissing Code = "entitlements_missing"
)

// ValidationOrder lists the failure codes in the order the server checks
// them; an answer names the first check that failed.
var ValidationOrder = []Code{
	CodeNotFound, CodeInactive, CodeSuspended, CodeExpired, CodeOutsideRestrictions,
	CodeNoAllocation, CodeQuarantined, CodeSeatsExhausted, CodeEntitlementsMissing,
}

// License names what the product is licensed by: a pool of the vendor's
// server (Pool) or a subscription license key (Key).
type License struct {
	pool, key string
}

// Pool is the license of pool id.
func Pool(id string) License { return License{pool: id} }

// Key is the subscription license of key.
func Key(key string) License { return License{key: key} }

func (l License) cacheKey() string {
	if l.pool != "" {
		return "pool:" + l.pool
	}
	return "key:" + l.key
}

func (l License) check() error {
	if (l.pool == "") == (l.key == "") || len(l.pool) > 128 || len(l.key) > 256 {
		return errors.New("client: a license is a pool id or a license key")
	}
	return nil
}

// Validation is the server's answer: Valid and one Code (with Missing
// features, the Failed restriction, the license's expiry and grace). Cached
// says it comes from the client's state because the server could not be
// reached; OfflineUntil is how long the answer may be relied on offline.
type Validation struct {
	Valid        bool      `json:"valid"`
	Code         Code      `json:"code"`
	Message      string    `json:"message"`
	Missing      []string  `json:"missing,omitempty"`
	Failed       string    `json:"failed,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	GraceEnds    time.Time `json:"grace_ends,omitzero"`
	OfflineUntil time.Time `json:"offline_until,omitzero"`
	CheckedAt    time.Time `json:"checked_at"`
	Cached       bool      `json:"-"`
}

// ErrOfflineExpired is returned (wrapping the network error) when the server
// cannot be reached and no cached answer is valid any longer.
var ErrOfflineExpired = errors.New("client: the server cannot be reached and the offline grace has ended")

func (c *Client) apiConsumer() *api.LicenseConsumerInput {
	con := c.consumer
	out := &api.LicenseConsumerInput{User: nonEmpty(con.User), Asset: nonEmpty(con.Asset),
		Fingerprint: nonEmpty(con.Fingerprint), Server: nonEmpty(con.Server)}
	if con.CPUs > 0 {
		out.Cpus = api.Ptr(con.CPUs)
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (c *Client) request() api.LicenseValidationRequestInput {
	r := api.LicenseValidationRequestInput{Consumer: c.apiConsumer(), Software: nonEmpty(c.software)}
	if len(c.features) > 0 {
		r.Features = api.Ptr(append([]string(nil), c.features...))
	}
	return r
}

// Activate activates this machine on lic: for a pool, it validates and, when
// the consumer only lacks an allocation (or a concurrent-user seat) and one
// is free, takes it in the same transaction; a second activation of the same
// consumer just validates, so activation is safe to repeat. For a
// subscription license key, which the vendor assigns, it validates. The
// answer is cached as Validate's is.
func (c *Client) Activate(ctx context.Context, lic License) (Validation, error) {
	return c.validate(ctx, lic, true)
}

// Validate asks the server whether this machine may run under lic, changing
// nothing. A valid answer is remembered with the offline expiry the server
// set; when the server cannot be reached, the remembered answer is returned
// (Cached set) until that expiry, unless the clock moved back
// (ErrClockRollback); after it, ErrOfflineExpired. An invalid answer drops
// the remembered one. Errors other than an unreachable server (a bad key,
// 403, bad input) are returned as they are, never answered from the cache.
func (c *Client) Validate(ctx context.Context, lic License) (Validation, error) {
	return c.validate(ctx, lic, false)
}

func (c *Client) validate(ctx context.Context, lic License, activate bool) (Validation, error) {
	if err := lic.check(); err != nil {
		return Validation{}, err
	}
	key := newKey("validate")
	body := c.request()
	var ans *api.HttpValidationAnswer
	var err error
	switch {
	case lic.pool != "" && activate:
		var rsp *api.PostV1PoolsIdValidateAndAllocateResponse
		rsp, err = call(ctx, c, http.StatusOK, func(ctx context.Context) (*api.PostV1PoolsIdValidateAndAllocateResponse, error) {
			return c.api.PostV1PoolsIdValidateAndAllocateWithResponse(ctx, lic.pool, &api.PostV1PoolsIdValidateAndAllocateParams{IdempotencyKey: &key}, body)
		})
		if err == nil {
			ans = rsp.JSON200
		}
	case lic.pool != "":
		var rsp *api.PostV1PoolsIdValidateResponse
		rsp, err = call(ctx, c, http.StatusOK, func(ctx context.Context) (*api.PostV1PoolsIdValidateResponse, error) {
			return c.api.PostV1PoolsIdValidateWithResponse(ctx, lic.pool, &api.PostV1PoolsIdValidateParams{IdempotencyKey: &key}, body)
		})
		if err == nil {
			ans = rsp.JSON200
		}
	default:
		kb := api.HttpValidateKeyBodyInput{Key: &lic.key, Consumer: body.Consumer, Software: body.Software, Features: body.Features}
		var rsp *api.PostV1SubscriptionsValidateKeyResponse
		rsp, err = call(ctx, c, http.StatusOK, func(ctx context.Context) (*api.PostV1SubscriptionsValidateKeyResponse, error) {
			return c.api.PostV1SubscriptionsValidateKeyWithResponse(ctx, &api.PostV1SubscriptionsValidateKeyParams{IdempotencyKey: &key}, kb)
		})
		if err == nil {
			ans = rsp.JSON200
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now, clockErr := c.tickLocked()
	if err == nil && ans == nil {
		err = errors.New("client: the server's answer has no body")
	}
	if err != nil {
		if !Unreachable(err) {
			return Validation{}, err
		}
		return c.cachedLocked(lic, now, clockErr, err)
	}
	v := fromAnswer(ans, now)
	if v.Valid && !v.OfflineUntil.IsZero() {
		if c.st.Validations == nil {
			c.st.Validations = map[string]Validation{}
		}
		c.st.Validations[lic.cacheKey()] = v
	} else {
		delete(c.st.Validations, lic.cacheKey())
	}
	if err := c.saveLocked(); err != nil {
		return v, fmt.Errorf("client: save the state: %w", err)
	}
	return v, nil
}

// cachedLocked answers from the state while the server is unreachable.
func (c *Client) cachedLocked(lic License, now time.Time, clockErr, netErr error) (Validation, error) {
	if clockErr != nil {
		return Validation{}, errors.Join(clockErr, netErr)
	}
	v, ok := c.st.Validations[lic.cacheKey()]
	if !ok || now.After(v.OfflineUntil) {
		return Validation{}, fmt.Errorf("%w: %w", ErrOfflineExpired, netErr)
	}
	v.Cached = true
	return v, nil
}

func fromAnswer(a *api.HttpValidationAnswer, now time.Time) Validation {
	v := Validation{Valid: a.Valid, Code: Code(a.Code), Message: a.Message, CheckedAt: now}
	if a.Missing != nil {
		v.Missing = *a.Missing
	}
	if a.Failed != nil {
		v.Failed = *a.Failed
	}
	for _, p := range []struct {
		dst *time.Time
		src *time.Time
	}{{&v.ExpiresAt, a.ExpiresAt}, {&v.GraceEnds, a.GraceEnds}, {&v.OfflineUntil, a.OfflineUntil}} {
		if p.src != nil {
			*p.dst = p.src.UTC()
		}
	}
	return v
}

// Deactivate gives back what this machine holds in pool lic (its allocation
// or seat; a pool's minimum allocation time may quarantine the license) and
// forgets the cached answer. A machine that holds nothing is not an error.
// A subscription license key is assigned by the vendor: Deactivate only
// forgets its cached answer.
func (c *Client) Deactivate(ctx context.Context, lic License) error {
	if err := lic.check(); err != nil {
		return err
	}
	if lic.pool != "" {
		key := newKey("deactivate")
		_, err := call(ctx, c, http.StatusOK, func(ctx context.Context) (*api.PostV1PoolsIdDeactivateResponse, error) {
			return c.api.PostV1PoolsIdDeactivateWithResponse(ctx, lic.pool, &api.PostV1PoolsIdDeactivateParams{IdempotencyKey: &key},
				api.HttpDeactivateBodyInput{Consumer: c.apiConsumer()})
		})
		if err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.st.Validations, lic.cacheKey())
	return c.saveLocked()
}
