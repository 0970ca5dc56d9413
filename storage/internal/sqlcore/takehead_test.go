package sqlcore

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
)

// fakeRows yields fixed rows; nil values scan as NULL.
type fakeRows struct {
	rows [][]any
	i    int
}

func (r *fakeRows) Next() bool   { r.i++; return r.i <= len(r.rows) }
func (r *fakeRows) Err() error   { return nil }
func (r *fakeRows) Close() error { return nil }
func (r *fakeRows) Scan(dest ...any) error {
	row := r.rows[r.i-1]
	if len(dest) != len(row) {
		panic("fakeRows: column count")
	}
	for i, d := range dest {
		dv := reflect.ValueOf(d).Elem()
		if row[i] == nil {
			dv.Set(reflect.Zero(dv.Type()))
			continue
		}
		v := reflect.ValueOf(row[i])
		if dv.Kind() == reflect.Pointer && dv.Type().Elem() == v.Type() {
			p := reflect.New(v.Type())
			p.Elem().Set(v)
			dv.Set(p)
			continue
		}
		dv.Set(v)
	}
	return nil
}

// fakePipe answers the take-head statement with head and the unlinked
// events query with unlinked, and records the queries it was asked.
type fakePipe struct {
	head     [][]any
	unlinked [][]any
	queued   []func(Rows) error
	queries  []string
}

func (p *fakePipe) Exec(context.Context, string, ...any) (int64, error) { return 0, nil }
func (p *fakePipe) Query(_ context.Context, q string, _ ...any) (Rows, error) {
	p.queries = append(p.queries, q)
	return &fakeRows{rows: p.unlinked}, nil
}
func (p *fakePipe) Queue(string, []any, func(int64, error) error) {}
func (p *fakePipe) QueueRows(q string, _ []any, rows func(Rows) error) {
	p.queued = append(p.queued, rows)
}
func (p *fakePipe) Batch(context.Context, ...Stmt) error {
	for _, f := range p.queued {
		if err := f(&fakeRows{rows: p.head}); err != nil {
			return err
		}
	}
	p.queued = nil
	return nil
}

// eventRow is an unlinked event's columns in scanEvent's order.
func eventRow(seq int64) []any {
	return []any{seq, "e", "acme", time.Unix(seq, 0).UTC().Format(TimeLayout), "pool.allocated", "", "", int64(1), "a", "p", []byte(nil), "", "", int64(0)}
}

func noEvent() []any { return make([]any, 14) }

// TestTakeHead covers the three outcomes of the take-head statement: the head
// taken with the backlog read in the same statement; taken, but locked at a
// newer position than the statement's snapshot saw (a holder linked and
// committed in between), when the backlog read with it may hold events that
// holder linked and is read again; and busy, with no backlog.
func TestTakeHead(t *testing.T) {
	ctx := context.Background()
	prefix := func(seq int64, hash any, pos, snap any) []any { return []any{seq, hash, pos, snap} }
	for _, c := range []struct {
		name         string
		head         [][]any
		unlinked     [][]any
		taken        bool
		present      bool
		backlog      []int64
		requeried    bool
		wantHeadPos  int64
		wantHeadHash string
	}{
		{name: "taken", head: [][]any{append(prefix(9, "h5", int64(5), int64(5)), eventRow(6)...), append(prefix(9, "h5", int64(5), int64(5)), eventRow(8)...)},
			taken: true, present: true, backlog: []int64{6, 8}, wantHeadPos: 5, wantHeadHash: "h5"},
		{name: "taken, no backlog", head: [][]any{append(prefix(9, "h5", int64(5), int64(5)), noEvent()...)},
			taken: true, present: true, wantHeadPos: 5, wantHeadHash: "h5"},
		{name: "taken after a newer commit", head: [][]any{append(prefix(9, "h7", int64(7), int64(5)), noEvent()...)},
			unlinked: [][]any{eventRow(8)}, taken: true, present: true, backlog: []int64{8}, requeried: true, wantHeadPos: 7, wantHeadHash: "h7"},
		{name: "taken, head created after the snapshot", head: [][]any{append(prefix(9, "", int64(0), nil), noEvent()...)},
			unlinked: [][]any{eventRow(8)}, taken: true, present: true, backlog: []int64{8}, requeried: true, wantHeadPos: 0},
		{name: "busy", head: [][]any{append(prefix(9, nil, nil, int64(5)), noEvent()...)}, present: true},
		{name: "no head", head: [][]any{append(prefix(9, nil, nil, nil), noEvent()...)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &fakePipe{head: c.head, unlinked: c.unlinked}
			tx := &Tx{C: p, D: &Dialect{Name: "fake"}, Writable: true}
			r, err := tx.takeHead(ctx, p, "acme")
			require.NoError(t, err)
			require.Equal(t, int64(9), r.seq)
			require.Equal(t, c.present, r.present)
			require.Equal(t, c.taken, r.head != nil)
			if c.taken {
				require.Equal(t, c.wantHeadPos, r.head.pos)
				require.Equal(t, c.wantHeadHash, r.head.hash)
			}
			var seqs []int64
			for _, e := range r.backlog {
				require.Equal(t, eventlog.Type("pool.allocated"), e.Type)
				seqs = append(seqs, e.Seq)
			}
			require.Equal(t, c.backlog, seqs)
			require.Equal(t, c.requeried, len(p.queries) == 1 && strings.Contains(p.queries[0], "chain_pos IS NULL"), "queries: %q", p.queries)
			if !c.requeried {
				require.Empty(t, p.queries)
			}
		})
	}
}
