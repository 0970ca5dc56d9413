package http

import (
	"context"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// TransactionBody records a purchase, rental period, maintenance or upgrade.
type TransactionBody struct {
	Kind        pool.TxKind    `json:"kind"`
	Count       int64          `json:"count"`
	UnitPrice   *license.Money `json:"unit_price,omitempty"`
	Date        time.Time      `json:"date,omitzero"` // zero: now
	Period      license.Period `json:"period,omitzero"`
	OrderNumber string         `json:"order_number,omitempty"`
	Note        string         `json:"note,omitempty"`
}

// ReassignBody moves licenses from the path's pool to another.
type ReassignBody struct {
	To    string `json:"to"`
	Count int64  `json:"count"`
}

// AllocateBody asks for a manual allocation: a consumer, or an unmanaged Amount.
type AllocateBody struct {
	Consumer license.Consumer `json:"consumer,omitzero"`
	Amount   int64            `json:"amount,omitempty"`
	Software string           `json:"software,omitempty"`
	FromForm bool             `json:"from_form,omitempty"`
}

// LeaseBody asks for a concurrent-user seat.
type LeaseBody struct {
	Consumer license.Consumer `json:"consumer"`
	FromForm bool             `json:"from_form,omitempty"`
	// WaitSeconds is how long to wait for a seat when none is free, in
	// whole seconds (0 to 30; absent or 0: answer at once). The request
	// then stays open until a seat frees or the time is up.
	WaitSeconds int64 `json:"wait_seconds,omitempty"`
}

// wait returns the body's WaitSeconds as a duration, checked.
func (b LeaseBody) wait() (time.Duration, error) {
	if max := int64(pool.MaxLeaseWait / time.Second); b.WaitSeconds < 0 || b.WaitSeconds > max {
		return 0, license.Errorf(license.Invalid, "wait_seconds", "wait_seconds must be between 0 and %d", max)
	}
	return time.Duration(b.WaitSeconds) * time.Second, nil
}

// CommentBody adds a comment to a pool.
type CommentBody struct {
	Text string `json:"text"`
}

// Culled is how many lapsed leases were removed.
type Culled struct {
	Freed int64 `json:"freed"`
}

// Released answers a lease release.
type Released struct {
	Released bool `json:"released"`
}

func (h *Handler) poolRoutes() []Route {
	p := func() *pool.Service { return h.cfg.Pools }
	return []Route{
		withKey(created(op("POST", "/v1/pools", "pools", "Create a license pool", Editor,
			func(c *call, req PoolSpecBody) (PoolView, error) {
				spec, err := req.spec()
				if err != nil {
					return PoolView{}, err
				}
				pl, err := p().Create(c.r.Context(), c.actor, pool.CreateRequest{Spec: spec, IdempotencyKey: c.idem})
				return poolView(pl, 0), err
			}))),
		paged(withQuery(op("GET", "/v1/pools", "pools", "List the company's pools", Member,
			func(c *call, _ none) (List[PoolView], error) {
				q := c.r.URL.Query()
				inc, err := queryBool(q.Get("include_retired"), "include_retired")
				if err != nil {
					return List[PoolView]{}, err
				}
				ps, err := p().List(c.r.Context(), c.actor, pool.ListOptions{IncludeRetired: inc, Software: q.Get("software")})
				return pageOf(c, poolViews(ps), err, func(p PoolView) string { return p.ID })
			}),
			Param{Name: "include_retired", Type: "boolean", Description: "include retired pools"},
			Param{Name: "software", Description: "only pools granting this software"})),
		versioned(op("GET", "/v1/pools/{id}", "pools", "Get a pool (unit prices only for roles that may see them)", Member,
			func(c *call, _ none) (PoolView, error) {
				pl, err := p().Get(c.r.Context(), c.actor, c.path("id"))
				return poolView(pl, c.version()), err
			}), pool.KindPool),
		ifMatchRequired(versioned(op("PUT", "/v1/pools/{id}", "pools", "Replace a pool's editable attributes (name, software, restrictions, automatic allocation, priority, ...); needs If-Match", Editor,
			func(c *call, req PoolSpecBody) (PoolView, error) {
				spec, err := req.spec()
				if err != nil {
					return PoolView{}, err
				}
				pl, err := p().Update(c.r.Context(), c.actor, c.path("id"), spec)
				return poolView(pl, c.version()), err
			}), pool.KindPool)),
		op("POST", "/v1/pools/{id}/close", "pools", "Close a pool (viewable, no new allocations)", Editor,
			func(c *call, _ none) (PoolView, error) {
				pl, err := p().Close(c.r.Context(), c.actor, c.path("id"))
				return poolView(pl, 0), err
			}),
		op("POST", "/v1/pools/{id}/retire", "pools", "Retire a pool", Editor,
			func(c *call, _ none) (PoolView, error) {
				pl, err := p().Retire(c.r.Context(), c.actor, c.path("id"))
				return poolView(pl, 0), err
			}),
		op("GET", "/v1/pools/{id}/status", "pools", "The pool's status pane: total, quarantined, available, allocated, per month", Member,
			func(c *call, _ none) (pool.Pane, error) { return p().Status(c.r.Context(), c.actor, c.path("id")) }),
		op("GET", "/v1/pools/{id}/audit", "pools", "Recount the pool from its records and compare with its counters", Member,
			func(c *call, _ none) (pool.Audit, error) { return p().Audit(c.r.Context(), c.actor, c.path("id")) }),
		withKey(created(op("POST", "/v1/pools/{id}/transactions", "pools", "Record a purchase, rental period, maintenance or upgrade", Editor,
			func(c *call, req TransactionBody) (pool.Transaction, error) {
				return p().AddTransaction(c.r.Context(), c.actor, c.path("id"), pool.TransactionInput{
					Kind: req.Kind, Count: req.Count, UnitPrice: req.UnitPrice, Date: req.Date, Period: req.Period,
					OrderNumber: req.OrderNumber, Note: req.Note, IdempotencyKey: c.idem})
			}))),
		withKey(op("POST", "/v1/pools/{id}/reassign", "pools", "Reassign available licenses to another pool", Editor,
			func(c *call, req ReassignBody) (pool.Reassignment, error) {
				return p().Reassign(c.r.Context(), c.actor, c.path("id"), pool.ReassignRequest{To: req.To, Count: req.Count, IdempotencyKey: c.idem})
			})),
		withKey(created(op("POST", "/v1/pools/{id}/comments", "pools", "Add a comment to a pool", Editor,
			func(c *call, req CommentBody) (pool.Comment, error) {
				return p().AddComment(c.r.Context(), c.actor, c.path("id"), pool.CommentRequest{Text: req.Text, IdempotencyKey: c.idem})
			}))),
		paged(op("GET", "/v1/pools/{id}/allocations", "allocations", "List a pool's allocations", Member,
			func(c *call, _ none) (List[pool.Allocation], error) {
				ctx, err := c.keyset(pool.KindAllocation)
				if err != nil {
					return List[pool.Allocation]{}, err
				}
				as, err := p().Allocations(ctx, c.actor, c.path("id"))
				return pageOf(c, as, err, func(a pool.Allocation) string { return a.ID })
			})),
		op("POST", "/v1/pools/{id}/allocations/preview", "allocations", "Preview a manual allocation: the allocation and the counts before and after (changes nothing)", Editor,
			func(c *call, req AllocateBody) (pool.AllocationPreview, error) {
				return p().PreviewAllocate(c.r.Context(), c.actor, c.path("id"), pool.AllocateRequest{
					Consumer: req.Consumer, Amount: req.Amount, Software: req.Software, FromForm: req.FromForm})
			}),
		withKey(created(op("POST", "/v1/pools/{id}/allocations", "allocations", "Allocate licenses manually", Editor,
			func(c *call, req AllocateBody) (pool.Allocation, error) {
				return p().Allocate(c.r.Context(), c.actor, c.path("id"), pool.AllocateRequest{
					Consumer: req.Consumer, Amount: req.Amount, Software: req.Software, FromForm: req.FromForm, IdempotencyKey: c.idem})
			}))),
		op("POST", "/v1/pools/{id}/allocations/{allocation}/release", "allocations", "Release an allocation (quarantined when released before the minimum allocation time)", Editor,
			func(c *call, _ none) (pool.Release, error) {
				return p().Release(c.r.Context(), c.actor, c.path("id"), c.path("allocation"))
			}),
		op("POST", "/v1/reconcile", "allocations", "Apply a fact from the product (installed, uninstalled, ...) to the automatic allocation rules", Editor,
			func(c *call, req pool.Fact) (pool.Outcome, error) { return p().Reconcile(c.r.Context(), c.actor, req) }),
		paged(op("GET", "/v1/pools/{id}/leases", "leases", "List a concurrent-user pool's leases", Member,
			func(c *call, _ none) (List[LeaseView], error) {
				ctx, err := c.keyset(pool.KindLease)
				if err != nil {
					return List[LeaseView]{}, err
				}
				ls, err := p().Leases(ctx, c.actor, c.path("id"))
				out := make([]LeaseView, 0, len(ls))
				for _, l := range ls {
					out = append(out, leaseView(l))
				}
				return pageOf(c, out, err, func(l LeaseView) string { return l.ID })
			})),
		// The lease routes are the hot path of vendors' products: the pool
		// service checks the editor role first in its own transaction.
		noted("When no seat is free the answer is 409 insufficient_licenses at once, unless wait_seconds (0 to 30) asks the server to wait that long for one: the request then stays open and answers as soon as a release frees a seat, the longest-waiting request first.",
			roleInTx(created(op("POST", "/v1/pools/{id}/leases", "leases", "Acquire a concurrent-user seat (renewed by heartbeats)", Editor,
				func(c *call, req LeaseBody) (LeaseView, error) {
					wait, err := req.wait()
					if err != nil {
						return LeaseView{}, err
					}
					ctx := c.r.Context()
					if wait > 0 && h.draining.Err() != nil {
						wait = 0 // shutting down: no new waits
					}
					if wait > 0 {
						var done context.CancelFunc
						ctx, done = h.waitContext(ctx)
						defer done()
					}
					l, err := p().AcquireLease(ctx, c.actor, c.path("id"), pool.LeaseRequest{Consumer: req.Consumer, FromForm: req.FromForm, Wait: wait})
					return leaseView(l), err
				})))),
		roleInTx(op("POST", "/v1/pools/{id}/leases/{lease}/heartbeat", "leases", "Renew a lease for another TTL", Editor,
			func(c *call, _ none) (LeaseView, error) {
				l, err := p().Heartbeat(c.r.Context(), c.actor, c.path("id"), c.path("lease"))
				return leaseView(l), err
			})),
		roleInTx(op("DELETE", "/v1/pools/{id}/leases/{lease}", "leases", "Release a lease", Editor,
			func(c *call, _ none) (Released, error) {
				err := p().ReleaseLease(c.r.Context(), c.actor, c.path("id"), c.path("lease"))
				return Released{Released: err == nil}, err
			})),
		op("POST", "/v1/pools/{id}/leases/cull", "leases", "Remove leases whose heartbeat lapsed", Editor,
			func(c *call, _ none) (Culled, error) {
				n, err := p().CullLeases(c.r.Context(), c.actor, c.path("id"))
				return Culled{Freed: n}, err
			}),
	}
}
