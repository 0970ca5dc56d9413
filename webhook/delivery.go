package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Status is where a delivery is.
type Status string

// Delivery statuses.
const (
	StatusPending   Status = "pending"   // waiting for (another) attempt
	StatusDelivered Status = "delivered" // the endpoint answered 2xx
	StatusFailed    Status = "failed"    // MaxAttempts failed, or the endpoint was disabled or deleted
)

// Attempt is one try of a delivery.
type Attempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"` // the endpoint's HTTP status; 0 when none came
	Error      string    `json:"error,omitempty"`
}

// Delivery is one event sent (or to send) to one endpoint.
type Delivery struct {
	// ID is the delivery's idempotency ID, sent as DeliveryHeader and in the
	// body on every attempt.
	ID        string        `json:"id"`
	Endpoint  string        `json:"endpoint"`
	Event     string        `json:"event"` // the event's ID
	EventType eventlog.Type `json:"event_type"`
	Status    Status        `json:"status"`
	Attempts  int           `json:"attempts"`
	// NextAttempt is when the dispatcher may try (again) while pending.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	DoneAt      time.Time `json:"done_at,omitzero"`
	// Log holds the latest attempts, oldest first.
	Log []Attempt `json:"log"`
	// Payload is the exact body sent.
	Payload json.RawMessage `json:"payload"`
}

type deliveryRecord struct {
	Delivery
	Company string `json:"company"`
}

func (d deliveryRecord) record() storage.Record {
	return storage.Record{Company: d.Company, Kind: KindDelivery, ID: d.ID, Parent: d.Endpoint}
}

// queued is the Dispatcher's view of a pending delivery.
type queued struct {
	NextAttempt time.Time `json:"next_attempt"`
}

func putQueue(ctx context.Context, tx storage.Tx, company, id string, next time.Time) error {
	return storage.Save(ctx, tx, storage.Record{Company: company, Kind: KindQueue, ID: id}, queued{NextAttempt: next})
}

func dropQueue(ctx context.Context, tx storage.Tx, company, id string) error {
	err := tx.Delete(ctx, company, KindQueue, id)
	if storage.IsNotFound(err) {
		return nil
	}
	return err
}

// Body is the JSON body of a delivery.
type Body struct {
	ID      string         `json:"id"` // the delivery ID
	Type    eventlog.Type  `json:"type"`
	Created time.Time      `json:"created"`
	Company string         `json:"company"`
	Event   eventlog.Event `json:"event"`
}

// Wrap returns s with webhooks attached: every event appended in an Update
// of the returned store also writes, in that transaction, a pending delivery
// for each enabled endpoint of the event's company that wants its type (not
// for webhook.* events). Give every service and background job of a program
// the wrapped store. The result implements storage.Sealer when s does.
func Wrap(s storage.Store) storage.Store {
	if sl, ok := s.(storage.Sealer); ok {
		return sealing{wrapped{s}, sl}
	}
	return wrapped{s}
}

type wrapped struct{ storage.Store }

type sealing struct {
	wrapped
	storage.Sealer
}

// Unwrap returns the store Wrap was given.
func (w wrapped) Unwrap() storage.Store { return w.Store }

func (w wrapped) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	return w.Store.Update(ctx, func(tx storage.Tx) error {
		return fn(&captureTx{Tx: tx})
	})
}

// captureTx writes deliveries beside each appended event.
type captureTx struct {
	storage.Tx
	endpoints map[string][]stored // by company, read once per transaction
}

func (t *captureTx) AppendEvent(ctx context.Context, e eventlog.Event) (int64, error) {
	seq, err := t.Tx.AppendEvent(ctx, e)
	if err != nil || strings.HasPrefix(string(e.Type), "webhook.") {
		return seq, err
	}
	eps, ok := t.endpoints[e.Company]
	if !ok {
		eps, err = storage.ListOf[stored](ctx, t.Tx, storage.ListQuery{Company: e.Company, Kind: KindEndpoint})
		if err != nil {
			return seq, err
		}
		if t.endpoints == nil {
			t.endpoints = map[string][]stored{}
		}
		t.endpoints[e.Company] = eps
	}
	e.Seq = seq
	for _, ep := range eps {
		if !ep.Enabled || !ep.Wants(e.Type) {
			continue
		}
		id := license.NewID()
		body, err := json.Marshal(Body{ID: id, Type: e.Type, Created: e.Time, Company: e.Company, Event: e})
		if err != nil {
			return seq, license.Wrap(license.Internal, err, "webhook: encode delivery")
		}
		d := deliveryRecord{Company: e.Company, Delivery: Delivery{ID: id, Endpoint: ep.ID, Event: e.ID, EventType: e.Type,
			Status: StatusPending, NextAttempt: e.Time, CreatedAt: e.Time, Log: []Attempt{}, Payload: body}}
		if err := storage.Save(ctx, t.Tx, d.record(), d); err != nil {
			return seq, err
		}
		if err := putQueue(ctx, t.Tx, e.Company, id, e.Time); err != nil {
			return seq, err
		}
	}
	return seq, nil
}

// Deliveries returns the deliveries of an endpoint in ID (creation) order,
// only those in status when it is not "". Owners only.
// Errors: forbidden, not_found (the endpoint).
func (s *Service) Deliveries(ctx context.Context, actor license.Actor, endpoint string, status Status) ([]Delivery, error) {
	var out []Delivery
	err := s.view(ctx, actor, "reading webhook deliveries", func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, actor.Company, KindEndpoint, endpoint); err != nil {
			return err
		}
		ds, err := storage.ListOf[deliveryRecord](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: KindDelivery, Parent: endpoint})
		for _, d := range ds {
			if status == "" || d.Status == status {
				out = append(out, d.Delivery)
			}
		}
		return err
	})
	return out, err
}

// Redeliver sends a delivery of the endpoint again, with the same ID and
// body: it becomes pending and due at once, whatever its status, with a
// fresh allowance of attempts. Owners only; the endpoint must be enabled.
// Errors: forbidden, not_found, conflict (endpoint disabled).
func (s *Service) Redeliver(ctx context.Context, actor license.Actor, endpoint, id string) (Delivery, error) {
	var d deliveryRecord
	_, err := s.mutate(ctx, actor, endpoint, "redelivering a webhook", func(tx storage.Tx, st *stored, now time.Time) (eventlog.Event, error) {
		if !st.Enabled {
			return eventlog.Event{}, license.Errorf(license.Conflict, "enabled", "the endpoint is disabled; enable it first")
		}
		var err error
		d, _, err = storage.Load[deliveryRecord](ctx, tx, actor.Company, KindDelivery, id, true)
		if err != nil {
			return eventlog.Event{}, err
		}
		if d.Endpoint != st.ID {
			return eventlog.Event{}, storage.NotFound(KindDelivery, id)
		}
		d.Status, d.Attempts, d.NextAttempt, d.DoneAt = StatusPending, 0, now, time.Time{}
		if err := storage.Save(ctx, tx, d.record(), d); err != nil {
			return eventlog.Event{}, err
		}
		if err := putQueue(ctx, tx, actor.Company, d.ID, now); err != nil {
			return eventlog.Event{}, err
		}
		return event(actor.Company, actor.Email, now, EventRedelivery, st.ID, st.URL,
			map[string]any{"delivery": d.ID, "event": d.Event}), nil
	})
	return d.Delivery, err
}
