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

// Consumer is who or what uses a license: a user, an asset (a computer, an
// installed instance) or the server an asset runs on, with the attributes a
// pool's restrictions are checked against. Every service takes this one type:
// pools allocate, lease and validate for it, subscription licenses are
// assigned to and validated for it. The library does not discover these
// facts; the embedding product supplies them.
//
// A subscription license of a per-user type is assigned to a user (User set,
// Asset empty); one of a per-computer type to a computer (Asset set, User its
// owner, whose pool settings and limits apply).
type Consumer struct {
	User  string `json:"user,omitempty"`  // user ID or e-mail; for an asset, its responsible person
	Asset string `json:"asset,omitempty"` // asset (computer, installed instance) ID
	// Fingerprint is a machine fingerprint; validation uses it as the asset
	// when Asset is empty, so a product may key installations by fingerprint.
	Fingerprint string `json:"fingerprint,omitempty"`
	Server      string `json:"server,omitempty"` // physical server the asset runs on ("" = the asset itself)
	CPUs        int    `json:"cpus,omitempty"`   // CPUs of the server (physical CPU metric)
	// UserAssets are the other assets of User; a named-user allocation covers them.
	UserAssets []string `json:"user_assets,omitempty"`

	// Attributes checked against a pool's restrictions.
	AssetGroups  []string `json:"asset_groups,omitempty"`
	Location     string   `json:"location,omitempty"`
	Organisation string   `json:"organisation,omitempty"`
	Contracts    []string `json:"contracts,omitempty"`
	CostCenter   string   `json:"cost_center,omitempty"`
	NamedCompany string   `json:"named_company,omitempty"`
}

// AssetID is the consumer's asset: Asset, or Fingerprint when Asset is empty.
func (c Consumer) AssetID() string {
	if c.Asset != "" {
		return c.Asset
	}
	return c.Fingerprint
}

// ValidationRequest is the question a product asks a validator (a pool's or a
// subscription license's Validate): may Consumer run Software with Features?
// Consumer is embedded, so req.User is req.Consumer.User.
type ValidationRequest struct {
	Consumer `json:"consumer"`
	Software string   `json:"software,omitempty"` // the software asked for; "" checks none
	Features []string `json:"features,omitempty"` // entitlement codes the consumer needs
	// Allocate asks a pool to remedy a missing allocation in the same
	// transaction: when the consumer's only shortcoming is that it holds no
	// (sufficient) allocation and a license is free, the pool allocates (or
	// leases, for concurrent users) and answers valid. It needs a role that may
	// edit pools. Without it, validation never changes state. Subscription
	// licenses are assigned, never allocated on validation: they refuse it.
	Allocate bool `json:"-"`
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
