package license

import (
	"fmt"
	"unicode/utf8"
)

// CheckName validates a required single-line text field (a name, a plan, a
// reference): it must not be empty and must pass CheckLine.
//
// Errors: invalid, naming field.
func CheckName(field, s string, max int) error {
	if s == "" {
		return Errorf(Invalid, field, "%s is required", field)
	}
	return CheckLine(field, s, max)
}

// CheckLine validates an optional single-line text field: valid UTF-8, at most
// max characters (runes), and none of the characters that let stored text
// disguise itself or break the records it lands in: control characters (C0
// including NUL, tab, carriage return and newline; DEL; C1), the line and
// paragraph separators U+2028 and U+2029, and the bidirectional formatting
// characters (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069)
// that reorder how the text around them is shown. The empty string passes.
//
// Errors: invalid, naming field.
func CheckLine(field, s string, max int) error {
	return checkText(field, s, max, false)
}

// CheckText validates an optional multi-line free-text field (a comment, a
// description): like CheckLine, except that newline, tab and a carriage return
// directly followed by a newline are allowed.
//
// Errors: invalid, naming field.
func CheckText(field, s string, max int) error {
	return checkText(field, s, max, true)
}

func checkText(field, s string, max int, multiline bool) error {
	// A rune is at least one byte: anything longer than 4*max bytes is too
	// long without counting, and counting never reads more than that.
	if len(s) > 4*max {
		return Errorf(Invalid, field, "%s is longer than the maximum of %d characters", field, max)
	}
	n := 0
	for i, r := range s {
		n++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return Errorf(Invalid, field, "%s is not valid UTF-8 text", field)
			}
		}
		if multiline && (r == '\n' || r == '\t' || (r == '\r' && i+1 < len(s) && s[i+1] == '\n')) {
			continue
		}
		if what := forbiddenRune(r); what != "" {
			return Errorf(Invalid, field, "%s contains %s (%s) at character %d: remove it", field, what, runeName(r), n)
		}
	}
	if n > max {
		return Errorf(Invalid, field, "%s is %d characters long; the maximum is %d", field, n, max)
	}
	return nil
}

// forbiddenRune says what kind of character r is when text fields refuse it,
// or "" when r is allowed.
func forbiddenRune(r rune) string {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return "a control character"
	case r == 0x2028 || r == 0x2029:
		return "a line or paragraph separator"
	case r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return "a bidirectional formatting character"
	}
	return ""
}

func runeName(r rune) string { return fmt.Sprintf("U+%04X", r) }
