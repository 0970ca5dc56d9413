package eventlog

import (
	"encoding/json"
	"time"

	"github.com/licensekit/licensekit/internal/eventcore"
)

// Type is an event type. Each domain package declares its own (pool.EventAllocated,
// billing.EventPurchase, ...); the log treats them as opaque strings.
type Type string

// Event is one row of the audit log. Every change licensekit makes writes at least
// one, in the same storage transaction as the change itself.
//
// The visible columns are those of the MSP portal's event log (event date, event
// type, source, target, license count, initiated by); Subject and Details carry
// the structured data of the change.
type Event struct {
	ID      string          `json:"id"`      // UUIDv7, assigned by the service
	Seq     int64           `json:"seq"`     // assigned by the store at append: strictly increasing within a store
	Company string          `json:"company"` // tenant; every query is scoped to one
	Time    time.Time       `json:"time"`    // UTC
	Type    Type            `json:"type"`
	Source  string          `json:"source,omitempty"`  // e.g. source site name
	Target  string          `json:"target,omitempty"`  // e.g. target site name
	Count   int64           `json:"count"`             // license count involved
	Actor   string          `json:"actor"`             // e-mail of the initiator, or "system"
	Subject string          `json:"subject,omitempty"` // ID of the main resource (pool, site, ...)
	Details json.RawMessage `json:"details,omitempty"` // structured, type-specific JSON object
	// PrevHash and Hash chain the company's events (set by the store; see Verify).
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
	// Chain is the event's position in its company's hash chain (1, 2, ...),
	// 0 while not yet linked. Stores whose writers run one at a time link at
	// append (Chain follows Seq); PostgreSQL links committed events at the end
	// of later transactions (see storage.Sealer).
	Chain int64 `json:"chain,omitempty"`
}

// Column is a sortable, searchable, exportable column of the log.
type Column string

// The columns, in their default order.
const (
	ColID      Column = "id"
	ColTime    Column = "time"
	ColType    Column = "type"
	ColSource  Column = "source"
	ColTarget  Column = "target"
	ColCount   Column = "count"
	ColActor   Column = "actor"
	ColSubject Column = "subject"
	ColDetails Column = "details"
	// ColSeq is the append order (sortable, not exported as a column).
	ColSeq Column = "seq"
	// ColChain is the order of the hash chain; sorting by it selects only
	// events already linked into the chain.
	ColChain Column = "chain"
)

// AllColumns is every column in default order ("original data" exports these).
var AllColumns = []Column{ColID, ColTime, ColType, ColSource, ColTarget, ColCount, ColActor, ColSubject, ColDetails}

// DefaultColumns are the columns the MSP portal shows by default.
var DefaultColumns = []Column{ColTime, ColType, ColSource, ColTarget, ColCount, ColActor}

// Sortable reports whether the store can sort by c.
func (c Column) Sortable() bool {
	switch c {
	case ColTime, ColType, ColSource, ColTarget, ColCount, ColActor, ColSubject, ColID, ColSeq, ColChain:
		return true
	}
	return false
}

// Filter selects and orders events of one company. It is what a store must
// understand to serve queries and exports; eventlog.Query builds it from user input.
type Filter struct {
	Company string // required
	// Search, when set, keeps events where any of type, source, target, actor,
	// subject, or the decimal text of count contains it, ignoring case by
	// Unicode simple case folding (Filter.Matches is the reference).
	Search string
	Types  []Type // when set, only these types
	Sort   Column // "" means ColTime; ties are always broken by Seq in the same direction
	Desc   bool
	// After, when set, continues after the event at this cursor (keyset paging).
	After *Cursor
	Limit int // 0 means no limit
}

// Cursor is a position in a sorted listing: the sort key of the last event seen
// and its Seq. Stores compare (sortkey, seq) tuples, which keeps paging stable
// while new events are appended.
type Cursor struct {
	Key string `json:"k"` // the sort column's value as text (count as decimal, time as RFC3339Nano)
	Seq int64  `json:"s"`
}

// fields returns e as the event log's hash and sort-key rules read it.
func (e Event) fields() eventcore.Fields {
	return eventcore.Fields{ID: e.ID, Seq: e.Seq, Company: e.Company, Time: e.Time, Type: string(e.Type),
		Source: e.Source, Target: e.Target, Count: e.Count, Actor: e.Actor, Subject: e.Subject,
		Details: e.Details, Chain: e.Chain}
}
