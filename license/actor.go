package license

import (
	"net/mail"
	"strings"
)

// Role is what an actor may do within a company.
type Role string

// Roles, from most to least powerful. License management (purchase, decrease,
// transfer, top-up) needs Owner or Admin. Unit prices are visible to Owner,
// Admin, Editor and LicenseAdmin.
const (
	Owner        Role = "owner"
	Admin        Role = "admin"
	Editor       Role = "editor"
	LicenseAdmin Role = "license_admin"
	Viewer       Role = "viewer"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case Owner, Admin, Editor, LicenseAdmin, Viewer:
		return true
	}
	return false
}

// CanManageLicenses reports whether the role may purchase, decrease, transfer and
// configure top-up: Owner or Admin.
func (r Role) CanManageLicenses() bool { return r == Owner || r == Admin }

// CanEdit reports whether the role may change pools and allocations.
func (r Role) CanEdit() bool { return r == Owner || r == Admin || r == Editor || r == LicenseAdmin }

// CanSeePrices reports whether unit prices are shown to the role
// (owners, administrators, editors and license administrators; not viewers).
func (r Role) CanSeePrices() bool { return r.CanEdit() }

// SystemEmail is the "initiated by" of changes made by licensekit itself
// (top-ups, expiries, exchanges).
const SystemEmail = "system"

// Actor is who performs an operation and for which tenant (company).
type Actor struct {
	Company string // tenant ID; every read and write is scoped to it
	Email   string // "initiated by"; SystemEmail for automatic changes
	Role    Role
}

// System returns the actor for automatic changes within company.
func System(company string) Actor { return Actor{Company: company, Email: SystemEmail, Role: Owner} }

// Check validates the actor: a company ID, an e-mail (or "system") and a role.
func (a Actor) Check() error {
	if a.Company == "" {
		return Errorf(Invalid, "company", "the actor's company is required")
	}
	if a.Email == "" {
		return Errorf(Invalid, "actor", "the actor's e-mail is required")
	}
	if a.Email != SystemEmail {
		if _, err := ParseEmail(a.Email); err != nil {
			return Errorf(Invalid, "actor", "the actor's e-mail %q is not a valid address", a.Email)
		}
	}
	if !a.Role.Valid() {
		return Errorf(Invalid, "role", "unknown role %q", a.Role)
	}
	return nil
}

// ParseEmail validates a bare e-mail address (no display name, at most 254
// characters, nothing CheckLine refuses) and returns it trimmed, with the
// domain in lower case.
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := CheckLine("email", s, 254); err != nil {
		return "", err
	}
	if !plainEmail(s) {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || !strings.Contains(s, "@") {
			return "", Errorf(Invalid, "email", "%q is not a valid e-mail address", s)
		}
	}
	at := strings.LastIndex(s, "@")
	return s[:at] + "@" + strings.ToLower(s[at+1:]), nil
}

// plainEmail reports whether s is an address of the common shape, which
// net/mail accepts as it is: dot-separated atoms of letters, digits and
// RFC 5322's other atom characters, an "@", and dot-separated labels of
// letters, digits and hyphens. Every request's actor is checked, and this
// answers for nearly all of them without net/mail's parser; anything else is
// left to it.
func plainEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	return dotted(s[:at], isAtext) && dotted(s[at+1:], isLabelChar)
}

// dotted reports whether s is non-empty runs of ok characters joined by
// single dots.
func dotted(s string, ok func(byte) bool) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if run == 0 {
				return false
			}
			run = 0
		case ok(c):
			run++
		default:
			return false
		}
	}
	return run > 0
}

func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

func isAtext(c byte) bool {
	return isLabelChar(c) || strings.IndexByte("!#$%&'*+/=?^_`{|}~", c) >= 0
}
