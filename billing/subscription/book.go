package subscription

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

const settingsID = "settings"

// book is one tenant's subscription state inside one transaction. Opening it
// locks the tenant's settings record, so every subscription change of a tenant
// is serialised on that row (PostgreSQL) or on the store's writer lock.
type book struct {
	ctx       context.Context
	tx        storage.Tx
	actor     license.Actor
	now       time.Time
	settings  Settings
	setExists bool
	licenses  map[string]*License // loaded lazily by all()
}

func open(ctx context.Context, tx storage.Tx, actor license.Actor, now time.Time) (*book, error) {
	b := &book{ctx: ctx, tx: tx, actor: actor, now: now, settings: Settings{AutoExchange: true}}
	s, _, err := storage.Load[Settings](ctx, tx, actor.Company, KindSettings, settingsID, true)
	switch {
	case err == nil:
		b.settings, b.setExists = s, true
	case !storage.IsNotFound(err):
		return nil, err
	}
	return b, nil
}

func (b *book) saveSettings() error {
	r := storage.Record{Company: b.actor.Company, Kind: KindSettings, ID: settingsID}
	data, err := json.Marshal(b.settings)
	if err != nil {
		return license.Wrap(license.Internal, err, "subscription: encode settings")
	}
	r.Data = data
	if !b.setExists {
		b.setExists = true
		return b.tx.Insert(b.ctx, r)
	}
	return b.tx.Put(b.ctx, r)
}

// all returns every license of the tenant, by ID; later calls return the same
// (possibly changed) values.
func (b *book) all() (map[string]*License, error) {
	if b.licenses != nil {
		return b.licenses, nil
	}
	ls, err := storage.ListOf[License](b.ctx, b.tx, storage.ListQuery{Company: b.actor.Company, Kind: KindLicense})
	if err != nil {
		return nil, err
	}
	b.licenses = make(map[string]*License, len(ls))
	for i := range ls {
		b.licenses[ls[i].ID] = &ls[i]
	}
	return b.licenses, nil
}

// sorted returns the licenses in ID order.
func (b *book) sorted() ([]*License, error) {
	m, err := b.all()
	if err != nil {
		return nil, err
	}
	out := make([]*License, 0, len(m))
	for _, l := range m {
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y *License) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// lock reads license id for update and returns the book's copy refreshed.
func (b *book) lock(id string) (*License, error) {
	l, _, err := storage.Load[License](b.ctx, b.tx, b.actor.Company, KindLicense, id, true)
	if err != nil {
		if storage.IsNotFound(err) {
			return nil, license.Errorf(license.NotFound, "license", "no license %q", id)
		}
		return nil, err
	}
	m, err := b.all()
	if err != nil {
		return nil, err
	}
	m[id] = &l
	return &l, nil
}

func (b *book) put(l *License) error {
	data, err := json.Marshal(l)
	if err != nil {
		return license.Wrap(license.Internal, err, "subscription: encode license")
	}
	if b.licenses != nil {
		b.licenses[l.ID] = l
	}
	return storage.Put(b.ctx, b.tx, storage.Record{Company: l.Company, Kind: KindLicense, ID: l.ID, Unique: l.KeyHash, Data: data})
}

func (b *book) insert(l *License) error {
	data, err := json.Marshal(l)
	if err != nil {
		return license.Wrap(license.Internal, err, "subscription: encode license")
	}
	if b.licenses != nil {
		b.licenses[l.ID] = l
	}
	return b.tx.Insert(b.ctx, storage.Record{Company: l.Company, Kind: KindLicense, ID: l.ID, Unique: l.KeyHash, Data: data})
}

func (b *book) event(typ eventlog.Type, subject, source, target string, count int64, details any) error {
	data, err := json.Marshal(details)
	if err != nil {
		return license.Wrap(license.Internal, err, "subscription: encode event")
	}
	_, err = b.tx.AppendEvent(b.ctx, eventlog.Event{
		ID: license.NewID(), Company: b.actor.Company, Time: b.now, Type: typ, Source: source, Target: target,
		Count: count, Actor: b.actor.Email, Subject: subject, Details: data,
	})
	return err
}

func (b *book) charge(l *License, reason string, from, to time.Time) error {
	c := Charge{ID: license.NewID(), Company: l.Company, License: l.ID, Type: l.Type, Reason: reason, Period: l.Period,
		From: from, To: to, Amount: *l.UnitPrice, At: b.now}
	return storage.Save(b.ctx, b.tx, storage.Record{Company: l.Company, Kind: KindCharge, ID: c.ID, Parent: l.ID}, c)
}

// assignment is the record of a consumer holding a license of one type; its ID
// makes a consumer hold at most one license per type.
type assignment struct {
	Type     Type             `json:"type"`
	Consumer license.Consumer `json:"consumer"`
	License  string           `json:"license"`
	Since    time.Time        `json:"since"`
}

func assignmentID(t Type, c license.Consumer) string {
	return string(t) + "|" + string(consumerKind(c)) + "|" + consumerID(c)
}

func (b *book) putAssignment(a assignment, insert bool) error {
	data, err := json.Marshal(a)
	if err != nil {
		return license.Wrap(license.Internal, err, "subscription: encode assignment")
	}
	r := storage.Record{Company: b.actor.Company, Kind: KindAssignment, ID: assignmentID(a.Type, a.Consumer), Parent: a.License, Data: data}
	if insert {
		return b.tx.Insert(b.ctx, r)
	}
	return b.tx.Put(b.ctx, r)
}

// allocation returns the effective allocation settings of user: its company's
// when that company has license settings, else its own, else the global pool.
func (b *book) allocation(user string) (Allocation, error) {
	u, _, err := storage.Load[UserSettings](b.ctx, b.tx, b.actor.Company, KindUser, user, true)
	if err != nil {
		if storage.IsNotFound(err) {
			return Allocation{Mode: GlobalPool}, nil
		}
		return Allocation{}, err
	}
	if u.Company != "" {
		c, _, err := storage.Load[CompanySettings](b.ctx, b.tx, b.actor.Company, KindCompany, u.Company, true)
		if err == nil {
			return c.Allocation, nil
		}
		if !storage.IsNotFound(err) {
			return Allocation{}, err
		}
	}
	return u.Allocation, nil
}

// paidInUse counts the paid, valid licenses assigned to the consumers of user.
func (b *book) paidInUse(user string) (int, error) {
	ls, err := b.all()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range ls {
		if l.Assignee != nil && l.Assignee.User == user && l.paid() && l.ValidAt(b.now) {
			n++
		}
	}
	return n, nil
}

// allowed reports whether user may take l under its pool settings.
func (b *book) allowed(user string, l *License) (bool, Allocation, error) {
	a, err := b.allocation(user)
	if err != nil || a.Mode != UserPool || !l.paid() {
		return err == nil, a, err
	}
	n, err := b.paidInUse(user)
	return n < a.Limit, a, err
}

// available returns the licenses of type t in the global pool that can be
// assigned now, best first: paid before trial, the latest expiration first,
// then by ID.
func (b *book) available(t Type) ([]*License, error) {
	ls, err := b.sorted()
	if err != nil {
		return nil, err
	}
	var out []*License
	for _, l := range ls {
		if l.Type == t && l.Assignee == nil && l.ValidAt(b.now) {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(x, y *License) int {
		if x.Trial != y.Trial {
			if x.Trial {
				return 1
			}
			return -1
		}
		return -cmp.Compare(x.ExpirationDate.UnixNano(), y.ExpirationDate.UnixNano())
	})
	return out, nil
}

// pick returns the first available license of type t that user may take, or nil.
func (b *book) pick(t Type, user string, paidOnly bool) (*License, error) {
	cands, err := b.available(t)
	if err != nil {
		return nil, err
	}
	for _, c := range cands {
		if paidOnly && c.Trial {
			continue
		}
		ok, _, err := b.allowed(user, c)
		if err != nil {
			return nil, err
		}
		if ok {
			return c, nil
		}
	}
	return nil, nil
}
