package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

// Unmatched is the route label of the requests no route serves (404s and
// 405s), so that scanning for paths cannot grow the number of series.
const Unmatched = "unmatched"

// Metrics is one server's set of metrics, in a registry of its own. Its
// methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	txs      *prometheus.CounterVec
	txTime   *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	batch    prometheus.Histogram
	lockWait prometheus.Histogram

	outbox        *prometheus.GaugeVec
	notifications *prometheus.CounterVec
	domain        *prometheus.GaugeVec
	refreshed     prometheus.Gauge
}

// New returns the metrics, registered with the Go runtime's and the process's
// collectors and go_build_info (the module's version and checksum).
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licensekit_http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status code."}, []string{"route", "method", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "licensekit_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route pattern and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"})
	m.txs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licensekit_store_transactions_total",
		Help: "Store transactions, by kind (read or write) and outcome (ok or error: the caller's error or the store's)."}, []string{"kind", "outcome"})
	m.txTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "licensekit_store_transaction_duration_seconds",
		Help: "Time of a store transaction, retries and waits included, by kind.", Buckets: prometheus.DefBuckets}, []string{"kind"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licensekit_store_retries_total",
		Help: "Write transactions run again, by reason (busy, batch_lost, conflict)."}, []string{"reason"})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "licensekit_store_group_commit_batch_size",
		Help: "Writes that shared one committed SQLite group-commit transaction.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64}})
	m.lockWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "licensekit_store_lock_wait_seconds",
		Help:    "Time a write waited for the right to write (the SQLite writer's turn, a PostgreSQL pool connection).",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 5}})
	m.outbox = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "licensekit_topup_outbox",
		Help: "Top-up notifications in the outbox, by status (pending, failed), at the last refresh."}, []string{"status"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licensekit_topup_notifications_total",
		Help: "Top-up notification delivery attempts, by outcome (delivered, retrying: failed and will be retried, failed: failed for the last time)."}, []string{"outcome"})
	m.domain = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "licensekit_domain_records",
		Help: "Totals over every company at the last refresh: companies, sites, site_licenses, site_enrolled, pools, pool_seats_held (allocations and leases)."}, []string{"what"})
	m.refreshed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "licensekit_domain_refreshed_timestamp_seconds",
		Help: "When the outbox and domain gauges were last refreshed (Unix time)."})
	m.reg.MustRegister(m.requests, m.duration, m.txs, m.txTime, m.retries, m.batch, m.lockWait,
		m.outbox, m.notifications, m.domain, m.refreshed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	for _, o := range []string{"delivered", "retrying", "failed"} {
		m.notifications.WithLabelValues(o)
	}
	return m
}

// Registry is the registry the metrics are in; a product may register its
// own collectors with it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Middleware counts and times every request next serves. route names the
// request's route pattern ("" for none, counted as Unmatched); it must return
// one of a bounded set of values, never the path.
func (m *Metrics) Middleware(next http.Handler, route func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := route(r)
		if rt == "" {
			rt = Unmatched
		}
		sw := &statusRecorder{ResponseWriter: w}
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			m.requests.WithLabelValues(rt, method(r.Method), strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(rt, method(r.Method)).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// method bounds the method label: the methods of HTTP, anything else "other".
func method(s string) string {
	switch s {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return s
	}
	return "other"
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (write
// deadlines).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// StoreObserver is the storage.Observer that feeds the store metrics; pass it
// to sqlite.WithObserver or postgres.WithObserver.
func (m *Metrics) StoreObserver() storage.Observer {
	return storage.Observer{
		Transaction: func(write bool, err error, took time.Duration) {
			kind, outcome := "read", "ok"
			if write {
				kind = "write"
			}
			if err != nil {
				outcome = "error"
			}
			m.txs.WithLabelValues(kind, outcome).Inc()
			m.txTime.WithLabelValues(kind).Observe(took.Seconds())
		},
		Retry:    func(reason string) { m.retries.WithLabelValues(reason).Inc() },
		Batch:    func(size int) { m.batch.Observe(float64(size)) },
		LockWait: func(took time.Duration) { m.lockWait.Observe(took.Seconds()) },
	}
}

// ObserveNotifications counts a round of the top-up notification dispatcher.
func (m *Metrics) ObserveNotifications(r topup.Report) {
	m.notifications.WithLabelValues("delivered").Add(float64(r.Delivered))
	m.notifications.WithLabelValues("retrying").Add(float64(r.Retrying))
	m.notifications.WithLabelValues("failed").Add(float64(r.Failed))
}

// refreshPage is how many records one read transaction of Refresh lists.
const refreshPage = 1000

// Refresh recomputes the outbox depth and the domain totals from store. It
// reads every company's sites, pools, allocations, leases and outbox entries
// in pages of read transactions, so its cost grows with the data: run it in
// a background loop (the reference server runs it every -interval), never on
// a scrape.
func (m *Metrics) Refresh(ctx context.Context, store storage.Store, now time.Time) error {
	count := func(kind storage.Kind, parent string, each func(storage.Record) error) (int64, error) {
		var n int64
		after := ""
		for {
			var page []storage.Record
			err := store.View(ctx, func(tx storage.Tx) error {
				var err error
				page, err = tx.List(ctx, storage.ListQuery{AllCompanies: true, Kind: kind, Parent: parent, AfterID: after, Limit: refreshPage})
				return err
			})
			if err != nil {
				return n, err
			}
			for _, r := range page {
				if each != nil {
					if err := each(r); err != nil {
						return n, err
					}
				}
			}
			n += int64(len(page))
			if len(page) < refreshPage {
				return n, nil
			}
			after = page[len(page)-1].ID
		}
	}
	var licenses, enrolled int64
	sites, err := count(billing.KindSite, "", func(r storage.Record) error {
		var s billing.Site
		if err := json.Unmarshal(r.Data, &s); err != nil {
			return license.Wrap(license.Internal, err, "metrics: decode site %s", r.ID)
		}
		licenses += s.LicenseCount()
		enrolled += s.Enrolled
		return nil
	})
	if err != nil {
		return err
	}
	companies, err1 := count(billing.KindCompany, "", nil)
	pools, err2 := count(pool.KindPool, "", nil)
	allocations, err3 := count(pool.KindAllocation, "", nil)
	leases, err4 := count(pool.KindLease, "", nil)
	pending, err5 := count(topup.KindOutbox, string(topup.StatusPending), nil)
	failed, err6 := count(topup.KindOutbox, string(topup.StatusFailed), nil)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	for what, v := range map[string]int64{"companies": companies, "sites": sites, "site_licenses": licenses,
		"site_enrolled": enrolled, "pools": pools, "pool_seats_held": allocations + leases} {
		m.domain.WithLabelValues(what).Set(float64(v))
	}
	m.outbox.WithLabelValues(string(topup.StatusPending)).Set(float64(pending))
	m.outbox.WithLabelValues(string(topup.StatusFailed)).Set(float64(failed))
	m.refreshed.Set(float64(now.Unix()))
	return nil
}
