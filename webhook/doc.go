// Package webhook sends a company's events to HTTPS endpoints its owners
// register, signed, retried and logged.
//
// Owners register an [Endpoint] (a URL and the event types it wants) with
// [Service.Create]; the answer holds the endpoint's signing secret, shown
// that once. A store wrapped with [Wrap] writes one [Delivery] per matching
// endpoint in the same transaction as every event it appends, so a delivery
// exists exactly when its change committed; a [Dispatcher] running in the
// background sends each one, outside any transaction, at least once: it
// claims an attempt in one transaction (a row lock, so one process sends it),
// posts it, and records the outcome in another. A failed attempt is retried
// with exponential backoff and jitter up to MaxAttempts; an endpoint that
// fails DisableAfter attempts in a row is disabled. Each delivery keeps its
// status and the log of its attempts, and an owner may ask for it again
// ([Service.Redeliver]).
//
// Every request carries the delivery ID (header Licensekit-Delivery, the same
// on every attempt and redelivery: receivers de-duplicate on it) and the
// header Licensekit-Signature: "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">". After [Service.RotateSecret] the previous secret stays
// valid for an overlap and both signatures are sent, one v1 each. Receivers
// check a request with [Verify], which refuses a timestamp outside its
// tolerance (a replay window, DefaultTolerance by default).
//
// Secrets are not stored: each is derived with HMAC-SHA256 from a key the
// server holds outside the database (Service.Key, Dispatcher.Key) and a
// random salt in the endpoint's record, so a copy of the database alone
// cannot sign a delivery.
package webhook
