package license

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of entitlement codes, shared by pools and subscription terms.
const (
	MaxEntitlementLength = 64  // characters of one entitlement code
	MaxEntitlements      = 200 // codes on one pool or license
)

// CleanEntitlements trims each code and drops repeats, keeping the first
// occurrence's place. Empty codes are kept, for CheckEntitlements to refuse.
func CleanEntitlements(codes []string) []string {
	var out []string
	seen := make(map[string]bool, len(codes))
	for _, c := range codes {
		c = strings.TrimSpace(c)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// CheckEntitlements validates entitlement (feature) codes: at most
// MaxEntitlements of them, each non-empty valid UTF-8 of at most
// MaxEntitlementLength characters without spaces, control or bidirectional
// formatting characters (see CheckLine).
// field names the input in the Invalid error.
func CheckEntitlements(field string, codes []string) error {
	if len(codes) > MaxEntitlements {
		return Errorf(Invalid, field, "at most %d entitlements are allowed, got %d", MaxEntitlements, len(codes))
	}
	for _, c := range codes {
		switch {
		case c == "":
			return Errorf(Invalid, field, "an entitlement code cannot be empty")
		case !utf8.ValidString(c) || utf8.RuneCountInString(c) > MaxEntitlementLength:
			return Errorf(Invalid, field, "entitlement code %q is not text of at most %d characters", c, MaxEntitlementLength)
		case strings.IndexFunc(c, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return Errorf(Invalid, field, "entitlement code %q contains spaces or control characters", c)
		}
		if err := CheckLine(field, c, MaxEntitlementLength); err != nil {
			return err // bidirectional formatting characters
		}
	}
	return nil
}
