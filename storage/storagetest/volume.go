package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("volume",
		Test{"PageOfTwoCustomers", volTestPageOfTwoCustomers},
		Test{"AllocationNeverExceedsSeats", volTestInsufficient},
		Test{"LegalNameUnique", volTestLegalNameUnique},
		Test{"SeveralLicensesAndEditView", volTestSeveralLicenses},
		Test{"ReductionBelowUsageRefused", volTestUsage},
		Test{"OffboardReturnsSeats", volTestOffboard},
		Test{"PageSearchSort", volTestPage},
		Test{"EventsInSameTransaction", volTestEvents},
		Test{"TenantIsolation", volTestTenants},
		Test{"BadInputChangesNothing", volTestBadInput},
		Test{"FaultChangesNothing", volTestFaults},
		Test{"Idempotent", volTestIdempotent},
		Test{"ConcurrentOnboardNeverExceedsSeats", volTestConcurrent},
		Test{"StateMachine", volTestStateMachine},
	)
}

var (
	volT0      = time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	volPartner = license.Actor{Company: "partner-a", Email: "owner@partner-a.example", Role: license.Owner}
	volOther   = license.Actor{Company: "partner-b", Email: "owner@partner-b.example", Role: license.Owner}
)

func volSetup(t *testing.T, newStore Factory) (*volume.Service, storage.Store) {
	t.Helper()
	st := newStore(t)
	return volume.New(st, licensetest.NewClock(volT0)), st
}

func volLicense(t *testing.T, s *volume.Service, actor license.Actor, product string, seats int64) volume.License {
	t.Helper()
	l, err := s.CreateLicense(context.Background(), actor, volume.NewLicense{
		Product: product, Seats: seats, RenewalDate: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC),
		PricePerUser: license.Money{Amount: decimal.RequireFromString("4.50"), Currency: "USD"},
	})
	require.NoError(t, err)
	return l
}

func volPage(t *testing.T, s *volume.Service, actor license.Actor, id string) volume.Page {
	t.Helper()
	p, err := s.Page(context.Background(), actor, id, volume.Query{})
	require.NoError(t, err)
	return p
}

// volSnapshot is the company's whole volume state plus its event count, as text,
// so that "nothing changed" is one comparison.
func volSnapshot(t testing.TB, st storage.Store, company string) string {
	t.Helper()
	var out []any
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		for _, k := range []storage.Kind{volume.KindLicense, volume.KindCustomer} {
			rs, err := tx.List(context.Background(), storage.ListQuery{Company: company, Kind: k})
			if err != nil {
				return err
			}
			for _, r := range rs {
				out = append(out, r.ID, r.Unique, string(r.Data))
			}
		}
		n, err := tx.CountEvents(context.Background(), eventlog.Filter{Company: company})
		out = append(out, n)
		return err
	}))
	b, _ := json.Marshal(out)
	return string(b)
}

func volTestPageOfTwoCustomers(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _ := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Complete", 1990)
	for _, name := range []string{"Northwind Traders", "Contoso Ltd"} {
		_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: name, Allocations: []volume.Seats{{License: l.ID, Seats: 100}}})
		require.NoError(t, err)
	}
	p := volPage(t, s, volPartner, l.ID)
	assert.True(t, p.Metrics.PricePerUser.Equal(l.PricePerUser), "price per user %v", p.Metrics.PricePerUser)
	p.Metrics.PricePerUser = license.Money{}
	assert.Equal(t, volume.Metrics{Seats: 1990, Allocated: 200, Unallocated: 1790, RenewalDate: license.EndOfDay(time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)),
		Customers: 2}, p.Metrics, "a date-only renewal date means the end of that day")
	require.Len(t, p.Customers, 2)
	assert.Equal(t, "Contoso Ltd", p.Customers[0].LegalName, "default sort is by legal name")
}

func volTestInsufficient(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 150)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Alpha", Allocations: []volume.Seats{{License: l.ID, Seats: 100}}})
	require.NoError(t, err)
	before := volSnapshot(t, st, volPartner.Company)
	_, err = s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Beta", Allocations: []volume.Seats{{License: l.ID, Seats: 51}}})
	require.ErrorIs(t, err, license.ErrInsufficientLicenses)
	assert.Equal(t, "allocations[0].seats", license.ErrorField(err))
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 151}}})
	require.ErrorIs(t, err, license.ErrInsufficientLicenses)
	assert.Equal(t, before, volSnapshot(t, st, volPartner.Company), "a refused allocation changes nothing")
	// Exactly filling the license is allowed.
	_, err = s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Beta", Allocations: []volume.Seats{{License: l.ID, Seats: 50}}})
	require.NoError(t, err)
	assert.Equal(t, int64(0), volPage(t, s, volPartner, l.ID).Metrics.Unallocated)
	// Seats cannot drop below the allocations either; buying more makes room.
	before = volSnapshot(t, st, volPartner.Company)
	_, err = s.SetSeats(ctx, volPartner, l.ID, 149)
	require.ErrorIs(t, err, license.ErrInsufficientLicenses)
	assert.Equal(t, before, volSnapshot(t, st, volPartner.Company))
	grown, err := s.SetSeats(ctx, volPartner, l.ID, 200)
	require.NoError(t, err)
	assert.Equal(t, int64(50), grown.Unallocated())
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 150}}})
	require.NoError(t, err)
	assert.Equal(t, int64(0), volPage(t, s, volPartner, l.ID).Metrics.Unallocated)
}

func volTestLegalNameUnique(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 100)
	a, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Acme  Ltd", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.NoError(t, err)
	assert.Equal(t, "Acme Ltd", a.LegalName, "spaces are collapsed")
	b, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Globex", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.NoError(t, err)
	before := volSnapshot(t, st, volPartner.Company)
	_, err = s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: " ACME LTD ", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.ErrorIs(t, err, license.ErrConflict)
	assert.Equal(t, "legal_name", license.ErrorField(err))
	_, err = s.Edit(ctx, volPartner, b.ID, volume.Edit{LegalName: "acme ltd"})
	require.ErrorIs(t, err, license.ErrConflict)
	assert.Equal(t, before, volSnapshot(t, st, volPartner.Company))
	// Renaming to a case variant of its own name is fine, and frees nothing else.
	a2, err := s.Edit(ctx, volPartner, a.ID, volume.Edit{LegalName: "ACME Ltd"})
	require.NoError(t, err)
	assert.Equal(t, "ACME Ltd", a2.LegalName)
	// After a rename the old name is free.
	_, err = s.Edit(ctx, volPartner, b.ID, volume.Edit{LegalName: "Globex Corporation"})
	require.NoError(t, err)
	_, err = s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "globex", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.NoError(t, err)
	// Another partner may use the same name.
	lo := volLicense(t, s, volOther, "MDR Core", 10)
	_, err = s.Onboard(ctx, volOther, volume.Onboarding{LegalName: "Acme Ltd", Allocations: []volume.Seats{{License: lo.ID, Seats: 1}}})
	require.NoError(t, err)
}

func volTestSeveralLicenses(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	main := volLicense(t, s, volPartner, "MDR Complete", 1990)
	cloud := volLicense(t, s, volPartner, "MDR Cloud", 300)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Initech", Allocations: []volume.Seats{{License: main.ID, Seats: 100}}})
	require.NoError(t, err)
	c, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: main.ID, Seats: 120}, {License: cloud.ID, Seats: 40}}})
	require.NoError(t, err)
	assert.Equal(t, int64(120), c.Seats(main.ID))
	assert.Equal(t, int64(40), c.Seats(cloud.ID))
	v, err := s.EditView(ctx, volPartner, c.ID)
	require.NoError(t, err)
	require.Len(t, v.Licenses, 2)
	assert.Equal(t, volume.Remaining{License: main.ID, Product: "MDR Complete", Seats: 1990, Unallocated: 1870, Customer: 120}, v.Licenses[0])
	assert.Equal(t, volume.Remaining{License: cloud.ID, Product: "MDR Cloud", Seats: 300, Unallocated: 260, Customer: 40}, v.Licenses[1])
	// One edit over two licenses is all or nothing: the cloud part fails, so the
	// main part does not happen either.
	before := volSnapshot(t, st, volPartner.Company)
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: main.ID, Seats: 10}, {License: cloud.ID, Seats: 301}}})
	require.ErrorIs(t, err, license.ErrInsufficientLicenses)
	assert.Equal(t, "allocations[1].seats", license.ErrorField(err))
	assert.Equal(t, before, volSnapshot(t, st, volPartner.Company))
	// Removing the add-on (0 seats) drops the customer from its page.
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: cloud.ID, Seats: 0}}})
	require.NoError(t, err)
	p := volPage(t, s, volPartner, cloud.ID)
	assert.Equal(t, int64(0), p.Metrics.Customers)
	assert.Empty(t, p.Customers)
	assert.Equal(t, int64(1), volPage(t, s, volPartner, main.ID).Metrics.Customers)
}

func volTestUsage(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 500)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Umbrella", Allocations: []volume.Seats{{License: l.ID, Seats: 100}}})
	require.NoError(t, err)
	require.NoError(t, s.ReportUsage(ctx, license.System(volPartner.Company), c.ID, l.ID, 80))
	before := volSnapshot(t, st, volPartner.Company)
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 79}}})
	require.ErrorIs(t, err, license.ErrBelowEnrolled)
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 0}}})
	require.ErrorIs(t, err, license.ErrBelowEnrolled)
	assert.Equal(t, before, volSnapshot(t, st, volPartner.Company))
	c, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 80}}})
	require.NoError(t, err)
	assert.Equal(t, int64(80), c.Seats(l.ID))
	// Usage above the allocation is recorded; increases are still allowed.
	require.NoError(t, s.ReportUsage(ctx, volPartner, c.ID, l.ID, 90))
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 85}}})
	require.NoError(t, err)
	p := volPage(t, s, volPartner, l.ID)
	assert.Equal(t, int64(90), p.Customers[0].Usage)
	// Usage on a license the customer does not hold is not_found.
	other := volLicense(t, s, volPartner, "MDR Cloud", 5)
	require.ErrorIs(t, s.ReportUsage(ctx, volPartner, c.ID, other.ID, 1), license.ErrNotFound)
}

func volTestOffboard(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _ := volSetup(t, newStore)
	main := volLicense(t, s, volPartner, "MDR Complete", 1990)
	cloud := volLicense(t, s, volPartner, "MDR Cloud", 300)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Hooli", Allocations: []volume.Seats{{License: main.ID, Seats: 100}, {License: cloud.ID, Seats: 20}}})
	require.NoError(t, err)
	require.NoError(t, s.ReportUsage(ctx, volPartner, c.ID, main.ID, 60))
	require.NoError(t, s.Offboard(ctx, volPartner, c.ID))
	for _, l := range []volume.License{main, cloud} {
		p := volPage(t, s, volPartner, l.ID)
		assert.Equal(t, l.Seats, p.Metrics.Unallocated)
		assert.Equal(t, int64(0), p.Metrics.Customers)
	}
	_, err = s.Customer(ctx, volPartner, c.ID)
	require.ErrorIs(t, err, license.ErrNotFound)
	require.ErrorIs(t, s.Offboard(ctx, volPartner, c.ID), license.ErrNotFound)
	// The name is free again.
	_, err = s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Hooli", Allocations: []volume.Seats{{License: main.ID, Seats: 1}}})
	require.NoError(t, err)
}

func volTestPage(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	st := newStore(t)
	clock := licensetest.NewClock(volT0)
	s := volume.New(st, clock)
	l := volLicense(t, s, volPartner, "MDR Complete", 1000)
	names := []string{"beta GmbH", "Alpha AG", "Gamma Inc", "alphabet"}
	seats := []int64{30, 10, 20, 40}
	for i, n := range names {
		clock.Advance(time.Hour)
		c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: n, Allocations: []volume.Seats{{License: l.ID, Seats: seats[i]}}})
		require.NoError(t, err)
		require.NoError(t, s.ReportUsage(ctx, volPartner, c.ID, l.ID, int64(len(names)-i)))
	}
	order := func(q volume.Query) []string {
		p, err := s.Page(ctx, volPartner, l.ID, q)
		require.NoError(t, err)
		var out []string
		for _, r := range p.Customers {
			out = append(out, r.LegalName)
		}
		return out
	}
	assert.Equal(t, []string{"Alpha AG", "alphabet", "beta GmbH", "Gamma Inc"}, order(volume.Query{}))
	assert.Equal(t, []string{"Gamma Inc", "beta GmbH", "alphabet", "Alpha AG"}, order(volume.Query{Desc: true}))
	assert.Equal(t, []string{"Alpha AG", "Gamma Inc", "beta GmbH", "alphabet"}, order(volume.Query{Sort: volume.SortSeats}))
	assert.Equal(t, []string{"alphabet", "Gamma Inc", "Alpha AG", "beta GmbH"}, order(volume.Query{Sort: volume.SortUsage}))
	assert.Equal(t, []string{"alphabet", "Gamma Inc", "Alpha AG", "beta GmbH"}, order(volume.Query{Sort: volume.SortCreated, Desc: true}))
	assert.Equal(t, []string{"Alpha AG", "alphabet"}, order(volume.Query{Search: "ALPHA"}))
	assert.Empty(t, order(volume.Query{Search: "zzz"}))
	_, err := s.Page(ctx, volPartner, l.ID, volume.Query{Sort: "price"})
	require.ErrorIs(t, err, license.ErrInvalid)
}

func volTestEvents(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 100)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Wayne", Allocations: []volume.Seats{{License: l.ID, Seats: 10}}})
	require.NoError(t, err)
	_, err = s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 15}}})
	require.NoError(t, err)
	require.NoError(t, s.Offboard(ctx, volPartner, c.ID))
	var got []eventlog.Event
	require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: volPartner.Company, Sort: eventlog.ColID}, func(e eventlog.Event) error {
			got = append(got, e)
			return nil
		})
	}))
	require.Len(t, got, 4)
	wantTypes := []eventlog.Type{volume.EventLicenseCreated, volume.EventOnboarded, volume.EventEdited, volume.EventOffboarded}
	wantCounts := []int64{100, 10, 5, -15}
	for i, e := range got {
		assert.Equal(t, wantTypes[i], e.Type)
		assert.Equal(t, wantCounts[i], e.Count, "event %s", e.Type)
		assert.Equal(t, volPartner.Email, e.Actor)
		assert.True(t, e.Time.Equal(volT0))
	}
	assert.Equal(t, c.ID, got[3].Subject)
}

func volTestTenants(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 100)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Stark", Allocations: []volume.Seats{{License: l.ID, Seats: 10}}})
	require.NoError(t, err)
	before := volSnapshot(t, st, volPartner.Company)
	_, err = s.Page(ctx, volOther, l.ID, volume.Query{})
	require.ErrorIs(t, err, license.ErrNotFound)
	_, err = s.Onboard(ctx, volOther, volume.Onboarding{LegalName: "Evil", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.ErrorIs(t, err, license.ErrNotFound)
	_, err = s.Edit(ctx, volOther, c.ID, volume.Edit{LegalName: "Pwned"})
	require.ErrorIs(t, err, license.ErrNotFound)
	require.ErrorIs(t, s.Offboard(ctx, volOther, c.ID), license.ErrNotFound)
	require.ErrorIs(t, s.ReportUsage(ctx, volOther, c.ID, l.ID, 5), license.ErrNotFound)
	cs, err := s.Customers(ctx, volOther)
	require.NoError(t, err)
	assert.Empty(t, cs)
	assert.Equal(t, before, volSnapshot(t, st, volPartner.Company))
}

func volTestBadInput(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 100)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Cyberdyne", Allocations: []volume.Seats{{License: l.ID, Seats: 10}}})
	require.NoError(t, err)
	viewer := volPartner
	viewer.Role = license.Viewer
	before := volSnapshot(t, st, volPartner.Company)
	cases := []struct {
		name  string
		code  license.Code
		field string
		call  func() error
	}{
		{"empty name", license.Invalid, "legal_name", func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "  ", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
			return err
		}},
		{"long name", license.Invalid, "legal_name", func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: fmt.Sprintf("%0*d", volume.MaxLegalName+1, 0), Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
			return err
		}},
		{"control char", license.Invalid, "legal_name", func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "a\x00b", Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
			return err
		}},
		{"no license", license.Invalid, "allocations", func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "X"})
			return err
		}},
		{"negative seats", license.Invalid, "allocations[0].seats", func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "X", Allocations: []volume.Seats{{License: l.ID, Seats: -1}}})
			return err
		}},
		{"bad license id", license.Invalid, "allocations[0].license", func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "X", Allocations: []volume.Seats{{License: "nope", Seats: 1}}})
			return err
		}},
		{"unknown license", license.NotFound, "allocations[0].license", func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "X", Allocations: []volume.Seats{{License: license.NewID(), Seats: 1}}})
			return err
		}},
		{"duplicate license", license.Invalid, "allocations[1].license", func() error {
			_, err := s.Edit(ctx, volPartner, c.ID, volume.Edit{Allocations: []volume.Seats{{License: l.ID, Seats: 1}, {License: l.ID, Seats: 2}}})
			return err
		}},
		{"empty edit", license.Invalid, "allocations", func() error {
			_, err := s.Edit(ctx, volPartner, c.ID, volume.Edit{})
			return err
		}},
		{"viewer", license.Forbidden, "role", func() error {
			_, err := s.Edit(ctx, viewer, c.ID, volume.Edit{LegalName: "Y"})
			return err
		}},
		{"no actor", license.Invalid, "company", func() error { return s.Offboard(ctx, license.Actor{}, c.ID) }},
		{"negative usage", license.Invalid, "users", func() error { return s.ReportUsage(ctx, volPartner, c.ID, l.ID, -1) }},
		{"zero seats license", license.Invalid, "seats", func() error {
			_, err := s.CreateLicense(ctx, volPartner, volume.NewLicense{Product: "P", Seats: 0, RenewalDate: volT0, PricePerUser: license.Money{Currency: "USD"}})
			return err
		}},
		{"bad currency", license.Invalid, "currency", func() error {
			_, err := s.CreateLicense(ctx, volPartner, volume.NewLicense{Product: "P", Seats: 5, RenewalDate: volT0, PricePerUser: license.Money{Currency: "XXX"}})
			return err
		}},
	}
	for _, tc := range cases {
		err := tc.call()
		var le *license.Error
		require.True(t, errors.As(err, &le), "%s: want a *license.Error, got %v", tc.name, err)
		assert.Equal(t, tc.code, le.Code, "%s: %v", tc.name, err)
		assert.Equal(t, tc.field, le.Field, "%s: %v", tc.name, err)
		assert.Equal(t, before, volSnapshot(t, st, volPartner.Company), "%s changed the state", tc.name)
	}
}

func volTestFaults(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := NewFaulty(newStore(t))
	s := volume.New(f, licensetest.NewClock(volT0))
	main := volLicense(t, s, volPartner, "MDR Complete", 1000)
	cloud := volLicense(t, s, volPartner, "MDR Cloud", 100)
	c, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Soylent", Allocations: []volume.Seats{{License: main.ID, Seats: 10}}})
	require.NoError(t, err)
	ops := map[string]func() error{
		"onboard": func() error {
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Tyrell", Allocations: []volume.Seats{{License: main.ID, Seats: 5}, {License: cloud.ID, Seats: 5}}})
			return err
		},
		"edit": func() error {
			_, err := s.Edit(ctx, volPartner, c.ID, volume.Edit{LegalName: "Soylent Corp", Allocations: []volume.Seats{{License: main.ID, Seats: 20}, {License: cloud.ID, Seats: 3}}})
			return err
		},
		"usage":    func() error { return s.ReportUsage(ctx, volPartner, c.ID, main.ID, 7) },
		"offboard": func() error { return s.Offboard(ctx, volPartner, c.ID) },
	}
	for _, name := range []string{"onboard", "usage", "edit", "offboard"} {
		op := ops[name]
		for n := 1; ; n++ {
			before := volSnapshot(t, f, volPartner.Company)
			f.FailWrite(n)
			err := op()
			f.Disarm()
			if err == nil {
				break // the op has fewer than n writes: it succeeded
			}
			require.ErrorIs(t, err, FaultError, "%s with write %d failing", name, n)
			assert.Equal(t, before, volSnapshot(t, f, volPartner.Company), "%s: failed write %d left changes behind", name, n)
		}
	}
	// Commit faults: the op is rolled back.
	before := volSnapshot(t, f, volPartner.Company)
	f.FailCommit(1)
	_, err = s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: "Massive Dynamic", Allocations: []volume.Seats{{License: main.ID, Seats: 1}}})
	require.ErrorIs(t, err, FaultError)
	assert.Equal(t, before, volSnapshot(t, f, volPartner.Company))
	assert.Positive(t, f.Injected())
}

func volTestIdempotent(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, st := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 100)
	req := volume.Onboarding{LegalName: "Vandelay", Allocations: []volume.Seats{{License: l.ID, Seats: 10}}, IdempotencyKey: "k1"}
	a, err := s.Onboard(ctx, volPartner, req)
	require.NoError(t, err)
	snap := volSnapshot(t, st, volPartner.Company)
	b, err := s.Onboard(ctx, volPartner, req)
	require.NoError(t, err)
	assert.Equal(t, a.ID, b.ID)
	assert.Equal(t, snap, volSnapshot(t, st, volPartner.Company), "a retry changes nothing")
	req.Allocations[0].Seats = 11
	_, err = s.Onboard(ctx, volPartner, req)
	require.ErrorIs(t, err, license.ErrConflict)
}

func volTestConcurrent(t *testing.T, newStore Factory, f Features) {
	ctx := context.Background()
	s, _ := volSetup(t, newStore)
	l := volLicense(t, s, volPartner, "MDR Core", 50)
	workers := 16
	if f.Short {
		workers = 6
	}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Onboard(ctx, volPartner, volume.Onboarding{LegalName: fmt.Sprintf("Customer %02d", i), Allocations: []volume.Seats{{License: l.ID, Seats: 7}}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok, retryable := 0, 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		code := license.ErrorCode(err)
		require.True(t, code == license.InsufficientLicenses || code == license.Conflict || code == license.Unavailable, "unexpected %v", err)
		if code != license.InsufficientLicenses {
			retryable++ // a busy store may refuse a worker that would have fit
		}
	}
	p := volPage(t, s, volPartner, l.ID)
	assert.Equal(t, int64(ok*7), p.Metrics.Allocated, "allocated equals the successful onboardings")
	assert.LessOrEqual(t, p.Metrics.Allocated, p.Metrics.Seats)
	assert.Len(t, p.Customers, ok)
	if !f.Parallel && retryable == 0 {
		assert.Equal(t, min(workers, 7), ok, "50 seats hold 7 customers of 7; every worker that fits gets in")
	}
}
