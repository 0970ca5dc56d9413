package storage

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"

	"github.com/licensekit/licensekit/license"
)

// Held values.
//
// A store that lives in the caller's process (the memory store) need not
// turn every record it is given into bytes: for a record written by SaveKept
// or InsertKept it may hold the Go value itself, and encode the document only
// the first time something reads the record's bytes. Load of such a record
// as the type it was saved as then copies the value instead of decoding
// anything, and a pool's record, written twice by every allocate and release
// pair, is never encoded on that path at all. Stores that write bytes to a
// disk (SQLite, PostgreSQL) do not implement ValueTx; SaveKept encodes for
// them as Save does.

// A Value is the Go value of a record, held by a store in place of its JSON
// document: a private deep copy, made by SaveKept or InsertKept, that nothing
// changes afterwards. Its document is what encoding/json makes of it, encoded
// on the first call of Document; by SaveKept's contract decoding that
// document gives the value back.
type Value struct {
	typ reflect.Type
	v   any

	once sync.Once
	doc  []byte
	err  error
	kind Kind
	id   string
	// check is the value's JSON when it was stored, in test binaries: every
	// read compares with it (see cacheEntry.check).
	check []byte
}

// Document returns the value's JSON document, encoding it on the first call.
// The bytes returned are shared: callers must not change them. Safe for
// concurrent use.
func (h *Value) Document() ([]byte, error) {
	h.once.Do(func() {
		h.doc, h.err = json.Marshal(h.v)
		if h.err != nil {
			h.err = license.Wrap(license.Internal, h.err, "storage: encode %s %s", h.kind, h.id)
		}
	})
	return h.doc, h.err
}

// ValueTx is implemented by the transactions of stores that hold values
// (see Value). SaveKept, InsertKept and Load use it when the transaction
// has it; domain code never calls it directly.
type ValueTx interface {
	Tx
	// PutValue is Put of r, or Insert when insert is true, with v as the
	// record's document (r.Data is ignored). Errors as Put's and Insert's.
	PutValue(ctx context.Context, r Record, v *Value, insert bool) error
	// GetValue is Get, or GetForUpdate when forUpdate is true, that also
	// returns the value the record holds, or nil when it holds a document.
	// When it returns a value the Record's Data is nil: the value is the
	// document.
	GetValue(ctx context.Context, company string, kind Kind, id string, forUpdate bool) (Record, *Value, error)
}

// CheckIdentity validates the identifying fields of r (company, kind, id):
// CheckRecord without the document.
func CheckIdentity(r Record) error {
	r.Data, r.encoded = []byte("{}"), nil
	return CheckRecord(r)
}

// holdValue returns a Value holding a copy of v, to be stored as r's
// document, or nil when values of T cannot be copied (the caller then
// encodes). In test binaries that run no benchmarks it checks SaveKept's
// contract first, as keepSaved does, and panics when it does not hold.
func holdValue[T any](r Record, v T) *Value {
	// The document is not encoded here (a check encodes apart): whatever
	// reads it first makes it, the path production takes.
	kept, check, ok := keptCopy(r, v, nil)
	if !ok {
		return nil
	}
	return &Value{typ: reflect.TypeFor[T](), v: kept, kind: r.Kind, id: r.ID, check: check}
}

// heldAs returns the value h holds when it is a T: a copy, or when shared
// (Peek) the value itself.
func heldAs[T any](h *Value, shared bool) (T, bool) {
	if h.typ != reflect.TypeFor[T]() {
		var zero T
		return zero, false
	}
	if h.check != nil {
		unchanged(h.v, h.check, h.kind, h.id)
	}
	if shared {
		return h.v.(T), true
	}
	return cloneValue(h.v.(T)), true
}
