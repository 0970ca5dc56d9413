// Package chain applies the event log's chain hash and cursor sort key to
// eventlog.Event for the stores (memory, SQLite, PostgreSQL, the shared
// checkpoint code and the conformance suite), which link events into a
// company's chain and page through them. It is the same rule package eventlog
// verifies with.
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
