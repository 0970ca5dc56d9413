package eventlog

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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
// Every store searches with Fold, so the same query selects the same events on
// every store: the memory store folds as it scans, the SQL stores keep each
// event's folded SearchText in a column written at append.

// Fold returns s with every character replaced by the representative of its
// simple case folding class (lower case where the class has one, so that
// ASCII text folds to its lower case). Two strings are equal under
// strings.EqualFold exactly when their Folds are equal, and a text contains
// another ignoring case exactly when Fold(text) contains Fold(other).
// Invalid UTF-8 bytes are kept as they are.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(s[i])
		} else {
			b.WriteRune(FoldRune(r))
		}
		i += n
	}
	return b.String()
}

// FoldRune returns the representative of r's simple case folding class: the
// lower case of the class's smallest member when that lower case is in the
// class, else the smallest member. Every member of a class has the same
// representative.
func FoldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	next := unicode.SimpleFold(r)
	if next == r {
		return r
	}
	var class [8]rune
	members := class[:0]
	least := r
	for f := r; ; {
		members = append(members, f)
		least = min(least, f)
		if f = unicode.SimpleFold(f); f == r {
			break
		}
	}
	if l := unicode.ToLower(least); l != least {
		for _, m := range members {
			if m == l {
				return l
			}
		}
	}
	return least
}

// ContainsFold reports whether text contains needle, ignoring case as Fold does.
func ContainsFold(text, needle string) bool {
	return strings.Contains(Fold(text), Fold(needle))
}

// SearchSeparator separates the fields of a SearchText. Fields may contain it
// too; a needle without it can only match inside one field.
const SearchSeparator = "\x1f"

// SearchText returns the text a store's Filter.Search looks in, folded: the
// type, source, target, actor, subject and decimal count of e, each passed
// through Fold, joined by SearchSeparator. SQL stores keep it in a column so
// that a search is a plain substring match of Fold(Filter.Search) in it.
func SearchText(e Event) string {
	return Fold(string(e.Type)) + SearchSeparator + Fold(e.Source) + SearchSeparator + Fold(e.Target) +
		SearchSeparator + Fold(e.Actor) + SearchSeparator + Fold(e.Subject) + SearchSeparator + strconv.FormatInt(e.Count, 10)
}

// Matches reports whether f selects e by its Types and Search (Company, Sort,
// After and Limit are not looked at): Search matches when any of e's type,
// source, target, actor, subject or decimal count contains it, ignoring case
// as Fold does.
func (f Filter) Matches(e Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if f.Search == "" {
		return true
	}
	needle := Fold(f.Search)
	for _, h := range []string{string(e.Type), e.Source, e.Target, e.Actor, e.Subject, strconv.FormatInt(e.Count, 10)} {
		if strings.Contains(Fold(h), needle) {
			return true
		}
	}
	return false
}
