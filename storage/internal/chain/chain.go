// Package chain applies the event log's rules to eventlog.Event for the stores
// (memory, SQLite, PostgreSQL, the shared checkpoint code and the conformance
// suite): the hash that links events into a company's chain, the cursor sort
// key, and the folded search text. They are the rules package eventlog
// verifies, pages and searches with (internal/eventcore).
package chain

import (
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/internal/eventcore"
)

// Hash returns the chain hash of e after prev (e's own PrevHash and Hash are
// not hashed).
func Hash(prev string, e eventlog.Event) string { return eventcore.Hash(prev, fields(e)) }

// SortKey returns e's value in column c as cursor text (see eventlog.Cursor).
func SortKey(e eventlog.Event, c eventlog.Column) string {
	return eventcore.SortKey(fields(e), string(c))
}

func fields(e eventlog.Event) eventcore.Fields {
	return eventcore.Fields{ID: e.ID, Seq: e.Seq, Company: e.Company, Time: e.Time, Type: string(e.Type),
		Source: e.Source, Target: e.Target, Count: e.Count, Actor: e.Actor, Subject: e.Subject,
		Details: e.Details, Chain: e.Chain}
}

// SearchText returns the folded text a store's Filter.Search looks in (the
// SQL stores keep it in a column written at append).
func SearchText(e eventlog.Event) string { return eventcore.SearchText(fields(e)) }
