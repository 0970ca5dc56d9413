package eventlog_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
)

// TestHashEventGolden pins the chain hash's encoding: stored chains made by
// earlier versions must keep verifying, so any change to HashEvent's input
// must be a new version of it, not an edit.
func TestHashEventGolden(t *testing.T) {
	e := eventlog.Event{ID: "id1", Company: "c", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Type: "a.b",
		Source: "s", Target: "t", Count: -7, Actor: "x@y", Subject: "sub", Details: []byte(`{"k":1}`)}
	assert.Equal(t, "b913ecd02d783cb904bc19d9e0cda517ef535d9f453dd3f484b9caad2cd12ae3", eventlog.HashEvent("", e))
	assert.Equal(t, "29af1b4af70cd931ce994ba658c57ff53bf4cffb7ba0524fc1bda18685aea57e", eventlog.HashEvent("abc", e))
	// The time is hashed in UTC: another zone for the same instant hashes alike.
	e2 := e
	e2.Time = e.Time.In(time.FixedZone("EET", 2*3600))
	assert.Equal(t, eventlog.HashEvent("", e), eventlog.HashEvent("", e2))
	// Every field counts.
	e3 := e
	e3.Count = 7
	assert.NotEqual(t, eventlog.HashEvent("", e), eventlog.HashEvent("", e3))
}

// sliceReader serves events in slice order (its chain order), one company's.
type sliceReader []eventlog.Event

func (r sliceReader) Events(_ context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	for _, e := range r {
		if e.Company != f.Company {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// chainOf links n events of company c as a store does.
func chainOf(c string, n int) []eventlog.Event {
	var out []eventlog.Event
	prev := ""
	for i := range n {
		e := eventlog.Event{Seq: int64(i + 1), ID: fmt.Sprintf("e%d", i+1), Company: c, Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
			Type: "license.purchase", Target: "Helsinki", Count: int64(i), Actor: "ann@example.com", PrevHash: prev, Chain: int64(i + 1)}
		e.Hash = eventlog.HashEvent(prev, e)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// TestVerifyDetectsBrokenLinks: Verify accepts an intact chain and reports the
// first broken link of a tampered one, naming the event and the reason: a
// previous-hash link that points elsewhere (even with the event's own hash
// recomputed to match), a first event that claims a predecessor, a removed
// event, and a changed content.
func TestVerifyDetectsBrokenLinks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	good := chainOf("acme", 5)
	other := chainOf("other", 2)
	v, err := eventlog.Verify(ctx, sliceReader(append(slices.Clone(good), other...)), "acme", now)
	require.NoError(t, err)
	require.True(t, v.Intact, "%+v", v)
	assert.EqualValues(t, 5, v.Checked)
	assert.Equal(t, good[4].Hash, v.LastHash)

	relink := func(i int, prev string) []eventlog.Event {
		evs := slices.Clone(good)
		evs[i].PrevHash = prev
		evs[i].Hash = eventlog.HashEvent(prev, evs[i]) // consistent in itself
		return evs
	}
	const linkReason = "its link to the previous event does not match"
	for _, tc := range []struct {
		name   string
		evs    []eventlog.Event
		broken string
		reason string
	}{
		{"previous hash points elsewhere", relink(2, good[0].Hash), "e3", linkReason},
		{"previous hash of another company", relink(3, other[1].Hash), "e4", linkReason},
		{"first event claims a predecessor", relink(0, good[4].Hash), "e1", linkReason},
		{"event removed", slices.Delete(slices.Clone(good), 1, 2), "e3", linkReason},
		{"content changed", func() []eventlog.Event { evs := slices.Clone(good); evs[3].Count = 99; return evs }(), "e4", "its content does not match its hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := eventlog.Verify(ctx, sliceReader(tc.evs), "acme", now)
			require.NoError(t, err)
			require.False(t, v.Intact, "tampering went unnoticed")
			assert.Equal(t, tc.broken, v.BrokenID)
			assert.Contains(t, v.Reason, tc.reason)
			assert.Empty(t, v.LastHash)
		})
	}
}
