// Package memory is a complete, concurrency-safe, in-process implementation of
// storage.Store. It keeps everything in maps guarded by one lock: read-write
// transactions run one at a time (so GetForUpdate needs no row locks) and read
// transactions run in parallel with each other. A transaction buffers its writes
// and applies them at commit, so a failed operation leaves nothing behind.
//
// It holds Go values where it can (storage.ValueTx): a record written by
// storage.SaveKept or storage.InsertKept keeps a private copy of the value,
// which a Load of the same type copies back, and its JSON document is
// encoded only when something reads the record's bytes.
//
// Use it in tests and in products that need no persistence.
package memory

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

type tableKey struct {
	company string
	kind    storage.Kind
}

// row is a stored record. A record written by storage.SaveKept or
// storage.InsertKept holds its Go value (val) in place of its document,
// which is encoded only when something reads the record's bytes; its
// rec.Data is then nil.
type row struct {
	rec storage.Record
	val *storage.Value
}

// record returns the row's record with a private copy of its document.
func (r row) record() (storage.Record, error) {
	if r.val == nil {
		r.rec.Data = slices.Clone(r.rec.Data)
		return r.rec, nil
	}
	doc, err := r.val.Document()
	if err != nil {
		return storage.Record{}, err
	}
	r.rec.Data = slices.Clone(doc)
	return r.rec, nil
}

type table struct {
	rows     map[string]row
	byParent map[string]map[string]struct{}
	byUnique map[string]string
}

func newTable() *table {
	return &table{rows: map[string]row{}, byParent: map[string]map[string]struct{}{}, byUnique: map[string]string{}}
}

// Store is the in-memory store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	tables map[tableKey]*table
	// events is the log, in append order, in blocks of eventBlock events:
	// appending never copies the events already logged (a growing slice
	// would copy them all at each doubling, and the collector would trace
	// the copies).
	events  [][]eventlog.Event
	nEvents int
	// byCompany indexes events by company (positions in events).
	byCompany map[string][]int
	seq       int64
	heads     map[string]string // company -> Hash of its last event (the chain head)
	chainLen  map[string]int64  // company -> number of events in its chain
	closed    bool
}

var (
	_ storage.Store   = (*Store)(nil)
	_ storage.ValueTx = (*tx)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{tables: map[tableKey]*table{}, byCompany: map[string][]int{}, heads: map[string]string{}, chainLen: map[string]int64{}}
}

// Update runs fn in a read-write transaction. Read-write transactions are
// serialised.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return license.Wrap(license.Unavailable, err, "memory: context done")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return license.Errorf(license.Unavailable, "", "memory: store is closed")
	}
	tx := &tx{s: s, writable: true, overlay: map[rowKey]*row{}}
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return license.Wrap(license.Unavailable, err, "memory: context done before commit")
	}
	tx.commit()
	return nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return license.Wrap(license.Unavailable, err, "memory: context done")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return license.Errorf(license.Unavailable, "", "memory: store is closed")
	}
	return fn(&tx{s: s})
}

// Ping reports whether the store is open.
func (s *Store) Ping(context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return license.Errorf(license.Unavailable, "", "memory: store is closed")
	}
	return nil
}

// Close marks the store closed; later transactions fail with Unavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

type rowKey struct {
	tableKey
	id string
}

type uniqueKey struct {
	tableKey
	unique string
}

type tx struct {
	s        *Store
	writable bool
	overlay  map[rowKey]*row // nil value: deleted in this tx
	order    []rowKey        // first-write order, for deterministic commit
	// uniques indexes the overlay's Unique values (possibly stale: entries are
	// verified against the overlay on use).
	uniques map[uniqueKey]string
	events  []eventlog.Event
}

func (t *tx) lookup(k rowKey) (row, bool) {
	if r, ok := t.overlay[k]; ok {
		if r == nil {
			return row{}, false
		}
		return *r, true
	}
	tb := t.s.tables[k.tableKey]
	if tb == nil {
		return row{}, false
	}
	r, ok := tb.rows[k.id]
	return r, ok
}

func (t *tx) Get(ctx context.Context, company string, kind storage.Kind, id string) (storage.Record, error) {
	r, ok := t.lookup(rowKey{tableKey{company, kind}, id})
	if !ok {
		return storage.Record{}, storage.NotFound(kind, id)
	}
	return r.record()
}

// GetValue is Get that hands out the value a record holds instead of
// encoding it (storage.ValueTx).
func (t *tx) GetValue(ctx context.Context, company string, kind storage.Kind, id string, forUpdate bool) (storage.Record, *storage.Value, error) {
	r, ok := t.lookup(rowKey{tableKey{company, kind}, id})
	if !ok {
		return storage.Record{}, nil, storage.NotFound(kind, id)
	}
	if r.val != nil {
		return r.rec, r.val, nil
	}
	rec, err := r.record()
	return rec, nil, err
}

func (t *tx) GetForUpdate(ctx context.Context, company string, kind storage.Kind, id string) (storage.Record, error) {
	// Writers are serialised by the store lock: reading is locking.
	return t.Get(ctx, company, kind, id)
}

func (t *tx) GetByUnique(ctx context.Context, company string, kind storage.Kind, unique string) (storage.Record, error) {
	if r, ok := t.byUnique(tableKey{company, kind}, unique); ok {
		return r.record()
	}
	return storage.Record{}, license.Errorf(license.NotFound, "unique", "no %s named %q", kind, unique)
}

// byUnique finds the row of tk whose Unique is unique; the overlay wins
// over the base table.
func (t *tx) byUnique(tk tableKey, unique string) (row, bool) {
	if unique == "" {
		return row{}, false
	}
	if id, ok := t.uniques[uniqueKey{tk, unique}]; ok {
		if r := t.overlay[rowKey{tk, id}]; r != nil && r.rec.Unique == unique {
			return *r, true
		}
	}
	if tb := t.s.tables[tk]; tb != nil {
		if id, ok := tb.byUnique[unique]; ok {
			if r, ok := t.lookup(rowKey{tk, id}); ok && r.rec.Unique == unique {
				return r, true
			}
		}
	}
	return row{}, false
}

func (t *tx) List(ctx context.Context, q storage.ListQuery) ([]storage.Record, error) {
	if q.Kind == "" || (q.Company == "" && !q.AllCompanies) {
		return nil, license.Errorf(license.Internal, "kind", "storage: List needs a kind and a company")
	}
	seen := map[rowKey]bool{}
	var out []storage.Record
	var failed error
	add := func(k rowKey) {
		if seen[k] {
			return
		}
		seen[k] = true
		r, ok := t.lookup(k)
		if !ok || (q.Parent != "" && r.rec.Parent != q.Parent) || (q.AfterID != "" && r.rec.ID <= q.AfterID) {
			return
		}
		rec, err := r.record()
		if err != nil {
			failed = err
			return
		}
		out = append(out, rec)
	}
	for tk, tb := range t.s.tables {
		if tk.kind != q.Kind || (!q.AllCompanies && tk.company != q.Company) {
			continue
		}
		if q.Parent != "" {
			for id := range tb.byParent[q.Parent] {
				add(rowKey{tk, id})
			}
			continue
		}
		for id := range tb.rows {
			add(rowKey{tk, id})
		}
	}
	for k := range t.overlay {
		if k.kind == q.Kind && (q.AllCompanies || k.company == q.Company) {
			add(k)
		}
	}
	if failed != nil {
		return nil, failed
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Company < out[j].Company
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (t *tx) write(k rowKey, r *row) {
	if _, ok := t.overlay[k]; !ok {
		t.order = append(t.order, k)
	}
	t.overlay[k] = r
	if r != nil && r.rec.Unique != "" {
		if t.uniques == nil {
			t.uniques = map[uniqueKey]string{}
		}
		t.uniques[uniqueKey{k.tableKey, r.rec.Unique}] = k.id
	}
}

func (t *tx) Put(ctx context.Context, r storage.Record) error { return t.putDocument(r, false) }

func (t *tx) Insert(ctx context.Context, r storage.Record) error { return t.putDocument(r, true) }

// putDocument stores r with a private copy of its document.
func (t *tx) putDocument(r storage.Record, insertOnly bool) error {
	if err := storage.CheckRecord(r); err != nil {
		return err
	}
	r.Data = slices.Clone(r.Data)
	return t.put(row{rec: r}, insertOnly)
}

// PutValue is Put, or Insert, of a record holding v (storage.ValueTx).
func (t *tx) PutValue(ctx context.Context, r storage.Record, v *storage.Value, insert bool) error {
	if err := storage.CheckIdentity(r); err != nil {
		return err
	}
	r.Data = nil
	return t.put(row{rec: r, val: v}, insert)
}

func (t *tx) put(nr row, insertOnly bool) error {
	if !t.writable {
		return storage.ErrReadOnly
	}
	r := &nr.rec
	k := rowKey{tableKey{r.Company, r.Kind}, r.ID}
	old, exists := t.lookup(k)
	if exists && insertOnly {
		return storage.Exists(r.Kind, r.ID)
	}
	if other, ok := t.byUnique(k.tableKey, r.Unique); ok && other.rec.ID != r.ID {
		return storage.UniqueConflict(r.Kind, r.Unique)
	}
	r.Version = old.rec.Version + 1
	t.write(k, &nr)
	return nil
}

func (t *tx) Delete(ctx context.Context, company string, kind storage.Kind, id string) error {
	if !t.writable {
		return storage.ErrReadOnly
	}
	k := rowKey{tableKey{company, kind}, id}
	if _, ok := t.lookup(k); !ok {
		return storage.NotFound(kind, id)
	}
	t.write(k, nil)
	return nil
}

func (t *tx) AppendEvent(ctx context.Context, e eventlog.Event) (int64, error) {
	if !t.writable {
		return 0, storage.ErrReadOnly
	}
	if e.Company == "" || e.ID == "" || e.Type == "" || e.Time.IsZero() {
		return 0, license.Errorf(license.Internal, "event", "storage: event needs company, id, type and time")
	}
	e.Seq = t.s.seq + int64(len(t.events)) + 1
	e.Time = e.Time.UTC()
	e.Details = slices.Clone(e.Details)
	// Chain: writers are serialised, so the head is the last event of the
	// company appended in this transaction, or else the committed head.
	e.PrevHash, e.Chain = t.s.heads[e.Company], t.s.chainLen[e.Company]+1
	for i := len(t.events) - 1; i >= 0; i-- {
		if t.events[i].Company == e.Company {
			e.PrevHash, e.Chain = t.events[i].Hash, t.events[i].Chain+1
			break
		}
	}
	e.Hash = storage.ChainHash(e.PrevHash, e)
	t.events = append(t.events, e)
	return e.Seq, nil
}

const eventBlock = 4096

// appendEvent adds e at the end of the log. Called with the store lock held.
func (s *Store) appendEvent(e eventlog.Event) {
	if s.nEvents%eventBlock == 0 {
		s.events = append(s.events, make([]eventlog.Event, 0, eventBlock))
	}
	last := &s.events[len(s.events)-1]
	*last = append(*last, e)
	s.nEvents++
}

// event returns the event at position i of the log.
func (s *Store) event(i int) *eventlog.Event {
	return &s.events[i/eventBlock][i%eventBlock]
}

// commit applies the overlay and the events. Called with the store lock held.
func (t *tx) commit() {
	for _, k := range t.order {
		r := t.overlay[k]
		tb := t.s.tables[k.tableKey]
		if tb == nil {
			tb = newTable()
			t.s.tables[k.tableKey] = tb
		}
		if old, ok := tb.rows[k.id]; ok {
			if m := tb.byParent[old.rec.Parent]; m != nil {
				delete(m, k.id)
				if len(m) == 0 {
					delete(tb.byParent, old.rec.Parent)
				}
			}
			if old.rec.Unique != "" && tb.byUnique[old.rec.Unique] == k.id {
				delete(tb.byUnique, old.rec.Unique)
			}
		}
		if r == nil {
			delete(tb.rows, k.id)
			continue
		}
		tb.rows[k.id] = *r
		if p := r.rec.Parent; p != "" {
			m := tb.byParent[p]
			if m == nil {
				m = map[string]struct{}{}
				tb.byParent[p] = m
			}
			m[k.id] = struct{}{}
		}
		if r.rec.Unique != "" {
			tb.byUnique[r.rec.Unique] = k.id
		}
	}
	for _, e := range t.events {
		t.s.seq = e.Seq
		t.s.heads[e.Company] = e.Hash
		t.s.chainLen[e.Company] = e.Chain
		t.s.byCompany[e.Company] = append(t.s.byCompany[e.Company], t.s.nEvents)
		t.s.appendEvent(e)
	}
}

// sortKey returns the text form of e's value in column c used by cursors
// (storage.CursorKey; in this store chain order is append order).
func sortKey(e eventlog.Event, c eventlog.Column) string {
	if c == eventlog.ColChain {
		c = eventlog.ColSeq
	}
	return storage.CursorKey(e, c)
}

// compareKey compares two events on column c, then on Seq.
func compareKey(a, b eventlog.Event, c eventlog.Column) int {
	var r int
	switch c {
	case eventlog.ColCount:
		r = cmpInt(a.Count, b.Count)
	case eventlog.ColSeq, eventlog.ColChain:
		r = 0 // the tie-break below compares Seq (chain order is append order here)
	case eventlog.ColTime, "":
		r = a.Time.Compare(b.Time)
	default:
		r = strings.Compare(sortKey(a, c), sortKey(b, c))
	}
	if r != 0 {
		return r
	}
	return cmpInt(a.Seq, b.Seq)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// matches is the store's filter: eventlog's reference rule, whose case
// folding (storage.FoldSearch) every store shares.
func matches(e eventlog.Event, f eventlog.Filter) bool { return f.Matches(e) }

// selectEvents returns pointers to the selected events, sorted and paged. Only
// pointers are collected (8 bytes an event), and the default order (time, then
// seq, ascending) is usually already the append order, so exports stay light.
// The pointers are valid while the store lock is held.
func (t *tx) selectEvents(f eventlog.Filter) ([]*eventlog.Event, error) {
	if f.Company == "" {
		return nil, license.Errorf(license.Internal, "company", "storage: event query without company")
	}
	if f.Sort != "" && !f.Sort.Sortable() {
		return nil, license.Errorf(license.Invalid, "sort", "cannot sort by %q", f.Sort)
	}
	var out []*eventlog.Event
	for _, i := range t.s.byCompany[f.Company] {
		if e := t.s.event(i); matches(*e, f) {
			out = append(out, e)
		}
	}
	for i := range t.events {
		if e := &t.events[i]; e.Company == f.Company && matches(*e, f) {
			out = append(out, e)
		}
	}
	sortCol := f.Sort
	if sortCol == "" {
		sortCol = eventlog.ColTime
	}
	less := func(a, b *eventlog.Event) int {
		c := compareKey(*a, *b, sortCol)
		if f.Desc {
			return -c
		}
		return c
	}
	if !slices.IsSortedFunc(out, less) {
		slices.SortStableFunc(out, less)
	}
	if f.After != nil {
		pos := sort.Search(len(out), func(i int) bool {
			c := compareCursor(*out[i], *f.After, sortCol)
			if f.Desc {
				return c < 0
			}
			return c > 0
		})
		out = out[pos:]
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// compareCursor compares e's (key, seq) with the cursor's.
func compareCursor(e eventlog.Event, c eventlog.Cursor, col eventlog.Column) int {
	var r int
	if col == eventlog.ColCount {
		n, _ := strconv.ParseInt(c.Key, 10, 64)
		r = cmpInt(e.Count, n)
	} else if col == eventlog.ColSeq || col == eventlog.ColChain {
		r = 0
	} else {
		r = strings.Compare(sortKey(e, col), c.Key)
	}
	if r != 0 {
		return r
	}
	return cmpInt(e.Seq, c.Seq)
}

func (t *tx) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	evs, err := t.selectEvents(f)
	if err != nil {
		return err
	}
	for _, p := range evs {
		e := *p
		e.Details = slices.Clone(e.Details)
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) CountEvents(ctx context.Context, f eventlog.Filter) (int64, error) {
	f.After, f.Limit = nil, 0
	evs, err := t.selectEvents(f)
	return int64(len(evs)), err
}
