// Package license holds the value types every other licensekit package shares:
// identifiers (time-ordered UUIDv7), the allocation [Metric] and license [Model],
// [Money] (an exact decimal amount with an ISO 4217 currency and its minor units),
// the coded [Error] that every service returns, the injected [Clock], and the
// [Actor] who performs a change on behalf of a tenant (company). It also holds
// the bounds every service applies to input: [Money.Check] and [ParseMoney] for
// amounts, [CheckName], [CheckLine] and [CheckText] for text.
//
// The package has no I/O and no goroutines; it is safe to import from anywhere.
package license
