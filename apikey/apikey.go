// Package apikey manages the API keys of the REST API: issuing, listing,
// revoking, expiry, last use, and the one-time bootstrap of a first owner key.
//
// A key is "lk_" and 256 random bits in base64url. It exists in plain text only
// in the answer to its creation: the store holds its SHA-256 hash, and a
// replayed creation (same idempotency key) answers the key's metadata without
// the key (Created.Replayed). The idempotency record never holds the key.
//
// Roles are checked here, not only by the HTTP routes, so that a mistake in a
// route table cannot widen them. The role checked is the actor's effective
// role in the transaction (access.Resolve: a member demoted since its key was
// issued is refused at once):
//
//   - Issue: owners only (a key of any role, for any e-mail of the company).
//   - List: an owner sees every key of the company; any other role sees only
//     the keys bound to its own e-mail.
//   - Revoke: an owner may revoke any key of the company; any other role only
//     a key bound to its own e-mail (to kill a key it suspects leaked).
//
// The REST adapter is stricter: its key routes are for owners only.
//
// Revoked keys stay listed with RevokedAt and RevokedBy (the record of who
// could act when); they never authenticate again. Expired keys likewise stay
// listed and are refused with code license.KeyExpired.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Record kinds. All live under storage.SystemCompany (a key is looked up
// before its tenant is known).
const (
	// Kind holds the keys: ID = hex SHA-256 of the key, Parent = its company.
	Kind storage.Kind = "apikey"
	// KindUsage holds a key's last use, apart from the key so that recording a
	// use never rewrites (nor races with a revocation of) the key itself:
	// same ID and Parent as the key.
	KindUsage storage.Kind = "apikey_usage"
	// KindBootstrap marks a company whose first owner key was issued by
	// Bootstrap: ID = the company.
	KindBootstrap storage.Kind = "apikey_bootstrap"
)

// Prefix starts every API key.
const Prefix = "lk_"

// MaxNameLength is the most characters of a key's name.
const MaxNameLength = 100

// LastUsedGranularity is how stale Key.LastUsedAt may be: a process records
// a key's use at most once per this interval (see Service.Touch).
const LastUsedGranularity = time.Minute

// Event types of API key management.
const (
	EventCreated eventlog.Type = "apikey.created"
	EventRevoked eventlog.Type = "apikey.revoked"
)

// Key describes an API key; the key itself is never stored or shown again
// after its creation.
type Key struct {
	ID        string       `json:"id"` // public identifier: "key_" + the first 16 hex digits of the hash
	Name      string       `json:"name,omitempty"`
	Company   string       `json:"company"`
	Email     string       `json:"email"`
	Role      license.Role `json:"role"`
	CreatedAt time.Time    `json:"created_at"`
	CreatedBy string       `json:"created_by"`
	// ExpiresAt, when set, is when the key stops working (license.KeyExpired).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// LastUsedAt is the last recorded use, at most LastUsedGranularity stale
	// per server process (filled in by List only).
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// RevokedAt and RevokedBy are set once the key is revoked (license.KeyRevoked).
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

// Usable reports whether k may authenticate at now: nil, or a
// license.KeyRevoked or license.KeyExpired error (field Authorization).
func (k Key) Usable(now time.Time) error {
	if k.RevokedAt != nil {
		return license.Errorf(license.KeyRevoked, "Authorization", "this API key was revoked at %s; ask an owner for a new one", k.RevokedAt.UTC().Format(time.RFC3339))
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return license.Errorf(license.KeyExpired, "Authorization", "this API key expired at %s; ask an owner for a new one", k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

type record struct {
	Key
	Hash string `json:"hash"` // hex SHA-256 of the key
}

type usage struct {
	LastUsedAt time.Time `json:"last_used_at"`
}

// New asks for a key bound to Email and Role in the caller's company.
type New struct {
	Name  string       `json:"name,omitempty"`
	Email string       `json:"email"`
	Role  license.Role `json:"role"`
	// ExpiresAt, when set, must be in the future: the key stops working then.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// IdempotencyKey: see the license package (Idempotency). A replay answers
	// the first key's metadata without the key.
	IdempotencyKey string `json:"-"`
}

// Created answers a key creation. Key is the key in plain text, present only
// in the answer to the request that created it; a replay of that request
// (same idempotency key) answers the same APIKey with Key empty and Replayed
// set. A lost key cannot be recovered: revoke it and issue another.
type Created struct {
	Key      string `json:"key,omitempty"`
	APIKey   Key    `json:"api_key"`
	Replayed bool   `json:"replayed,omitempty"`
}

// Hash returns the hex SHA-256 of a key: the ID of its record.
func Hash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// Service manages API keys on a store.
type Service struct {
	Store storage.Store
	Clock license.Clock // nil: license.SystemClock
}

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return time.Now().UTC()
	}
	return s.Clock.Now().UTC()
}

// Issue creates a key bound to in.Email and in.Role in the actor's company
// and returns it in plain text (see Created). Only owners may issue keys.
// With in.IdempotencyKey, a repeat of the same request answers the first key's
// metadata without the key (Replayed).
// Errors: invalid, forbidden, conflict (idempotency key reused).
func (s *Service) Issue(ctx context.Context, actor license.Actor, in New) (Created, error) {
	if err := actor.Check(); err != nil {
		return Created{}, err
	}
	if actor.Role != license.Owner {
		return Created{}, license.Errorf(license.Forbidden, "role", "only an owner may issue API keys")
	}
	now := s.now()
	if err := in.check(now); err != nil {
		return Created{}, err
	}
	var out Created
	var secret string
	var ran bool
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		secret, ran = "", false
		if _, err := access.Require(ctx, tx, actor, isOwner, "issuing API keys", "an owner"); err != nil {
			return err
		}
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "apikey.create", in.IdempotencyKey, in, now,
			func() (Created, error) {
				ran = true
				c, err := issue(ctx, tx, now, actor.Company, in, actor.Email)
				secret = c.Key
				c.Key = "" // what Idempotent remembers holds no secret
				return c, err
			})
		return err
	})
	if err != nil {
		return Created{}, err
	}
	out.Key = "" // a record remembered by an older version may hold one
	if ran {
		out.Key = secret
	} else {
		out.Replayed = true
	}
	return out, nil
}

// IssueFor creates a key in company for a trusted caller (the embedding
// program, a bootstrap): no actor and no role check. createdBy is who issued
// it (license.SystemEmail for licensekit itself).
// Errors: invalid.
func IssueFor(ctx context.Context, store storage.Store, clock license.Clock, company string, in New, createdBy string) (Created, error) {
	s := &Service{Store: store, Clock: clock}
	now := s.now()
	if err := in.check(now); err != nil {
		return Created{}, err
	}
	var out Created
	err := store.Update(ctx, func(tx storage.Tx) error {
		var err error
		out, err = issue(ctx, tx, now, company, in, createdBy)
		return err
	})
	return out, err
}

// Bootstrap issues the first owner key of company, bound to email, once per
// store: the first call issues it and calls deliver with it inside the
// transaction (an error of deliver rolls the issue back), and answers
// issued = true; every later call, from any process sharing the store, issues
// nothing and answers issued = false. deliver may run more than once when
// the store retries the transaction; only the last run's key is valid.
// Errors: invalid, and deliver's.
func Bootstrap(ctx context.Context, store storage.Store, clock license.Clock, company, email string, deliver func(Created) error) (Created, bool, error) {
	s := &Service{Store: store, Clock: clock}
	now := s.now()
	in := New{Name: "bootstrap owner key", Email: email, Role: license.Owner}
	if err := in.check(now); err != nil {
		return Created{}, false, err
	}
	var out Created
	var issued bool
	err := store.Update(ctx, func(tx storage.Tx) error {
		out, issued = Created{}, false
		data, _ := json.Marshal(map[string]any{"at": now})
		err := tx.Insert(ctx, storage.Record{Company: storage.SystemCompany, Kind: KindBootstrap, ID: company, Data: data})
		if license.ErrorCode(err) == license.Conflict {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = issue(ctx, tx, now, company, in, license.SystemEmail)
		if err != nil {
			return err
		}
		issued = true
		if deliver != nil {
			return deliver(out)
		}
		return nil
	})
	if err != nil {
		return Created{}, false, err
	}
	return out, issued, nil
}

func (in *New) check(now time.Time) error {
	if !in.Role.Valid() {
		return license.Errorf(license.Invalid, "role", "role must be one of owner, admin, editor, license_admin, viewer")
	}
	if in.Email != license.SystemEmail {
		e, err := license.ParseEmail(in.Email)
		if err != nil {
			return err
		}
		in.Email = e
	}
	if err := license.CheckLine("name", in.Name, MaxNameLength); err != nil {
		return err
	}
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(now) {
			return license.Errorf(license.Invalid, "expires_at", "expires_at must be in the future")
		}
		t := in.ExpiresAt.UTC()
		in.ExpiresAt = &t
	}
	return nil
}

func issue(ctx context.Context, tx storage.Tx, now time.Time, company string, in New, createdBy string) (Created, error) {
	actor := license.Actor{Company: company, Email: in.Email, Role: in.Role}
	if err := actor.Check(); err != nil {
		return Created{}, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Created{}, license.Wrap(license.Internal, err, "read random bytes")
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := Hash(secret)
	k := Key{ID: "key_" + h[:16], Name: in.Name, Company: company, Email: in.Email, Role: in.Role,
		CreatedAt: now, CreatedBy: createdBy, ExpiresAt: in.ExpiresAt}
	data, err := json.Marshal(record{Key: k, Hash: h})
	if err != nil {
		return Created{}, license.Wrap(license.Internal, err, "encode api key")
	}
	if err := tx.Insert(ctx, storage.Record{Company: storage.SystemCompany, Kind: Kind, ID: h, Parent: company, Data: data}); err != nil {
		return Created{}, err
	}
	d := map[string]any{"key_id": k.ID, "email": in.Email, "role": in.Role}
	if k.ExpiresAt != nil {
		d["expires_at"] = k.ExpiresAt
	}
	details, _ := json.Marshal(d)
	if _, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: company, Time: now,
		Type: EventCreated, Actor: createdBy, Subject: k.ID, Details: details}); err != nil {
		return Created{}, err
	}
	return Created{Key: secret, APIKey: k}, nil
}

// Authenticate returns the key whose plain text is secret, and its hash: one
// read by the hash, then a constant-time comparison of the stored hash.
// Errors: unauthenticated (malformed or unknown), key_revoked, key_expired.
func (s *Service) Authenticate(ctx context.Context, secret string) (Key, string, error) {
	unknown := license.Errorf(license.Unauthenticated, "Authorization", "unknown API key")
	if !strings.HasPrefix(secret, Prefix) || len(secret) > 200 {
		return Key{}, "", unknown
	}
	want := Hash(secret)
	var rec record
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		rec, _, err = storage.Load[record](ctx, tx, storage.SystemCompany, Kind, want, false)
		return err
	})
	if storage.IsNotFound(err) {
		return Key{}, "", unknown
	}
	if err != nil {
		return Key{}, "", err
	}
	if subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(want)) != 1 {
		return Key{}, "", unknown
	}
	if err := rec.Usable(s.now()); err != nil {
		return Key{}, "", err
	}
	return rec.Key, want, nil
}

// Touch records that the key of hash (of company) was used at. It is a blind
// write of the key's usage record: callers limit it to once per
// LastUsedGranularity per key.
func (s *Service) Touch(ctx context.Context, company, hash string, at time.Time) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		return storage.Save(ctx, tx, storage.Record{Company: storage.SystemCompany, Kind: KindUsage, ID: hash, Parent: company},
			usage{LastUsedAt: at.UTC()})
	})
}

// List returns the keys of the actor's company, revoked and expired ones
// included, ordered by hash (never the keys themselves): every key for an
// owner, the keys bound to the actor's own e-mail for any other role.
// Errors: invalid.
func (s *Service) List(ctx context.Context, actor license.Actor) ([]Key, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	var recs []record
	var uses []storage.Record
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		if actor, err = access.Resolve(ctx, tx, actor); err != nil {
			return err
		}
		recs, err = storage.ListOf[record](ctx, tx, storage.ListQuery{Company: storage.SystemCompany, Kind: Kind, Parent: actor.Company})
		if err != nil {
			return err
		}
		uses, err = tx.List(ctx, storage.ListQuery{Company: storage.SystemCompany, Kind: KindUsage, Parent: actor.Company})
		return err
	})
	if err != nil {
		return nil, err
	}
	last := make(map[string]time.Time, len(uses))
	for _, u := range uses {
		var v usage
		if json.Unmarshal(u.Data, &v) == nil {
			last[u.ID] = v.LastUsedAt
		}
	}
	out := make([]Key, 0, len(recs))
	for _, r := range recs {
		if r.Company != actor.Company || !mayManage(actor, r.Key) {
			continue
		}
		if t, ok := last[r.Hash]; ok {
			r.LastUsedAt = &t
		}
		out = append(out, r.Key)
	}
	return out, nil
}

func isOwner(r license.Role) bool { return r == license.Owner }

// mayManage reports whether actor may see or revoke k: an owner any key of
// the company, anyone else only keys bound to its own e-mail.
func mayManage(actor license.Actor, k Key) bool {
	return actor.Role == license.Owner || strings.EqualFold(k.Email, actor.Email)
}

// Revoke revokes the key id ("key_...") of the actor's company: it stops
// authenticating at once in this store (a process caching keys notices within
// its cache lifetime). The key stays listed with RevokedAt. An owner may
// revoke any key of the company; any other role only its own.
// Errors: invalid, not_found, forbidden, conflict (already revoked).
func (s *Service) Revoke(ctx context.Context, actor license.Actor, id string) (Key, error) {
	if err := actor.Check(); err != nil {
		return Key{}, err
	}
	now := s.now()
	var out Key
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		actor, err := access.Resolve(ctx, tx, actor)
		if err != nil {
			return err
		}
		recs, err := storage.ListOf[record](ctx, tx, storage.ListQuery{Company: storage.SystemCompany, Kind: Kind, Parent: actor.Company})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.ID != id || r.Company != actor.Company {
				continue
			}
			if !mayManage(actor, r.Key) {
				return license.Errorf(license.Forbidden, "role", "only an owner may revoke another member's API key")
			}
			rec, raw, err := storage.Load[record](ctx, tx, storage.SystemCompany, Kind, r.Hash, true)
			if err != nil {
				return err
			}
			if rec.RevokedAt != nil {
				return license.Errorf(license.Conflict, "id", "API key %q was already revoked", id)
			}
			rec.RevokedAt, rec.RevokedBy = &now, actor.Email
			if err := storage.Save(ctx, tx, raw, rec); err != nil {
				return err
			}
			out = rec.Key
			details, _ := json.Marshal(map[string]any{"key_id": rec.ID, "email": rec.Email, "role": rec.Role})
			_, err = tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: actor.Company,
				Time: now, Type: EventRevoked, Actor: actor.Email, Subject: rec.ID, Details: details})
			return err
		}
		return license.Errorf(license.NotFound, "id", "no API key %q", id)
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}
