package storage

import (
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/internal/eventcore"
)

// The event log rules a Store applies. A Store links each company's events
// into a hash chain, hands out cursors and searches the log; these functions
// are the one definition of each rule, the same that eventlog.Verify checks,
// eventlog.Query pages with and eventlog.Filter.Matches searches with. The
// stores of this module use them, and a store written elsewhere must too (the
// conformance suite, storagetest, checks that it does).

// ChainHash returns the chain hash of e linked after prev, the Hash of the
// company's previous event in chain order ("" for its first). A store linking
// e sets e.PrevHash = prev and e.Hash = ChainHash(prev, e). The hash covers
// every field of e except Seq, Chain, PrevHash and Hash.
func ChainHash(prev string, e eventlog.Event) string { return eventcore.Hash(prev, eventFields(e)) }

// CursorKey returns e's value in column c as the text an eventlog.Cursor
// carries: count, seq and chain as decimals, time fixed-width in UTC with nine
// fractional digits, the other columns as they are. A store compares cursor
// keys with these values (the numbers numerically, the rest as text).
func CursorKey(e eventlog.Event, c eventlog.Column) string {
	return eventcore.SortKey(eventFields(e), string(c))
}

// SearchText returns the text eventlog.Filter.Search is looked for in,
// case-folded: e's type, source, target, actor, subject and decimal count, each
// folded, joined by "\x1f". A store may keep it (SQL stores keep it in a
// column written at append) and match FoldSearch(f.Search) as a substring of
// it; a needle containing "\x1f" must then be checked with f.Matches.
func SearchText(e eventlog.Event) string { return eventcore.SearchText(eventFields(e)) }

// FoldSearch case-folds a search needle as SearchText folds the events.
func FoldSearch(s string) string { return eventcore.Fold(s) }

func eventFields(e eventlog.Event) eventcore.Fields {
	return eventcore.Fields{ID: e.ID, Seq: e.Seq, Company: e.Company, Time: e.Time, Type: string(e.Type),
		Source: e.Source, Target: e.Target, Count: e.Count, Actor: e.Actor, Subject: e.Subject,
		Details: e.Details, Chain: e.Chain}
}
