package storage

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
)

// Kind names a record type ("pool", "allocation", "site", ...). Each domain
// package declares its kinds; stores treat them as opaque strings of at most 64
// bytes.
type Kind string

// Record is one stored document.
type Record struct {
	Company string // tenant; required. SystemCompany for records that belong to no tenant.
	Kind    Kind   // required
	ID      string // required; unique within (Company, Kind)
	// Parent is the ID of the record this one belongs to ("" for none); List can
	// select by it.
	Parent string
	// Unique, when not empty, must be unique within (Company, Kind): Put returns a
	// conflict error naming field "unique" otherwise. GetByUnique finds by it.
	Unique string
	// Data is the JSON document. Stores keep it byte-for-byte.
	Data []byte
	// Version is assigned by the store: 1 on insert, +1 on each Put. It is
	// informational (stores lock rather than compare versions).
	Version int64

	// encoded is Data as Save encoded it with encoding/json, whose output is
	// valid JSON: CheckRecord need not scan it again while Data is still that
	// very slice.
	encoded []byte
}

// SystemCompany is the Company of records that belong to licensekit itself
// rather than to a tenant (API keys, which are looked up before the tenant is known).
const SystemCompany = "_system"

// Store opens transactions. Implementations are safe for concurrent use.
type Store interface {
	// Update runs fn in a read-write transaction and commits if fn returns nil;
	// otherwise it rolls back and returns fn's error. A store may run fn more than
	// once when the database asks for a retry (serialization failure, deadlock,
	// busy), so fn must have no effects outside tx. Writes from concurrent Updates
	// never interleave on records loaded with GetForUpdate.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction over a consistent snapshot.
	// Writes in a View return an error.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Ping reports whether the store can be reached (readiness).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Tx is one transaction. A Tx must not be used after its function returns, nor
// from more than one goroutine at a time.
//
// Errors: a missing record is a *license.Error with code NotFound; a Unique clash
// is Conflict with field "unique"; a database that cannot be reached is
// Unavailable; anything else is Internal.
type Tx interface {
	// Get returns the record (company, kind, id).
	Get(ctx context.Context, company string, kind Kind, id string) (Record, error)
	// GetForUpdate is Get that also locks the record until the transaction ends:
	// a concurrent GetForUpdate of the same record waits. Read-modify-write of
	// counts must start here.
	GetForUpdate(ctx context.Context, company string, kind Kind, id string) (Record, error)
	// GetByUnique returns the record of (company, kind) whose Unique is unique.
	GetByUnique(ctx context.Context, company string, kind Kind, unique string) (Record, error)
	// List returns records ordered by ID (ascending).
	List(ctx context.Context, q ListQuery) ([]Record, error)
	// Put inserts or replaces the record (company, kind, id).
	Put(ctx context.Context, r Record) error
	// Insert adds the record and fails with Conflict (field "id") when
	// (company, kind, id) already exists. In PostgreSQL a concurrent Insert of the
	// same key waits for the first transaction and then fails.
	Insert(ctx context.Context, r Record) error
	// Delete removes the record; deleting a missing record is NotFound.
	Delete(ctx context.Context, company string, kind Kind, id string) error
	// AppendEvent adds e to the log and returns its Seq. e.Company, e.ID, e.Type
	// and e.Time are required.
	AppendEvent(ctx context.Context, e eventlog.Event) (int64, error)
	// Events calls fn for each event selected by f, in f's order, streaming (an
	// implementation must not load all matching events into memory at once when
	// Limit is 0). fn returning an error stops the scan with that error.
	Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error
	// CountEvents returns how many events f selects (After and Limit ignored).
	CountEvents(ctx context.Context, f eventlog.Filter) (int64, error)
}

// ListQuery selects records of one kind.
type ListQuery struct {
	Company string // required unless AllCompanies
	Kind    Kind   // required
	// AllCompanies lists across every tenant. Only background jobs (the
	// subscription tick, the notification dispatcher) may use it; never with
	// user input.
	AllCompanies bool
	Parent       string // when set, only records with this Parent
	AfterID      string // when set, only IDs > AfterID (paging)
	Limit        int    // 0 means no limit
}

// Errors shared by stores.
var (
	// ErrReadOnly is returned by writes inside View.
	ErrReadOnly = &license.Error{Code: license.Internal, Message: "write in a read-only transaction"}
)

// NotFound returns the error stores give for a missing record.
func NotFound(kind Kind, id string) error {
	// Built without fmt (the same text as "no %s with id %q"): a miss is a
	// common answer (an actor with no member record, an idempotency key
	// used for the first time), not an exceptional one.
	return &license.Error{Code: license.NotFound, Field: "id", Message: "no " + string(kind) + " with id " + strconv.Quote(id)}
}

// Exists returns the error Insert gives for an existing (company, kind, id).
func Exists(kind Kind, id string) error {
	return license.Errorf(license.Conflict, "id", "a %s with id %q already exists", kind, id)
}

// UniqueConflict returns the error stores give for a Unique clash.
func UniqueConflict(kind Kind, unique string) error {
	return license.Errorf(license.Conflict, "unique", "a %s named %q already exists", kind, unique)
}

// encodedData reports whether r.Data is the slice Save encoded.
func (r *Record) encodedData() bool {
	return len(r.Data) > 0 && len(r.encoded) == len(r.Data) && &r.encoded[0] == &r.Data[0]
}

// CheckRecord validates the identifying fields of r before a Put.
func CheckRecord(r Record) error {
	switch {
	case r.Company == "":
		return license.Errorf(license.Internal, "company", "storage: record without company")
	case r.Kind == "" || len(r.Kind) > 64:
		return license.Errorf(license.Internal, "kind", "storage: record kind %q is empty or longer than 64 bytes", r.Kind)
	case r.ID == "":
		return license.Errorf(license.Internal, "id", "storage: record without id")
	case !r.encodedData() && !json.Valid(r.Data):
		return license.Errorf(license.Internal, "data", "storage: record %s/%s data is not valid JSON", r.Kind, r.ID)
	}
	return nil
}

// Load reads record (company, kind, id) into a value of type T, decoding its
// document only when this exact document was not decoded into a T recently
// (a bounded cache keyed by type, company, kind, ID and version, checked
// against the bytes; a hit returns a deep copy). From a store that holds
// values (ValueTx), a record SaveKept wrote as a T comes back as a copy of
// that value, and the Record returned has no Data. When ctx
// carries a Watch of the record (WithWatch), Load records its version and,
// loading for update, refuses a version other than the one expected.
func Load[T any](ctx context.Context, tx Tx, company string, kind Kind, id string, forUpdate bool) (T, Record, error) {
	return load[T](ctx, tx, company, kind, id, forUpdate, false)
}

// Peek is Load (not for update) for a caller that only reads the value: it
// skips the copy Load makes of a value served from the decode cache or held
// by the store, so the value returned may share its slices, maps and
// pointers with what other readers get. The caller must change nothing
// reachable from it, not even for a moment; copy what it would change. In
// test binaries (unless they run benchmarks) every read of a shared value
// checks that its JSON is still what it was when stored, and panics
// otherwise, so that the test exercising the offending caller fails.
func Peek[T any](ctx context.Context, tx Tx, company string, kind Kind, id string) (T, Record, error) {
	return load[T](ctx, tx, company, kind, id, false, true)
}

func load[T any](ctx context.Context, tx Tx, company string, kind Kind, id string, forUpdate, shared bool) (T, Record, error) {
	var v T
	var r Record
	var held *Value
	var err error
	switch vt, ok := tx.(ValueTx); {
	case ok:
		r, held, err = vt.GetValue(ctx, company, kind, id, forUpdate)
	case forUpdate:
		r, err = tx.GetForUpdate(ctx, company, kind, id)
	default:
		r, err = tx.Get(ctx, company, kind, id)
	}
	if err != nil {
		return v, r, err
	}
	if w := watchOf(ctx, kind, id); w != nil {
		if err := w.seen(r, forUpdate); err != nil {
			return v, r, err
		}
	}
	if held != nil {
		if v, ok := heldAs[T](held, shared); ok {
			return v, r, nil
		}
		// Held as another type: decode its document (shared bytes, which
		// decoding only reads; the Record returned keeps Data nil).
		doc, err := held.Document()
		if err != nil {
			return v, r, err
		}
		d := r
		d.Data = doc
		v, err = decode[T](d, shared)
		return v, r, err
	}
	v, err = decode[T](r, shared)
	return v, r, err
}

// Save marshals v as JSON into r.Data and puts r. When ctx carries a Watch
// of the record, Save records the version written.
func Save(ctx context.Context, tx Tx, r Record, v any) error {
	r, err := Encode(r, v)
	if err != nil {
		return err
	}
	return Put(ctx, tx, r)
}

// Encode returns r with v marshalled as JSON into its Data. A store's Put or
// Insert of the record returned skips checking that Data is valid JSON
// (CheckRecord): encoding/json wrote it.
func Encode(r Record, v any) (Record, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return r, license.Wrap(license.Internal, err, "storage: encode %s %s", r.Kind, r.ID)
	}
	r.Data, r.encoded = b, b
	return r, nil
}

// SaveKept is Save for a value that JSON gives back whole, and that is
// loaded again soon (a pool's record, written by every allocation and read by
// the next): the next Load of the record as a T is served from a copy of v
// instead of decoding the document again.
//
// The contract is the caller's: decoding the document that SaveKept writes
// into a zero T must give a value deeply equal to v. So v holds no unexported
// state and no fields JSON skips, no interface values, no times with a
// monotonic clock reading or a location other than UTC, no decimals with
// trailing zeros, and no empty but non-nil slices or maps where the field is
// omitted when empty. In test binaries (unless they run benchmarks) SaveKept
// checks the contract on every call and panics when it does not hold.
//
// A store that holds values (ValueTx) keeps a copy of v in place of the
// document and encodes it only when the record's bytes are read.
func SaveKept[T any](ctx context.Context, tx Tx, r Record, v T) error {
	if vt, ok := tx.(ValueTx); ok {
		if h := holdValue(r, v); h != nil {
			if err := vt.PutValue(ctx, r, h, false); err != nil {
				return err
			}
			return written(ctx, tx, r)
		}
	}
	r, err := Encode(r, v)
	if err != nil {
		return err
	}
	if err := Put(ctx, tx, r); err != nil {
		return err
	}
	keepSaved(r, v)
	return nil
}

// InsertKept is tx.Insert of v's JSON that, like SaveKept (whose contract it
// shares), serves the next Load of the new record as a T from a copy of v.
func InsertKept[T any](ctx context.Context, tx Tx, r Record, v T) error {
	if vt, ok := tx.(ValueTx); ok {
		if h := holdValue(r, v); h != nil {
			return vt.PutValue(ctx, r, h, true)
		}
	}
	r, err := Encode(r, v)
	if err != nil {
		return err
	}
	if err := tx.Insert(ctx, r); err != nil {
		return err
	}
	r.Version = 0 // an insert gives version 1
	keepSaved(r, v)
	return nil
}

// Put is tx.Put for domain code: when ctx carries a Watch of the record, it
// records the version written (see Watch). Write watched records through Put
// or Save, not tx.Put.
func Put(ctx context.Context, tx Tx, r Record) error {
	if err := tx.Put(ctx, r); err != nil {
		return err
	}
	return written(ctx, tx, r)
}

// written records, for a Watch of r in ctx, the version just written.
func written(ctx context.Context, tx Tx, r Record) error {
	if w := watchOf(ctx, r.Kind, r.ID); w != nil {
		return w.saved(ctx, tx, r)
	}
	return nil
}

// ListOf lists records of q and decodes each into T, in ID order. A Window
// in ctx (WithWindow) of q's kind narrows q to one page.
func ListOf[T any](ctx context.Context, tx Tx, q ListQuery) ([]T, error) {
	recs, err := tx.List(ctx, windowed(ctx, q))
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(recs))
	for _, r := range recs {
		v, err := decode[T](r, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// IsNotFound reports whether err is a NotFound license.Error.
func IsNotFound(err error) bool { return errors.Is(err, license.ErrNotFound) }

// Sealer is implemented by stores that may link committed events into the
// company's hash chain after the fact (PostgreSQL: an event appended while
// another transaction holds the company's chain head is linked by the next
// transaction that takes it, so that a company's writers never queue on it).
// Seal links every committed event of company that is not linked yet, waiting
// for the head if it must. SealPending does that for every company that has
// such events, skipping a company whose head another transaction holds (that
// transaction links them), and returns how many companies it sealed; a
// background loop calls it so that a company that went quiet after a burst
// has its whole log in the chain. Stores that link at append need not
// implement Sealer.
type Sealer interface {
	Seal(ctx context.Context, company string) error
	SealPending(ctx context.Context) (companies int, err error)
}

// VerifyChain links any events not yet in company's chain (when s is a
// Sealer) and then verifies the chain in a read transaction.
func VerifyChain(ctx context.Context, s Store, company string, now time.Time) (eventlog.Verification, error) {
	if sl, ok := s.(Sealer); ok {
		if err := sl.Seal(ctx, company); err != nil {
			return eventlog.Verification{}, err
		}
	}
	var v eventlog.Verification
	err := s.View(ctx, func(tx Tx) error {
		var err error
		v, err = eventlog.Verify(ctx, tx, company, now)
		return err
	})
	return v, err
}

// ViewList lists the records of q in a read transaction of s and decodes each
// into T, in ID order: the whole body of a service's plain listing call.
func ViewList[T any](ctx context.Context, s Store, q ListQuery) ([]T, error) {
	var out []T
	err := s.View(ctx, func(tx Tx) error {
		var err error
		out, err = ListOf[T](ctx, tx, q)
		return err
	})
	return out, err
}
