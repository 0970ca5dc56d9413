package subscription

import (
	"context"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Selects reports whether a bulk delete in mode m removes l: l is expired
// and, for ExpiredAutoRenew, has auto-renewal on, or, for
// ExpiredUnassigned, is assigned to nobody. A front end counts with it what a
// confirmation states before calling BulkDelete.
func (m DeleteMode) Selects(l License) bool {
	if l.State != Expired {
		return false
	}
	switch m {
	case AllExpired:
		return true
	case ExpiredAutoRenew:
		return l.AutoRenew
	case ExpiredUnassigned:
		return l.Assignee == nil
	}
	return false
}

// UserSettingsList lists the users with their own license allocation settings
// (SetUserSettings), ordered by user.
// Errors: invalid.
func (s *Service) UserSettingsList(ctx context.Context, actor license.Actor) ([]UserSettings, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	return storage.ViewList[UserSettings](ctx, s.Store, storage.ListQuery{Company: actor.Company, Kind: KindUser})
}

// CompanySettingsList lists the customer companies with license settings
// (SetCompanySettings), ordered by company.
// Errors: invalid.
func (s *Service) CompanySettingsList(ctx context.Context, actor license.Actor) ([]CompanySettings, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	return storage.ViewList[CompanySettings](ctx, s.Store, storage.ListQuery{Company: actor.Company, Kind: KindCompany})
}
