package eventcore

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Searching the log ignores case by Unicode simple case folding (the rule
// package eventlog documents); every store folds with Fold, so that the same
// query selects the same events on every store.

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
// type, source, target, actor, subject and decimal count of f, each passed
// through Fold, joined by SearchSeparator. SQL stores keep it in a column so
// that a search is a plain substring match of Fold(Filter.Search) in it.
func SearchText(f Fields) string {
	return Fold(f.Type) + SearchSeparator + Fold(f.Source) + SearchSeparator + Fold(f.Target) +
		SearchSeparator + Fold(f.Actor) + SearchSeparator + Fold(f.Subject) + SearchSeparator + strconv.FormatInt(f.Count, 10)
}
