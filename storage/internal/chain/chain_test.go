package chain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage/internal/chain"
)

// The stores hash with the same encoding as eventlog verifies with: the golden
// hashes of eventlog's own test, and every hashed field counts.
func TestHashMatchesEventlogGolden(t *testing.T) {
	e := eventlog.Event{ID: "id1", Company: "c", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Type: "a.b",
		Source: "s", Target: "t", Count: -7, Actor: "x@y", Subject: "sub", Details: []byte(`{"k":1}`)}
	assert.Equal(t, "b913ecd02d783cb904bc19d9e0cda517ef535d9f453dd3f484b9caad2cd12ae3", chain.Hash("", e))
	assert.Equal(t, "29af1b4af70cd931ce994ba658c57ff53bf4cffb7ba0524fc1bda18685aea57e", chain.Hash("abc", e))
	for name, change := range map[string]func(*eventlog.Event){
		"id": func(e *eventlog.Event) { e.ID = "id2" }, "company": func(e *eventlog.Event) { e.Company = "d" },
		"time": func(e *eventlog.Event) { e.Time = e.Time.Add(1) }, "type": func(e *eventlog.Event) { e.Type = "a.c" },
		"source": func(e *eventlog.Event) { e.Source = "s2" }, "target": func(e *eventlog.Event) { e.Target = "t2" },
		"count": func(e *eventlog.Event) { e.Count = 7 }, "actor": func(e *eventlog.Event) { e.Actor = "y@x" },
		"subject": func(e *eventlog.Event) { e.Subject = "sub2" }, "details": func(e *eventlog.Event) { e.Details = []byte(`{"k":2}`) },
	} {
		e2 := e
		change(&e2)
		assert.NotEqual(t, chain.Hash("", e), chain.Hash("", e2), name)
	}
}

// The stores' cursor keys are the ones eventlog's Query hands out: a cell of
// every column but time and details is its key; time keys are fixed width.
func TestSortKeyMatchesEventlog(t *testing.T) {
	e := eventlog.Event{ID: "id1", Seq: 12, Chain: 9, Company: "c", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("EET", 7200)),
		Type: "a.b", Source: "s", Target: "t", Count: -7, Actor: "x@y", Subject: "sub"}
	for _, c := range []eventlog.Column{eventlog.ColID, eventlog.ColType, eventlog.ColSource, eventlog.ColTarget,
		eventlog.ColCount, eventlog.ColActor, eventlog.ColSubject} {
		assert.Equal(t, eventlog.Cell(e, c), chain.SortKey(e, c), c)
	}
	assert.Equal(t, "12", chain.SortKey(e, eventlog.ColSeq))
	assert.Equal(t, "9", chain.SortKey(e, eventlog.ColChain))
	assert.Equal(t, "2026-01-02T01:04:05.000000000Z", chain.SortKey(e, eventlog.ColTime))
}
