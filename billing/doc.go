// Package billing manages the companies (tenants) of an MSP portal, their members
// and their sites, and the licenses of those sites: purchase, decrease and
// transfer, each with a pure preview ([QuotePurchase], [QuoteDecrease],
// [QuoteTransfer]) that the commit reuses so the figures a preview shows are the
// figures a commit returns; enrolment of devices reported by the embedding
// product, refused beyond the license count unless an [OverflowPolicy] (automatic
// top-up) covers the shortfall in the same transaction; and monthly invoice
// estimates, one line per site rounded once to the currency's minor unit, with
// the purchases and decreases of the month as adjustment lines and totals per
// currency. Every change is one storage transaction that also appends its
// eventlog event; every commit accepts an idempotency key.
package billing
