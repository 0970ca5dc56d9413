package storage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Stores hash with the same encoding as eventlog verifies with: the golden
// hashes of eventlog's own test, and every hashed field counts.
func TestHashMatchesEventlogGolden(t *testing.T) {
	e := eventlog.Event{ID: "id1", Company: "c", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Type: "a.b",
		Source: "s", Target: "t", Count: -7, Actor: "x@y", Subject: "sub", Details: []byte(`{"k":1}`)}
	assert.Equal(t, "b913ecd02d783cb904bc19d9e0cda517ef535d9f453dd3f484b9caad2cd12ae3", storage.ChainHash("", e))
	assert.Equal(t, "29af1b4af70cd931ce994ba658c57ff53bf4cffb7ba0524fc1bda18685aea57e", storage.ChainHash("abc", e))
	for name, change := range map[string]func(*eventlog.Event){
		"id": func(e *eventlog.Event) { e.ID = "id2" }, "company": func(e *eventlog.Event) { e.Company = "d" },
		"time": func(e *eventlog.Event) { e.Time = e.Time.Add(1) }, "type": func(e *eventlog.Event) { e.Type = "a.c" },
		"source": func(e *eventlog.Event) { e.Source = "s2" }, "target": func(e *eventlog.Event) { e.Target = "t2" },
		"count": func(e *eventlog.Event) { e.Count = 7 }, "actor": func(e *eventlog.Event) { e.Actor = "y@x" },
		"subject": func(e *eventlog.Event) { e.Subject = "sub2" }, "details": func(e *eventlog.Event) { e.Details = []byte(`{"k":2}`) },
	} {
		e2 := e
		change(&e2)
		assert.NotEqual(t, storage.ChainHash("", e), storage.ChainHash("", e2), name)
	}
}

// Stores' cursor keys are the ones eventlog's Query hands out: a cell of
// every column but time and details is its key; time keys are fixed width.
func TestSortKeyMatchesEventlog(t *testing.T) {
	e := eventlog.Event{ID: "id1", Seq: 12, Chain: 9, Company: "c", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("EET", 7200)),
		Type: "a.b", Source: "s", Target: "t", Count: -7, Actor: "x@y", Subject: "sub"}
	for _, c := range []eventlog.Column{eventlog.ColID, eventlog.ColType, eventlog.ColSource, eventlog.ColTarget,
		eventlog.ColCount, eventlog.ColActor, eventlog.ColSubject} {
		assert.Equal(t, eventlog.Cell(e, c), storage.CursorKey(e, c), c)
	}
	assert.Equal(t, "12", storage.CursorKey(e, eventlog.ColSeq))
	assert.Equal(t, "9", storage.CursorKey(e, eventlog.ColChain))
	assert.Equal(t, "2026-01-02T01:04:05.000000000Z", storage.CursorKey(e, eventlog.ColTime))
}

// A store that matches FoldSearch(needle) inside SearchText selects what
// eventlog.Filter.Matches selects.
func TestSearchTextMatchesFilter(t *testing.T) {
	e := eventlog.Event{Type: "site.created", Source: "Ääni Oy", Target: "École", Count: 42, Actor: "a@b", Subject: "s1"}
	for _, needle := range []string{"ääni", "ÄÄNI", "école", "ECOLE", "42", "site.", "A@B", "nothing", "Oy", "σ"} {
		want := eventlog.Filter{Search: needle}.Matches(e)
		assert.Equal(t, want, strings.Contains(storage.SearchText(e), storage.FoldSearch(needle)), needle)
	}
}

// NotFound builds its message without fmt; it must say what fmt would.
func TestNotFoundMessage(t *testing.T) {
	for _, id := range []string{"p1", `with "quotes" and \ and é`, "\x00\n"} {
		err := storage.NotFound("pool", id)
		require.Equal(t, license.Errorf(license.NotFound, "id", "no %s with id %q", "pool", id), err)
	}
}
