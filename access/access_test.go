package access_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/topup"
)

func saveMember(t *testing.T, store storage.Store, company, email string, role license.Role) {
	t.Helper()
	err := store.Update(context.Background(), func(tx storage.Tx) error {
		return storage.Save(context.Background(), tx, storage.Record{Company: company, Kind: access.KindMember, ID: access.MemberID(email), Parent: company},
			access.Member{Email: email, Role: role})
	})
	require.NoError(t, err)
}

func TestEffectiveRoleRules(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	saveMember(t, store, "acme", "alice@acme.example", license.Viewer)
	saveMember(t, store, "acme", "bob@acme.example", license.Owner)
	cases := []struct {
		name  string
		actor license.Actor
		want  license.Role
	}{
		{"a member's admin key acts with the stored viewer role", license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin}, license.Viewer},
		{"the e-mail is matched ignoring case", license.Actor{Company: "acme", Email: "Alice@ACME.example", Role: license.Owner}, license.Viewer},
		{"a key lower than its member's role stays lower", license.Actor{Company: "acme", Email: "bob@acme.example", Role: license.Editor}, license.Editor},
		{"an owner member's owner key is owner", license.Actor{Company: "acme", Email: "bob@acme.example", Role: license.Owner}, license.Owner},
		{"membership is per company", license.Actor{Company: "other", Email: "alice@acme.example", Role: license.Admin}, license.Admin},
		{"a non-member keeps the role it was vouched for", license.Actor{Company: "acme", Email: "ci@acme.example", Role: license.LicenseAdmin}, license.LicenseAdmin},
		{"the system actor keeps its role", license.System("acme"), license.Owner},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := store.View(ctx, func(tx storage.Tx) error {
				got, err := access.EffectiveRole(ctx, tx, tc.actor)
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				res, err := access.Resolve(ctx, tx, tc.actor)
				require.NoError(t, err)
				require.Equal(t, license.Actor{Company: tc.actor.Company, Email: tc.actor.Email, Role: tc.want}, res)
				return nil
			})
			require.NoError(t, err)
			got, err := access.ViewRole(ctx, store, tc.actor)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("a malformed actor is invalid", func(t *testing.T) {
		_, err := access.ViewRole(ctx, store, license.Actor{Company: "acme", Email: "alice@acme.example", Role: "root"})
		require.Equal(t, license.Invalid, license.ErrorCode(err))
	})
	t.Run("Require refuses a role below the need with forbidden", func(t *testing.T) {
		err := store.View(ctx, func(tx storage.Tx) error {
			_, err := access.Require(ctx, tx, license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Owner},
				license.Role.CanEdit, "editing", "an editor")
			return err
		})
		require.Equal(t, license.Forbidden, license.ErrorCode(err))
		var le *license.Error
		require.True(t, errors.As(err, &le))
		require.Equal(t, "role", le.Field)
	})
}

func TestRankAndLesser(t *testing.T) {
	order := []license.Role{license.Viewer, license.LicenseAdmin, license.Editor, license.Admin, license.Owner}
	for i, a := range order {
		require.Equal(t, i+1, access.Rank(a))
		for j, b := range order {
			want := a
			if j < i {
				want = b
			}
			require.Equal(t, want, access.Lesser(a, b), "%s vs %s", a, b)
		}
	}
	require.Equal(t, 0, access.Rank("root"))
}

// world is one company with an owner (ann) and a member (alice) whose key
// claims the Admin role, and every service over one memory store.
type world struct {
	store storage.Store
	owner license.Actor
	alice license.Actor
	bill  *billing.Service
	pools *pool.Service
	vol   *volume.Service
	subs  *subscription.Service
	top   *topup.Service
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	clock := licensetest.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	w := &world{
		store: store,
		owner: license.Actor{Company: "acme", Email: "ann@acme.example", Role: license.Owner},
		alice: license.Actor{Company: "acme", Email: "alice@acme.example", Role: license.Admin},
		bill:  &billing.Service{Store: store, Clock: clock},
		pools: &pool.Service{Store: store, Clock: clock},
		vol:   volume.New(store, clock),
		subs:  subscription.New(store, clock),
		top:   &topup.Service{Store: store, Clock: clock},
	}
	_, err := w.bill.CreateCompany(ctx, w.owner, "Acme")
	require.NoError(t, err)
	w.setRole(t, license.Admin)
	return w
}

func (w *world) setRole(t *testing.T, role license.Role) {
	t.Helper()
	_, err := w.bill.AddMember(context.Background(), w.owner, w.alice.Email, role)
	require.NoError(t, err)
}

func (w *world) events(t *testing.T) int {
	t.Helper()
	n := 0
	err := w.store.View(context.Background(), func(tx storage.Tx) error {
		p, err := access.QueryEvents(context.Background(), tx, w.owner, eventlog.Request{Limit: 1000})
		n = len(p.Events)
		return err
	})
	require.NoError(t, err)
	return n
}

var usd = license.NewMoney(decimal.RequireFromString("4.50"), "USD")

// TestDemotedMemberIsRefusedByEveryService is the repro: alice's key claims
// Admin, the owner demotes her to Viewer, and every service then refuses
// what a Viewer may not do, changing nothing; promoted back, the same key
// works again at once.
func TestDemotedMemberIsRefusedByEveryService(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)

	// Things to act on, made by the owner.
	p, err := w.pools.Create(ctx, w.owner, pool.CreateRequest{Spec: pool.Spec{Name: "p", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"S"}}})
	require.NoError(t, err)
	vl, err := w.vol.CreateLicense(ctx, w.owner, volume.NewLicense{Product: "MDR", Seats: 100, RenewalDate: time.Date(2027, 5, 4, 0, 0, 0, 0, time.UTC), PricePerUser: usd})
	require.NoError(t, err)
	cust, err := w.vol.Onboard(ctx, w.owner, volume.Onboarding{LegalName: "Northwind", Allocations: []volume.Seats{{License: vl.ID, Seats: 10}}})
	require.NoError(t, err)
	ten := int64(10)
	site, err := w.bill.CreateSite(ctx, w.owner, billing.NewSite{Name: "Helsinki", Plan: "standard", Group: "north", PaymentType: billing.MonthlyInvoice, UnitPrice: usd, Licenses: &ten})
	require.NoError(t, err)

	n := 0
	ops := []struct {
		service, op string
		do          func(a license.Actor) error
	}{
		{"pool", "create", func(a license.Actor) error {
			n++
			_, err := w.pools.Create(ctx, a, pool.CreateRequest{Spec: pool.Spec{Name: "q" + string(rune('a'+n)), Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"S"}}})
			return err
		}},
		{"pool", "suspend", func(a license.Actor) error { _, err := w.pools.Suspend(ctx, a, p.ID, "audit"); return err }},
		{"pool", "comment", func(a license.Actor) error {
			_, err := w.pools.AddComment(ctx, a, p.ID, pool.CommentRequest{Text: "hello"})
			return err
		}},
		{"volume", "create license", func(a license.Actor) error {
			_, err := w.vol.CreateLicense(ctx, a, volume.NewLicense{Product: "EDR", Seats: 5, RenewalDate: time.Date(2027, 5, 4, 0, 0, 0, 0, time.UTC), PricePerUser: usd})
			return err
		}},
		{"volume", "set seats", func(a license.Actor) error { _, err := w.vol.SetSeats(ctx, a, vl.ID, 200); return err }},
		{"volume", "onboard", func(a license.Actor) error {
			_, err := w.vol.Onboard(ctx, a, volume.Onboarding{LegalName: "Contoso", Allocations: []volume.Seats{{License: vl.ID, Seats: 1}}})
			return err
		}},
		{"volume", "report usage", func(a license.Actor) error { return w.vol.ReportUsage(ctx, a, cust.ID, vl.ID, 3) }},
		{"subscription", "purchase", func(a license.Actor) error {
			_, err := w.subs.Purchase(ctx, a, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, Period: subscription.Monthly, UnitPrice: usd})
			return err
		}},
		{"subscription", "auto-exchange", func(a license.Actor) error { _, err := w.subs.SetAutoExchange(ctx, a, true); return err }},
		{"billing", "purchase", func(a license.Actor) error {
			_, err := w.bill.Purchase(ctx, a, billing.PurchaseRequest{Site: site.ID, Quantity: 1})
			return err
		}},
		{"billing", "create site", func(a license.Actor) error {
			_, err := w.bill.CreateSite(ctx, a, billing.NewSite{Name: "Oulu", Plan: "standard", Group: "north", PaymentType: billing.MonthlyInvoice, UnitPrice: usd})
			return err
		}},
		{"topup", "enable", func(a license.Actor) error {
			_, err := w.top.Enable(ctx, a, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
			return err
		}},
		{"eventlog", "query", func(a license.Actor) error {
			return w.store.View(ctx, func(tx storage.Tx) error {
				_, err := access.QueryEvents(ctx, tx, a, eventlog.Request{})
				return err
			})
		}},
		{"eventlog", "export", func(a license.Actor) error {
			return w.store.View(ctx, func(tx storage.Tx) error {
				return access.ExportEvents(ctx, tx, a, eventlog.OriginalData, eventlog.Request{}, &bytes.Buffer{})
			})
		}},
	}

	w.setRole(t, license.Viewer)
	before := w.events(t)
	for _, o := range ops {
		err := o.do(w.alice)
		assert.Equal(t, license.Forbidden, license.ErrorCode(err), "%s %s by a demoted admin key: %v", o.service, o.op, err)
	}
	require.Equal(t, before, w.events(t), "a refused call appends no event")

	w.setRole(t, license.Admin)
	for _, o := range ops {
		assert.NoError(t, o.do(w.alice), "%s %s by the member promoted back", o.service, o.op)
	}
}

// A pool read by a member demoted below the roles that see prices shows no
// unit price, whatever the key claims.
func TestDemotedMemberSeesNoPoolPrices(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	p, err := w.pools.Create(ctx, w.owner, pool.CreateRequest{Spec: pool.Spec{Name: "p", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"S"}}})
	require.NoError(t, err)
	price := usd
	_, err = w.pools.AddTransaction(ctx, w.owner, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 5, UnitPrice: &price})
	require.NoError(t, err)

	got, err := w.pools.Get(ctx, w.alice, p.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Transactions[0].UnitPrice, "an admin sees prices")

	w.setRole(t, license.Viewer)
	got, err = w.pools.Get(ctx, w.alice, p.ID)
	require.NoError(t, err)
	require.Nil(t, got.Transactions[0].UnitPrice, "a demoted admin key sees no prices")
}
