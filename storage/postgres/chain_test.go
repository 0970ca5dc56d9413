package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/storagetest"
)

// TestChainDetectsDirectEdits edits stored events with plain SQL behind the
// store's back and checks that Verify reports the first broken link.
func TestChainDetectsDirectEdits(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	company := license.NewID()
	for i := 0; i < 5; i++ {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: company,
				Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), Type: "license.purchase", Source: "Helsinki", Count: int64(10 + i), Actor: "ann@example.com"})
			return err
		}))
	}
	verify := func() eventlog.Verification {
		v, err := storage.VerifyChain(ctx, s, company, time.Now())
		require.NoError(t, err)
		return v
	}
	v := verify()
	require.True(t, v.Intact, "%+v", v)
	require.EqualValues(t, 5, v.Checked)

	// Find the schema of this store: the one whose events table holds this company.
	var schemas []string
	rs, err := admin.Query(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'events'`)
	require.NoError(t, err)
	for rs.Next() {
		var sc string
		require.NoError(t, rs.Scan(&sc))
		schemas = append(schemas, sc)
	}
	rs.Close()
	schema := ""
	for _, sc := range schemas {
		var n int
		if admin.QueryRow(ctx, `SELECT count(*) FROM "`+sc+`".events WHERE company = $1`, company).Scan(&n) == nil && n > 0 {
			schema = `"` + sc + `"`
			break
		}
	}
	require.NotEmpty(t, schema, "no schema holds this test's events")
	var seqs []int64
	rows, err := admin.Query(ctx, `SELECT seq FROM `+schema+`.events WHERE company = $1 ORDER BY seq`, company)
	require.NoError(t, err)
	for rows.Next() {
		var n int64
		require.NoError(t, rows.Scan(&n))
		seqs = append(seqs, n)
	}
	rows.Close()
	require.Len(t, seqs, 5, "schema %s must hold this test's events", schema)
	tag, err := admin.Exec(ctx, `UPDATE `+schema+`.events SET "count" = 999 WHERE seq = $1`, seqs[2])
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())

	v = verify()
	require.False(t, v.Intact, "tampering went unnoticed")
	require.Equal(t, seqs[2], v.BrokenSeq, "%+v", v)

	// Deleting an event breaks the link of the one after it.
	_, err = admin.Exec(ctx, `UPDATE `+schema+`.events SET "count" = 12 WHERE seq = $1`, seqs[2])
	require.NoError(t, err)
	require.True(t, verify().Intact, "restoring the value restores the chain")
	_, err = admin.Exec(ctx, `DELETE FROM `+schema+`.events WHERE seq = $1`, seqs[1])
	require.NoError(t, err)
	v = verify()
	require.False(t, v.Intact)
	require.Equal(t, seqs[2], v.BrokenSeq, "%+v", v)
}

// holdHead appends e in a transaction that then waits, holding e's company's
// chain head, until release is called; release returns the transaction's
// outcome once it has committed.
func holdHead(t *testing.T, s storage.Store, e eventlog.Event) (release func() error) {
	t.Helper()
	held, done := make(chan struct{}), make(chan error, 1)
	free := make(chan struct{})
	go func() {
		done <- s.Update(context.Background(), func(tx storage.Tx) error {
			if _, err := tx.AppendEvent(context.Background(), e); err != nil {
				close(held)
				return err
			}
			close(held)
			<-free
			return nil
		})
	}()
	<-held
	return func() error {
		close(free)
		return <-done
	}
}

// appendEvent appends e in a transaction of its own.
func appendEvent(t *testing.T, s storage.Store, e eventlog.Event) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		_, err := tx.AppendEvent(context.Background(), e)
		return err
	}))
}

// chainIDs lists the IDs of company's linked events in chain order.
// requireIntact verifies company's chain (sealing it first) and fails the
// test unless it is intact; it returns the verification.
func requireIntact(t *testing.T, s storage.Store, company string) eventlog.Verification {
	t.Helper()
	v, err := storage.VerifyChain(context.Background(), s, company, time.Now())
	require.NoError(t, err)
	require.True(t, v.Intact, "%+v", v)
	return v
}

func chainIDs(t *testing.T, s storage.Store, company string) []string {
	t.Helper()
	var ids []string
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: company, Sort: eventlog.ColChain}, func(e eventlog.Event) error {
			ids = append(ids, e.ID)
			return nil
		})
	}))
	return ids
}

// TestChainBacklogLinkedByNextHolder holds a company's chain head in one
// transaction while 300 others append (they skip the busy head and commit
// their events unlinked), then checks that the next transaction to take the
// head links the whole backlog (more than one linking batch) before its own
// two events, without Store.Seal, and that the chain verifies.
func TestChainBacklogLinkedByNextHolder(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	company := license.NewID()
	n := int64(0)
	ev := func() eventlog.Event {
		n++
		return eventlog.Event{ID: license.NewID(), Company: company, Time: time.Date(2026, 1, 1, 0, 0, 0, int(n), time.UTC), Type: "test.append", Count: n}
	}
	appendOne := func() { appendEvent(t, s, ev()) }
	linked := func() int { return len(chainIDs(t, s, company)) }
	appendOne() // creates the head
	require.Equal(t, 1, linked())

	release := holdHead(t, s, ev())
	for range 300 {
		appendOne()
	}
	require.Equal(t, 1, linked(), "while the head is held, other transactions' events stay unlinked")
	require.NoError(t, release())
	require.Equal(t, 2, linked(), "the holder links its own event")

	e1, e2 := ev(), ev()
	var seqs []int64
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, e := range []eventlog.Event{e1, e2} {
			seq, err := tx.AppendEvent(ctx, e)
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	}))
	require.Less(t, seqs[0], seqs[1])
	require.Equal(t, 304, linked(), "the next holder links the backlog and its own events")
	var last []string
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: company, Sort: eventlog.ColChain, Desc: true, Limit: 2}, func(e eventlog.Event) error {
			last = append(last, e.ID)
			return nil
		})
	}))
	require.Equal(t, []string{e2.ID, e1.ID}, last, "the transaction's own events come last, in order")
	require.EqualValues(t, 304, requireIntact(t, s, company).Checked)
}

// TestChainBusyHeadLeavesEventForNextHolder appends in a transaction while
// another holds the company's chain head: the event commits unlinked (no
// waiting for the head, no extra round trip), and the company's next
// transaction links it, after the holder's event and before its own.
func TestChainBusyHeadLeavesEventForNextHolder(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	company := license.NewID()
	ev := func(n int) eventlog.Event {
		return eventlog.Event{ID: license.NewID(), Company: company, Time: time.Date(2026, 1, 1, 0, 0, 0, n, time.UTC), Type: "test.append", Count: int64(n)}
	}
	appendOne := func(e eventlog.Event) { appendEvent(t, s, e) }
	chain := func() []string { return chainIDs(t, s, company) }
	first := ev(1)
	appendOne(first)

	holder := ev(2)
	release := holdHead(t, s, holder)
	late := ev(3)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.AppendEvent(ctx, late); err != nil { // head busy: unlinked
			return err
		}
		return release() // the head is free again before this commits
	}))
	require.Equal(t, []string{first.ID, holder.ID}, chain(), "the late event waits for the next holder")
	next := ev(4)
	appendOne(next)
	require.Equal(t, []string{first.ID, holder.ID, late.ID, next.ID}, chain())
	require.EqualValues(t, 4, requireIntact(t, s, company).Checked)
}

// TestSealPending leaves one company's event unlinked (appended while another
// transaction held the head) and checks that SealPending skips the company
// while its head is held, links it once free, and then has nothing to do.
func TestSealPending(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, b := license.NewID(), license.NewID()
	n := 0
	ev := func(company string) eventlog.Event {
		n++
		return eventlog.Event{ID: license.NewID(), Company: company, Time: time.Date(2026, 1, 1, 0, 0, 0, n, time.UTC), Type: "test.append", Count: int64(n)}
	}
	appendOne := func(e eventlog.Event) { appendEvent(t, s, e) }
	chainLen := func(company string) int { return len(chainIDs(t, s, company)) }
	appendOne(ev(a))
	appendOne(ev(b))
	release := holdHead(t, s, ev(a))
	appendOne(ev(a)) // unlinked: the head is held
	appendOne(ev(b))

	sealed, err := s.SealPending(ctx)
	require.NoError(t, err)
	require.Zero(t, sealed, "a held head is skipped")
	require.NoError(t, release())
	require.Equal(t, 2, chainLen(a), "the holder linked its own event; the other waits")

	sealed, err = s.SealPending(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, sealed)
	require.Equal(t, 3, chainLen(a))
	require.Equal(t, 2, chainLen(b))
	sealed, err = s.SealPending(ctx)
	require.NoError(t, err)
	require.Zero(t, sealed, "nothing left to link")
	for _, c := range []string{a, b} {
		requireIntact(t, s, c)
	}
}

// TestCheckpointTampering rewrites the log with plain SQL behind the store's
// back; signed checkpoints must expose what the plain chain cannot.
func TestCheckpointTampering(t *testing.T) {
	ctx := context.Background()
	dsn, schema := freshSchema(t)
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	defer s.Close()
	storagetest.CheckpointTampering(t, s, storagetest.Tamper{
		Rewrite: func(t *testing.T, evs []eventlog.Event) {
			for _, e := range evs {
				tag, err := admin.Exec(ctx, `UPDATE `+schema+`.events SET "count" = $1, prev_hash = $2, hash = $3 WHERE company = $4 AND seq = $5`, e.Count, e.PrevHash, e.Hash, e.Company, e.Seq)
				require.NoError(t, err)
				require.EqualValues(t, 1, tag.RowsAffected())
			}
		},
		Delete: func(t *testing.T, company string, seqs ...int64) {
			for _, q := range seqs {
				tag, err := admin.Exec(ctx, `DELETE FROM `+schema+`.events WHERE company = $1 AND seq = $2`, company, q)
				require.NoError(t, err)
				require.EqualValues(t, 1, tag.RowsAffected())
			}
		},
	})
}
