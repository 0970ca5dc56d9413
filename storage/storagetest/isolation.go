package storagetest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("isolation",
		Test{"TenantsInOneTx", testTenantsInOneTx},
	)
}

// testTenantsInOneTx: inside one transaction that holds uncommitted writes of
// two companies (same kind, same IDs, parents and unique names, over
// committed rows of both), every read call of the Tx for one company shows
// that company's rows only: Get, GetForUpdate, GetByUnique, List (by parent,
// after an ID, with a limit), Events and CountEvents; a unique name taken by
// the other company does not clash; a delete by one leaves the other's row.
func testTenantsInOneTx(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	owner := func(r storage.Record) string {
		var v struct{ Owner string }
		require.NoError(t, json.Unmarshal(r.Data, &v))
		return v.Owner
	}
	update(t, s, func(tx storage.Tx) error {
		for _, c := range []string{"A", "B"} {
			if err := tx.Put(ctx, rec(c, "c1", "p", "cu", `{"owner":"`+c+`"}`)); err != nil {
				return err
			}
			if err := tx.Put(ctx, rec(c, "c2", "q", "cu2", `{"owner":"`+c+`"}`)); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx storage.Tx) error {
		// Uncommitted: both companies write the same keys; B renames and
		// re-parents its c1; A deletes its c2; each has ids of its own.
		for _, c := range []string{"A", "B"} {
			require.NoError(t, tx.Put(ctx, rec(c, "x", "p", "name", `{"owner":"`+c+`"}`)))
			_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: c, Time: at, Type: "t", Actor: "a@" + c})
			require.NoError(t, err)
		}
		require.NoError(t, tx.Put(ctx, rec("A", "only-a", "p", "ua", `{"owner":"A"}`)))
		require.NoError(t, tx.Put(ctx, rec("B", "only-b", "p", "ub", `{"owner":"B"}`)))
		require.NoError(t, tx.Put(ctx, rec("B", "c1", "r", "cu-b", `{"owner":"B"}`)))
		require.NoError(t, tx.Delete(ctx, "A", seamKind, "c2"))
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: "B", Time: at, Type: "t", Actor: "b@B"})
		require.NoError(t, err)

		wantIDs := map[string][]string{
			"A": {"c1", "only-a", "x"},
			"B": {"c1", "c2", "only-b", "x"},
		}
		wantParentP := map[string][]string{
			"A": {"c1", "only-a", "x"},
			"B": {"only-b", "x"},
		}
		wantUniques := map[string]map[string]string{ // unique -> id; "" = not found
			"A": {"name": "x", "ua": "only-a", "cu": "c1", "cu2": "", "ub": "", "cu-b": ""},
			"B": {"name": "x", "ub": "only-b", "cu": "", "cu2": "c2", "ua": "", "cu-b": "c1"},
		}
		wantEvents := map[string]int{"A": 1, "B": 2}
		for _, c := range []string{"A", "B"} {
			other := map[string]string{"A": "B", "B": "A"}[c]
			for _, id := range []string{"c1", "c2", "x", "only-a", "only-b"} {
				for _, forUpdate := range []bool{false, true} {
					var r storage.Record
					var err error
					if forUpdate {
						r, err = tx.GetForUpdate(ctx, c, seamKind, id)
					} else {
						r, err = tx.Get(ctx, c, seamKind, id)
					}
					if slices.Contains(wantIDs[c], id) {
						require.NoError(t, err, "company %s reads its %s (for update %v)", c, id, forUpdate)
						assert.Equal(t, c, r.Company)
						assert.Equal(t, c, owner(r), "company %s reads %s (for update %v)", c, id, forUpdate)
					} else {
						requireCode(t, err, license.NotFound, "", "company %s reads %s of %s (for update %v)", c, id, other, forUpdate)
					}
				}
			}
			for u, id := range wantUniques[c] {
				r, err := tx.GetByUnique(ctx, c, seamKind, u)
				if id == "" {
					requireCode(t, err, license.NotFound, "", "company %s GetByUnique %q", c, u)
					continue
				}
				require.NoError(t, err, "company %s GetByUnique %q", c, u)
				assert.Equal(t, id, r.ID, "company %s GetByUnique %q", c, u)
				assert.Equal(t, c, owner(r), "company %s GetByUnique %q", c, u)
			}
			ids := func(q storage.ListQuery) []string {
				rs, err := tx.List(ctx, q)
				require.NoError(t, err)
				out := []string{}
				for _, r := range rs {
					assert.Equal(t, c, r.Company, "List %+v", q)
					assert.Equal(t, c, owner(r), "List %+v", q)
					out = append(out, r.ID)
				}
				return out
			}
			assert.Equal(t, wantIDs[c], ids(storage.ListQuery{Company: c, Kind: seamKind}), "company %s List", c)
			assert.Equal(t, wantParentP[c], ids(storage.ListQuery{Company: c, Kind: seamKind, Parent: "p"}), "company %s List by parent", c)
			assert.Equal(t, wantIDs[c][1:], ids(storage.ListQuery{Company: c, Kind: seamKind, AfterID: "c1"}), "company %s List after c1", c)
			assert.Equal(t, wantIDs[c][:2], ids(storage.ListQuery{Company: c, Kind: seamKind, Limit: 2}), "company %s List limit 2", c)
			n := 0
			require.NoError(t, tx.Events(ctx, eventlog.Filter{Company: c}, func(e eventlog.Event) error {
				assert.Equal(t, c, e.Company, "company %s Events", c)
				n++
				return nil
			}))
			assert.Equal(t, wantEvents[c], n, "company %s Events", c)
			cnt, err := tx.CountEvents(ctx, eventlog.Filter{Company: c})
			require.NoError(t, err)
			assert.EqualValues(t, wantEvents[c], cnt, "company %s CountEvents", c)
		}
		// A unique name the other company holds, committed or not, is free.
		require.NoError(t, tx.Put(ctx, rec("A", "y", "", "ub", `{"owner":"A"}`)), "A takes B's uncommitted unique name")
		require.NoError(t, tx.Put(ctx, rec("A", "z", "", "cu-b", `{"owner":"A"}`)), "A takes B's renamed unique name")
		require.NoError(t, tx.Insert(ctx, rec("B", "only-a", "", "", `{"owner":"B"}`)), "B inserts an id only A has")
		r, err := tx.GetByUnique(ctx, "B", seamKind, "ub")
		require.NoError(t, err)
		assert.Equal(t, "only-b", r.ID)
		r, err = tx.Get(ctx, "A", seamKind, "only-a")
		require.NoError(t, err)
		assert.Equal(t, "A", owner(r))
		return nil
	})
	// After commit, each company still sees its own.
	for c, ids := range map[string][]string{"A": {"c1", "only-a", "x", "y", "z"}, "B": {"c1", "c2", "only-a", "only-b", "x"}} {
		var got []string
		for _, r := range list(t, s, storage.ListQuery{Company: c, Kind: seamKind}) {
			assert.Equal(t, c, owner(r))
			got = append(got, r.ID)
		}
		assert.Equal(t, ids, got, "company %s after commit", c)
	}
}
