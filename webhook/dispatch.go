package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Dispatcher sends pending deliveries. Store and Key are required (Key as
// the Service's); zero values take the defaults documented on each field. It
// is safe to run one in each of several processes on one store: every
// attempt is claimed under a row lock first, so one process sends it.
type Dispatcher struct {
	Store storage.Store
	Key   []byte
	// Client sends the requests; nil: a client that follows no redirect,
	// uses no proxy and connects only to public addresses (see
	// AllowPrivate). Timeout bounds each attempt either way.
	Client *http.Client
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// ClaimTimeout is how long a claimed attempt may take before another
	// dispatcher retries it: a process killed mid-send loses nothing
	// (default 2 × Timeout: the attempt and the
	// transaction recording its outcome).
	ClaimTimeout time.Duration
	// MaxAttempts is how many failed attempts fail a delivery (default 8).
	MaxAttempts int
	// DisableAfter is how many failed attempts in a row, over all its
	// deliveries, disable an endpoint (default 20).
	DisableAfter int
	// Backoff is the wait after the nth failed attempt before jitter
	// (default: 30 s doubling, at most 6 h). The wait applied is drawn
	// uniformly from [Backoff/2, Backoff].
	Backoff func(attempt int) time.Duration
	// Rand returns a number in [0, 1) for the jitter (default math/rand/v2).
	Rand func() float64
	// AllowHTTP sends to http:// URLs too (tests); otherwise a delivery to
	// one fails.
	AllowHTTP bool
	// AllowPrivate lets the default client connect to addresses that are
	// not public (loopback, private, link-local, ...: see PublicAddress):
	// for endpoints on the operator's own network, and tests. Without it a
	// delivery to such an address fails, whatever name led to it.
	AllowPrivate bool
	// BatchSize is how many queued deliveries one listing reads (default 100).
	BatchSize int
	// Concurrency is how many companies' deliveries one RunOnce sends at a
	// time (default 8). One company's deliveries are sent one at a time, in
	// queue order, as before; a company whose endpoint is slow or unreachable
	// holds one of these for up to Timeout per attempt, not the deliveries of
	// every other company queued behind it.
	Concurrency int
}

// DefaultBackoff is 30 s doubling per attempt, at most 6 hours.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < 6*time.Hour; i++ {
		d *= 2
	}
	return min(d, 6*time.Hour)
}

// Report counts what one RunOnce did.
type Report struct {
	Delivered int `json:"delivered"`
	Retrying  int `json:"retrying"`
	Failed    int `json:"failed"`
	Disabled  int `json:"disabled"` // endpoints disabled by this run
}

func (d *Dispatcher) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 10 * time.Second
}

func (d *Dispatcher) claimTimeout() time.Duration {
	if d.ClaimTimeout > 0 {
		return d.ClaimTimeout
	}
	return 2 * d.timeout()
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// wait is the jittered backoff after attempt n.
func (d *Dispatcher) wait(n int) time.Duration {
	b := DefaultBackoff
	if d.Backoff != nil {
		b = d.Backoff
	}
	r := rand.Float64
	if d.Rand != nil {
		r = d.Rand
	}
	full := b(n)
	return full/2 + time.Duration(r()*float64(full/2))
}

func (d *Dispatcher) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	if d.AllowPrivate {
		return privateClient()
	}
	return publicClient()
}

// RunOnce sends every queued delivery, of every company, that is due at
// now: a page of the queue at a time, each company's deliveries of the page
// one after the other and up to Concurrency companies at once. When ctx
// ends it starts no new attempt, lets those in progress finish and returns,
// leaving the rest to the next run. A failing endpoint is not an error of
// RunOnce; a failing store is, and stops the run (once the attempts in
// progress have finished).
func (d *Dispatcher) RunOnce(ctx context.Context, now time.Time) (Report, error) {
	r := runner{d: d, ctx: ctx, now: now.UTC(), slots: make(chan struct{}, orDefault(d.Concurrency, 8))}
	err := r.run()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rep, cmp.Or(err, r.err)
}

// runner is one RunOnce: each company's attempts of a page run on a
// goroutine of their own, at most cap(slots) companies at a time.
type runner struct {
	d     *Dispatcher
	ctx   context.Context
	now   time.Time
	slots chan struct{}
	wg    sync.WaitGroup

	mu  sync.Mutex
	rep Report
	err error // the first store error of an attempt
}

func (r *runner) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

// run lists the queue page by page and sends each page's due deliveries,
// a goroutine per company; a page is done before the next is listed.
func (r *runner) run() error {
	batch := orDefault(r.d.BatchSize, 100)
	after := ""
	for {
		var page []storage.Record
		err := r.d.Store.View(r.ctx, func(tx storage.Tx) error {
			var err error
			page, err = tx.List(r.ctx, storage.ListQuery{AllCompanies: true, Kind: KindQueue, AfterID: after, Limit: batch})
			return err
		})
		if err != nil {
			return err
		}
		due := map[string][]string{}
		var companies []string
		for _, rec := range page {
			var q queued
			if json.Unmarshal(rec.Data, &q) == nil && q.NextAttempt.After(r.now) {
				continue // backing off or claimed
			}
			if _, ok := due[rec.Company]; !ok {
				companies = append(companies, rec.Company)
			}
			due[rec.Company] = append(due[rec.Company], rec.ID)
		}
		for _, company := range companies {
			select {
			case r.slots <- struct{}{}:
			case <-r.ctx.Done():
				return nil // the rest waits for the next run
			}
			r.wg.Add(1)
			go r.company(company, due[company])
		}
		r.wg.Wait()
		if r.ctx.Err() != nil || r.failed() || len(page) < batch {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// company sends ids, deliveries of company, one after the other, and adds
// their outcomes to the report. A started attempt runs to its end, bounded
// by Timeout, even when ctx ends meanwhile: its claim is not left dangling.
func (r *runner) company(company string, ids []string) {
	defer r.wg.Done()
	defer func() { <-r.slots }()
	var rep Report
	var err error
	for _, id := range ids {
		if r.ctx.Err() != nil || r.failed() {
			break
		}
		if err = r.d.deliver(context.WithoutCancel(r.ctx), company, id, r.now, &rep); err != nil {
			break
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.add(rep)
	r.err = cmp.Or(r.err, err)
}

func (r *Report) add(o Report) {
	r.Delivered += o.Delivered
	r.Retrying += o.Retrying
	r.Failed += o.Failed
	r.Disabled += o.Disabled
}

// claim takes the next attempt of delivery id: it returns ok false when
// there is none to make now (settled, not due, claimed elsewhere).
func (d *Dispatcher) claim(ctx context.Context, company, id string, now time.Time, rep *Report) (deliveryRecord, stored, bool, error) {
	var dl deliveryRecord
	var ep stored
	var ok, failed bool
	err := d.Store.Update(ctx, func(tx storage.Tx) error {
		ok, failed = false, false
		var err error
		dl, _, err = storage.Load[deliveryRecord](ctx, tx, company, KindDelivery, id, true)
		if storage.IsNotFound(err) {
			return dropQueue(ctx, tx, company, id)
		}
		if err != nil {
			return err
		}
		if dl.Status != StatusPending {
			return dropQueue(ctx, tx, company, id)
		}
		if dl.NextAttempt.After(now) {
			return nil
		}
		ep, _, err = storage.Load[stored](ctx, tx, company, KindEndpoint, dl.Endpoint, false)
		if err != nil && !storage.IsNotFound(err) {
			return err
		}
		if err != nil || !ep.Enabled {
			failed = true
			why := "the endpoint was deleted"
			if err == nil {
				why = "the endpoint is disabled"
			}
			return d.settle(ctx, tx, &dl, now, Attempt{At: now, Error: why}, true)
		}
		ok = true
		dl.Attempts++
		dl.NextAttempt = now.Add(d.claimTimeout())
		if err := storage.Save(ctx, tx, dl.record(), dl); err != nil {
			return err
		}
		return putQueue(ctx, tx, company, id, dl.NextAttempt)
	})
	if err == nil && failed {
		rep.Failed++
	}
	return dl, ep, ok, err
}

func (d *Dispatcher) deliver(ctx context.Context, company, id string, now time.Time, rep *Report) error {
	dl, ep, ok, err := d.claim(ctx, company, id, now, rep)
	if err != nil || !ok {
		return err
	}
	att := d.send(ctx, ep, dl, now)
	attempt := dl.Attempts
	var counts []*int
	err = d.Store.Update(ctx, func(tx storage.Tx) error {
		counts = nil
		cur, _, err := storage.Load[deliveryRecord](ctx, tx, company, KindDelivery, id, true)
		if err != nil {
			return err
		}
		if cur.Status != StatusPending || cur.Attempts != attempt {
			return nil // settled, or a later attempt claimed elsewhere decides
		}
		e, _, err := storage.Load[stored](ctx, tx, company, KindEndpoint, cur.Endpoint, true)
		if err != nil && !storage.IsNotFound(err) {
			return err
		}
		found := err == nil
		if att.Error == "" {
			counts = append(counts, &rep.Delivered)
			if found && e.Failures != 0 {
				e.Failures = 0
				if err := storage.Save(ctx, tx, e.record(), e); err != nil {
					return err
				}
			}
			cur.Status, cur.DoneAt, cur.LastError, cur.NextAttempt = StatusDelivered, now, "", time.Time{}
			cur.Log = appendLog(cur.Log, att)
			if err := storage.Save(ctx, tx, cur.record(), cur); err != nil {
				return err
			}
			return dropQueue(ctx, tx, company, id)
		}
		if found {
			e.Failures++
			if e.Enabled && e.Failures >= orDefault(d.DisableAfter, 20) {
				e.Enabled = false
				e.DisabledReason = fmt.Sprintf("%d failed attempts in a row", e.Failures)
				counts = append(counts, &rep.Disabled)
				if _, err := tx.AppendEvent(ctx, event(company, license.SystemEmail, now, EventDisabled, e.ID, e.URL,
					map[string]any{"failures": e.Failures, "last_error": att.Error})); err != nil {
					return err
				}
			}
			if err := storage.Save(ctx, tx, e.record(), e); err != nil {
				return err
			}
		}
		last := cur.Attempts >= orDefault(d.MaxAttempts, 8) || !found || !e.Enabled
		if last {
			counts = append(counts, &rep.Failed)
		} else {
			counts = append(counts, &rep.Retrying)
		}
		return d.settle(ctx, tx, &cur, now, att, last)
	})
	if err == nil {
		for _, c := range counts {
			*c++
		}
	}
	return err
}

// settle records a failed attempt: retried after the jittered backoff, or
// (last) failed for good with a webhook.delivery_failed event.
func (d *Dispatcher) settle(ctx context.Context, tx storage.Tx, dl *deliveryRecord, now time.Time, att Attempt, last bool) error {
	dl.Log = appendLog(dl.Log, att)
	dl.LastError = att.Error
	if !last {
		dl.NextAttempt = now.Add(d.wait(dl.Attempts))
		if err := storage.Save(ctx, tx, dl.record(), *dl); err != nil {
			return err
		}
		return putQueue(ctx, tx, dl.Company, dl.ID, dl.NextAttempt)
	}
	dl.Status, dl.DoneAt, dl.NextAttempt = StatusFailed, now, time.Time{}
	if err := storage.Save(ctx, tx, dl.record(), *dl); err != nil {
		return err
	}
	if err := dropQueue(ctx, tx, dl.Company, dl.ID); err != nil {
		return err
	}
	_, err := tx.AppendEvent(ctx, event(dl.Company, license.SystemEmail, now, EventDeliveryFailed, dl.Endpoint, "",
		map[string]any{"delivery": dl.ID, "event": dl.Event, "attempts": dl.Attempts, "last_error": dl.LastError}))
	return err
}

func appendLog(log []Attempt, a Attempt) []Attempt {
	log = append(log, a)
	if len(log) > maxAttemptsLogged {
		log = log[len(log)-maxAttemptsLogged:]
	}
	return log
}

// send makes one attempt, outside any transaction.
func (d *Dispatcher) send(ctx context.Context, ep stored, dl deliveryRecord, now time.Time) Attempt {
	att := Attempt{At: now}
	fail := func(err error) Attempt {
		att.Error = err.Error()
		if len(att.Error) > 500 {
			att.Error = att.Error[:500]
		}
		return att
	}
	if _, err := CheckURL(ep.URL, d.AllowHTTP); err != nil {
		return fail(err)
	}
	if len(d.Key) < 32 {
		return fail(errors.New("webhook: the dispatcher has no key"))
	}
	rctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, ep.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "licensekit-webhooks/1")
	req.Header.Set(DeliveryHeader, dl.ID)
	req.Header.Set(EventHeader, string(dl.EventType))
	req.Header.Set(SignatureHeader, Sign(time.Now(), dl.Payload, ep.secrets(d.Key, now)...))
	resp, err := d.client().Do(req)
	if err != nil {
		return fail(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	att.StatusCode = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(fmt.Errorf("the endpoint answered %s", resp.Status))
	}
	return att
}
