// Package client is what a licensed product links in to talk to a licensekit
// server: activate, validate and deactivate this machine, hold a floating
// (concurrent-user) seat with background heartbeats, borrow a seat for
// offline use, and keep working within the server's grace when the network
// is gone.
//
// A [Client] is made with [New] from the server's base URL and options (the
// API key, the consumer this product runs as, where to keep its state). Every
// call takes a context. Calls are retried with exponential backoff and jitter
// when the server cannot be reached or answers 429/502/503/504, after the
// Retry-After the answer gives when it gives one (an answer asking for a
// longer wait than the policy allows is returned at once); every call the
// SDK makes is idempotent, and each logical operation sends one
// Idempotency-Key on all its attempts, so a retry after a lost answer never
// activates or borrows twice.
//
// Validation answers carry the server's typed codes in the server's order
// ([ValidationOrder]). A valid answer is remembered in the client's [State]
// with the instant the server set (offline_until): while the server cannot be
// reached, [Client.Validate] and [Client.Activate] answer from that cache
// until then, and refuse beyond it ([ErrOfflineExpired]). The state also keeps
// the highest time the client has seen: a clock set back further than the
// tolerance makes every offline answer fail with [ErrClockRollback], so
// rolling the clock back does not stretch a grace period or a license file.
//
// [Client.Lease] takes a seat of a concurrent-user pool and renews it in the
// background at a third of its time-to-live; a lost seat (heartbeat lapsed,
// server gone past the TTL) is reported on [Lease.Events] and re-acquired as
// soon as a seat is free. [Client.Borrow] checks a seat out for N days as an
// Ed25519-signed license file; [Client.VerifyFile] checks such a file (or any
// file from package licensefile) with the vendor's public keys, offline.
//
// The machine identity is [Fingerprint]: the platform's machine id hashed
// with the product's id, never sent raw.
//
// The package depends only on the standard library, license/licensefile and
// the generated API client adapters/http/client: no SQL, no server code.
package client
