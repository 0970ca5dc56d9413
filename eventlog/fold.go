package eventlog

import (
	"slices"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/internal/eventcore"
)

// Searching the log ignores case by Unicode simple case folding, the rule of
// strings.EqualFold: two characters match when unicode.SimpleFold cycles one
// into the other. Each character maps to one character, so:
//
//   - "école" finds "École", "ääni" finds "ÄÄNI";
//   - Greek σ, ς and Σ all match one another;
//   - the Kelvin sign K matches k and K, the long s ſ matches s and S;
//   - ß matches ẞ (capital sharp s) but not "SS": "straße" does not find "STRASSE";
//   - Turkish dotted İ and dotless ı match only themselves (their case
//     partners I and i fold with each other, not with them).
//
// Every store searches with the same folding, so the same query selects the
// same events on every store: the memory store folds as it scans, the SQL
// stores keep each event's folded search text in a column written at append.

// Matches reports whether f selects e by its Types and Search (Company, Sort,
// After and Limit are not looked at): Search matches when any of e's type,
// source, target, actor, subject or decimal count contains it, ignoring case
// as described above.
func (f Filter) Matches(e Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if f.Search == "" {
		return true
	}
	needle := eventcore.Fold(f.Search)
	for _, h := range []string{string(e.Type), e.Source, e.Target, e.Actor, e.Subject, strconv.FormatInt(e.Count, 10)} {
		if strings.Contains(eventcore.Fold(h), needle) {
			return true
		}
	}
	return false
}
