package topup

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// maxRecipients bounds a company's recipient list.
const maxRecipients = 100

// Owners returns the e-mail addresses of the members of actor's company with
// the Owner role, sorted: the list a portal offers when choosing recipients
// from the owners. Owner or Admin only.
//
// Errors: invalid (actor), forbidden.
func (s *Service) Owners(ctx context.Context, actor license.Actor) ([]string, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	var out []string
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "listing owners"); err != nil {
			return err
		}
		members, err := storage.ListOf[billing.Member](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: billing.KindMember, Parent: actor.Company})
		if err != nil {
			return err
		}
		out = []string{}
		for _, m := range members {
			if m.Role == license.Owner {
				out = append(out, m.Email)
			}
		}
		slices.Sort(out)
		return nil
	})
	return out, err
}

// Recipients returns the company's top-up notification recipients, in the order
// they were added. Owner or Admin only.
//
// Errors: invalid (actor), forbidden.
func (s *Service) Recipients(ctx context.Context, actor license.Actor) ([]string, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	var out []string
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, "reading top-up notification recipients"); err != nil {
			return err
		}
		st, err := loadSettings(ctx, tx, actor.Company, false)
		out = append([]string{}, st.Recipients...)
		return err
	})
	return out, err
}

// AddRecipients adds e-mail addresses to the company's notification
// recipients: owners chosen from Owners or any address typed in, members or
// not. Each address is validated (license.ParseEmail); addresses already in the
// list, or repeated in emails, ignoring case, are skipped. It returns the new
// list and writes one topup.recipients_changed event when the list changed.
// Owner or Admin only.
//
// Errors: invalid (actor; field "email" naming the bad address; "recipients"
// when the list would exceed 100), forbidden.
func (s *Service) AddRecipients(ctx context.Context, actor license.Actor, emails ...string) ([]string, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	if len(emails) == 0 {
		return nil, license.Errorf(license.Invalid, "email", "at least one e-mail address is required")
	}
	parsed := make([]string, 0, len(emails))
	for _, e := range emails {
		p, err := license.ParseEmail(e)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, p)
	}
	return s.changeRecipients(ctx, actor, "adding top-up notification recipients", func(list []string) ([]string, []string, error) {
		var added []string
		for _, p := range parsed {
			if !containsFold(list, p) {
				list = append(list, p)
				added = append(added, p)
			}
		}
		if len(list) > maxRecipients {
			return nil, nil, license.Errorf(license.Invalid, "recipients", "a company may have at most %d top-up notification recipients", maxRecipients)
		}
		return list, added, nil
	}, "added")
}

// RemoveRecipient removes an address (ignoring case) from the company's
// notification recipients and returns the new list; it writes a
// topup.recipients_changed event. Owner or Admin only.
//
// Errors: invalid (actor), forbidden, not_found (field "email": not a recipient).
func (s *Service) RemoveRecipient(ctx context.Context, actor license.Actor, email string) ([]string, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	email = strings.TrimSpace(email)
	return s.changeRecipients(ctx, actor, "removing top-up notification recipients", func(list []string) ([]string, []string, error) {
		i := slices.IndexFunc(list, func(r string) bool { return strings.EqualFold(r, email) })
		if i < 0 {
			return nil, nil, license.Errorf(license.NotFound, "email", "%q is not a top-up notification recipient", email)
		}
		removed := list[i]
		return slices.Delete(list, i, i+1), []string{removed}, nil
	}, "removed")
}

func (s *Service) changeRecipients(ctx context.Context, actor license.Actor, what string, change func([]string) ([]string, []string, error), verb string) ([]string, error) {
	now := s.now()
	var out []string
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := requireManage(ctx, tx, actor, what); err != nil {
			return err
		}
		st, err := loadSettings(ctx, tx, actor.Company, true)
		if err != nil {
			return err
		}
		list, changed, err := change(slices.Clone(st.Recipients))
		if err != nil {
			return err
		}
		out = append([]string{}, list...)
		if len(changed) == 0 {
			return nil
		}
		st.Recipients = list
		if err := saveSettings(ctx, tx, actor.Company, st); err != nil {
			return err
		}
		return recipientsEvent(ctx, tx, actor, now, verb, changed, list)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func recipientsEvent(ctx context.Context, tx storage.Tx, actor license.Actor, now time.Time, verb string, changed, list []string) error {
	e, err := newEvent(actor.Company, actor.Email, now, EventRecipientsChanged, actor.Company, map[string]any{verb: changed, "recipients": list})
	e.Count = int64(len(changed))
	return appendEvent(ctx, tx, e, err)
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(r string) bool { return strings.EqualFold(r, s) })
}
