package memory

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// TestChainDetectsEditsInMemory tampers with the memory store's committed
// events (as code holding the store could) and checks that Verify reports the
// first broken link: a previous-hash link pointing elsewhere (with the event's
// hash recomputed to match it) and a changed count.
func TestChainDetectsEditsInMemory(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(evs []eventlog.Event)
		broken int // index among acme's events
		reason string
	}{
		{"previous hash relinked", func(evs []eventlog.Event) {
			evs[2].PrevHash = evs[0].Hash
			evs[2].Hash = storage.ChainHash(evs[2].PrevHash, evs[2])
		}, 2, "link to the previous event"},
		{"previous hash emptied", func(evs []eventlog.Event) {
			evs[3].PrevHash = ""
			evs[3].Hash = storage.ChainHash("", evs[3])
		}, 3, "link to the previous event"},
		{"count changed", func(evs []eventlog.Event) { evs[1].Count = 999 }, 1, "content does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			for i := range 5 {
				for _, c := range []string{"acme", "other"} {
					require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
						_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: c, Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
							Type: "license.purchase", Count: int64(i), Actor: "ann@example.com"})
						return err
					}))
				}
			}
			v, err := storage.VerifyChain(ctx, s, "acme", time.Now())
			require.NoError(t, err)
			require.True(t, v.Intact, "untouched chain: %+v", v)
			require.EqualValues(t, 5, v.Checked)

			var acme []eventlog.Event
			for _, i := range s.byCompany["acme"] {
				acme = append(acme, *s.event(i))
			}
			tc.tamper(acme)
			for j, i := range s.byCompany["acme"] {
				*s.event(i) = acme[j]
			}
			v, err = storage.VerifyChain(ctx, s, "acme", time.Now())
			require.NoError(t, err)
			require.False(t, v.Intact, "tampering went unnoticed")
			require.Equal(t, acme[tc.broken].Seq, v.BrokenSeq, "%+v", v)
			require.Contains(t, v.Reason, tc.reason)
			v, err = storage.VerifyChain(ctx, s, "other", time.Now())
			require.NoError(t, err)
			require.True(t, v.Intact, "another company's chain is independent: %+v", v)
		})
	}
}

// TestLogAcrossBlocks appends enough events to fill several blocks of the
// log and reads them all back, in order, each once.
func TestLogAcrossBlocks(t *testing.T) {
	ctx := context.Background()
	s := New()
	n := 2*eventBlock + 3
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			if _, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: "acme", Time: time.Date(2026, 1, 1, 0, 0, 0, i, time.UTC),
				Type: "license.purchase", Count: int64(i), Actor: "ann@example.com"}); err != nil {
				return err
			}
		}
		return nil
	}))
	var got []int64
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: "acme"}, func(e eventlog.Event) error {
			got = append(got, e.Count)
			return nil
		})
	}))
	require.Len(t, got, n)
	for i, c := range got {
		require.EqualValues(t, i, c, "event %d", i)
	}
	v, err := storage.VerifyChain(ctx, s, "acme", time.Now())
	require.NoError(t, err)
	require.True(t, v.Intact, "%+v", v)
	require.EqualValues(t, n, v.Checked)
}
