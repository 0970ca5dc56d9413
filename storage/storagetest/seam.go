package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// The "seam" suite checks the record-level contract of storage.Store and
// storage.Tx as documented in package storage: records, unique keys, listing,
// tenant scoping, read-only views, rollback, the event log (filtering, sorting,
// keyset paging) and read-modify-write under concurrency.
func init() {
	Register("seam",
		Test{"GetMissing", testGetMissing},
		Test{"PutInsertReplace", testPutInsertReplace},
		Test{"InsertConflict", testInsertConflict},
		Test{"Unique", testUnique},
		Test{"List", testList},
		Test{"TenantScoping", testTenantScoping},
		Test{"Delete", testDelete},
		Test{"ViewIsReadOnly", testViewReadOnly},
		Test{"Rollback", testRollback},
		Test{"EventSeq", testEventSeq},
		Test{"EventFilter", testEventFilter},
		Test{"EventSort", testEventSort},
		Test{"EventPaging", testEventPaging},
		Test{"ConcurrentCounter", testConcurrentCounter},
		Test{"FaultLeavesNothing", testFaultLeavesNothing},
	)
}

const seamKind storage.Kind = "seamthing"

func update(t testing.TB, s storage.Store, fn func(tx storage.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), fn))
}

func view(t testing.TB, s storage.Store, fn func(tx storage.Tx) error) {
	t.Helper()
	require.NoError(t, s.View(context.Background(), fn))
}

func rec(company, id, parent, unique, data string) storage.Record {
	return storage.Record{Company: company, Kind: seamKind, ID: id, Parent: parent, Unique: unique, Data: []byte(data)}
}

func requireCode(t testing.TB, err error, code license.Code, field string, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	assert.Equal(t, code, license.ErrorCode(err), "error code of %v %v", err, msgAndArgs)
	if field != "" {
		assert.Equal(t, field, license.ErrorField(err), "error field of %v %v", err, msgAndArgs)
	}
}

// getRec reads (company, seamKind, id) in a View.
func getRec(t testing.TB, s storage.Store, company, id string) (storage.Record, error) {
	t.Helper()
	var r storage.Record
	var gerr error
	view(t, s, func(tx storage.Tx) error {
		r, gerr = tx.Get(context.Background(), company, seamKind, id)
		return nil
	})
	return r, gerr
}

func testGetMissing(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	update(t, s, func(tx storage.Tx) error {
		_, err := tx.Get(ctx, "acme", seamKind, "nope")
		requireCode(t, err, license.NotFound, "", "Get of a missing record in Update")
		_, err = tx.GetForUpdate(ctx, "acme", seamKind, "nope")
		requireCode(t, err, license.NotFound, "", "GetForUpdate of a missing record")
		_, err = tx.GetByUnique(ctx, "acme", seamKind, "nope")
		requireCode(t, err, license.NotFound, "", "GetByUnique of a missing unique key")
		assert.True(t, storage.IsNotFound(err))
		return nil
	})
	_, err := getRec(t, s, "acme", "nope")
	requireCode(t, err, license.NotFound, "", "Get of a missing record in View")
}

func testPutInsertReplace(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	data1 := `{"n":1,  "s":"spaced \u00e9"}` // stores keep Data byte-for-byte
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "a", "p1", "u1", data1)))
		// Read-your-writes inside the transaction.
		r, err := tx.GetForUpdate(ctx, "acme", seamKind, "a")
		require.NoError(t, err)
		assert.Equal(t, data1, string(r.Data))
		assert.EqualValues(t, 1, r.Version, "version after insert, in the same tx")
		return nil
	})
	r, err := getRec(t, s, "acme", "a")
	require.NoError(t, err)
	assert.Equal(t, rec("acme", "a", "p1", "u1", data1).Data, r.Data, "data byte-for-byte")
	assert.Equal(t, "acme", r.Company)
	assert.Equal(t, seamKind, r.Kind)
	assert.Equal(t, "a", r.ID)
	assert.Equal(t, "p1", r.Parent)
	assert.Equal(t, "u1", r.Unique)
	assert.EqualValues(t, 1, r.Version, "version after insert")

	update(t, s, func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, "acme", seamKind, "a")
		require.NoError(t, err)
		r.Data = []byte(`{"n":2}`)
		r.Parent = "p2"
		r.Unique = ""
		r.Version = 99 // assigned by the store, not by the caller
		return tx.Put(ctx, r)
	})
	r, err = getRec(t, s, "acme", "a")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":2}`, string(r.Data))
	assert.Equal(t, "p2", r.Parent)
	assert.Equal(t, "", r.Unique)
	assert.EqualValues(t, 2, r.Version, "version after one replace")

	// Two Puts in one transaction count twice.
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "a", "", "", `{"n":3}`)))
		return tx.Put(ctx, rec("acme", "a", "", "", `{"n":4}`))
	})
	r, err = getRec(t, s, "acme", "a")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":4}`, string(r.Data))
	assert.EqualValues(t, 4, r.Version)

	// Invalid records are refused.
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Record{Company: "acme", Kind: seamKind, ID: "bad", Data: []byte("{not json")})
	})
	require.Error(t, err, "Put of invalid JSON")
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Record{Kind: seamKind, ID: "x", Data: []byte("{}")})
	})
	require.Error(t, err, "Put without company")
	_, err = getRec(t, s, "acme", "bad")
	requireCode(t, err, license.NotFound, "", "a refused Put stores nothing")
}

func testInsertConflict(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	update(t, s, func(tx storage.Tx) error { return tx.Insert(ctx, rec("acme", "a", "", "", `{"v":"first"}`)) })
	err := s.Update(ctx, func(tx storage.Tx) error {
		err := tx.Insert(ctx, rec("acme", "a", "", "", `{"v":"second"}`))
		requireCode(t, err, license.Conflict, "id", "Insert of an existing id")
		// Insert of a record written earlier in the same transaction conflicts too.
		require.NoError(t, tx.Insert(ctx, rec("acme", "b", "", "", `{}`)))
		err = tx.Insert(ctx, rec("acme", "b", "", "", `{}`))
		requireCode(t, err, license.Conflict, "id", "Insert of an id written in the same tx")
		return err
	})
	require.Error(t, err)
	r, err := getRec(t, s, "acme", "a")
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":"first"}`, string(r.Data), "a conflicting Insert leaves the record alone")
	assert.EqualValues(t, 1, r.Version)
	_, err = getRec(t, s, "acme", "b")
	requireCode(t, err, license.NotFound, "", "rolled-back Insert")
	// The same id in another company or kind is no conflict.
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Insert(ctx, rec("other", "a", "", "", `{}`)))
		return tx.Insert(ctx, storage.Record{Company: "acme", Kind: seamKind + "2", ID: "a", Data: []byte(`{}`)})
	})
}

func getByUnique(t testing.TB, s storage.Store, company, unique string) (storage.Record, error) {
	t.Helper()
	var r storage.Record
	var gerr error
	view(t, s, func(tx storage.Tx) error {
		r, gerr = tx.GetByUnique(context.Background(), company, seamKind, unique)
		return nil
	})
	return r, gerr
}

func testUnique(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "r1", "", "Berlin", `{"n":1}`)) })

	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "r2", "", "Berlin", `{"n":2}`)) })
	requireCode(t, err, license.Conflict, "unique", "Put of a clashing unique key")
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.Insert(ctx, rec("acme", "r2", "", "Berlin", `{"n":2}`)) })
	requireCode(t, err, license.Conflict, "unique", "Insert of a clashing unique key")
	_, err = getRec(t, s, "acme", "r2")
	requireCode(t, err, license.NotFound, "", "a clashing Put stores nothing")

	r, err := getByUnique(t, s, "acme", "Berlin")
	require.NoError(t, err)
	assert.Equal(t, "r1", r.ID)
	// Unique keys are scoped by company and kind, and case-sensitive.
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("other", "r9", "", "Berlin", `{}`)))
		require.NoError(t, tx.Put(ctx, storage.Record{Company: "acme", Kind: seamKind + "2", ID: "r9", Unique: "Berlin", Data: []byte(`{}`)}))
		return tx.Put(ctx, rec("acme", "r3", "", "berlin", `{}`))
	})
	r, err = getByUnique(t, s, "other", "Berlin")
	require.NoError(t, err)
	assert.Equal(t, "r9", r.ID)
	r, err = getByUnique(t, s, "acme", "berlin")
	require.NoError(t, err)
	assert.Equal(t, "r3", r.ID)

	// Re-putting a record with its own unique key is fine.
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "r1", "", "Berlin", `{"n":11}`)) })

	// Changing the unique value frees the old one.
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "r1", "", "Paris", `{"n":1}`)) })
	_, err = getByUnique(t, s, "acme", "Berlin")
	requireCode(t, err, license.NotFound, "", "GetByUnique of a unique value that changed")
	r, err = getByUnique(t, s, "acme", "Paris")
	require.NoError(t, err)
	assert.Equal(t, "r1", r.ID)
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "r2", "", "Berlin", `{"n":2}`)) })
	r, err = getByUnique(t, s, "acme", "Berlin")
	require.NoError(t, err)
	assert.Equal(t, "r2", r.ID)

	// Inside one transaction: rename r1, then r2 may take its old value.
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "r1", "", "Rome", `{}`)))
		got, err := tx.GetByUnique(ctx, "acme", seamKind, "Rome")
		require.NoError(t, err)
		assert.Equal(t, "r1", got.ID, "GetByUnique sees the tx's own writes")
		_, err = tx.GetByUnique(ctx, "acme", seamKind, "Paris")
		requireCode(t, err, license.NotFound, "", "old unique value inside the tx")
		return tx.Put(ctx, rec("acme", "r2", "", "Paris", `{}`))
	})
	r, err = getByUnique(t, s, "acme", "Paris")
	require.NoError(t, err)
	assert.Equal(t, "r2", r.ID)

	// Deleting frees the value.
	update(t, s, func(tx storage.Tx) error { return tx.Delete(ctx, "acme", seamKind, "r2") })
	_, err = getByUnique(t, s, "acme", "Paris")
	requireCode(t, err, license.NotFound, "", "GetByUnique after delete")
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "r4", "", "Paris", `{}`)) })
	r, err = getByUnique(t, s, "acme", "Paris")
	require.NoError(t, err)
	assert.Equal(t, "r4", r.ID)

	// Records without a unique key never clash.
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "n1", "", "", `{}`)))
		return tx.Put(ctx, rec("acme", "n2", "", "", `{}`))
	})
}

func ids(rs []storage.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func list(t testing.TB, s storage.Store, q storage.ListQuery) []storage.Record {
	t.Helper()
	var rs []storage.Record
	view(t, s, func(tx storage.Tx) error {
		var err error
		rs, err = tx.List(context.Background(), q)
		return err
	})
	return rs
}

func testList(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	// Inserted out of order; byte order of IDs ("B" < "a").
	all := []string{"c", "a", "B", "d", "b", "a1"}
	update(t, s, func(tx storage.Tx) error {
		for i, id := range all {
			parent := "p" + strconv.Itoa(i%2)
			if err := tx.Put(ctx, rec("acme", id, parent, "", fmt.Sprintf(`{"i":%d}`, i))); err != nil {
				return err
			}
		}
		require.NoError(t, tx.Put(ctx, rec("other", "a0", "p0", "", `{}`)))
		return tx.Put(ctx, storage.Record{Company: "acme", Kind: "otherkind", ID: "zz", Data: []byte(`{}`)})
	})
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	assert.Equal(t, sorted, ids(list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind})), "List by company and kind, ordered by ID")
	assert.Equal(t, []string{"a", "a1", "d"}, ids(list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, Parent: "p1"})), "List by parent")
	assert.Equal(t, []string{"B", "b", "c"}, ids(list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, Parent: "p0"})))
	assert.Equal(t, []string{"a1", "b", "c", "d"}, ids(list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, AfterID: "a"})), "AfterID")
	assert.Equal(t, []string{"a1", "b"}, ids(list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, AfterID: "a", Limit: 2})), "AfterID+Limit")
	assert.Equal(t, []string{"b"}, ids(list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, Parent: "p0", AfterID: "B", Limit: 1})))
	assert.Empty(t, list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, Parent: "nope"}))
	assert.Empty(t, list(t, s, storage.ListQuery{Company: "nobody", Kind: seamKind}))

	// Paging through with AfterID and Limit yields everything once.
	var paged []string
	after := ""
	for {
		page := list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, AfterID: after, Limit: 4})
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 4)
		paged = append(paged, ids(page)...)
		after = page[len(page)-1].ID
	}
	assert.Equal(t, sorted, paged, "paging with AfterID")

	got := list(t, s, storage.ListQuery{Kind: seamKind, AllCompanies: true})
	wantAll := append(slices.Clone(all), "a0")
	slices.Sort(wantAll)
	assert.Equal(t, wantAll, ids(got), "AllCompanies lists every tenant's records of the kind")
	for _, r := range got {
		if r.ID == "a0" {
			assert.Equal(t, "other", r.Company)
		} else {
			assert.Equal(t, "acme", r.Company)
		}
	}

	// List inside an Update sees the transaction's own writes.
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "aa", "p0", "", `{}`)))
		require.NoError(t, tx.Delete(ctx, "acme", seamKind, "b"))
		rs, err := tx.List(ctx, storage.ListQuery{Company: "acme", Kind: seamKind, Parent: "p0"})
		require.NoError(t, err)
		assert.Equal(t, []string{"B", "aa", "c"}, ids(rs))
		return nil
	})
	rs := list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, Limit: 1})
	require.Len(t, rs, 1)
	assert.Equal(t, "B", rs[0].ID)
	assert.JSONEq(t, `{"i":2}`, string(rs[0].Data))
	assert.EqualValues(t, 1, rs[0].Version)
}

func testTenantScoping(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("A", "x", "p", "name", `{"owner":"A"}`)))
		require.NoError(t, tx.Put(ctx, rec("B", "x", "p", "name", `{"owner":"B"}`)))
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "ea", Company: "A", Time: at, Type: "t", Actor: "a@a"})
		require.NoError(t, err)
		_, err = tx.AppendEvent(ctx, eventlog.Event{ID: "eb", Company: "B", Time: at, Type: "t", Actor: "b@b"})
		return err
	})
	for _, c := range []string{"A", "B"} {
		r, err := getRec(t, s, c, "x")
		require.NoError(t, err)
		assert.JSONEq(t, `{"owner":"`+c+`"}`, string(r.Data), "company %s reads its own record", c)
		r, err = getByUnique(t, s, c, "name")
		require.NoError(t, err)
		assert.JSONEq(t, `{"owner":"`+c+`"}`, string(r.Data), "company %s GetByUnique", c)
		rs := list(t, s, storage.ListQuery{Company: c, Kind: seamKind, Parent: "p"})
		require.Len(t, rs, 1)
		assert.Equal(t, c, rs[0].Company)
		evs := events(t, s, eventlog.Filter{Company: c})
		require.Len(t, evs, 1)
		assert.Equal(t, c, evs[0].Company)
	}
	// Changes by A never reach B.
	update(t, s, func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, "A", seamKind, "x")
		require.NoError(t, err)
		r.Data = []byte(`{"owner":"A2"}`)
		return tx.Put(ctx, r)
	})
	update(t, s, func(tx storage.Tx) error { return tx.Delete(ctx, "A", seamKind, "x") })
	r, err := getRec(t, s, "B", "x")
	require.NoError(t, err)
	assert.JSONEq(t, `{"owner":"B"}`, string(r.Data))
	assert.EqualValues(t, 1, r.Version)
	_, err = getRec(t, s, "A", "x")
	requireCode(t, err, license.NotFound, "", "A's deleted record")
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, "C", seamKind, "x") })
	requireCode(t, err, license.NotFound, "", "a company deleting another's record id")
	_, err = getRec(t, s, "B", "x")
	require.NoError(t, err)
}

func testDelete(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "a", "p", "u", `{}`)) })
	update(t, s, func(tx storage.Tx) error { return tx.Delete(ctx, "acme", seamKind, "a") })
	_, err := getRec(t, s, "acme", "a")
	requireCode(t, err, license.NotFound, "", "Get after Delete")
	assert.Empty(t, list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind, Parent: "p"}))
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, "acme", seamKind, "a") })
	requireCode(t, err, license.NotFound, "", "Delete of a missing record")
	// Re-insert after delete starts a new life.
	update(t, s, func(tx storage.Tx) error { return tx.Insert(ctx, rec("acme", "a", "p", "u", `{"again":true}`)) })
	r, err := getRec(t, s, "acme", "a")
	require.NoError(t, err)
	assert.JSONEq(t, `{"again":true}`, string(r.Data))
	assert.EqualValues(t, 1, r.Version, "version restarts after delete")
}

func testViewReadOnly(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "a", "", "", `{"n":1}`)) })
	err := s.View(ctx, func(tx storage.Tx) error {
		assert.Error(t, tx.Put(ctx, rec("acme", "a", "", "", `{"n":2}`)), "Put in View")
		assert.Error(t, tx.Insert(ctx, rec("acme", "b", "", "", `{}`)), "Insert in View")
		assert.Error(t, tx.Delete(ctx, "acme", seamKind, "a"), "Delete in View")
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "e", Company: "acme", Time: time.Now(), Type: "t"})
		assert.Error(t, err, "AppendEvent in View")
		return nil
	})
	require.NoError(t, err)
	r, err := getRec(t, s, "acme", "a")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":1}`, string(r.Data))
	_, err = getRec(t, s, "acme", "b")
	requireCode(t, err, license.NotFound, "", "Insert in View stored nothing")
	assert.Empty(t, events(t, s, eventlog.Filter{Company: "acme"}))
}

func testRollback(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	update(t, s, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "keep", "", "k", `{"n":1}`)))
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "e0", Company: "acme", Time: at, Type: "kept"})
		return err
	})
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "keep", "", "k2", `{"n":2}`)))
		require.NoError(t, tx.Insert(ctx, rec("acme", "new", "", "", `{}`)))
		require.NoError(t, tx.Delete(ctx, "acme", seamKind, "keep"))
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "e1", Company: "acme", Time: at, Type: "lost"})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom, "Update returns fn's error")
	r, err := getRec(t, s, "acme", "keep")
	require.NoError(t, err, "a rolled-back Delete")
	assert.JSONEq(t, `{"n":1}`, string(r.Data))
	assert.Equal(t, "k", r.Unique)
	assert.EqualValues(t, 1, r.Version)
	_, err = getRec(t, s, "acme", "new")
	requireCode(t, err, license.NotFound, "", "rolled-back Insert")
	evs := events(t, s, eventlog.Filter{Company: "acme"})
	require.Len(t, evs, 1, "rolled-back event")
	assert.Equal(t, eventlog.Type("kept"), evs[0].Type)

	// A panic in fn rolls back too (and propagates).
	func() {
		defer func() { assert.NotNil(t, recover(), "panic propagates") }()
		_ = s.Update(ctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Put(ctx, rec("acme", "panicked", "", "", `{}`)))
			panic("fn panics")
		})
	}()
	_, err = getRec(t, s, "acme", "panicked")
	requireCode(t, err, license.NotFound, "", "write of a panicking Update")
	// The store still works afterwards.
	update(t, s, func(tx storage.Tx) error { return tx.Put(ctx, rec("acme", "after", "", "", `{}`)) })
}

func events(t testing.TB, s storage.Store, f eventlog.Filter) []eventlog.Event {
	t.Helper()
	var out []eventlog.Event
	view(t, s, func(tx storage.Tx) error {
		return tx.Events(context.Background(), f, func(e eventlog.Event) error {
			out = append(out, e)
			return nil
		})
	})
	return out
}

func countEvents(t testing.TB, s storage.Store, f eventlog.Filter) int64 {
	t.Helper()
	var n int64
	view(t, s, func(tx storage.Tx) error {
		var err error
		n, err = tx.CountEvents(context.Background(), f)
		return err
	})
	return n
}

func testEventSeq(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	var seqs []int64
	for i := range 3 {
		update(t, s, func(tx storage.Tx) error {
			for j := range 2 {
				seq, err := tx.AppendEvent(ctx, eventlog.Event{
					ID: fmt.Sprintf("e%d-%d", i, j), Company: "acme", Time: at, Type: "t",
					Source: "src", Target: "tgt", Count: int64(-i), Actor: "a@b.c", Subject: "s",
					Details: json.RawMessage(`{"k": [1, 2]}`),
				})
				require.NoError(t, err)
				seqs = append(seqs, seq)
			}
			return nil
		})
	}
	for i := 1; i < len(seqs); i++ {
		require.Greater(t, seqs[i], seqs[i-1], "AppendEvent assigns increasing Seq: %v", seqs)
	}
	// A rolled-back append does not disturb later sequence numbers' order.
	_ = s.Update(ctx, func(tx storage.Tx) error {
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "lost", Company: "acme", Time: at, Type: "t"})
		require.NoError(t, err)
		return errors.New("roll back")
	})
	update(t, s, func(tx storage.Tx) error {
		seq, err := tx.AppendEvent(ctx, eventlog.Event{ID: "last", Company: "acme", Time: at, Type: "t"})
		require.Greater(t, seq, seqs[len(seqs)-1])
		seqs = append(seqs, seq)
		return err
	})
	// Missing required fields are refused.
	for name, e := range map[string]eventlog.Event{
		"no company": {ID: "x", Time: at, Type: "t"},
		"no id":      {Company: "acme", Time: at, Type: "t"},
		"no type":    {ID: "x", Company: "acme", Time: at},
		"no time":    {ID: "x", Company: "acme", Type: "t"},
	} {
		err := s.Update(ctx, func(tx storage.Tx) error {
			_, err := tx.AppendEvent(ctx, e)
			return err
		})
		assert.Error(t, err, "AppendEvent with %s", name)
	}

	evs := events(t, s, eventlog.Filter{Company: "acme", Sort: eventlog.ColTime})
	require.Len(t, evs, 7)
	for i, e := range evs {
		assert.Equal(t, seqs[i], e.Seq, "events with equal time come in Seq order")
	}
	e := evs[2]
	assert.Equal(t, "e1-0", e.ID)
	assert.Equal(t, "acme", e.Company)
	assert.True(t, e.Time.Equal(at), "time round-trips: %v", e.Time)
	assert.Equal(t, time.UTC, e.Time.Location(), "time is UTC")
	assert.Equal(t, eventlog.Type("t"), e.Type)
	assert.Equal(t, "src", e.Source)
	assert.Equal(t, "tgt", e.Target)
	assert.EqualValues(t, -1, e.Count)
	assert.Equal(t, "a@b.c", e.Actor)
	assert.Equal(t, "s", e.Subject)
	assert.Equal(t, `{"k": [1, 2]}`, string(e.Details), "details byte-for-byte")
	assert.Empty(t, evs[6].Details, "no details stays empty")
	assert.EqualValues(t, 7, countEvents(t, s, eventlog.Filter{Company: "acme"}))

	// fn's error stops the scan.
	stop := errors.New("stop")
	n := 0
	err := s.View(ctx, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: "acme"}, func(eventlog.Event) error {
			n++
			if n == 2 {
				return stop
			}
			return nil
		})
	})
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 2, n)

	// Events inside Update see the tx's own appends.
	update(t, s, func(tx storage.Tx) error {
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "own", Company: "acme", Time: at, Type: "own"})
		require.NoError(t, err)
		var got []string
		require.NoError(t, tx.Events(ctx, eventlog.Filter{Company: "acme", Types: []eventlog.Type{"own"}}, func(e eventlog.Event) error {
			got = append(got, e.ID)
			return nil
		}))
		assert.Equal(t, []string{"own"}, got)
		return nil
	})
}

// genEvents appends n events of company with deliberately colliding values
// (equal times, types, counts) so that sorting needs the Seq tie-break.
func genEvents(t testing.TB, s storage.Store, rnd *rand.Rand, company string, n int) []eventlog.Event {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	types := []eventlog.Type{"allocated", "released", "Purchase", "topup.raised", "transfer"}
	names := []string{"", "Berlin", "berlin", "Main Site", "site_1", "site%2", "Zürich", "42x"}
	actors := []string{"system", "Anna@Example.com", "bob@example.com", "ops_1@x.io"}
	var out []eventlog.Event
	ctx := context.Background()
	for len(out) < n {
		batch := min(1+rnd.IntN(4), n-len(out))
		update(t, s, func(tx storage.Tx) error {
			var added []eventlog.Event
			for range batch {
				e := eventlog.Event{
					ID:      fmt.Sprintf("%s-%04d", company, rnd.IntN(10000)),
					Company: company,
					Time:    base.Add(time.Duration(rnd.IntN(6))*time.Second + time.Duration(rnd.IntN(3))*time.Nanosecond),
					Type:    types[rnd.IntN(len(types))],
					Source:  names[rnd.IntN(len(names))],
					Target:  names[rnd.IntN(len(names))],
					Count:   int64(rnd.IntN(25) - 3),
					Actor:   actors[rnd.IntN(len(actors))],
					Subject: names[rnd.IntN(len(names))],
				}
				if rnd.IntN(2) == 0 {
					e.Details = json.RawMessage(`{"i":` + strconv.Itoa(len(out)+len(added)) + `}`)
				}
				seq, err := tx.AppendEvent(ctx, e)
				if err != nil {
					return err
				}
				e.Seq = seq
				added = append(added, e)
			}
			out = append(out, added...)
			return nil
		})
	}
	return out
}

// cursorKey returns the text form of e's value in column c that cursors carry
// (the cursor rule of package eventlog): count and seq as decimals, time as UTC with nine
// fractional digits ("2006-01-02T15:04:05.000000000Z"), the other columns as
// they are.
func cursorKey(e eventlog.Event, c eventlog.Column) string { return storage.CursorKey(e, c) }

// compareEvents orders a and b by column c (count numerically, text by bytes),
// then by Seq.
func compareEvents(a, b eventlog.Event, c eventlog.Column) int {
	var r int
	switch c {
	case eventlog.ColCount:
		r = cmpI64(a.Count, b.Count)
	case eventlog.ColSeq:
		r = 0 // the tie-break is the order
	case eventlog.ColTime, "":
		r = a.Time.Compare(b.Time)
	default:
		r = strings.Compare(cursorKey(a, c), cursorKey(b, c))
	}
	if r != 0 {
		return r
	}
	return cmpI64(a.Seq, b.Seq)
}

func cmpI64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedEvents(evs []eventlog.Event, c eventlog.Column, desc bool) []eventlog.Event {
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b eventlog.Event) int {
		if desc {
			return compareEvents(b, a, c)
		}
		return compareEvents(a, b, c)
	})
	return out
}

func seqsOf(evs []eventlog.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func matchesSearch(e eventlog.Event, search string) bool {
	for _, h := range []string{string(e.Type), e.Source, e.Target, e.Actor, e.Subject, strconv.FormatInt(e.Count, 10)} {
		if containsEqualFold(h, search) {
			return true
		}
	}
	return false
}

// containsEqualFold reports whether some run of text's characters equals
// needle under strings.EqualFold: the search rule, written without
// storage.FoldSearch so that the suite checks the stores against an independent
// model. (Simple case folding maps one character to one, so a match has as
// many characters as needle.)
func containsEqualFold(text, needle string) bool {
	h, n := []rune(text), []rune(needle)
	for i := 0; i+len(n) <= len(h); i++ {
		if strings.EqualFold(string(h[i:i+len(n)]), needle) {
			return true
		}
	}
	return false
}

func testEventFilter(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	all := genEvents(t, s, rnd, "acme", 60)
	genEvents(t, s, rnd, "other", 20)

	got := events(t, s, eventlog.Filter{Company: "acme"})
	assert.Equal(t, seqsOf(sortedEvents(all, eventlog.ColTime, false)), seqsOf(got), "company filter, default sort by time")
	assert.EqualValues(t, len(all), countEvents(t, s, eventlog.Filter{Company: "acme"}))
	assert.Empty(t, events(t, s, eventlog.Filter{Company: "nobody"}))

	types := []eventlog.Type{"allocated", "Purchase"}
	var want []eventlog.Event
	for _, e := range all {
		if slices.Contains(types, e.Type) {
			want = append(want, e)
		}
	}
	got = events(t, s, eventlog.Filter{Company: "acme", Types: types})
	assert.Equal(t, seqsOf(sortedEvents(want, eventlog.ColTime, false)), seqsOf(got), "Types filter")
	assert.EqualValues(t, len(want), countEvents(t, s, eventlog.Filter{Company: "acme", Types: types}))

	// Search: case-insensitive substring over type, source, target, actor,
	// subject and count; % and _ are literal characters, not patterns.
	for _, q := range []string{"berlin", "BERLIN", "purch", "example.COM", "site_", "_", "%", "site%2", "2", "-", "1", "zzz", "@", "42", "Zür", "main s"} {
		want = want[:0]
		for _, e := range all {
			if matchesSearch(e, q) {
				want = append(want, e)
			}
		}
		for _, sortCol := range []eventlog.Column{eventlog.ColTime, eventlog.ColSource} {
			f := eventlog.Filter{Company: "acme", Search: q, Sort: sortCol, Desc: true}
			got = events(t, s, f)
			assert.Equal(t, seqsOf(sortedEvents(want, sortCol, true)), seqsOf(got), "Search %q sorted by %s", q, sortCol)
		}
		assert.EqualValues(t, len(want), countEvents(t, s, eventlog.Filter{Company: "acme", Search: q}), "CountEvents with Search %q", q)
		f := eventlog.Filter{Company: "acme", Search: q, Types: []eventlog.Type{"transfer"}}
		n := 0
		for _, e := range want {
			if e.Type == "transfer" {
				n++
			}
		}
		assert.EqualValues(t, n, countEvents(t, s, f), "Search %q and Types", q)
	}

	// Limit, and CountEvents ignoring After and Limit.
	got = events(t, s, eventlog.Filter{Company: "acme", Limit: 7})
	assert.Equal(t, seqsOf(sortedEvents(all, eventlog.ColTime, false)[:7]), seqsOf(got), "Limit")
	assert.EqualValues(t, len(all), countEvents(t, s, eventlog.Filter{Company: "acme", Limit: 7, After: &eventlog.Cursor{Key: cursorKey(got[6], eventlog.ColTime), Seq: got[6].Seq}}))

	// Unsortable column.
	err := s.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: "acme", Sort: eventlog.ColDetails}, func(eventlog.Event) error { return nil })
	})
	assert.Error(t, err, "sorting by details is refused")
}

var sortColumns = []eventlog.Column{"", eventlog.ColTime, eventlog.ColType, eventlog.ColSource, eventlog.ColTarget, eventlog.ColCount, eventlog.ColActor, eventlog.ColSubject, eventlog.ColID, eventlog.ColSeq}

func testEventSort(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	rnd := rand.New(rand.NewPCG(3, 4))
	all := genEvents(t, s, rnd, "acme", 50)
	for _, c := range sortColumns {
		for _, desc := range []bool{false, true} {
			got := events(t, s, eventlog.Filter{Company: "acme", Sort: c, Desc: desc})
			assert.Equal(t, seqsOf(sortedEvents(all, c, desc)), seqsOf(got), "sort by %q desc=%v (ties by Seq in the same direction)", c, desc)
		}
	}
}

func testEventPaging(t *testing.T, newStore Factory, f Features) {
	s := newStore(t)
	rnd := rand.New(rand.NewPCG(5, 6))
	all := genEvents(t, s, rnd, "acme", 45)
	genEvents(t, s, rnd, "other", 10)
	ctx := context.Background()
	for _, c := range sortColumns {
		for _, desc := range []bool{false, true} {
			searches := []string{""}
			if desc {
				searches = append(searches, "e") // filtered paging, in one direction (keeps the suite fast under -race)
			}
			for _, search := range searches {
				pageSize := 1 + rnd.IntN(9)
				var want []eventlog.Event
				for _, e := range all {
					if search == "" || matchesSearch(e, search) {
						want = append(want, e)
					}
				}
				start := seqsOf(want)
				var got []eventlog.Event
				var cursor *eventlog.Cursor
				for page := 0; ; page++ {
					require.Less(t, page, 1000, "paging does not end")
					pe := events(t, s, eventlog.Filter{Company: "acme", Sort: c, Desc: desc, Search: search, After: cursor, Limit: pageSize})
					require.LessOrEqual(t, len(pe), pageSize)
					if len(pe) == 0 {
						break
					}
					got = append(got, pe...)
					last := pe[len(pe)-1]
					cursor = &eventlog.Cursor{Key: cursorKey(last, c), Seq: last.Seq}
					// New events appended between pages must not disturb paging.
					if page < 12 && (page%2 == 0 && !f.Short || page%4 == 0) {
						all = append(all, genEvents(t, s, rnd, "acme", 1)...)
					}
				}
				// No duplicates, sorted, and every event present at the start seen.
				seen := map[int64]bool{}
				for i, e := range got {
					require.False(t, seen[e.Seq], "sort %q desc=%v search=%q page size %d: event seq %d seen twice", c, desc, search, pageSize, e.Seq)
					seen[e.Seq] = true
					if i > 0 {
						cmp := compareEvents(got[i-1], e, c)
						if desc {
							cmp = -cmp
						}
						require.Negative(t, cmp, "sort %q desc=%v: pages out of order at %d", c, desc, i)
					}
					if search != "" {
						require.True(t, matchesSearch(e, search))
					}
				}
				for _, seq := range start {
					require.True(t, seen[seq], "sort %q desc=%v search=%q page size %d: event seq %d missed", c, desc, search, pageSize, seq)
				}
			}
		}
	}
	// Without appends in between, paging yields exactly the full sorted list.
	for _, c := range sortColumns {
		for _, desc := range []bool{false, true} {
			want := sortedEvents(all, c, desc)
			var got []eventlog.Event
			var cursor *eventlog.Cursor
			for {
				var pe []eventlog.Event
				require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
					return tx.Events(ctx, eventlog.Filter{Company: "acme", Sort: c, Desc: desc, After: cursor, Limit: 16}, func(e eventlog.Event) error {
						pe = append(pe, e)
						return nil
					})
				}))
				if len(pe) == 0 {
					break
				}
				got = append(got, pe...)
				last := pe[len(pe)-1]
				cursor = &eventlog.Cursor{Key: cursorKey(last, c), Seq: last.Seq}
			}
			require.Equal(t, seqsOf(want), seqsOf(got), "paging sorted by %q desc=%v", c, desc)
		}
	}
}

func testConcurrentCounter(t *testing.T, newStore Factory, f Features) {
	s := newStore(t)
	ctx := context.Background()
	type counter struct {
		N int `json:"n"`
	}
	update(t, s, func(tx storage.Tx) error {
		return storage.Save(ctx, tx, rec("acme", "counter", "", "", ""), counter{})
	})
	const workers = 32
	per := 5
	if f.Short {
		per = 2
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				errs <- s.Update(ctx, func(tx storage.Tx) error {
					c, r, err := storage.Load[counter](ctx, tx, "acme", seamKind, "counter", true)
					if err != nil {
						return err
					}
					c.N++
					if err := storage.Save(ctx, tx, r, c); err != nil {
						return err
					}
					_, err = tx.AppendEvent(ctx, eventlog.Event{ID: fmt.Sprintf("w%d-%d", w, i), Company: "acme", Time: time.Now(), Type: "inc", Count: int64(c.N)})
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var c counter
	view(t, s, func(tx storage.Tx) error {
		var err error
		c, _, err = storage.Load[counter](ctx, tx, "acme", seamKind, "counter", false)
		return err
	})
	assert.Equal(t, workers*per, c.N, "read-modify-write increments under GetForUpdate are never lost")
	r, err := getRec(t, s, "acme", "counter")
	require.NoError(t, err)
	assert.EqualValues(t, workers*per+1, r.Version)
	// Every increment's event carries a distinct count 1..N.
	evs := events(t, s, eventlog.Filter{Company: "acme", Sort: eventlog.ColCount})
	require.Len(t, evs, workers*per)
	for i, e := range evs {
		assert.EqualValues(t, i+1, e.Count)
	}
}

// testFaultLeavesNothing checks, through Faulty, that an operation failing at
// any of its writes or at commit leaves the store exactly as it was.
func testFaultLeavesNothing(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	fs := NewFaulty(s)
	ctx := context.Background()
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	update(t, fs, func(tx storage.Tx) error {
		require.NoError(t, tx.Put(ctx, rec("acme", "a", "", "ua", `{"n":1}`)))
		require.NoError(t, tx.Put(ctx, rec("acme", "b", "", "", `{"n":1}`)))
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: "e0", Company: "acme", Time: at, Type: "t"})
		return err
	})
	snapshot := func() string {
		var sb strings.Builder
		for _, r := range list(t, s, storage.ListQuery{Company: "acme", Kind: seamKind}) {
			fmt.Fprintf(&sb, "%s|%s|%s|%d;", r.ID, r.Unique, r.Data, r.Version)
		}
		for _, e := range events(t, s, eventlog.Filter{Company: "acme"}) {
			fmt.Fprintf(&sb, "%d|%s;", e.Seq, e.ID)
		}
		return sb.String()
	}
	before := snapshot()
	op := func(tx storage.Tx) error {
		r, err := tx.GetForUpdate(ctx, "acme", seamKind, "a")
		if err != nil {
			return err
		}
		r.Data = []byte(`{"n":2}`)
		r.Unique = "ua2"
		if err := tx.Put(ctx, r); err != nil {
			return err
		}
		if err := tx.Insert(ctx, rec("acme", "c", "", "uc", `{}`)); err != nil {
			return err
		}
		if err := tx.Delete(ctx, "acme", seamKind, "b"); err != nil {
			return err
		}
		_, err = tx.AppendEvent(ctx, eventlog.Event{ID: "e1", Company: "acme", Time: at, Type: "t"})
		return err
	}
	for n := 1; n <= 4; n++ {
		fs.FailWrite(n)
		err := fs.Update(ctx, op)
		require.ErrorIs(t, err, FaultError, "fault at write %d", n)
		assert.Equal(t, before, snapshot(), "state after a fault at write %d", n)
	}
	fs.FailCommit(1)
	require.ErrorIs(t, fs.Update(ctx, op), FaultError, "fault at commit")
	assert.Equal(t, before, snapshot(), "state after a fault at commit")
	assert.Equal(t, 5, fs.Injected())
	fs.Disarm()
	update(t, fs, op)
	assert.NotEqual(t, before, snapshot(), "without faults the operation commits")
	_, err := getByUnique(t, s, "acme", "ua2")
	require.NoError(t, err)
}
