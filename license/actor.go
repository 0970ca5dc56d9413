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
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "", Errorf(Invalid, "email", "%q is not a valid e-mail address", s)
	}
	at := strings.LastIndex(s, "@")
	return s[:at] + "@" + strings.ToLower(s[at+1:]), nil
}
