package volume

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// SortKey is a column of the customer table.
type SortKey string

// Sortable columns of the customer table.
const (
	SortName    SortKey = "name"
	SortSeats   SortKey = "seats"
	SortUsage   SortKey = "usage"
	SortCreated SortKey = "created"
)

// Query searches and sorts the customer table of a license page.
type Query struct {
	// Search keeps customers whose legal name contains it, ignoring case.
	Search string
	Sort   SortKey // "" means SortName; ties are broken by customer ID
	Desc   bool
}

// Metrics are the key figures at the top of a license page.
type Metrics struct {
	Seats        int64         `json:"seats"`
	Allocated    int64         `json:"allocated"`
	Unallocated  int64         `json:"unallocated"`
	RenewalDate  time.Time     `json:"renewal_date"`
	PricePerUser license.Money `json:"price_per_user"`
	Customers    int64         `json:"customers"`
}

// Row is one customer in a license page's table.
type Row struct {
	Customer  string    `json:"customer"`
	LegalName string    `json:"legal_name"`
	Seats     int64     `json:"seats"`
	Usage     int64     `json:"usage"`
	CreatedAt time.Time `json:"created_at"`
}

// Page is a volume license's page: metrics and the customer table.
type Page struct {
	License   License `json:"license"`
	Metrics   Metrics `json:"metrics"`
	Customers []Row   `json:"customers"`
}

// Licenses lists the company's volume licenses in creation order.
// Errors: invalid.
func (s *Service) Licenses(ctx context.Context, actor license.Actor) ([]License, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	return storage.ViewList[License](ctx, s.Store, storage.ListQuery{Company: actor.Company, Kind: KindLicense})
}

// Customers lists every customer account of the company in onboarding order.
// Errors: invalid.
func (s *Service) Customers(ctx context.Context, actor license.Actor) ([]Customer, error) {
	if err := actor.Check(); err != nil {
		return nil, err
	}
	return storage.ViewList[Customer](ctx, s.Store, storage.ListQuery{Company: actor.Company, Kind: KindCustomer})
}

// Customer returns one customer account.
// Errors: invalid, not_found.
func (s *Service) Customer(ctx context.Context, actor license.Actor, id string) (Customer, error) {
	if err := actor.Check(); err != nil {
		return Customer{}, err
	}
	if err := license.CheckID("customer", id); err != nil {
		return Customer{}, err
	}
	var c Customer
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		c, _, err = storage.Load[Customer](ctx, tx, actor.Company, KindCustomer, id, false)
		return notFoundCustomer(err, id)
	})
	return c, err
}

// Page returns the license page of licenseID: its metrics and the customers
// with seats on it, filtered and sorted by q.
// Errors: invalid, not_found.
func (s *Service) Page(ctx context.Context, actor license.Actor, licenseID string, q Query) (Page, error) {
	if err := actor.Check(); err != nil {
		return Page{}, err
	}
	if err := license.CheckID("license", licenseID); err != nil {
		return Page{}, err
	}
	switch q.Sort {
	case "", SortName, SortSeats, SortUsage, SortCreated:
	default:
		return Page{}, license.Errorf(license.Invalid, "sort", "cannot sort by %q: use name, seats, usage or created", q.Sort)
	}
	var p Page
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		l, _, err := storage.Load[License](ctx, tx, actor.Company, KindLicense, licenseID, false)
		if err != nil {
			if storage.IsNotFound(err) {
				return license.Errorf(license.NotFound, "license", "no volume license %q", licenseID)
			}
			return err
		}
		cs, err := storage.ListOf[Customer](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: KindCustomer})
		if err != nil {
			return err
		}
		p = page(l, cs, q)
		return nil
	})
	return p, err
}

// page builds the page of l from the customer list: pure.
func page(l License, cs []Customer, q Query) Page {
	p := Page{License: l, Metrics: Metrics{
		Seats: l.Seats, Allocated: l.Allocated, Unallocated: l.Unallocated(),
		RenewalDate: l.RenewalDate, PricePerUser: l.PricePerUser, Customers: l.Customers,
	}, Customers: []Row{}}
	search := strings.ToLower(strings.TrimSpace(q.Search))
	for _, c := range cs {
		a, ok := c.allocation(l.ID)
		if !ok || !strings.Contains(strings.ToLower(c.LegalName), search) {
			continue
		}
		p.Customers = append(p.Customers, Row{Customer: c.ID, LegalName: c.LegalName, Seats: a.Seats, Usage: a.Usage, CreatedAt: c.CreatedAt})
	}
	slices.SortStableFunc(p.Customers, func(a, b Row) int {
		var r int
		switch q.Sort {
		case SortSeats:
			r = cmp.Compare(a.Seats, b.Seats)
		case SortUsage:
			r = cmp.Compare(a.Usage, b.Usage)
		case SortCreated:
			r = a.CreatedAt.Compare(b.CreatedAt)
		default:
			r = cmp.Compare(strings.ToLower(a.LegalName), strings.ToLower(b.LegalName))
		}
		if r == 0 {
			r = cmp.Compare(a.Customer, b.Customer)
		}
		if q.Desc {
			r = -r
		}
		return r
	})
	return p
}

// Remaining is one license on a customer's edit page: the customer's seats on
// it and the seats still unallocated.
type Remaining struct {
	License     string `json:"license"`
	Product     string `json:"product"`
	Seats       int64  `json:"seats"`
	Unallocated int64  `json:"unallocated"`
	Customer    int64  `json:"customer_seats"`
	Usage       int64  `json:"usage"`
}

// EditView is what the edit page of a customer shows.
type EditView struct {
	Customer Customer    `json:"customer"`
	Licenses []Remaining `json:"licenses"` // every license of the company, in creation order
}

// EditView returns customer id with the remaining seats of each of the
// company's volume licenses (the main license and any cloud add-on).
// Errors: invalid, not_found.
func (s *Service) EditView(ctx context.Context, actor license.Actor, id string) (EditView, error) {
	if err := actor.Check(); err != nil {
		return EditView{}, err
	}
	if err := license.CheckID("customer", id); err != nil {
		return EditView{}, err
	}
	var v EditView
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		c, _, err := storage.Load[Customer](ctx, tx, actor.Company, KindCustomer, id, false)
		if err != nil {
			return notFoundCustomer(err, id)
		}
		ls, err := storage.ListOf[License](ctx, tx, storage.ListQuery{Company: actor.Company, Kind: KindLicense})
		if err != nil {
			return err
		}
		v = EditView{Customer: c, Licenses: make([]Remaining, 0, len(ls))}
		for _, l := range ls {
			a, _ := c.allocation(l.ID)
			v.Licenses = append(v.Licenses, Remaining{License: l.ID, Product: l.Product, Seats: l.Seats,
				Unallocated: l.Unallocated(), Customer: a.Seats, Usage: a.Usage})
		}
		return nil
	})
	return v, err
}
