package http

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// KindAPIKey is the record kind of API keys (see package apikey).
const KindAPIKey = apikey.Kind

// KeyPrefix starts every API key.
const KeyPrefix = apikey.Prefix

// Event types of API key management.
const (
	EventAPIKeyCreated = apikey.EventCreated
	EventAPIKeyRevoked = apikey.EventRevoked
)

// APIKey describes an API key; the key itself is never stored or shown again
// after its creation.
type APIKey = apikey.Key

// NewAPIKey asks for a key bound to Email and Role in the caller's company,
// optionally expiring at ExpiresAt.
type NewAPIKey = apikey.New

// CreatedAPIKey is the answer to a key creation: Key is shown this once; a
// replay (same Idempotency-Key) omits it and sets Replayed.
type CreatedAPIKey = apikey.Created

// IdempotencyReplayedHeader is set to "true" on the answer to a replayed
// request that issued a secret (an API key, subscription license keys): the
// answer carries the same metadata as the first one, without the secret.
const IdempotencyReplayedHeader = "Idempotency-Replayed"

// IssueKey creates an API key for company, bound to email and role, and returns
// it in plain text (the only time it exists outside the caller): "lk_" and 256
// random bits in base64url. Only its SHA-256 hash is stored, in the same
// transaction as an apikey.created event of the company. createdBy is the
// e-mail of who issued it (license.SystemEmail for bootstrap). It checks no
// role: it is for the embedding program (apikey.Service.Issue checks them).
func IssueKey(ctx context.Context, store storage.Store, clock license.Clock, company, email string, role license.Role, name, createdBy string) (CreatedAPIKey, error) {
	return apikey.IssueFor(ctx, store, clock, company, apikey.New{Name: name, Email: email, Role: role}, createdBy)
}

// authenticate maps the Bearer key of r to its actor (apikey.Service.Authenticate,
// or the key cache) and records the key's use at most once per
// apikey.LastUsedGranularity per key in this process.
func (h *Handler) authenticate(r *http.Request) (license.Actor, string, error) {
	authz := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return license.Actor{}, "", license.Errorf(license.Unauthenticated, "Authorization", "send an API key as \"Authorization: Bearer lk_...\"")
	}
	key = strings.TrimSpace(key)
	if !strings.HasPrefix(key, KeyPrefix) || len(key) > 200 {
		return license.Actor{}, "", license.Errorf(license.Unauthenticated, "Authorization", "unknown API key")
	}
	now := h.cfg.Clock.Now().UTC()
	want := apikey.Hash(key)
	if h.cfg.KeyCacheTTL > 0 {
		if e, ok := h.keys.get(want, time.Now()); ok {
			if err := e.key.Usable(now); err != nil {
				h.keys.forgetID(e.key.ID)
				return license.Actor{}, "", err
			}
			h.touch(r, want, e.key, now)
			return actorOf(e.key), e.key.ID, nil
		}
	}
	// The entry's lifetime starts before the read, and a revocation in this
	// process while the read runs keeps it out of the cache (generation).
	gen, read := h.keys.generation(), time.Now()
	k, hash, err := h.cfg.APIKeys.Authenticate(r.Context(), key)
	if err != nil {
		return license.Actor{}, "", err
	}
	if h.cfg.KeyCacheTTL > 0 {
		h.keys.put(hash, cachedKey{key: k, until: read.Add(h.cfg.KeyCacheTTL)}, gen)
	}
	h.touch(r, hash, k, now)
	return actorOf(k), k.ID, nil
}

func actorOf(k apikey.Key) license.Actor {
	return license.Actor{Company: k.Company, Email: k.Email, Role: k.Role}
}

// touch records a use of the key unless this process recorded one less than
// apikey.LastUsedGranularity ago; a failure is logged, never the request's.
func (h *Handler) touch(r *http.Request, hash string, k apikey.Key, now time.Time) {
	if !h.keys.claimTouch(hash, now) {
		return
	}
	if err := h.cfg.APIKeys.Touch(r.Context(), k.Company, hash, now); err != nil {
		h.cfg.Logger.Warn("record API key use", "key_id", k.ID, "error_code", string(license.ErrorCode(err)))
	}
}

// keyCache remembers authenticated keys by hash for a short time, and when
// this process last recorded each key's use. It is bounded: when full it
// starts afresh.
type keyCache struct {
	mu   sync.Mutex
	m    map[string]cachedKey
	used map[string]time.Time
	gen  uint64 // bumped by every forget: a read begun before it is not cached
}

type cachedKey struct {
	key   apikey.Key
	until time.Time
}

const keyCacheMax = 10000

func (c *keyCache) get(hash string, now time.Time) (cachedKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !now.Before(e.until) {
		return cachedKey{}, false
	}
	return e, true
}

func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches e unless a key was forgotten since generation gen was read.
func (c *keyCache) put(hash string, e cachedKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= keyCacheMax {
		c.m = make(map[string]cachedKey)
	}
	c.m[hash] = e
}

// forgetID drops the key of public ID id (a revocation is rare: a scan is fine).
func (c *keyCache) forgetID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, e := range c.m {
		if e.key.ID == id {
			delete(c.m, h)
		}
	}
}

// claimTouch reports whether a use of key hash at now should be recorded:
// not when this process recorded one less than apikey.LastUsedGranularity ago.
func (c *keyCache) claimTouch(hash string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.used[hash]; ok && !now.Before(last) && now.Sub(last) < apikey.LastUsedGranularity {
		return false
	}
	if c.used == nil || len(c.used) >= keyCacheMax {
		c.used = make(map[string]time.Time)
	}
	c.used[hash] = now
	return true
}

// apiKeyRoutes are owner-only; apikey.Service checks the roles again itself
// (the domain is the authority), so a mistake here cannot widen them.
func (h *Handler) apiKeyRoutes() []Route {
	return []Route{
		withKey(created(op("POST", "/v1/apikeys", "apikeys", "Create an API key for the caller's company (shown once; a replay answers without it)", Owner,
			func(c *call, req NewAPIKey) (CreatedAPIKey, error) {
				req.IdempotencyKey = c.idem
				out, err := h.cfg.APIKeys.Issue(c.r.Context(), c.actor, req)
				replayed(c, out.Replayed)
				return out, err
			}))),
		paged(op("GET", "/v1/apikeys", "apikeys", "List the API keys of the caller's company, revoked ones included (never the keys themselves)", Owner,
			func(c *call, _ none) (List[APIKey], error) {
				ks, err := h.cfg.APIKeys.List(c.r.Context(), c.actor)
				return pageOf(c, ks, err, func(k APIKey) string { return k.ID })
			})),
		op("DELETE", "/v1/apikeys/{id}", "apikeys", "Revoke an API key of the caller's company (it stays listed with revoked_at)", Owner,
			func(c *call, _ none) (APIKey, error) {
				k, err := h.cfg.APIKeys.Revoke(c.r.Context(), c.actor, c.path("id"))
				if err == nil {
					h.keys.forgetID(k.ID)
				}
				return k, err
			}),
	}
}
