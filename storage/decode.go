package storage

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/licensekit/licensekit/license"
)

// Decoding once.
//
// Load and ListOf decode a record's JSON document into a Go value. The hot
// paths load the same few records over and over (a pool's record on every
// lease, an API key and a membership on every request), and decoding is most
// of their CPU. So the decoded values are kept in a bounded cache, keyed by the
// Go type, the company, the kind, the ID and the version of the record, and a
// hit is checked against the document itself: an entry serves only a record
// whose bytes are exactly those it was decoded from. A deleted and re-inserted
// record starts at version 1 again, so the version alone would not do; the
// bytes compare makes the cache exact whatever a store does with versions,
// and the tenant in the key keeps one company's entries apart from another's.
//
// A hit returns a deep copy of the cached value (see cloneValue), so callers
// may change what Load gives them, as they could change a freshly decoded
// value, without touching the cache.

const (
	cacheShards     = 16
	cachePerShard   = 256       // entries per shard: 4,096 in all
	cacheMaxDoc     = 16 << 10  // documents larger than this are decoded every time
	cacheShardBytes = 512 << 10 // bytes of documents per shard: 8 MiB in all
)

type cacheKey struct {
	typ     reflect.Type
	company string
	kind    Kind
	id      string
	version int64
}

type cacheEntry struct {
	data []byte // the document the value was decoded from (a private copy)
	v    any    // the decoded value, a T; never handed out, only copies of it
}

type cacheShard struct {
	mu    sync.Mutex
	m     map[cacheKey]cacheEntry
	bytes int
}

var (
	decoded    [cacheShards]cacheShard
	cacheSeed  = maphash.MakeSeed()
	cacheHits  atomic.Int64
	cacheMiss  atomic.Int64
	cacheInUse = true
)

func (k *cacheKey) shard() *cacheShard {
	var h maphash.Hash
	h.SetSeed(cacheSeed)
	h.WriteString(k.company)
	h.WriteString(string(k.kind))
	h.WriteString(k.id)
	return &decoded[h.Sum64()%cacheShards]
}

// decodeRecord decodes r.Data into a T, through the cache.
func decodeRecord[T any](r Record) (T, error) {
	var v T
	if !cacheInUse || len(r.Data) > cacheMaxDoc || !clonable(reflect.TypeFor[T]()) {
		err := json.Unmarshal(r.Data, &v)
		return v, err
	}
	k := cacheKey{typ: reflect.TypeFor[T](), company: r.Company, kind: r.Kind, id: r.ID, version: r.Version}
	sh := k.shard()
	sh.mu.Lock()
	e, ok := sh.m[k]
	sh.mu.Unlock()
	if ok && bytes.Equal(e.data, r.Data) {
		cacheHits.Add(1)
		return cloneValue(e.v.(T)), nil
	}
	cacheMiss.Add(1)
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return v, err
	}
	e = cacheEntry{data: bytes.Clone(r.Data), v: cloneValue(v)}
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[cacheKey]cacheEntry, cachePerShard)
	}
	if old, ok := sh.m[k]; ok {
		sh.bytes -= len(old.data)
		delete(sh.m, k)
	}
	// Evict arbitrary entries (Go's map order) until the new one fits.
	for evict := range sh.m {
		if len(sh.m) < cachePerShard && sh.bytes+len(e.data) <= cacheShardBytes {
			break
		}
		sh.bytes -= len(sh.m[evict].data)
		delete(sh.m, evict)
	}
	sh.m[k] = e
	sh.bytes += len(e.data)
	sh.mu.Unlock()
	return v, nil
}

// cacheSize returns the entries and document bytes the cache holds.
func cacheSize() (entries, size int) {
	for i := range decoded {
		sh := &decoded[i]
		sh.mu.Lock()
		entries += len(sh.m)
		size += sh.bytes
		sh.mu.Unlock()
	}
	return entries, size
}

// decode wraps decodeRecord's error the way Load always has.
func decode[T any](r Record) (T, error) {
	v, err := decodeRecord[T](r)
	if err != nil {
		return v, license.Wrap(license.Internal, err, "storage: decode %s %s", r.Kind, r.ID)
	}
	return v, nil
}

// cloneValue returns a deep copy of v as far as JSON decoding could have
// built it: every slice, map, pointer and interface reachable through
// exported fields is copied; unexported fields (time.Time's location, a
// decimal's big.Int, which their packages never change in place) are shared.
func cloneValue[T any](v T) T {
	t := reflect.TypeFor[T]()
	if !hasRefs(t) {
		return v
	}
	out := reflect.New(t).Elem()
	copyValue(out, reflect.ValueOf(&v).Elem())
	return out.Interface().(T)
}

var refsOf, clonableOf sync.Map // reflect.Type → bool

// clonable reports whether copyValue can copy every value of t that JSON
// decoding may build: not when an unexported embedded struct (whose exported
// fields JSON fills, but reflection may not set) holds references.
func clonable(t reflect.Type) bool {
	if r, ok := clonableOf.Load(t); ok {
		return r.(bool)
	}
	clonableOf.Store(t, true) // recursive types: decided by their other fields
	r := true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		r = clonable(t.Elem())
	case reflect.Map:
		r = clonable(t.Key()) && clonable(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && f.Anonymous && hasRefs(f.Type) || f.IsExported() && !clonable(f.Type) {
				r = false
				break
			}
		}
	}
	clonableOf.Store(t, r)
	return r
}

// hasRefs reports whether a value of t may reach shared memory through its
// exported fields (or elements).
func hasRefs(t reflect.Type) bool {
	if r, ok := refsOf.Load(t); ok {
		return r.(bool)
	}
	refsOf.Store(t, true) // recursive types: assume so while looking
	r := false
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		r = true
	case reflect.Array:
		r = hasRefs(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && hasRefs(f.Type) {
				r = true
				break
			}
		}
	}
	refsOf.Store(t, r)
	return r
}

// copyValue sets dst (settable) to a deep copy of src.
func copyValue(dst, src reflect.Value) {
	t := src.Type()
	if !hasRefs(t) {
		dst.Set(src)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(t.Elem())
		copyValue(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		s := reflect.MakeSlice(t, src.Len(), src.Len())
		if hasRefs(t.Elem()) {
			for i := range src.Len() {
				copyValue(s.Index(i), src.Index(i))
			}
		} else {
			reflect.Copy(s, src)
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(t, src.Len())
		it := src.MapRange()
		for it.Next() {
			k := reflect.New(t.Key()).Elem()
			copyValue(k, it.Key())
			e := reflect.New(t.Elem()).Elem()
			copyValue(e, it.Value())
			m.SetMapIndex(k, e)
		}
		dst.Set(m)
	case reflect.Interface:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		e := reflect.New(src.Elem().Type()).Elem()
		copyValue(e, src.Elem())
		dst.Set(e)
	case reflect.Array:
		for i := range src.Len() {
			copyValue(dst.Index(i), src.Index(i))
		}
	case reflect.Struct:
		dst.Set(src) // unexported fields shared (see cloneValue)
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && hasRefs(f.Type) {
				copyValue(dst.Field(i), src.Field(i))
			}
		}
	default:
		dst.Set(src)
	}
}
