package storage

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

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
	v    any    // the decoded value, a T; handed out as copies, or to Peek
	// check is v's JSON when the entry was stored, in test binaries (see
	// checkKept): every hit compares v's JSON with it, so that a caller of
	// Peek that changed the shared value fails the test that did it.
	check []byte
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

// decodeRecord decodes r.Data into a T, through the cache. A hit returns a
// copy of the cached value, or when shared (Peek) the cached value itself.
func decodeRecord[T any](r Record, shared bool) (T, error) {
	var v T
	if !cacheInUse || len(r.Data) > cacheMaxDoc || !copierOf(reflect.TypeFor[T]()).clonable {
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
		if e.check != nil {
			unchanged(e.v, e.check, r.Kind, r.ID)
		}
		if shared {
			return e.v.(T), nil
		}
		return cloneValue(e.v.(T)), nil
	}
	cacheMiss.Add(1)
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return v, err
	}
	e = cacheEntry{data: bytes.Clone(r.Data), v: cloneValue(v)}
	if checkKept() {
		e.check, _ = json.Marshal(e.v)
	}
	cacheStore(k, e)
	return v, nil
}

// unchanged panics when v's JSON is no longer check: a caller of Peek
// changed a value it shares with the store. Test binaries only.
func unchanged(v any, check []byte, kind Kind, id string) {
	if now, _ := json.Marshal(v); !bytes.Equal(now, check) {
		panic(fmt.Sprintf("storage: the %s %s handed out by Peek was changed by its caller: it was %s, it is %s", kind, id, check, now))
	}
}

// cacheStore puts e in the cache under k, evicting entries to make room.
func cacheStore(k cacheKey, e cacheEntry) {
	sh := k.shard()
	sh.mu.Lock()
	defer sh.mu.Unlock()
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
}

// keepSaved puts v, which SaveKept has just written as r.Data (r.Version
// being the version it replaced, 0 for a new record), in the cache under the
// version the store gives it. A store that numbers versions otherwise, or a
// transaction that rolls back, leaves an entry that never serves: a hit
// needs the stored document to be these very bytes, and by SaveKept's
// contract these bytes decode to v.
func keepSaved[T any](r Record, v T) {
	if !cacheInUse || len(r.Data) > cacheMaxDoc {
		return
	}
	kept, check, ok := keptCopy(r, v, r.Data)
	if !ok {
		return
	}
	k := cacheKey{typ: reflect.TypeFor[T](), company: r.Company, kind: r.Kind, id: r.ID, version: r.Version + 1}
	cacheStore(k, cacheEntry{data: bytes.Clone(r.Data), v: kept, check: check})
}

// keptCopy returns the copy of v that SaveKept keeps (empty omitempty lists
// nil, as decoding leaves them), or ok false when values of T cannot be
// copied. In test binaries that run no benchmarks (checkKept) it checks
// SaveKept's contract, that decoding doc (v's document; nil: encode the
// copy) gives the copy back, panics when it does not, and returns the
// copy's JSON as check (see cacheEntry.check); otherwise check is nil.
func keptCopy[T any](r Record, v T, doc []byte) (kept T, check []byte, ok bool) {
	c := copierOf(reflect.TypeFor[T]())
	if !c.clonable {
		return kept, nil, false
	}
	c.at(unsafe.Pointer(&kept), unsafe.Pointer(&v), true)
	if !checkKept() {
		return kept, nil, true
	}
	check, err := json.Marshal(kept)
	if doc == nil {
		doc = check
	}
	var fresh T
	if err == nil {
		err = json.Unmarshal(doc, &fresh)
	}
	if err != nil || !reflect.DeepEqual(fresh, kept) {
		panic(fmt.Sprintf("storage: SaveKept of a %v (%s %s): decoding the document does not give back the value saved (%v): they differ at %s", reflect.TypeFor[T](), r.Kind, r.ID, err, firstDiff(reflect.ValueOf(kept), reflect.ValueOf(fresh), "v")))
	}
	return kept, check, true
}

// firstDiff names the first place where a and b (of one type) are not
// deeply equal, with both values there.
func firstDiff(a, b reflect.Value, path string) string {
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !a.IsNil() && !b.IsNil() && (a.Kind() == reflect.Pointer || a.Elem().Type() == b.Elem().Type()) {
			return firstDiff(a.Elem(), b.Elem(), path)
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if d := firstDiff(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
	case reflect.Slice, reflect.Array:
		if a.Len() == b.Len() && (a.Kind() == reflect.Array || a.IsNil() == b.IsNil()) {
			for i := range a.Len() {
				if d := firstDiff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
					return d
				}
			}
		}
	}
	if a.Kind() == reflect.Slice || a.Kind() == reflect.Map {
		return fmt.Sprintf("%s: saved %#v (nil %v), decoded %#v (nil %v)", path, a.Interface(), a.IsNil(), b.Interface(), b.IsNil())
	}
	return fmt.Sprintf("%s: saved %#v, decoded %#v", path, a.Interface(), b.Interface())
}

var (
	checkKeptOnce sync.Once
	checkKeptOn   bool
)

// checkKept reports whether keepSaved verifies SaveKept's contract: in test
// binaries that run no benchmarks, it decodes every kept document and
// panics when the result differs from the value kept.
func checkKept() bool {
	checkKeptOnce.Do(func() {
		if !testing.Testing() {
			return
		}
		f := flag.Lookup("test.bench")
		checkKeptOn = f == nil || f.Value.String() == ""
	})
	return checkKeptOn
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
func decode[T any](r Record, shared bool) (T, error) {
	v, err := decodeRecord[T](r, shared)
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
	c := copierOf(reflect.TypeFor[T]())
	if c.plain {
		return v
	}
	var out T
	c.at(unsafe.Pointer(&out), unsafe.Pointer(&v), false)
	return out
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

// A copier copies values of one type the way cloneValue does. Copiers are
// built once per type, from reflection, and then only follow their plan: the
// fields to descend into are known, so a copy neither walks the type again nor
// looks its properties up.
type copier struct {
	plain    bool // no references: a plain assignment copies it
	clonable bool // see clonable
	// at copies the value at src into dst (both point to values of the
	// type). The kinds values are mostly made of (structs, pointers,
	// slices, arrays) are copied with offsets and sizes taken from the type
	// once, not through reflect.Value; maps and interfaces go through
	// reflect.Value. With nilEmpty, at also sets every empty slice or map in a field tagged
	// omitempty to nil, as decoding the JSON of the value would leave it
	// (such a field is left out of the document); it does not look inside
	// maps and interfaces for such fields.
	at        func(dst, src unsafe.Pointer, nilEmpty bool)
	typ       reflect.Type
	elem      *copier   // pointer, slice, array: the element's; map: the value's
	key       *copier   // map: the key's
	fields    []int     // struct: exported fields with references
	offsets   []uintptr // their offsets
	fieldCopy []*copier // their copiers
	omitEmpty []bool    // their JSON tags say omitempty
}

// sliceHeader is the layout of a slice value.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

var (
	copiers    sync.Map   // reflect.Type → *copier, complete ones only
	copiersMu  sync.Mutex // serialises building
	copiersNew map[reflect.Type]*copier
)

// copierOf returns t's copier, building it (and those it needs) once.
func copierOf(t reflect.Type) *copier {
	if c, ok := copiers.Load(t); ok {
		return c.(*copier)
	}
	copiersMu.Lock()
	defer copiersMu.Unlock()
	if c, ok := copiers.Load(t); ok {
		return c.(*copier)
	}
	copiersNew = map[reflect.Type]*copier{}
	c := buildCopier(t)
	// Publish only once every copier of this build is complete: a recursive
	// type's copier refers to itself before it is done.
	for t, c := range copiersNew {
		copiers.Store(t, c)
	}
	copiersNew = nil
	return c
}

// buildCopier builds t's copier; copiersMu is held.
func buildCopier(t reflect.Type) *copier {
	if c, ok := copiers.Load(t); ok {
		return c.(*copier)
	}
	if c, ok := copiersNew[t]; ok {
		return c // being built: recursive
	}
	c := &copier{plain: !hasRefs(t), clonable: clonable(t), typ: t}
	copiersNew[t] = c
	c.at = c.atPlain // also chan and func values, which hold no references JSON sees
	if c.plain {
		return c
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.elem = buildCopier(t.Elem())
		c.at = c.atPointer
	case reflect.Slice:
		c.elem = buildCopier(t.Elem())
		c.at = c.atSlice
	case reflect.Map:
		c.key, c.elem = buildCopier(t.Key()), buildCopier(t.Elem())
		c.at = c.atMap
	case reflect.Interface:
		c.at = c.atInterface
	case reflect.Array:
		c.elem = buildCopier(t.Elem())
		c.at = c.atArray
	case reflect.Struct:
		c.at = c.atStruct
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && hasRefs(f.Type) {
				c.fields = append(c.fields, i)
				c.offsets = append(c.offsets, f.Offset)
				c.fieldCopy = append(c.fieldCopy, buildCopier(f.Type))
				_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				c.omitEmpty = append(c.omitEmpty, slices.Contains(strings.Split(opts, ","), "omitempty"))
			}
		}
	}
	return c
}

// copyOf returns a copy of v (a value of c's type, addressable or not).
func (c *copier) copyOf(v reflect.Value) reflect.Value {
	if c.plain {
		return v
	}
	if !v.CanAddr() {
		tmp := reflect.New(c.typ).Elem()
		tmp.Set(v)
		v = tmp
	}
	out := reflect.New(c.typ)
	c.at(out.UnsafePointer(), v.Addr().UnsafePointer(), false)
	return out.Elem()
}

// atMap and atInterface copy through reflect.Value: map entries and the
// value inside an interface are not addressable.
func (c *copier) atMap(dst, src unsafe.Pointer, _ bool) {
	sv := c.value(src)
	if sv.IsNil() {
		*(*unsafe.Pointer)(dst) = nil
		return
	}
	m := reflect.MakeMapWithSize(c.typ, sv.Len())
	for it := sv.MapRange(); it.Next(); {
		m.SetMapIndex(c.key.copyOf(it.Key()), c.elem.copyOf(it.Value()))
	}
	c.value(dst).Set(m)
}

func (c *copier) atInterface(dst, src unsafe.Pointer, _ bool) {
	sv := c.value(src)
	if sv.IsNil() {
		c.value(dst).SetZero()
		return
	}
	in := sv.Elem()
	c.value(dst).Set(copierOf(in.Type()).copyOf(in))
}

// The address-based copies (copier.at). Every store of a pointer, a slice
// header or a whole value below is a typed Go assignment or reflect.Value.Set,
// so the collector's write barriers see each one.

// value returns the addressable value of c's type at p.
func (c *copier) value(p unsafe.Pointer) reflect.Value { return reflect.NewAt(c.typ, p).Elem() }

func (c *copier) atPlain(dst, src unsafe.Pointer, _ bool) { c.value(dst).Set(c.value(src)) }

func (c *copier) atPointer(dst, src unsafe.Pointer, nilEmpty bool) {
	sp := *(*unsafe.Pointer)(src)
	if sp == nil {
		*(*unsafe.Pointer)(dst) = nil
		return
	}
	np := reflect.New(c.elem.typ).UnsafePointer()
	c.elem.at(np, sp, nilEmpty)
	*(*unsafe.Pointer)(dst) = np
}

func (c *copier) atSlice(dst, src unsafe.Pointer, nilEmpty bool) {
	sh := (*sliceHeader)(src)
	if sh.data == nil {
		*(*sliceHeader)(dst) = sliceHeader{}
		return
	}
	n := sh.len
	ns := reflect.MakeSlice(c.typ, n, n)
	if c.elem.plain {
		reflect.Copy(ns, c.value(src))
	} else {
		size := c.elem.typ.Size()
		for i := range n {
			c.elem.at(unsafe.Add(ns.UnsafePointer(), uintptr(i)*size), unsafe.Add(sh.data, uintptr(i)*size), nilEmpty)
		}
	}
	*(*sliceHeader)(dst) = sliceHeader{data: ns.UnsafePointer(), len: n, cap: n}
}

func (c *copier) atArray(dst, src unsafe.Pointer, nilEmpty bool) {
	size := c.elem.typ.Size()
	for i := range c.typ.Len() {
		c.elem.at(unsafe.Add(dst, uintptr(i)*size), unsafe.Add(src, uintptr(i)*size), nilEmpty)
	}
}

func (c *copier) atStruct(dst, src unsafe.Pointer, nilEmpty bool) {
	c.value(dst).Set(c.value(src)) // unexported fields shared (see cloneValue)
	for j, off := range c.offsets {
		fd, fs := unsafe.Add(dst, off), unsafe.Add(src, off)
		if nilEmpty && c.omitEmpty[j] {
			switch c.fieldCopy[j].typ.Kind() {
			case reflect.Slice:
				if (*sliceHeader)(fs).len == 0 {
					*(*sliceHeader)(fd) = sliceHeader{}
					continue
				}
			case reflect.Map:
				if c.fieldCopy[j].value(fs).Len() == 0 {
					*(*unsafe.Pointer)(fd) = nil
					continue
				}
			}
		}
		c.fieldCopy[j].at(fd, fs, nilEmpty)
	}
}
