package pool

import (
	"context"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Deactivation is the answer of Deactivate: whether the consumer held
// something that was released, and the release of an allocation (its
// quarantine) when it was one.
type Deactivation struct {
	Released bool     `json:"released"`
	Release  *Release `json:"release,omitempty"` // the allocation released (not for a lease)
}

// Deactivate undoes an activation (Validate with Allocate) for consumer: it
// releases what the consumer holds in pool poolID, its allocation under the
// pool's metric (quarantined as Release does) or, for concurrent users, its
// lease (ReleaseLease). A consumer that holds nothing is answered
// Released false, so a retried deactivation is harmless. The consumer is read
// as validation reads it (Fingerprint stands for Asset when Asset is empty).
//
// Errors: Invalid (pool id, consumer), NotFound (pool), Forbidden.
func (s *Service) Deactivate(ctx context.Context, a license.Actor, poolID string, consumer license.Consumer) (Deactivation, error) {
	if err := checkEditor(a); err != nil {
		return Deactivation{}, err
	}
	if err := checkPoolID(poolID); err != nil {
		return Deactivation{}, err
	}
	req := license.ValidationRequest{Consumer: consumer}
	if err := normalizeValidation(&req); err != nil {
		return Deactivation{}, err
	}
	var metric license.Metric
	err := s.viewAs(ctx, &a, func(tx storage.Tx) error {
		p, _, err := loadPool(ctx, tx, a.Company, poolID, false)
		if err == nil {
			metric = p.Metric
		}
		return err
	})
	if err != nil {
		return Deactivation{}, err
	}
	d, err := DemandOf(metric, req.Consumer)
	if err != nil {
		return Deactivation{}, err
	}
	if metric == license.ConcurrentUser {
		err = s.ReleaseLease(ctx, a, poolID, AllocationID(poolID, "lease:"+d.Key))
		if license.ErrorCode(err) == license.NotFound && license.ErrorField(err) == "lease" {
			return Deactivation{}, nil
		}
		return Deactivation{Released: err == nil}, err
	}
	rel, err := s.Release(ctx, a, poolID, AllocationID(poolID, d.Key))
	if license.ErrorCode(err) == license.NotFound && license.ErrorField(err) == "allocation" {
		return Deactivation{}, nil
	}
	if err != nil {
		return Deactivation{}, err
	}
	return Deactivation{Released: true, Release: &rel}, nil
}
