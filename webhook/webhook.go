package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Record kinds.
const (
	// KindEndpoint is an endpoint (company's, ID = Endpoint.ID).
	KindEndpoint storage.Kind = "webhook_endpoint"
	// KindDelivery is a delivery (company's, ID = Delivery.ID, Parent = the endpoint).
	KindDelivery storage.Kind = "webhook_delivery"
	// KindQueue marks a pending delivery for the Dispatcher (company's, ID =
	// the delivery's); it is removed when the delivery settles.
	KindQueue storage.Kind = "webhook_queue"
)

// Event types of webhook management. Events of these types are never
// delivered to endpoints themselves.
const (
	EventCreated        eventlog.Type = "webhook.created"
	EventUpdated        eventlog.Type = "webhook.updated"
	EventDeleted        eventlog.Type = "webhook.deleted"
	EventSecretRotated  eventlog.Type = "webhook.secret_rotated"
	EventDisabled       eventlog.Type = "webhook.disabled"
	EventRedelivery     eventlog.Type = "webhook.redelivery_requested"
	EventDeliveryFailed eventlog.Type = "webhook.delivery_failed"
)

// Bounds of the input.
const (
	MaxURLLength      = 2048
	MaxEvents         = 50
	MaxDescription    = 200
	MaxEndpoints      = 20 // per company
	DefaultOverlap    = 24 * time.Hour
	MaxOverlap        = 7 * 24 * time.Hour
	SecretPrefix      = "whsec_"
	AllEvents         = "*"
	maxAttemptsLogged = 20
)

var eventPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// Endpoint is a registered receiver of a company's events.
type Endpoint struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"` // event types, or "*" for every type
	Description string   `json:"description,omitempty"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason says why the dispatcher disabled it ("" when enabled or
	// disabled by an owner).
	DisabledReason string `json:"disabled_reason,omitempty"`
	// Failures counts failed attempts in a row; DisableAfter of them disable it.
	Failures  int       `json:"failures"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// SecretRotatedAt is when the current secret was made.
	SecretRotatedAt time.Time `json:"secret_rotated_at"`
	// PreviousSecretExpiresAt is the end of a rotation's overlap, while the
	// previous secret still signs too.
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at,omitzero"`
}

// Wants reports whether the endpoint takes events of type t.
func (e Endpoint) Wants(t eventlog.Type) bool {
	for _, w := range e.Events {
		if w == AllEvents || w == string(t) {
			return true
		}
	}
	return false
}

// salt is one generation of the endpoint's secret.
type salt struct {
	Salt    string    `json:"salt"`
	Expires time.Time `json:"expires,omitzero"` // zero: the current secret
}

type stored struct {
	Endpoint
	Company string `json:"company"`
	Salts   []salt `json:"salts"` // current first
}

func (s stored) record() storage.Record {
	return storage.Record{Company: s.Company, Kind: KindEndpoint, ID: s.ID}
}

// secrets returns the secrets that sign at now, current first.
func (s stored) secrets(key []byte, now time.Time) []string {
	var out []string
	for _, g := range s.Salts {
		if g.Expires.IsZero() || now.Before(g.Expires) {
			out = append(out, deriveSecret(key, s.Company, s.ID, g.Salt))
		}
	}
	return out
}

func deriveSecret(key []byte, company, id, salt string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("licensekit webhook secret\x00" + company + "\x00" + id + "\x00" + salt))
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func newSalt() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", license.Wrap(license.Internal, err, "read random bytes")
	}
	return hex.EncodeToString(b[:]), nil
}

// Created answers a creation or a secret rotation. Secret is shown in that
// answer only; a replay of the creation (same idempotency key) answers
// without it and sets Replayed.
type Created struct {
	Endpoint
	Secret   string `json:"secret,omitempty"`
	Replayed bool   `json:"replayed,omitempty"`
}

// CreateRequest registers an endpoint.
type CreateRequest struct {
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description,omitempty"`
	IdempotencyKey string   `json:"-"`
}

// UpdateRequest changes an endpoint; nil members keep their value. Enabling
// an endpoint resets its failure count.
type UpdateRequest struct {
	URL         *string  `json:"url,omitempty"`
	Events      []string `json:"events,omitempty"`
	Description *string  `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty"`
}

// Service manages a company's endpoints and reads their deliveries. Store
// and Key are required; Key (at least 32 bytes) derives every secret and must
// be the Dispatcher's.
type Service struct {
	Store storage.Store
	Clock license.Clock // nil: license.SystemClock
	Key   []byte
	// AllowHTTP accepts http:// URLs (tests with a local receiver). Without
	// it an endpoint must be https://.
	AllowHTTP bool
}

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return time.Now().UTC()
	}
	return s.Clock.Now().UTC()
}

func (s *Service) checkKey() error {
	if len(s.Key) < 32 {
		return license.Errorf(license.Unavailable, "webhooks", "webhooks are not configured on this server (it has no webhook key of at least 32 bytes)")
	}
	return nil
}

func ownerOnly(what string) func(license.Actor) error {
	return func(a license.Actor) error {
		if a.Role != license.Owner {
			return license.Errorf(license.Forbidden, "role", "%s needs the Owner role; %s has the %s role", what, a.Email, a.Role)
		}
		return nil
	}
}

// CheckURL validates an endpoint URL: absolute https (or http with
// allowHTTP), a host, no user information or fragment, at most MaxURLLength
// bytes.
func CheckURL(raw string, allowHTTP bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxURLLength {
		return "", license.Errorf(license.Invalid, "url", "url must be 1 to %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return "", license.Errorf(license.Invalid, "url", "url must be an absolute https:// URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	default:
		return "", license.Errorf(license.Invalid, "url", "url must use https")
	}
	if u.User != nil || u.Fragment != "" {
		return "", license.Errorf(license.Invalid, "url", "url must have no user information and no fragment")
	}
	return u.String(), nil
}

func checkEvents(evs []string) ([]string, error) {
	if len(evs) == 0 || len(evs) > MaxEvents {
		return nil, license.Errorf(license.Invalid, "events", "give 1 to %d event types (or \"*\")", MaxEvents)
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range evs {
		e = strings.TrimSpace(e)
		if e != AllEvents && (len(e) > 64 || !eventPattern.MatchString(e)) {
			return nil, license.Errorf(license.Invalid, "events", "%q is not an event type (lower-case words separated by dots, or \"*\")", e)
		}
		if strings.HasPrefix(e, "webhook.") {
			return nil, license.Errorf(license.Invalid, "events", "webhook events are not delivered to webhooks")
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}

func event(company, actor string, now time.Time, typ eventlog.Type, subject, target string, details any) eventlog.Event {
	b, _ := json.Marshal(details)
	return eventlog.Event{ID: license.NewID(), Company: company, Time: now, Type: typ, Actor: actor,
		Subject: subject, Target: target, Details: b}
}

// Create registers an endpoint of the actor's company and returns it with its
// secret (see Created). Owners only.
//
// Errors: invalid (url, events, description), forbidden, conflict (more than
// MaxEndpoints, or the idempotency key reused with another request).
func (s *Service) Create(ctx context.Context, actor license.Actor, req CreateRequest) (Created, error) {
	if err := actor.Check(); err != nil {
		return Created{}, err
	}
	if err := s.checkKey(); err != nil {
		return Created{}, err
	}
	u, err := CheckURL(req.URL, s.AllowHTTP)
	if err != nil {
		return Created{}, err
	}
	evs, err := checkEvents(req.Events)
	if err != nil {
		return Created{}, err
	}
	if err := license.CheckLine("description", req.Description, MaxDescription); err != nil {
		return Created{}, err
	}
	req.URL, req.Events = u, evs
	now := s.now()
	var out Created
	var secret string
	ran := false
	err = access.Update(ctx, s.Store, actor, ownerOnly("registering a webhook"), func(tx storage.Tx) error {
		ran, secret = false, ""
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "webhook.create", req.IdempotencyKey, req, now, func() (Created, error) {
			ran = true
			n, err := tx.List(ctx, storage.ListQuery{Company: actor.Company, Kind: KindEndpoint, Limit: MaxEndpoints + 1})
			if err != nil {
				return Created{}, err
			}
			if len(n) >= MaxEndpoints {
				return Created{}, license.Errorf(license.Conflict, "url", "a company may have at most %d webhook endpoints", MaxEndpoints)
			}
			sl, err := newSalt()
			if err != nil {
				return Created{}, err
			}
			st := stored{Endpoint: Endpoint{ID: "whk_" + license.NewID(), URL: req.URL, Events: req.Events, Description: req.Description,
				Enabled: true, CreatedAt: now, UpdatedAt: now, SecretRotatedAt: now}, Company: actor.Company, Salts: []salt{{Salt: sl}}}
			if err := storage.Save(ctx, tx, st.record(), st); err != nil {
				return Created{}, err
			}
			secret = deriveSecret(s.Key, actor.Company, st.ID, sl)
			_, err = tx.AppendEvent(ctx, event(actor.Company, actor.Email, now, EventCreated, st.ID, st.URL,
				map[string]any{"url": st.URL, "events": st.Events}))
			return Created{Endpoint: st.Endpoint}, err
		})
		return err
	})
	if err != nil {
		return Created{}, err
	}
	out.Secret = ""
	if ran {
		out.Secret = secret
	} else {
		out.Replayed = true
	}
	return out, nil
}

func (s *Service) view(ctx context.Context, actor license.Actor, what string, fn func(tx storage.Tx) error) error {
	if err := actor.Check(); err != nil {
		return err
	}
	return s.Store.View(ctx, func(tx storage.Tx) error {
		eff, err := access.Resolve(ctx, tx, actor)
		if err != nil {
			return err
		}
		if err := ownerOnly(what)(eff); err != nil {
			return err
		}
		return fn(tx)
	})
}

// List returns the company's endpoints in ID order. Owners only.
func (s *Service) List(ctx context.Context, actor license.Actor) ([]Endpoint, error) {
	var out []Endpoint
	err := s.view(ctx, actor, "reading webhooks", func(tx storage.Tx) error {
		st, err := storage.ListOf[stored](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: KindEndpoint})
		for _, e := range st {
			out = append(out, e.Endpoint)
		}
		return err
	})
	return out, err
}

// Get returns one endpoint. Owners only. Errors: forbidden, not_found.
func (s *Service) Get(ctx context.Context, actor license.Actor, id string) (Endpoint, error) {
	var out stored
	err := s.view(ctx, actor, "reading webhooks", func(tx storage.Tx) error {
		var err error
		out, _, err = storage.Load[stored](ctx, tx, actor.Company, KindEndpoint, id, false)
		return err
	})
	return out.Endpoint, err
}

// mutate loads endpoint id for update in an owner's transaction, lets fn
// change it, saves it and appends the event fn returns.
func (s *Service) mutate(ctx context.Context, actor license.Actor, id, what string, fn func(tx storage.Tx, st *stored, now time.Time) (eventlog.Event, error)) (stored, error) {
	if err := actor.Check(); err != nil {
		return stored{}, err
	}
	now := s.now()
	var st stored
	err := access.Update(ctx, s.Store, actor, ownerOnly(what), func(tx storage.Tx) error {
		var err error
		st, _, err = storage.Load[stored](ctx, tx, actor.Company, KindEndpoint, id, true)
		if err != nil {
			return err
		}
		e, err := fn(tx, &st, now)
		if err != nil {
			return err
		}
		if e.Type != EventDeleted {
			st.UpdatedAt = now
			if err := storage.Save(ctx, tx, st.record(), st); err != nil {
				return err
			}
		}
		_, err = tx.AppendEvent(ctx, e)
		return err
	})
	return st, err
}

// Update changes an endpoint (see UpdateRequest). Owners only.
// Errors: invalid, forbidden, not_found.
func (s *Service) Update(ctx context.Context, actor license.Actor, id string, req UpdateRequest) (Endpoint, error) {
	if req.URL != nil {
		u, err := CheckURL(*req.URL, s.AllowHTTP)
		if err != nil {
			return Endpoint{}, err
		}
		req.URL = &u
	}
	if req.Events != nil {
		evs, err := checkEvents(req.Events)
		if err != nil {
			return Endpoint{}, err
		}
		req.Events = evs
	}
	if req.Description != nil {
		if err := license.CheckLine("description", *req.Description, MaxDescription); err != nil {
			return Endpoint{}, err
		}
	}
	if req.URL == nil && req.Events == nil && req.Description == nil && req.Enabled == nil {
		return Endpoint{}, license.Errorf(license.Invalid, "url", "give at least one of url, events, description, enabled")
	}
	st, err := s.mutate(ctx, actor, id, "changing a webhook", func(_ storage.Tx, st *stored, now time.Time) (eventlog.Event, error) {
		if req.URL != nil {
			st.URL = *req.URL
		}
		if req.Events != nil {
			st.Events = req.Events
		}
		if req.Description != nil {
			st.Description = *req.Description
		}
		if req.Enabled != nil {
			st.Enabled = *req.Enabled
			st.DisabledReason = ""
			if st.Enabled {
				st.Failures = 0
			}
		}
		return event(actor.Company, actor.Email, now, EventUpdated, st.ID, st.URL,
			map[string]any{"url": st.URL, "events": st.Events, "enabled": st.Enabled}), nil
	})
	return st.Endpoint, err
}

// Delete removes an endpoint and returns it as it was; its pending deliveries fail when the
// dispatcher reaches them. Owners only. Errors: forbidden, not_found.
func (s *Service) Delete(ctx context.Context, actor license.Actor, id string) (Endpoint, error) {
	st, err := s.mutate(ctx, actor, id, "deleting a webhook", func(tx storage.Tx, st *stored, now time.Time) (eventlog.Event, error) {
		if err := tx.Delete(ctx, actor.Company, KindEndpoint, st.ID); err != nil {
			return eventlog.Event{}, err
		}
		return event(actor.Company, actor.Email, now, EventDeleted, st.ID, st.URL, map[string]any{"url": st.URL}), nil
	})
	return st.Endpoint, err
}

// RotateSecret makes a new secret for the endpoint and returns it (shown this
// once). The previous one keeps signing, beside the new one, for overlap (0:
// DefaultOverlap; at most MaxOverlap; a negative overlap ends it at once);
// a secret older than the previous one stops at once. Owners only.
// Errors: invalid (overlap_seconds), forbidden, not_found.
func (s *Service) RotateSecret(ctx context.Context, actor license.Actor, id string, overlap time.Duration) (Created, error) {
	if err := s.checkKey(); err != nil {
		return Created{}, err
	}
	switch {
	case overlap == 0:
		overlap = DefaultOverlap
	case overlap > MaxOverlap:
		return Created{}, license.Errorf(license.Invalid, "overlap_seconds", "the overlap may be at most %d seconds", int64(MaxOverlap/time.Second))
	case overlap < 0:
		overlap = 0
	}
	sl, err := newSalt()
	if err != nil {
		return Created{}, err
	}
	st, err := s.mutate(ctx, actor, id, "rotating a webhook secret", func(_ storage.Tx, st *stored, now time.Time) (eventlog.Event, error) {
		prev := salt{Salt: st.Salts[0].Salt, Expires: now.Add(overlap)}
		st.Salts = []salt{{Salt: sl}}
		st.PreviousSecretExpiresAt = time.Time{}
		if overlap > 0 {
			st.Salts = append(st.Salts, prev)
			st.PreviousSecretExpiresAt = prev.Expires
		}
		st.SecretRotatedAt = now
		return event(actor.Company, actor.Email, now, EventSecretRotated, st.ID, st.URL,
			map[string]any{"overlap_seconds": int64(overlap / time.Second)}), nil
	})
	if err != nil {
		return Created{}, err
	}
	return Created{Endpoint: st.Endpoint, Secret: deriveSecret(s.Key, actor.Company, st.ID, sl)}, nil
}
