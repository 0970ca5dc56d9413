package sqlite

import (
	"bytes"
	"context"
	"sync/atomic"

	"github.com/licensekit/licensekit/storage"
)

// The writer cache.
//
// Most of a write transaction's reads are of records the writer itself read
// or wrote a moment before: the caller's member record (its role), the pool
// it changes, the company's last event hash that the next event links to.
// Only the writer connection writes in this process, and while it holds the
// database's write lock (from BEGIN IMMEDIATE to COMMIT) no other process can
// write either, so what it last read or wrote is still what is stored,
// unless another connection wrote in between. SQLite says whether one did:
// PRAGMA data_version changes on a connection whenever another connection
// commits a change to the file. So the writer keeps the records it read or
// wrote, and the last event hash of each company it appended to, and checks
// data_version once after each BEGIN IMMEDIATE: when it moved, everything
// cached is dropped. Point reads (Get, GetForUpdate, Insert's existence
// check) are then served from the cache; lists, unique-key lookups and event
// queries always read the database.
//
// With group commit several callers share the transaction, each in a
// savepoint: a caller's changes to the cache are kept apart until its
// savepoint is released, and dropped when it is rolled back. When the
// transaction is lost or its COMMIT fails, the whole cache is dropped. The
// cache is used only by the caller holding the writer's turn, so it needs no
// lock of its own. It holds at most maxCached records, and starts afresh when
// full.

// maxCached bounds the records the writer cache holds.
const maxCached = 4096

type cacheKey struct {
	company string
	kind    storage.Kind
	id      string
}

type cacheEntry struct {
	r       storage.Record
	present bool // false: known to be absent
	forget  bool // in an overlay: drop what the cache knows
}

// writerCache implements sqlcore.Cache for the writer connection.
type writerCache struct {
	valid   bool  // the cache may be used in the current transaction
	version int64 // data_version as last read; meaningful when seen
	seen    bool

	recs  map[cacheKey]cacheEntry
	heads map[string]string
	// The current caller's changes (its savepoint).
	orecs  map[cacheKey]cacheEntry
	oheads map[string]string

	hits atomic.Int64 // point reads served, for tests
}

func newWriterCache() *writerCache {
	return &writerCache{
		recs: map[cacheKey]cacheEntry{}, heads: map[string]string{},
		orecs: map[cacheKey]cacheEntry{}, oheads: map[string]string{},
	}
}

// begin is called right after BEGIN IMMEDIATE: it reads data_version and
// drops everything when another connection committed since the last check
// (or when the check fails, after which the cache stays off for this
// transaction).
func (c *writerCache) begin(ctx context.Context, s *Store) {
	var v int64
	st, err := s.stmt(ctx, "PRAGMA data_version")
	if err == nil {
		err = st.QueryRowContext(ctx).Scan(&v)
	}
	if err != nil {
		c.reset()
		c.seen, c.valid = false, false
		return
	}
	if !c.seen || v != c.version {
		c.reset()
	}
	c.version, c.seen, c.valid = v, true, true
}

// reset drops everything cached.
func (c *writerCache) reset() {
	clear(c.recs)
	clear(c.heads)
	clear(c.orecs)
	clear(c.oheads)
}

// release keeps the current caller's changes (its savepoint was released).
func (c *writerCache) release() {
	for k, e := range c.orecs {
		if e.forget {
			delete(c.recs, k)
		} else {
			c.recs[k] = e
		}
	}
	for k, h := range c.oheads {
		c.heads[k] = h
	}
	clear(c.orecs)
	clear(c.oheads)
	if len(c.recs) > maxCached {
		clear(c.recs)
	}
	if len(c.heads) > maxCached {
		clear(c.heads)
	}
}

// rollback drops the current caller's changes (its savepoint was rolled back).
func (c *writerCache) rollback() {
	clear(c.orecs)
	clear(c.oheads)
}

func (c *writerCache) Record(company string, kind storage.Kind, id string) (storage.Record, bool, bool) {
	if !c.valid {
		return storage.Record{}, false, false
	}
	k := cacheKey{company, kind, id}
	e, ok := c.orecs[k]
	if !ok {
		e, ok = c.recs[k]
	}
	if !ok || e.forget {
		return storage.Record{}, false, false
	}
	c.hits.Add(1)
	r := e.r
	r.Data = bytes.Clone(r.Data)
	return r, e.present, true
}

func (c *writerCache) Stored(r storage.Record) {
	if !c.valid {
		return
	}
	r.Data = bytes.Clone(r.Data)
	if r.Data == nil {
		r.Data = []byte{}
	}
	c.orecs[cacheKey{r.Company, r.Kind, r.ID}] = cacheEntry{r: r, present: true}
}

func (c *writerCache) Absent(company string, kind storage.Kind, id string) {
	if !c.valid {
		return
	}
	c.orecs[cacheKey{company, kind, id}] = cacheEntry{}
}

func (c *writerCache) Forget(company string, kind storage.Kind, id string) {
	c.orecs[cacheKey{company, kind, id}] = cacheEntry{forget: true}
}

func (c *writerCache) Head(company string) (string, bool) {
	if !c.valid {
		return "", false
	}
	if h, ok := c.oheads[company]; ok {
		return h, true
	}
	h, ok := c.heads[company]
	return h, ok
}

func (c *writerCache) Appended(company, hash string) {
	if !c.valid {
		return
	}
	c.oheads[company] = hash
}
