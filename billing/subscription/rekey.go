package subscription

import (
	"context"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// EventKeyReissued records that a license's key was replaced.
const EventKeyReissued eventlog.Type = "subscription.key_reissued"

// Reissued answers a key re-issue: the license and its new key, shown this
// once (only its hash is stored). A repeat of the request (same idempotency
// key) answers the license without the key and with Replayed set.
type Reissued struct {
	License  License `json:"license"`
	Key      string  `json:"key,omitempty"`
	Replayed bool    `json:"replayed,omitempty"`
}

// ReissueRequest asks ReissueKey for a fresh key.
type ReissueRequest struct {
	// IdempotencyKey: see the license package (Idempotency). A replay rotates
	// nothing and answers without a key.
	IdempotencyKey string
}

// ReissueKey replaces the key of license id with a fresh one and returns it:
// from then on the old key activates and validates nothing (it is unknown),
// the new one does. The license is otherwise unchanged (its activation,
// assignment and terms stay). It is how keys whose purchase answer was lost are
// recovered. An event subscription.key_reissued records it.
// Errors: invalid, forbidden (owner or admin only, by the effective role),
// not_found, conflict
// (idempotency key reused).
func (s *Service) ReissueKey(ctx context.Context, actor license.Actor, id string, req ReissueRequest) (Reissued, error) {
	idempotencyKey := req.IdempotencyKey
	if err := checkManager(actor); err != nil {
		return Reissued{}, err
	}
	if err := license.CheckID("license", id); err != nil {
		return Reissued{}, err
	}
	now := s.now()
	var out Reissued
	var key string
	var ran bool
	err := s.updateAs(ctx, actor, checkManager, func(tx storage.Tx) error {
		key, ran = "", false
		var err error
		out, err = storage.Idempotent(ctx, tx, actor.Company, "subscription.reissue_key", idempotencyKey, map[string]string{"license": id}, now,
			func() (Reissued, error) {
				ran = true
				b, err := open(ctx, tx, actor, now)
				if err != nil {
					return Reissued{}, err
				}
				l, err := b.lock(id)
				if err != nil {
					return Reissued{}, err
				}
				var hash string
				key, hash = newKey()
				l.KeyHash = hash
				if err := b.put(l); err != nil {
					return Reissued{}, err
				}
				// The remembered answer holds no key: it is added below.
				return Reissued{License: *l}, b.event(EventKeyReissued, l.ID, "", string(l.Type), 0, map[string]any{"license": l.ID})
			})
		return err
	})
	if err != nil {
		return Reissued{}, err
	}
	out.Key, out.Replayed = "", !ran
	if ran {
		out.Key = key
	}
	return out, nil
}
