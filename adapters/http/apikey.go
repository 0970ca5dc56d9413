package http

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// KindAPIKey is the record kind of API keys. They are stored under
// storage.SystemCompany (a key is looked up before its tenant is known) with
// ID = hex SHA-256 of the key and Parent = the key's company.
const KindAPIKey storage.Kind = "apikey"

// KeyPrefix starts every API key.
const KeyPrefix = "lk_"

// Event types of API key management.
const (
	EventAPIKeyCreated eventlog.Type = "apikey.created"
	EventAPIKeyRevoked eventlog.Type = "apikey.revoked"
)

// APIKey describes an API key; the key itself is never stored or shown again
// after its creation.
type APIKey struct {
	ID        string       `json:"id"` // public identifier: "key_" + the first 16 hex digits of the hash
	Name      string       `json:"name,omitempty"`
	Company   string       `json:"company"`
	Email     string       `json:"email"`
	Role      license.Role `json:"role"`
	CreatedAt time.Time    `json:"created_at"`
	CreatedBy string       `json:"created_by"`
}

type apiKeyRecord struct {
	APIKey
	Hash string `json:"hash"` // hex SHA-256 of the key
}

// NewAPIKey asks for a key bound to Email and Role in the caller's company.
type NewAPIKey struct {
	Name  string       `json:"name,omitempty"`
	Email string       `json:"email"`
	Role  license.Role `json:"role"`
}

// CreatedAPIKey is the answer to a key creation: Key is shown this once.
type CreatedAPIKey struct {
	Key    string `json:"key"`
	APIKey APIKey `json:"api_key"`
}

func hashKey(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// IssueKey creates an API key for company, bound to email and role, and returns
// it in plain text (the only time it exists outside the caller): "lk_" and 256
// random bits in base64url. Only its SHA-256 hash is stored, in the same
// transaction as an apikey.created event of the company. createdBy is the
// e-mail of who issued it (license.SystemEmail for bootstrap).
func IssueKey(ctx context.Context, store storage.Store, clock license.Clock, company, email string, role license.Role, name, createdBy string) (CreatedAPIKey, error) {
	if clock == nil {
		clock = license.SystemClock{}
	}
	now := clock.Now().UTC()
	var out CreatedAPIKey
	err := store.Update(ctx, func(tx storage.Tx) error {
		var err error
		out, err = issueKey(ctx, tx, now, company, email, role, name, createdBy)
		return err
	})
	return out, err
}

func issueKey(ctx context.Context, tx storage.Tx, now time.Time, company, email string, role license.Role, name, createdBy string) (CreatedAPIKey, error) {
	actor := license.Actor{Company: company, Email: email, Role: role}
	if err := actor.Check(); err != nil {
		return CreatedAPIKey{}, err
	}
	if email != license.SystemEmail {
		e, err := license.ParseEmail(email)
		if err != nil {
			return CreatedAPIKey{}, err
		}
		email = e
	}
	if err := license.CheckLine("name", name, 100); err != nil {
		return CreatedAPIKey{}, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return CreatedAPIKey{}, license.Wrap(license.Internal, err, "read random bytes")
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := hashKey(key)
	k := APIKey{ID: "key_" + h[:16], Name: name, Company: company, Email: email, Role: role, CreatedAt: now, CreatedBy: createdBy}
	data, err := json.Marshal(apiKeyRecord{APIKey: k, Hash: h})
	if err != nil {
		return CreatedAPIKey{}, license.Wrap(license.Internal, err, "encode api key")
	}
	if err := tx.Insert(ctx, storage.Record{Company: storage.SystemCompany, Kind: KindAPIKey, ID: h, Parent: company, Data: data}); err != nil {
		return CreatedAPIKey{}, err
	}
	details, _ := json.Marshal(map[string]any{"key_id": k.ID, "email": email, "role": role})
	if _, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: company, Time: now,
		Type: EventAPIKeyCreated, Actor: createdBy, Subject: k.ID, Count: 0, Details: details}); err != nil {
		return CreatedAPIKey{}, err
	}
	return CreatedAPIKey{Key: key, APIKey: k}, nil
}

// authenticate maps the Bearer key of r to its actor: one Get by the key's
// hash, then a constant-time comparison of the stored hash.
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
	want := hashKey(key)
	if h.cfg.KeyCacheTTL > 0 {
		if e, ok := h.keys.get(want, time.Now()); ok {
			return e.actor, e.id, nil
		}
	}
	var rec apiKeyRecord
	err := h.cfg.Store.View(r.Context(), func(tx storage.Tx) error {
		var err error
		rec, _, err = storage.Load[apiKeyRecord](r.Context(), tx, storage.SystemCompany, KindAPIKey, want, false)
		return err
	})
	if storage.IsNotFound(err) {
		return license.Actor{}, "", license.Errorf(license.Unauthenticated, "Authorization", "unknown API key")
	}
	if err != nil {
		return license.Actor{}, "", err
	}
	if subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(want)) != 1 {
		return license.Actor{}, "", license.Errorf(license.Unauthenticated, "Authorization", "unknown API key")
	}
	actor := license.Actor{Company: rec.Company, Email: rec.Email, Role: rec.Role}
	if h.cfg.KeyCacheTTL > 0 {
		h.keys.put(want, cachedKey{actor: actor, id: rec.ID, until: time.Now().Add(h.cfg.KeyCacheTTL)})
	}
	return actor, rec.ID, nil
}

// keyCache remembers authenticated keys by hash for a short time. It is
// bounded: when full it starts afresh.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	actor license.Actor
	id    string
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

func (c *keyCache) put(hash string, e cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= keyCacheMax {
		c.m = make(map[string]cachedKey)
	}
	c.m[hash] = e
}

func (c *keyCache) forget(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, hash)
}

func (h *Handler) apiKeyRoutes() []Route {
	return []Route{
		withKey(created(op("POST", "/v1/apikeys", "apikeys", "Create an API key for the caller's company (shown once)", Owner,
			func(c *call, req NewAPIKey) (CreatedAPIKey, error) {
				if !req.Role.Valid() {
					return CreatedAPIKey{}, license.Errorf(license.Invalid, "role", "role must be one of owner, admin, editor, license_admin, viewer")
				}
				now := h.cfg.Clock.Now().UTC()
				var out CreatedAPIKey
				err := h.cfg.Store.Update(c.r.Context(), func(tx storage.Tx) error {
					var err error
					out, err = storage.Idempotent(c.r.Context(), tx, c.actor.Company, "apikey.create", c.idem, req, now,
						func() (CreatedAPIKey, error) {
							return issueKey(c.r.Context(), tx, now, c.actor.Company, req.Email, req.Role, req.Name, c.actor.Email)
						})
					return err
				})
				return out, err
			}))),
		op("GET", "/v1/apikeys", "apikeys", "List the API keys of the caller's company (never the keys themselves)", Owner,
			func(c *call, _ none) ([]APIKey, error) {
				var recs []apiKeyRecord
				err := h.cfg.Store.View(c.r.Context(), func(tx storage.Tx) error {
					var err error
					recs, err = storage.ListOf[apiKeyRecord](c.r.Context(), tx, storage.ListQuery{
						Company: storage.SystemCompany, Kind: KindAPIKey, Parent: c.actor.Company})
					return err
				})
				out := make([]APIKey, 0, len(recs))
				for _, r := range recs {
					if r.Company == c.actor.Company {
						out = append(out, r.APIKey)
					}
				}
				return out, err
			}),
		op("DELETE", "/v1/apikeys/{id}", "apikeys", "Revoke an API key of the caller's company", Owner,
			func(c *call, _ none) (APIKey, error) {
				id := c.path("id")
				now := h.cfg.Clock.Now().UTC()
				var out APIKey
				err := h.cfg.Store.Update(c.r.Context(), func(tx storage.Tx) error {
					recs, err := storage.ListOf[apiKeyRecord](c.r.Context(), tx, storage.ListQuery{
						Company: storage.SystemCompany, Kind: KindAPIKey, Parent: c.actor.Company})
					if err != nil {
						return err
					}
					for _, r := range recs {
						if r.ID != id || r.Company != c.actor.Company {
							continue
						}
						if err := tx.Delete(c.r.Context(), storage.SystemCompany, KindAPIKey, r.Hash); err != nil {
							return err
						}
						h.keys.forget(r.Hash)
						out = r.APIKey
						_, err := tx.AppendEvent(c.r.Context(), eventlog.Event{ID: license.NewID(), Company: c.actor.Company,
							Time: now, Type: EventAPIKeyRevoked, Actor: c.actor.Email, Subject: r.ID})
						return err
					}
					return license.Errorf(license.NotFound, "id", "no API key %q", id)
				})
				return out, err
			}),
	}
}
