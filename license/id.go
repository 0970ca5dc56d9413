package license

import (
	"github.com/google/uuid"
)

// NewID returns a new time-ordered identifier (UUID version 7) in its canonical
// 36-character text form. IDs sort by creation time, which the stores use for
// stable listing order.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// uuid.NewV7 only fails when the system random source fails.
		panic("license: cannot read random source: " + err.Error())
	}
	return id.String()
}

// ValidID reports whether s is a canonical UUID string.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// CheckID returns an invalid Error naming field when s is not a canonical UUID.
func CheckID(field, s string) error {
	if s == "" {
		return Errorf(Invalid, field, "%s is required", field)
	}
	if !ValidID(s) {
		return Errorf(Invalid, field, "%s %q is not a valid identifier (a UUID such as 0190a5c8-3f7e-7d3a-9c1e-0a1b2c3d4e5f)", field, s)
	}
	return nil
}
