// Package license holds the value types every other licensekit package shares:
// identifiers (time-ordered UUIDv7), the allocation [Metric] and license [Model],
// [Money] (an exact decimal amount with an ISO 4217 currency and its minor units),
// the coded [Error] that every service returns, the injected [Clock], the
// [Actor] who performs a change on behalf of a tenant (company), the [Consumer]
// who uses a license and the [ValidationRequest] a product asks with. It also
// holds the bounds every service applies to input: [Money.Check] and
// [ParseMoney] for amounts, [CheckName], [CheckLine] and [CheckText] for text.
//
// The package has no I/O and no goroutines; it is safe to import from anywhere.
// Test helpers (a controllable clock) live in package licensetest.
//
// # The shape of a service call
//
// Every service method takes a context and the [Actor] first. A method that
// reads takes the IDs it needs. A method that changes state takes the ID of
// the resource it changes, if any, and then its input: a request struct for a
// call that creates or adds something (see Idempotency), or the one new value
// for a call that sets a value or state (a suspension's reason, a seat count).
// There is one method per operation, never a variant with extra parameters.
//
// # Idempotency
//
// A mutating call whose repetition could apply the change twice (create,
// allocate, purchase, enrol, transfer, add a comment, ...) takes a request
// struct with the field
//
//	IdempotencyKey string
//
// Leave it empty for no protection. When set (at most 255 bytes), the first
// call's result is remembered for the company: a later call with the same key
// and the same request returns that result and changes nothing; the same key
// with a different request fails with [Conflict] (field "idempotency_key").
// Keys are scoped by operation, so one key may be reused for a different kind
// of call. Calls that set absolute values or state (update, suspend, close,
// set seats, ...) can be repeated without harm and take no key; preview calls
// ignore the field. The HTTP adapter maps the Idempotency-Key header onto it.
package license
