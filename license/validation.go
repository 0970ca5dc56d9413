package license

import "time"

// ValidationCode says why a license is or is not valid for a consumer. Validators
// check in this fixed order and report the first failing check:
//
//  1. NotFound: no such license for this company.
//  2. Inactive: the pool is retired or closed (or the subscription was deleted).
//  3. Suspended: the license was suspended by its owner.
//  4. Expired: past its expiry (rental period or subscription end) and past any
//     grace period; perpetual licenses never expire. Within the grace period the
//     result is valid with code InGrace.
//  5. OutsideRestrictions: the consumer fails a restriction of the pool.
//  6. NoAllocation: the consumer holds no allocation (only when one is required).
//  7. QuarantinedOnly: the only licenses left are in quarantine.
//  8. SeatsExhausted: no free seat or not enough licenses for the consumer's CPUs.
//  9. EntitlementsMissing: required features are not granted (Missing lists them).
//  10. Valid (or InGrace).
type ValidationCode string

// Validation codes.
const (
	CodeValid               ValidationCode = "valid"
	CodeInGrace             ValidationCode = "in_grace"
	CodeNotFound            ValidationCode = "not_found"
	CodeInactive            ValidationCode = "inactive"
	CodeSuspended           ValidationCode = "suspended"
	CodeExpired             ValidationCode = "expired"
	CodeOutsideRestrictions ValidationCode = "outside_restrictions"
	CodeNoAllocation        ValidationCode = "no_allocation"
	CodeQuarantined         ValidationCode = "quarantined"
	CodeSeatsExhausted      ValidationCode = "seats_exhausted"
	CodeEntitlementsMissing ValidationCode = "entitlements_missing"
)

// ValidationOrder lists the failure codes in the order validators check them.
var ValidationOrder = []ValidationCode{
	CodeNotFound, CodeInactive, CodeSuspended, CodeExpired, CodeOutsideRestrictions,
	CodeNoAllocation, CodeQuarantined, CodeSeatsExhausted, CodeEntitlementsMissing,
}

// Consumer is who or what asks to use a license.
type Consumer struct {
	User        string   `json:"user,omitempty"`        // user id or e-mail
	Asset       string   `json:"asset,omitempty"`       // asset (computer) id
	Fingerprint string   `json:"fingerprint,omitempty"` // machine fingerprint
	CPUs        int      `json:"cpus,omitempty"`        // CPU count of the server it runs on
	Software    string   `json:"software,omitempty"`    // the software asked for
	Features    []string `json:"features,omitempty"`    // entitlements asked for
}

// Validation is the answer of a validator. Valid is true for CodeValid and
// CodeInGrace only.
type Validation struct {
	Valid     bool           `json:"valid"`
	Code      ValidationCode `json:"code"`
	Message   string         `json:"message"`
	Missing   []string       `json:"missing,omitempty"`    // for CodeEntitlementsMissing
	Failed    string         `json:"failed,omitempty"`     // the restriction that failed
	ExpiresAt *time.Time     `json:"expires_at,omitempty"` // when the license expires, if it does
	GraceEnds *time.Time     `json:"grace_ends,omitempty"` // when the grace period ends, if in grace
}

// Invalid builds a failed Validation.
func InvalidResult(code ValidationCode, message string) Validation {
	return Validation{Code: code, Message: message}
}

// ValidResult builds a successful Validation.
func ValidResult(message string) Validation {
	return Validation{Valid: true, Code: CodeValid, Message: message}
}

// MissingEntitlements returns the features of want not in have, in want's order.
func MissingEntitlements(have, want []string) []string {
	set := make(map[string]struct{}, len(have))
	for _, h := range have {
		set[h] = struct{}{}
	}
	var missing []string
	for _, w := range want {
		if _, ok := set[w]; !ok {
			missing = append(missing, w)
		}
	}
	return missing
}

// ExpiryCheck applies the expiry and grace rules: a zero expiresAt never
// expires (perpetual); at or before expiresAt the license is valid; within
// grace after it, InGrace; after that, Expired.
func ExpiryCheck(now, expiresAt time.Time, grace time.Duration) (ValidationCode, *time.Time) {
	if expiresAt.IsZero() || !now.After(expiresAt) {
		return CodeValid, nil
	}
	end := expiresAt.Add(grace)
	if grace > 0 && !now.After(end) {
		return CodeInGrace, &end
	}
	return CodeExpired, nil
}
