// Package subscription manages licenses with a lifetime, as MSP360 Managed
// Backup sells them: per computer, host,
// socket, user or administrator ([Type], each mapped onto a license.Metric),
// in state trial, active or expired, with a purchase date, an expiration date,
// auto-renewal (on by default) and a next renewal date. A company chooses
// monthly or yearly billing at its first purchase; renewals count calendar
// periods from the purchase date (31 January renews on 28/29 February, then on
// 31 March), and a license whose renewal was cancelled expires at its
// expiration date. Licenses carry random keys (160 bits, Crockford base32),
// shown once and stored only as SHA-256 hashes (a replayed purchase answers
// without them, Issued.Replayed; [Service.ReissueKey] replaces a lost one);
// activating with an unknown key reveals nothing. Licenses are assigned to users or computers from the global
// pool, within the user's pool settings (a user pool limits the paid licenses a
// user can activate; a customer company's settings override its users').
// [Service.Tick] applies renewals (writing a [Charge] an invoice reads),
// expiries and the automatic exchange of expired assigned licenses for
// available ones; [Service.BulkDelete] removes expired licenses in three
// modes (every expired license, the expired ones with auto-renewal
// on, or the expired unassigned ones). Vendors validate a license for a consumer at run time
// ([Service.Validate] by ID, [Service.ValidateKey] by key) with one typed code
// in the order of license.ValidationOrder, against the license's [Terms]
// (entitlements, grace days, suspension); a Limiter rate-limits activations
// and validations. Every change is one storage transaction with its events.
package subscription
