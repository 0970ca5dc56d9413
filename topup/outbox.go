package topup

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Notification tells a company's recipients that a site was topped up. It is
// written to the outbox in the top-up's transaction and is the input of a
// Notifier.
type Notification struct {
	ID            string    `json:"id"` // also the outbox record ID; receivers may de-duplicate on it
	Company       string    `json:"company"`
	Site          string    `json:"site"`
	SiteName      string    `json:"site_name"`
	Added         int64     `json:"added"`          // licenses added
	Increment     int64     `json:"increment"`      // the site's increment at the time
	Shortfall     int64     `json:"shortfall"`      // licenses that were missing
	Enrolling     int64     `json:"enrolling"`      // devices in the enrolment that triggered it
	Enrolled      int64     `json:"enrolled"`       // devices enrolled afterwards
	PreviousTotal int64     `json:"previous_total"` // licenses before
	NewTotal      int64     `json:"new_total"`      // licenses after
	At            time.Time `json:"at"`
	// Recipients are the company's notification recipients at the time of the
	// top-up; later changes to the list do not affect it.
	Recipients []string `json:"recipients"`
	Event      string   `json:"event"` // ID of the topup.triggered event
}

// Subject returns the e-mail subject of n.
func (n Notification) Subject() string {
	return oneLine(fmt.Sprintf("Automatic top-up: %d licenses added to site %s", n.Added, n.SiteName))
}

// Body returns the plain-text e-mail body of n.
func (n Notification) Body() string {
	return fmt.Sprintf("Automatic license top-up was triggered for site %s on %s.\n\n"+
		"Licenses added: %d (top-up increment %d)\n"+
		"Devices enrolled: %d\n"+
		"Total licenses: %d (before: %d)\n"+
		"Available licenses: %d\n\n"+
		"The added licenses will appear on your next monthly invoice.\n",
		oneLine(n.SiteName), n.At.UTC().Format("2006-01-02 15:04 UTC"),
		n.Added, n.Increment, n.Enrolled, n.NewTotal, n.PreviousTotal, n.NewTotal-n.Enrolled)
}

// oneLine removes line breaks so that text is safe in an e-mail header.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// Notifier delivers a top-up notification to its recipients. An error means
// "not delivered, try again later"; implementations should make a repeated
// delivery of the same n.ID harmless where they can (delivery is at least once).
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Status is where an outbox record is in its delivery.
type Status string

// Statuses of outbox records.
const (
	StatusPending   Status = "pending"   // waiting for (another) delivery attempt
	StatusDelivered Status = "delivered" // the Notifier accepted it (or there was no recipient)
	StatusFailed    Status = "failed"    // MaxAttempts failed; a topup.notification_failed event says so
)

// OutboxEntry is the stored outbox record (kind topup_outbox, ID =
// Notification.ID, Parent = Status).
type OutboxEntry struct {
	Notification
	Status   Status `json:"status"`
	Attempts int    `json:"attempts"`
	// NextAttempt is when the dispatcher may try again. A claimed attempt sets it
	// ahead by the claim timeout, so a dispatcher that dies mid-send leaves the
	// record pending and another retries after that.
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	DoneAt      time.Time `json:"done_at,omitzero"` // delivered or failed at
}

func (o OutboxEntry) record() storage.Record {
	return storage.Record{Company: o.Company, Kind: KindOutbox, ID: o.ID, Parent: string(o.Status)}
}

// Outbox returns the outbox records of actor's company with the given status
// ("" for all), oldest first. Owner or Admin only: recipients are personal data.
//
// Errors: invalid (actor), forbidden.
func (s *Service) Outbox(ctx context.Context, actor license.Actor, status Status) ([]OutboxEntry, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	var out []OutboxEntry
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "reading top-up notifications"); err != nil {
			return err
		}
		var err error
		out, err = storage.ListOf[OutboxEntry](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: KindOutbox, Parent: string(status)})
		return err
	})
	return out, err
}

// Dispatcher delivers pending outbox records after their top-ups committed.
// Store and Notifier are required; zero durations and counts take the defaults
// documented on each field. It is safe to run several dispatchers: each attempt
// is claimed in its own transaction first.
type Dispatcher struct {
	Store    storage.Store
	Notifier Notifier
	// MaxAttempts is how many failed deliveries mark a record failed (default 5).
	MaxAttempts int
	// Backoff returns the wait after the nth failed attempt (n >= 1). The
	// default doubles from one minute: 1m, 2m, 4m, ... capped at one hour.
	Backoff func(attempt int) time.Duration
	// ClaimTimeout is how long a claimed attempt may take before another
	// dispatcher may retry it (default 5 minutes).
	ClaimTimeout time.Duration
	// BatchSize is how many pending records one listing reads (default 100).
	BatchSize int
}

// DefaultBackoff doubles from one minute, capped at one hour.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Minute
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Report counts what one RunOnce did.
type Report struct {
	Delivered int `json:"delivered"`
	Retrying  int `json:"retrying"` // failed this time, will be retried
	Failed    int `json:"failed"`   // failed for the last time
}

func (d *Dispatcher) maxAttempts() int {
	if d.MaxAttempts > 0 {
		return d.MaxAttempts
	}
	return 5
}

func (d *Dispatcher) backoff(n int) time.Duration {
	if d.Backoff != nil {
		return d.Backoff(n)
	}
	return DefaultBackoff(n)
}

// RunOnce delivers every pending outbox record, of every company, whose next
// attempt is due at now. For each it claims the attempt in a transaction
// (attempts+1, next attempt pushed by ClaimTimeout), calls the Notifier outside
// any transaction, then records the outcome in another transaction: delivered;
// or, on error, retried after Backoff(attempts); or, after MaxAttempts, failed
// with a topup.notification_failed event. A record with no recipients is marked
// delivered without calling the Notifier. A failing Notifier is not an error of
// RunOnce; a failing store is, and stops the run.
func (d *Dispatcher) RunOnce(ctx context.Context, now time.Time) (Report, error) {
	var rep Report
	now = now.UTC()
	batch := d.BatchSize
	if batch <= 0 {
		batch = 100
	}
	after := ""
	for {
		var page []storage.Record
		err := d.Store.View(ctx, func(tx storage.Tx) error {
			var err error
			page, err = tx.List(ctx, storage.ListQuery{AllCompanies: true, Kind: KindOutbox, Parent: string(StatusPending), AfterID: after, Limit: batch})
			return err
		})
		if err != nil {
			return rep, err
		}
		for _, r := range page {
			var o OutboxEntry
			if json.Unmarshal(r.Data, &o) == nil && o.NextAttempt.After(now) {
				continue // backing off or claimed: no transaction needed
			}
			if err := d.deliver(ctx, r.Company, r.ID, now, &rep); err != nil {
				return rep, err
			}
		}
		if len(page) < batch {
			return rep, nil
		}
		after = page[len(page)-1].ID
	}
}

func (d *Dispatcher) deliver(ctx context.Context, company, id string, now time.Time, rep *Report) error {
	claimTimeout := d.ClaimTimeout
	if claimTimeout <= 0 {
		claimTimeout = 5 * time.Minute
	}
	var o OutboxEntry
	claimed := false
	err := d.Store.Update(ctx, func(tx storage.Tx) error {
		claimed = false
		var err error
		o, _, err = storage.Load[OutboxEntry](ctx, tx, company, KindOutbox, id, true)
		if storage.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.Status != StatusPending || o.NextAttempt.After(now) {
			return nil
		}
		claimed = true
		if len(o.Recipients) == 0 {
			o.Status, o.DoneAt = StatusDelivered, now
			return storage.Save(ctx, tx, o.record(), o)
		}
		o.Attempts++
		o.NextAttempt = now.Add(claimTimeout)
		return storage.Save(ctx, tx, o.record(), o)
	})
	if err != nil || !claimed {
		return err
	}
	if o.Status == StatusDelivered {
		rep.Delivered++
		return nil
	}
	sendErr := d.Notifier.Notify(ctx, o.Notification)
	attempt := o.Attempts
	var outcome *int // the Report counter to bump once the outcome commits
	err = d.Store.Update(ctx, func(tx storage.Tx) error {
		outcome = nil
		cur, _, err := storage.Load[OutboxEntry](ctx, tx, company, KindOutbox, id, true)
		if err != nil {
			return err
		}
		if cur.Status != StatusPending {
			return nil // settled by another dispatcher meanwhile
		}
		if sendErr == nil {
			cur.Status, cur.DoneAt, cur.LastError = StatusDelivered, now, ""
			outcome = &rep.Delivered
			return storage.Save(ctx, tx, cur.record(), cur)
		}
		if cur.Attempts != attempt {
			return nil // another dispatcher claimed a later attempt; it decides
		}
		cur.LastError = sendErr.Error()
		if len(cur.LastError) > 1000 {
			cur.LastError = cur.LastError[:1000]
		}
		if cur.Attempts < d.maxAttempts() {
			cur.NextAttempt = now.Add(d.backoff(cur.Attempts))
			outcome = &rep.Retrying
			return storage.Save(ctx, tx, cur.record(), cur)
		}
		cur.Status, cur.DoneAt = StatusFailed, now
		outcome = &rep.Failed
		if err := storage.Save(ctx, tx, cur.record(), cur); err != nil {
			return err
		}
		e, err := newEvent(company, license.SystemEmail, now, EventNotificationFailed, cur.ID, map[string]any{
			"site": cur.Site, "attempts": cur.Attempts, "last_error": cur.LastError, "recipients": cur.Recipients, "event": cur.Event,
		})
		e.Target, e.Count = cur.SiteName, cur.Added
		return appendEvent(ctx, tx, e, err)
	})
	if err == nil && outcome != nil {
		*outcome++
	}
	return err
}
