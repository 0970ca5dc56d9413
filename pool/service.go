package pool

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Service manages license pools on a storage.Store. Every mutating method runs
// one transaction that writes the change and its event(s) together, reads the
// clock once, and returns a *license.Error. Every method may also return
// Unavailable or Internal from the store, and Invalid (field "company", "actor"
// or "role") for a malformed actor. The role checked, and the one that decides
// whether unit prices are shown, is the actor's effective role
// (access.EffectiveRole), read in the method's own transaction.
type Service struct {
	Store storage.Store
	Clock license.Clock // nil means license.SystemClock
	Blobs BlobStore     // attachment bytes; nil disables attachments
	// Limiter, when set, rate-limits Validate (with or without Allocate) per pool
	// (key "pool:<company>/<pool>"); nil means unlimited.
	Limiter license.Limiter
}

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return time.Now().UTC()
	}
	return s.Clock.Now().UTC()
}

func checkEditor(a license.Actor) error {
	if err := a.Check(); err != nil {
		return err
	}
	if !a.Role.CanEdit() {
		return license.Errorf(license.Forbidden, "role", "role %s may not change license pools", a.Role)
	}
	return nil
}

// updateAs runs fn in one Store.Update after resolving *a to its effective
// role in that transaction (access.Resolve: a demoted member acts with its
// stored role at once) and checking it with check (checkEditor, checkAdmin).
// fn sees *a resolved. The methods check the claimed role before opening the
// transaction too, to answer early; this is the check that decides.
func (s *Service) updateAs(ctx context.Context, a *license.Actor, check func(license.Actor) error, fn func(tx storage.Tx) error) error {
	claim := *a
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		eff, err := access.Resolve(ctx, tx, claim)
		if err != nil {
			return err
		}
		if err := check(eff); err != nil {
			return err
		}
		*a = eff
		return fn(tx)
	})
}

// viewAs runs fn in one Store.View after resolving *a to its effective role
// in that transaction, so what fn shows (unit prices) follows the stored role.
func (s *Service) viewAs(ctx context.Context, a *license.Actor, fn func(tx storage.Tx) error) error {
	claim := *a
	return s.Store.View(ctx, func(tx storage.Tx) error {
		eff, err := access.Resolve(ctx, tx, claim)
		if err != nil {
			return err
		}
		*a = eff
		return fn(tx)
	})
}

func checkPoolID(id string) error { return license.CheckID("pool", id) }

// loadLivePool loads pool id for update, refusing a retired pool (Conflict).
func loadLivePool(ctx context.Context, tx storage.Tx, company, id string) (*Pool, storage.Record, error) {
	p, rec, err := loadPool(ctx, tx, company, id, true)
	if err == nil && p.Status == StatusRetired {
		err = license.Errorf(license.Conflict, "status", "pool %q is retired", p.Name)
	}
	return p, rec, err
}

func loadPool(ctx context.Context, tx storage.Tx, company, id string, forUpdate bool) (*Pool, storage.Record, error) {
	d, rec, err := storage.Load[poolDoc](ctx, tx, company, KindPool, id, forUpdate)
	p, err := poolOf(d, id, err)
	return p, rec, err
}

// peekPool is loadPool (not for update) for a caller that only reads the
// pool (storage.Peek): the pool returned shares its lists with what other
// readers get, so nothing reachable from it may be changed.
func peekPool(ctx context.Context, tx storage.Tx, company, id string) (*Pool, storage.Record, error) {
	d, rec, err := storage.Peek[poolDoc](ctx, tx, company, KindPool, id)
	if err == nil && d.Pool != nil {
		shallow := *d.Pool // the floor is set on a copy: the shared pool is not ours
		d.Pool = &shallow
	}
	p, err := poolOf(d, id, err)
	return p, rec, err
}

// poolOf is the pool of a stored record read as d (with the error of the
// read), its lease floor set.
func poolOf(d poolDoc, id string, err error) (*Pool, error) {
	if err != nil {
		if storage.IsNotFound(err) {
			return nil, license.Errorf(license.NotFound, "pool", "no pool with id %q", id)
		}
		return nil, err
	}
	if d.Pool == nil {
		return nil, license.Errorf(license.Internal, "pool", "pool %q: empty record", id)
	}
	d.Pool.leaseFloor = d.LeaseFloor
	return d.Pool, nil
}

// savePool saves p with its lease floor (see poolDoc). Every operation saves
// pools through it. The next load of the pool is served from what was saved
// rather than by decoding the record again (storage.SaveKept): the document
// holds the floor in LeaseFloor, so the copy kept leaves the unexported
// field zero, as decoding would.
func savePool(ctx context.Context, tx storage.Tx, rec storage.Record, p *Pool) error {
	kept := *p
	kept.leaseFloor = time.Time{}
	return storage.SaveKept(ctx, tx, rec, poolDoc{Pool: &kept, LeaseFloor: p.leaseFloor})
}

// lowerLeaseFloor records that a lease of p expires at exp, and reports
// whether that lowered the floor.
func (p *Pool) lowerLeaseFloor(exp time.Time) bool {
	if !p.leaseFloor.IsZero() && exp.Before(p.leaseFloor) {
		p.leaseFloor = exp
		return true
	}
	return false
}

// leasesLive reports whether every lease record of p is surely live at now,
// so that p.Leases counts the live leases without listing them.
func (p *Pool) leasesLive(now time.Time) bool {
	return p.Leases == 0 || (!p.leaseFloor.IsZero() && now.Before(p.leaseFloor))
}

func poolRecord(p *Pool) storage.Record {
	return storage.Record{Company: p.Company, Kind: KindPool, ID: p.ID}
}

func appendEvent(ctx context.Context, tx storage.Tx, a license.Actor, now time.Time, typ eventlog.Type, subject string, count int64, details any) error {
	var raw json.RawMessage
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return license.Wrap(license.Internal, err, "pool: encode event details")
		}
		raw = b
	}
	_, err := tx.AppendEvent(ctx, eventlog.Event{
		ID: license.NewID(), Company: a.Company, Time: now, Type: typ,
		Count: count, Actor: a.Email, Subject: subject, Details: raw,
	})
	return err
}

// view returns a copy of p fit for a at now: unit prices are cleared for roles
// that may not see prices, and transaction statuses are filled in.
func view(p *Pool, a license.Actor, now time.Time) *Pool {
	out := *p
	out.Transactions = make([]Transaction, len(p.Transactions))
	for i, t := range p.Transactions {
		out.Transactions[i] = viewTx(t, a, now)
	}
	return &out
}

func viewTx(t Transaction, a license.Actor, now time.Time) Transaction {
	if !a.Role.CanSeePrices() {
		t.UnitPrice = nil
	}
	t.Status = t.StatusAt(now)
	return t
}

// New returns an unsaved pool with status New built from spec. It does not
// validate; Create does.
func New(company string, spec Spec) *Pool {
	return &Pool{Company: company, Spec: spec, Status: StatusNew}
}

// CreateRequest asks for a new pool built from Spec.
type CreateRequest struct {
	Spec Spec
	// IdempotencyKey: see the license package (Idempotency). A retry returns
	// the pool the first request created and creates no other.
	IdempotencyKey string
}

// Create validates req.Spec and saves a new pool, which becomes Active. It
// appends pool.created.
//
// Errors: Invalid (the field at fault), Forbidden (role may not edit),
// Conflict (idempotency key reused with another spec).
func (s *Service) Create(ctx context.Context, a license.Actor, req CreateRequest) (*Pool, error) {
	if err := checkEditor(a); err != nil {
		return nil, err
	}
	spec, idempotencyKey := req.Spec.normalize(), req.IdempotencyKey
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	var out *Pool
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		var err error
		out, err = storage.Idempotent(ctx, tx, a.Company, "pool.create", idempotencyKey, spec, now, func() (*Pool, error) {
			p := New(a.Company, spec)
			p.ID = license.NewID()
			p.Created, p.Updated = now, now
			if err := transition(p.Status, StatusActive); err != nil {
				return nil, err
			}
			p.Status = StatusActive
			b, err := json.Marshal(p)
			if err != nil {
				return nil, license.Wrap(license.Internal, err, "pool: encode")
			}
			rec := poolRecord(p)
			rec.Data = b
			if err := tx.Insert(ctx, rec); err != nil {
				return nil, err
			}
			return p, appendEvent(ctx, tx, a, now, EventCreated, p.ID, 0, map[string]any{"name": p.Name, "metric": p.Metric, "model": p.Model})
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return view(out, a, now), nil
}

// Update replaces the editable attributes of pool id with spec. The metric
// ("licensed by") cannot change while the pool holds allocations or leases, and
// the model cannot change once transactions are recorded.
//
// Errors: Invalid, NotFound, Forbidden, Conflict (retired pool; metric change
// with allocations — unallocate first; model change with transactions).
func (s *Service) Update(ctx context.Context, a license.Actor, id string, spec Spec) (*Pool, error) {
	if err := checkEditor(a); err != nil {
		return nil, err
	}
	if err := checkPoolID(id); err != nil {
		return nil, err
	}
	spec = spec.normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	var out *Pool
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		p, rec, err := loadPool(ctx, tx, a.Company, id, true)
		if err != nil {
			return err
		}
		if p.Status == StatusRetired {
			return license.Errorf(license.Conflict, "status", "pool %q is retired and cannot be changed", p.Name)
		}
		if spec.Metric != p.Metric && (p.AllocatedAuto+p.AllocatedManual+p.Leases > 0) {
			return license.Errorf(license.Conflict, "metric", "pool %q still has %d allocated license(s): unallocate all allocated licenses first, then change licensed by from %s to %s", p.Name, p.AllocatedAuto+p.AllocatedManual+p.Leases, p.Metric, spec.Metric)
		}
		if spec.Model != p.Model && len(p.Transactions) > 0 {
			return license.Errorf(license.Conflict, "model", "pool %q has license transactions recorded as %s: the license model cannot change", p.Name, p.Model)
		}
		p.Spec = spec
		p.Updated = now
		if err := savePool(ctx, tx, rec, p); err != nil {
			return err
		}
		out = p
		return appendEvent(ctx, tx, a, now, EventUpdated, p.ID, 0, map[string]any{"name": p.Name})
	})
	if err != nil {
		return nil, err
	}
	return view(out, a, now), nil
}

func (s *Service) setStatus(ctx context.Context, a license.Actor, id string, to Status, typ eventlog.Type) (*Pool, error) {
	if err := checkEditor(a); err != nil {
		return nil, err
	}
	if err := checkPoolID(id); err != nil {
		return nil, err
	}
	now := s.now()
	var out *Pool
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		p, rec, err := loadPool(ctx, tx, a.Company, id, true)
		if err != nil {
			return err
		}
		if err := transition(p.Status, to); err != nil {
			return err
		}
		if to == StatusRetired {
			if held := p.AllocatedAuto + p.AllocatedManual + p.Leases; held > 0 {
				return license.Errorf(license.Conflict, "status", "pool %q still has %d allocated license(s) or lease(s): release them before retiring the pool", p.Name, held)
			}
		}
		p.Status = to
		p.Updated = now
		if err := savePool(ctx, tx, rec, p); err != nil {
			return err
		}
		out = p
		return appendEvent(ctx, tx, a, now, typ, p.ID, 0, map[string]any{"name": p.Name})
	})
	if err != nil {
		return nil, err
	}
	return view(out, a, now), nil
}

// Close closes an active pool: it stays viewable and keeps its allocations but
// refuses new ones. Appends pool.closed.
//
// Errors: Invalid, NotFound, Forbidden, Conflict (not active).
func (s *Service) Close(ctx context.Context, a license.Actor, id string) (*Pool, error) {
	return s.setStatus(ctx, a, id, StatusClosed, EventClosed)
}

// Retire removes an active or closed pool from use and from default listings.
// Its records stay (nothing is deleted). Appends pool.retired.
//
// Errors: Invalid, NotFound, Forbidden, Conflict (already retired, or
// allocations/leases still held).
func (s *Service) Retire(ctx context.Context, a license.Actor, id string) (*Pool, error) {
	return s.setStatus(ctx, a, id, StatusRetired, EventRetired)
}

// Get returns pool id. Unit prices are omitted for roles that may not see them.
//
// Errors: Invalid, NotFound.
func (s *Service) Get(ctx context.Context, a license.Actor, id string) (*Pool, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	if err := checkPoolID(id); err != nil {
		return nil, err
	}
	now := s.now()
	var out *Pool
	err := s.viewAs(ctx, &a, func(tx storage.Tx) error {
		p, _, err := loadPool(ctx, tx, a.Company, id, false)
		out = p
		return err
	})
	if err != nil {
		return nil, err
	}
	return view(out, a, now), nil
}

// ListOptions selects pools.
type ListOptions struct {
	IncludeRetired bool   // retired pools are left out unless set
	Software       string // when set, only pools granting this software
}

// List returns the company's pools in creation order, without retired ones
// unless opts.IncludeRetired.
//
// Errors: Invalid.
func (s *Service) List(ctx context.Context, a license.Actor, opts ListOptions) ([]*Pool, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	now := s.now()
	var out []*Pool
	err := s.viewAs(ctx, &a, func(tx storage.Tx) error {
		ps, err := storage.ListOf[Pool](ctx, tx, storage.ListQuery{Company: a.Company, Kind: KindPool})
		if err != nil {
			return err
		}
		for i := range ps {
			p := &ps[i]
			if p.Status == StatusRetired && !opts.IncludeRetired {
				continue
			}
			if opts.Software != "" && !p.Grants(opts.Software) {
				continue
			}
			out = append(out, view(p, a, now))
		}
		return nil
	})
	return out, err
}

// TransactionInput is a license transaction to record (purchase, rental period,
// maintenance or upgrade; reassigns go through Reassign).
type TransactionInput struct {
	Kind        TxKind
	Count       int64          // licenses; required for purchase, rental period and upgrade
	UnitPrice   *license.Money // optional; never negative
	Date        time.Time      // order date; zero means now
	Period      license.Period // rental period (bounded) or maintenance period
	OrderNumber string
	Note        string
	// IdempotencyKey: see the license package (Idempotency).
	IdempotencyKey string
}

func (in TransactionInput) validate(p *Pool) error {
	switch in.Kind {
	case TxPurchase:
		if p.Model != license.Perpetual {
			return license.Errorf(license.Invalid, "kind", "pool %q is a rental pool: record rental periods, not purchases", p.Name)
		}
	case TxRentalPeriod:
		if p.Model != license.Rental {
			return license.Errorf(license.Invalid, "kind", "pool %q is a perpetual pool: record purchases, not rental periods", p.Name)
		}
	case TxMaintenance, TxUpgrade:
	case TxReassignIn, TxReassignOut:
		return license.Errorf(license.Invalid, "kind", "reassign licenses with Reassign")
	default:
		return license.Errorf(license.Invalid, "kind", "unknown transaction kind %q: use purchase, rental_period, maintenance or upgrade", in.Kind)
	}
	min := int64(1)
	if in.Kind == TxMaintenance {
		min = 0
	}
	if in.Count < min || in.Count > MaxCount {
		return license.Errorf(license.Invalid, "count", "count must be between %d and %d", min, MaxCount)
	}
	if in.Kind == TxRentalPeriod || in.Kind == TxMaintenance {
		if err := in.Period.Check("period"); err != nil {
			return err
		}
		if in.Period.End.IsZero() {
			return license.Errorf(license.Invalid, "period", "a %s needs an end date", in.Kind)
		}
	} else if !in.Period.Start.IsZero() || !in.Period.End.IsZero() {
		return license.Errorf(license.Invalid, "period", "a %s has no period", in.Kind)
	}
	if in.UnitPrice != nil {
		if err := in.UnitPrice.Check("unit_price"); err != nil {
			return err
		}
		if in.UnitPrice.Amount.IsNegative() {
			return license.Errorf(license.Invalid, "unit_price", "unit price cannot be negative")
		}
	}
	if err := checkText("order_number", in.OrderNumber, MaxTextLength); err != nil {
		return err
	}
	return checkText("note", in.Note, MaxTextLength)
}

// canonicalPrice returns a copy of price in its canonical form (see
// license.Money.Canonical), nil for nil.
func canonicalPrice(price *license.Money) *license.Money {
	if price == nil {
		return nil
	}
	c := price.Canonical()
	return &c
}

var txEvents = map[TxKind]eventlog.Type{
	TxPurchase: EventPurchase, TxRentalPeriod: EventRentalPeriod, TxMaintenance: EventMaintenance, TxUpgrade: EventUpgrade,
}

// AddTransaction records a purchase (perpetual pools), rental period (rental
// pools), maintenance or upgrade. Purchases count toward the total from their
// date; rental periods while they run. Appends pool.purchase, pool.rental_period,
// pool.maintenance or pool.upgrade. The returned unit price is omitted for roles
// that may not see prices.
//
// Errors: Invalid (kind, count, period, unit_price, order_number, note),
// NotFound, Forbidden, Conflict (pool not active; idempotency key reused).
func (s *Service) AddTransaction(ctx context.Context, a license.Actor, poolID string, in TransactionInput) (Transaction, error) {
	if err := checkEditor(a); err != nil {
		return Transaction{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Transaction{}, err
	}
	now := s.now()
	var out Transaction
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		var err error
		out, err = storage.Idempotent(ctx, tx, a.Company, "pool.transaction:"+poolID, in.IdempotencyKey, in, now, func() (Transaction, error) {
			p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
			if err != nil {
				return Transaction{}, err
			}
			if p.Status != StatusActive {
				return Transaction{}, license.Errorf(license.Conflict, "status", "pool %q is %s: no new transactions", p.Name, p.Status)
			}
			if err := in.validate(p); err != nil {
				return Transaction{}, err
			}
			t := Transaction{
				ID: license.NewID(), Kind: in.Kind, Date: in.Date.UTC(), Period: in.Period.UTC(), Count: in.Count,
				UnitPrice: canonicalPrice(in.UnitPrice), OrderNumber: strings.TrimSpace(in.OrderNumber), Note: strings.TrimSpace(in.Note),
				Actor: a.Email, Recorded: now,
			}
			if in.Date.IsZero() {
				t.Date = now
			}
			p.Transactions = append(p.Transactions, t)
			p.Updated = now
			if err := savePool(ctx, tx, rec, p); err != nil {
				return Transaction{}, err
			}
			return t, appendEvent(ctx, tx, a, now, txEvents[in.Kind], p.ID, t.Count, map[string]any{"transaction": t.ID, "order_number": t.OrderNumber})
		})
		return err
	})
	if err != nil {
		return Transaction{}, err
	}
	return viewTx(out, a, now), nil
}

// ReassignRequest asks to move Count available licenses to pool To.
type ReassignRequest struct {
	To    string // target pool ID
	Count int64  // 1..MaxCount
	// IdempotencyKey: see the license package (Idempotency).
	IdempotencyKey string
}

// Reassignment is the pair of transactions of one reassign.
type Reassignment struct {
	Out Transaction `json:"out"` // in the source pool
	In  Transaction `json:"in"`  // in the target pool
}

// Reassign moves count licenses from pool from to pool to (same company, both
// perpetual and active). Only available licenses move; the sum of both totals is
// unchanged. Both sides are recorded as transactions and one pool.reassign event
// names source and target.
//
// A retry with the same IdempotencyKey returns the first result and moves
// nothing more.
//
// Errors: Invalid (pool, target, count), NotFound, Forbidden, Conflict (same
// pool, rental or inactive pool, idempotency key reused), InsufficientLicenses
// or Quarantined (not enough available in the source).
func (s *Service) Reassign(ctx context.Context, a license.Actor, from string, r ReassignRequest) (Reassignment, error) {
	to, count, key := r.To, r.Count, r.IdempotencyKey
	if err := checkEditor(a); err != nil {
		return Reassignment{}, err
	}
	if err := checkPoolID(from); err != nil {
		return Reassignment{}, err
	}
	if err := license.CheckID("target", to); err != nil {
		return Reassignment{}, err
	}
	if from == to {
		return Reassignment{}, license.Errorf(license.Invalid, "target", "cannot reassign licenses to the same pool")
	}
	if count < 1 || count > MaxCount {
		return Reassignment{}, license.Errorf(license.Invalid, "count", "count must be between 1 and %d", MaxCount)
	}
	now := s.now()
	var out Reassignment
	req := struct {
		From, To string
		Count    int64
	}{from, to, count}
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		var err error
		out, err = storage.Idempotent(ctx, tx, a.Company, "pool.reassign", key, req, now, func() (Reassignment, error) {
			return reassignIn(ctx, tx, a, from, to, count, now)
		})
		return err
	})
	return out, err
}

func reassignIn(ctx context.Context, tx storage.Tx, a license.Actor, from, to string, count int64, now time.Time) (Reassignment, error) {
	var out Reassignment
	err := func() error {
		// Lock in ID order so two opposite reassigns cannot deadlock.
		first, second := from, to
		if second < first {
			first, second = second, first
		}
		pools := map[string]*Pool{}
		recs := map[string]storage.Record{}
		for _, id := range []string{first, second} {
			p, rec, err := loadPool(ctx, tx, a.Company, id, true)
			if err != nil {
				if id == to && license.ErrorCode(err) == license.NotFound {
					return license.Errorf(license.NotFound, "target", "no target pool with id %q", to)
				}
				return err
			}
			pools[id], recs[id] = p, rec
		}
		src, dst := pools[from], pools[to]
		for _, p := range []*Pool{src, dst} {
			if p.Status != StatusActive {
				return license.Errorf(license.Conflict, "status", "pool %q is %s: licenses cannot be reassigned", p.Name, p.Status)
			}
			if p.Model != license.Perpetual {
				return license.Errorf(license.Conflict, "model", "pool %q is a rental pool: only perpetual licenses can be reassigned", p.Name)
			}
		}
		c, err := countsAt(ctx, tx, src, now)
		if err != nil {
			return err
		}
		if err := CheckCapacity(c, count); err != nil {
			return err
		}
		out.Out = Transaction{ID: license.NewID(), Kind: TxReassignOut, Date: now, Count: count, Counterpart: to, Actor: a.Email, Recorded: now}
		out.In = Transaction{ID: license.NewID(), Kind: TxReassignIn, Date: now, Count: count, Counterpart: from, Actor: a.Email, Recorded: now}
		src.Transactions = append(src.Transactions, out.Out)
		dst.Transactions = append(dst.Transactions, out.In)
		src.Updated, dst.Updated = now, now
		if err := storage.Save(ctx, tx, recs[from], src); err != nil {
			return err
		}
		if err := storage.Save(ctx, tx, recs[to], dst); err != nil {
			return err
		}
		_, err = tx.AppendEvent(ctx, eventlog.Event{
			ID: license.NewID(), Company: a.Company, Time: now, Type: EventReassign, Source: from, Target: to,
			Count: count, Actor: a.Email, Subject: from,
			Details: mustJSON(map[string]any{"out": out.Out.ID, "in": out.In.ID}),
		})
		return err
	}()
	return out, err
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// AttachmentInput is a file to attach to a pool.
type AttachmentInput struct {
	Name        string // required, ≤250 characters
	ContentType string // e.g. "application/pdf"; ≤250 characters
	Data        []byte // at most MaxAttachmentSize bytes (or the BlobStore's limit)
}

// AddAttachment stores the bytes in the BlobStore and the attachment's name,
// type and size on the pool. Appends pool.attachment_added.
//
// Errors: Invalid (name, content_type, attachment: too large or too many),
// NotFound, Forbidden, Conflict (retired pool), Unavailable (no BlobStore).
func (s *Service) AddAttachment(ctx context.Context, a license.Actor, poolID string, in AttachmentInput) (Attachment, error) {
	if err := checkEditor(a); err != nil {
		return Attachment{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Attachment{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return Attachment{}, license.Errorf(license.Invalid, "name", "the attachment's name is required")
	}
	if err := checkText("name", in.Name, MaxNameLength); err != nil {
		return Attachment{}, err
	}
	if in.ContentType == "" {
		in.ContentType = "application/octet-stream"
	}
	if err := checkText("content_type", in.ContentType, MaxTextLength); err != nil {
		return Attachment{}, err
	}
	if len(in.Data) > MaxAttachmentSize {
		return Attachment{}, license.Errorf(license.Invalid, "attachment", "the attachment is %d bytes; the limit is %d bytes", len(in.Data), MaxAttachmentSize)
	}
	if s.Blobs == nil {
		return Attachment{}, license.Errorf(license.Unavailable, "attachment", "attachments are not configured (no blob store)")
	}
	now := s.now()
	att := Attachment{ID: license.NewID(), Name: in.Name, ContentType: in.ContentType, Size: int64(len(in.Data)), Added: now, AddedBy: a.Email}
	key := blobKey(a.Company, poolID, att.ID)
	if err := s.Blobs.Put(ctx, key, in.Data); err != nil {
		return Attachment{}, err
	}
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		p, rec, err := loadLivePool(ctx, tx, a.Company, poolID)
		if err != nil {
			return err
		}
		if len(p.Attachments) >= MaxAttachments {
			return license.Errorf(license.Invalid, "attachment", "a pool may have at most %d attachments", MaxAttachments)
		}
		p.Attachments = append(p.Attachments, att)
		p.Updated = now
		if err := savePool(ctx, tx, rec, p); err != nil {
			return err
		}
		return appendEvent(ctx, tx, a, now, EventAttachmentAdded, p.ID, 0, map[string]any{"attachment": att.ID, "name": att.Name, "size": att.Size})
	})
	if err != nil {
		_ = s.Blobs.Delete(ctx, key) // best effort: the pool never referenced it
		return Attachment{}, err
	}
	return att, nil
}

func blobKey(company, poolID, attID string) string { return company + "/pool/" + poolID + "/" + attID }

// Attachment returns the attachment's description and bytes.
//
// Errors: Invalid, NotFound (pool or attachment), Unavailable (no BlobStore).
func (s *Service) Attachment(ctx context.Context, a license.Actor, poolID, attID string) (Attachment, []byte, error) {
	p, err := s.Get(ctx, a, poolID)
	if err != nil {
		return Attachment{}, nil, err
	}
	for _, att := range p.Attachments {
		if att.ID == attID {
			if s.Blobs == nil {
				return Attachment{}, nil, license.Errorf(license.Unavailable, "attachment", "attachments are not configured (no blob store)")
			}
			b, err := s.Blobs.Get(ctx, blobKey(a.Company, poolID, attID))
			return att, b, err
		}
	}
	return Attachment{}, nil, license.Errorf(license.NotFound, "attachment", "pool has no attachment %q", attID)
}

// RemoveAttachment removes the attachment from the pool, then its bytes.
// Appends pool.attachment_removed.
//
// Errors: Invalid, NotFound (pool or attachment), Forbidden.
func (s *Service) RemoveAttachment(ctx context.Context, a license.Actor, poolID, attID string) error {
	if err := checkEditor(a); err != nil {
		return err
	}
	if err := checkPoolID(poolID); err != nil {
		return err
	}
	now := s.now()
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		p, rec, err := loadPool(ctx, tx, a.Company, poolID, true)
		if err != nil {
			return err
		}
		idx := -1
		for i, att := range p.Attachments {
			if att.ID == attID {
				idx = i
			}
		}
		if idx < 0 {
			return license.Errorf(license.NotFound, "attachment", "pool has no attachment %q", attID)
		}
		att := p.Attachments[idx]
		p.Attachments = append(p.Attachments[:idx:idx], p.Attachments[idx+1:]...)
		p.Updated = now
		if err := savePool(ctx, tx, rec, p); err != nil {
			return err
		}
		return appendEvent(ctx, tx, a, now, EventAttachmentRemoved, p.ID, 0, map[string]any{"attachment": att.ID, "name": att.Name})
	})
	if err != nil {
		return err
	}
	if s.Blobs != nil {
		_ = s.Blobs.Delete(ctx, blobKey(a.Company, poolID, attID))
	}
	return nil
}

// CommentRequest is a comment to add to a pool.
type CommentRequest struct {
	Text string // 1..MaxComment bytes after trimming
	// IdempotencyKey: see the license package (Idempotency). A retry adds no
	// second comment.
	IdempotencyKey string
}

// AddComment adds a comment to the pool. Appends pool.comment_added.
//
// Errors: Invalid (text empty or longer than MaxComment), NotFound, Forbidden,
// Conflict (retired pool, idempotency key reused).
func (s *Service) AddComment(ctx context.Context, a license.Actor, poolID string, req CommentRequest) (Comment, error) {
	text, idempotencyKey := req.Text, req.IdempotencyKey
	if err := checkEditor(a); err != nil {
		return Comment{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Comment{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) {
		return Comment{}, license.Errorf(license.Invalid, "comment", "the comment is empty")
	}
	if err := license.CheckText("comment", text, MaxComment); err != nil {
		return Comment{}, err
	}
	now := s.now()
	var out Comment
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		var err error
		out, err = storage.Idempotent(ctx, tx, a.Company, "pool.comment", idempotencyKey, map[string]string{"pool": poolID, "text": text}, now, func() (Comment, error) {
			return addCommentIn(ctx, tx, a, poolID, text, now)
		})
		return err
	})
	if err != nil {
		return Comment{}, err
	}
	return out, nil
}

func addCommentIn(ctx context.Context, tx storage.Tx, a license.Actor, poolID, text string, now time.Time) (Comment, error) {
	p, rec, err := loadLivePool(ctx, tx, a.Company, poolID)
	if err != nil {
		return Comment{}, err
	}
	if len(p.Comments) >= MaxComments {
		return Comment{}, license.Errorf(license.Invalid, "comment", "a pool may have at most %d comments", MaxComments)
	}
	c := Comment{ID: license.NewID(), Time: now, Author: a.Email, Text: text}
	p.Comments = append(p.Comments, c)
	p.Updated = now
	if err := savePool(ctx, tx, rec, p); err != nil {
		return Comment{}, err
	}
	return c, appendEvent(ctx, tx, a, now, EventCommentAdded, p.ID, 0, map[string]any{"comment": c.ID})
}

// Pane is the item status pane of a pool at a moment.
type Pane struct {
	Pool   string    `json:"pool"`
	At     time.Time `json:"at"`
	Counts Counts    `json:"counts"`
	// PerMonth is the total purchased per month (chart data).
	PerMonth []MonthTotal `json:"per_month"`
}

// Status returns the status pane of pool id now: total, quarantined,
// available, allocated automatically and manually (shortfall separately), and
// the purchases per month.
//
// Errors: Invalid, NotFound.
func (s *Service) Status(ctx context.Context, a license.Actor, id string) (Pane, error) {
	if err := a.Check(); err != nil {
		return Pane{}, err
	}
	if err := checkPoolID(id); err != nil {
		return Pane{}, err
	}
	now := s.now()
	var out Pane
	err := s.viewAs(ctx, &a, func(tx storage.Tx) error {
		p, _, err := loadPool(ctx, tx, a.Company, id, false)
		if err != nil {
			return err
		}
		c, err := countsAt(ctx, tx, p, now)
		if err != nil {
			return err
		}
		out = Pane{Pool: p.ID, At: now, Counts: c, PerMonth: PurchasedPerMonth(p.Transactions, now)}
		return nil
	})
	return out, err
}

// countsAt computes the counts of p at now from its stored counters and live
// leases.
func countsAt(ctx context.Context, tx storage.Tx, p *Pool, now time.Time) (Counts, error) {
	live := p.Leases
	if !p.leasesLive(now) {
		live = 0
		ls, err := storage.ListOf[Lease](ctx, tx, storage.ListQuery{Company: p.Company, Kind: KindLease, Parent: p.ID})
		if err != nil {
			return Counts{}, err
		}
		for _, l := range ls {
			if l.Live(now) {
				live++
			}
		}
	}
	return ComputeCounts(TotalAt(p.Transactions, now), QuarantinedAt(p.Quarantine, now), p.AllocatedAuto, p.AllocatedManual, live), nil
}

// Tally is what a pool holds, counted either from its stored counters or from
// its allocation and lease records.
type Tally struct {
	AllocatedAuto   int64 `json:"allocated_auto"`
	AllocatedManual int64 `json:"allocated_manual"`
	Leases          int64 `json:"leases"`
}

// Audit compares a pool's stored counters with a recount of its records.
type Audit struct {
	Stored     Tally  `json:"stored"`
	Recomputed Tally  `json:"recomputed"`
	Counts     Counts `json:"counts"` // status counts now, from the records
}

// Consistent reports whether the stored counters equal the recount.
func (a Audit) Consistent() bool { return a.Stored == a.Recomputed }

// Recount recomputes a pool's tally from its allocation and lease records. It is pure.
func Recount(allocs []Allocation, leases []Lease) Tally {
	var t Tally
	for _, al := range allocs {
		if al.Automatic {
			t.AllocatedAuto += al.Units
		} else {
			t.AllocatedManual += al.Units
		}
	}
	t.Leases = int64(len(leases))
	return t
}

// Audit recounts pool id from its records and compares with the stored counters.
//
// Errors: Invalid, NotFound.
func (s *Service) Audit(ctx context.Context, a license.Actor, id string) (Audit, error) {
	if err := a.Check(); err != nil {
		return Audit{}, err
	}
	if err := checkPoolID(id); err != nil {
		return Audit{}, err
	}
	now := s.now()
	var out Audit
	err := s.viewAs(ctx, &a, func(tx storage.Tx) error {
		p, _, err := loadPool(ctx, tx, a.Company, id, false)
		if err != nil {
			return err
		}
		allocs, err := storage.ListOf[Allocation](ctx, tx, storage.ListQuery{Company: a.Company, Kind: KindAllocation, Parent: id})
		if err != nil {
			return err
		}
		leases, err := storage.ListOf[Lease](ctx, tx, storage.ListQuery{Company: a.Company, Kind: KindLease, Parent: id})
		if err != nil {
			return err
		}
		out.Stored = Tally{AllocatedAuto: p.AllocatedAuto, AllocatedManual: p.AllocatedManual, Leases: p.Leases}
		out.Recomputed = Recount(allocs, leases)
		var live int64
		for _, l := range leases {
			if l.Live(now) {
				live++
			}
		}
		out.Counts = ComputeCounts(TotalAt(p.Transactions, now), QuarantinedAt(p.Quarantine, now), out.Recomputed.AllocatedAuto, out.Recomputed.AllocatedManual, live)
		return nil
	})
	return out, err
}

// isCode reports whether err carries code.
func isCode(err error, code license.Code) bool {
	var le *license.Error
	return errors.As(err, &le) && le.Code == code
}
