package license

import (
	"errors"
	"fmt"
	"time"
)

// Code is a machine-readable error category. Adapters translate codes to their own
// vocabulary (HTTP statuses, exit codes) in one place; domain code never does.
type Code string

// Error codes returned by licensekit services. Every exported service method's doc
// comment lists the codes it returns.
const (
	Invalid              Code = "invalid"               // bad input; nothing changed
	NotFound             Code = "not_found"             // no such resource for this tenant
	Conflict             Code = "conflict"              // state forbids it, or a duplicate, or an idempotency-key clash
	Forbidden            Code = "forbidden"             // the actor's role may not do this
	InsufficientLicenses Code = "insufficient_licenses" // no free license/seat
	BelowEnrolled        Code = "below_enrolled"        // would leave licenses below enrolled devices
	CurrencyMismatch     Code = "currency_mismatch"     // amounts in different currencies
	Quarantined          Code = "quarantined"           // licenses are held in quarantine
	RestrictionFailed    Code = "restriction_failed"    // consumer outside the pool's restrictions
	Expired              Code = "expired"               // license or subscription expired
	RateLimited          Code = "rate_limited"          // too many attempts; retry later
	Unauthenticated      Code = "unauthenticated"       // missing or unknown credentials
	KeyExpired           Code = "key_expired"           // the API key is past its expiry; get a new one
	KeyRevoked           Code = "key_revoked"           // the API key was revoked; get a new one
	Unavailable          Code = "unavailable"           // a dependency (store) cannot be reached; retry
	Internal             Code = "internal"              // a bug or an unexpected failure
)

// Error is the one error type of licensekit. Code says what kind of failure it is,
// Field names the input at fault (empty when none), Message says what to do in
// words a person can act on. Err, when set, is the underlying cause.
type Error struct {
	Code    Code
	Field   string
	Message string
	Err     error
	// RetryAfter, on a rate_limited error, is how long to wait before trying
	// again (0 when unknown).
	RetryAfter time.Duration
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of code that wraps cause.
func Wrap(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = fmt.Sprintf("%s (field %s)", msg, e.Field)
	}
	if e.Err != nil {
		msg = msg + ": " + e.Err.Error()
	}
	return fmt.Sprintf("licensekit %s: %s", e.Code, msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code (and, when the target
// names a field, the same field). It makes errors.Is(err, &license.Error{Code: license.NotFound}) work.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Code != "" && t.Code != e.Code {
		return false
	}
	if t.Field != "" && t.Field != e.Field {
		return false
	}
	return true
}

// Sentinels for errors.Is: errors.Is(err, license.ErrNotFound).
var (
	ErrInvalid              = &Error{Code: Invalid}
	ErrNotFound             = &Error{Code: NotFound}
	ErrConflict             = &Error{Code: Conflict}
	ErrForbidden            = &Error{Code: Forbidden}
	ErrInsufficientLicenses = &Error{Code: InsufficientLicenses}
	ErrBelowEnrolled        = &Error{Code: BelowEnrolled}
	ErrCurrencyMismatch     = &Error{Code: CurrencyMismatch}
	ErrQuarantined          = &Error{Code: Quarantined}
	ErrRestrictionFailed    = &Error{Code: RestrictionFailed}
	ErrExpired              = &Error{Code: Expired}
	ErrUnavailable          = &Error{Code: Unavailable}
)

// ErrorCode returns the code of err: the Code of the first *Error in its chain,
// "" for nil, and Internal for any other error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorField returns the Field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorMessage returns the human message of the first *Error in err's chain; for
// any other error it returns a generic message (internal details are not leaked).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
