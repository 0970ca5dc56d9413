package billing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

func requireInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
	assert.Equal(t, field, license.ErrorField(err), "%v", err)
}

func TestCompanyAndSiteTextAndPriceBounds(t *testing.T) {
	ctx := context.Background()
	s := &billing.Service{Store: memory.New(), Clock: licensetest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}
	owner := license.Actor{Company: "acme", Email: "ann@acme.example", Role: license.Owner}
	for _, bad := range []string{"Acme\x00", "Acme\nLtd", "Acme\u202Edtl", strings.Repeat("x", 201)} {
		_, err := s.CreateCompany(ctx, owner, bad)
		requireInvalidField(t, err, "name")
	}
	_, err := s.CreateCompany(ctx, owner, "Acme")
	require.NoError(t, err)

	site := func() billing.NewSite {
		return billing.NewSite{Name: "Berlin", Plan: "business", PaymentType: billing.MonthlyInvoice, Group: "main",
			UnitPrice: license.NewMoney(decimal.RequireFromString("2.5"), "USD")}
	}
	for field, change := range map[string]func(*billing.NewSite){
		"name":       func(n *billing.NewSite) { n.Name = "Ber\u2066lin" },
		"plan":       func(n *billing.NewSite) { n.Plan = strings.Repeat("p", 900_000) },
		"group":      func(n *billing.NewSite) { n.Group = "main\x00" },
		"unit_price": func(n *billing.NewSite) { n.UnitPrice = license.NewMoney(decimal.New(1, 9999), "USD") },
	} {
		ns := site()
		change(&ns)
		_, err := s.CreateSite(ctx, owner, ns)
		requireInvalidField(t, err, field)
	}
	sites, err := s.Sites(ctx, owner)
	require.NoError(t, err)
	assert.Empty(t, sites, "nothing created")
	requireInvalidField(t, billing.CheckUnitPrice(license.NewMoney(decimal.RequireFromString("1000000000000"), "USD")), "unit_price")
}
