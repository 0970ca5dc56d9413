package pool

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/storage"
)

// EventLeaseBorrowed is appended when a concurrent-user seat is checked out
// for offline use (Borrow). Its details name the lease, the user and the end
// of the checkout.
const EventLeaseBorrowed eventlog.Type = "pool.lease_borrowed"

// MaxBorrowDays bounds a checkout: a seat is borrowed for 1 to MaxBorrowDays days.
const MaxBorrowDays = 30

// FileSigner signs the license files of borrowed seats: an Ed25519 private
// key, kept outside the store, and its key id (licensefile.KeyID of the public
// key when empty).
type FileSigner struct {
	KeyID string
	Key   ed25519.PrivateKey
}

// BorrowRequest checks out a concurrent-user seat for Days days.
type BorrowRequest struct {
	Consumer license.Consumer // User is required; Fingerprint binds the file to a machine
	Days     int
	// IdempotencyKey makes a retried checkout answer the first result.
	IdempotencyKey string
}

// Borrowed is a checked-out seat: its lease, live until Lease.ExpiresAt
// without heartbeats, and the signed license file that lets the product run
// offline until then.
type Borrowed struct {
	Lease Lease  `json:"lease"`
	File  string `json:"file"` // a licensefile (LKLF1...), Claims.Pool and Claims.LicenseID name the lease
}

// Borrow checks out a seat of concurrent-user pool poolID for req.Days days
// ("lingering" a floating license): it takes (or keeps) the consumer's lease
// as AcquireLease does, moves its expiry to now plus Days (never past a rental
// pool's expiry) and signs a license file for it with signer. The seat counts
// as taken until the file expires or the product returns it early
// (ReleaseLease, or AcquireLease again, which turns it back into an ordinary
// lease renewed by heartbeats). A heartbeat on a borrowed lease also ends the
// checkout: it renews for the pool's TTL from now. Appends
// pool.lease_acquired (or pool.lease_heartbeat) and pool.lease_borrowed.
//
// Errors: those of AcquireLease, Invalid (days), Unavailable (no signing
// key), Expired (a rental pool past its expiry).
func (s *Service) Borrow(ctx context.Context, a license.Actor, poolID string, req BorrowRequest, signer FileSigner) (Borrowed, error) {
	if err := checkEditor(a); err != nil {
		return Borrowed{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Borrowed{}, err
	}
	if err := checkConsumer(req.Consumer); err != nil {
		return Borrowed{}, err
	}
	if req.Days < 1 || req.Days > MaxBorrowDays {
		return Borrowed{}, license.Errorf(license.Invalid, "days", "a seat is borrowed for 1 to %d days", MaxBorrowDays)
	}
	if signer.KeyID == "" && len(signer.Key) == ed25519.PrivateKeySize {
		signer.KeyID = licensefile.KeyID(signer.Key.Public().(ed25519.PublicKey))
	}
	now := s.now()
	var out Borrowed
	err := s.updateAs(ctx, &a, checkEditor, func(tx storage.Tx) error {
		var err error
		hashed := struct {
			Pool     string           `json:"pool"`
			Consumer license.Consumer `json:"consumer"`
			Days     int              `json:"days"`
		}{poolID, req.Consumer, req.Days}
		out, err = storage.Idempotent(ctx, tx, a.Company, "pool.borrow", req.IdempotencyKey, hashed, now, func() (Borrowed, error) {
			return borrowIn(ctx, tx, a, poolID, req, signer, now)
		})
		return err
	})
	return out, err
}

func borrowIn(ctx context.Context, tx storage.Tx, a license.Actor, poolID string, req BorrowRequest, signer FileSigner, now time.Time) (Borrowed, error) {
	// The pool first: another company's pool is not found, whatever this
	// server's configuration.
	if _, _, err := loadPool(ctx, tx, a.Company, poolID, false); err != nil {
		return Borrowed{}, err
	}
	if len(signer.Key) != ed25519.PrivateKeySize {
		return Borrowed{}, license.Errorf(license.Unavailable, "signer", "this server has no key to sign license files of borrowed seats")
	}
	l, err := acquireLeaseIn(ctx, tx, a, poolID, LeaseRequest{Consumer: req.Consumer}, now)
	if err != nil {
		return Borrowed{}, err
	}
	p, _, err := loadPool(ctx, tx, a.Company, poolID, false)
	if err != nil {
		return Borrowed{}, err
	}
	until := now.Add(time.Duration(req.Days) * 24 * time.Hour)
	if p.Model == license.Rental {
		end := RentalExpiry(p.Transactions, now)
		if !end.After(now) {
			return Borrowed{}, license.Errorf(license.Expired, "pool", "pool %q has no rental period covering now", p.Name)
		}
		if end.Before(until) {
			until = end
		}
	}
	l, lrec, err := loadLease(ctx, tx, a, poolID, l.ID)
	if err != nil {
		return Borrowed{}, err
	}
	if until.Before(l.ExpiresAt) {
		// A rental period ending within the lease's TTL: the pool's lease
		// floor must not stay above the new expiry (see poolDoc).
		lp, prec, err := loadPool(ctx, tx, a.Company, poolID, true)
		if err != nil {
			return Borrowed{}, err
		}
		if lp.lowerLeaseFloor(until) {
			if err := savePool(ctx, tx, prec, lp); err != nil {
				return Borrowed{}, err
			}
		}
	}
	l.Heartbeat, l.ExpiresAt = now, until
	if err := storage.Save(ctx, tx, lrec, l); err != nil {
		return Borrowed{}, err
	}
	product := p.Name
	if len(p.Software) > 0 {
		product = p.Software[0]
	}
	file, err := licensefile.Issue(licensefile.Claims{
		LicenseID: l.ID, Licensee: req.Consumer.User, Product: product, Entitlements: p.Entitlements,
		Fingerprint: req.Consumer.Fingerprint, Seats: 1, IssuedAt: now, ExpiresAt: until, Pool: p.ID,
	}, signer.KeyID, signer.Key)
	if err != nil {
		return Borrowed{}, license.Wrap(license.Invalid, err, "sign the borrowed seat's file")
	}
	if err := appendEvent(ctx, tx, a, now, EventLeaseBorrowed, p.ID, 1, map[string]any{"lease": l.ID, "user": l.User, "until": until}); err != nil {
		return Borrowed{}, err
	}
	return Borrowed{Lease: l, File: string(file)}, nil
}
