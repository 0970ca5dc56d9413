package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("subscription",
		Test{"MonthlyRenewalFollowsCalendar", subTestMonthlyCalendar},
		Test{"YearlyRenewalLeapDay", subTestYearlyLeap},
		Test{"CancelledRenewalExpires", subTestCancelledRenewal},
		Test{"RefusedRenewalExpiresWithAutoRenew", subTestRefusedRenewal},
		Test{"BillingPeriodFixedAtFirstPurchase", subTestBillingPeriod},
		Test{"ActivationByKey", subTestActivation},
		Test{"TrialExpiresOrConverts", subTestTrial},
		Test{"PoolsAndLimits", subTestPools},
		Test{"AutomaticExchange", subTestExchange},
		Test{"BulkDelete", subTestBulkDelete},
		Test{"TickTwiceChangesNothing", subTestTickTwice},
		Test{"TenantIsolation", subTestTenants},
		Test{"BadInputChangesNothing", subTestBadInput},
		Test{"FaultChangesNothing", subTestFaults},
		Test{"IdempotentPurchaseShowsKeysOnce", subTestIdempotent},
		Test{"ReissueKeyReplacesTheKey", subTestReissueKey},
		Test{"ConcurrentAssignNeverTwice", subTestConcurrent},
		Test{"StateMachine", subTestStateMachine},
	)
}

var (
	subMSP   = license.Actor{Company: "msp-a", Email: "admin@msp-a.example", Role: license.Admin}
	subOther = license.Actor{Company: "msp-b", Email: "admin@msp-b.example", Role: license.Admin}
	subPrice = license.Money{Amount: decimal.RequireFromString("5.99"), Currency: "USD"}
)

func subSetup(t *testing.T, newStore Factory, at time.Time) (*subscription.Service, *licensetest.Clock, storage.Store) {
	t.Helper()
	st := newStore(t)
	clock := licensetest.NewClock(at)
	return subscription.New(st, clock), clock, st
}

func subBuy(t *testing.T, s *subscription.Service, actor license.Actor, typ subscription.Type, n int, p subscription.BillingPeriod) subscription.Issued {
	t.Helper()
	out, err := s.Purchase(context.Background(), actor, subscription.Purchase{Type: typ, Quantity: n, Period: p, UnitPrice: subPrice})
	require.NoError(t, err)
	require.Len(t, out.Licenses, n)
	require.Len(t, out.Keys, n)
	return out
}

func subGet(t *testing.T, s *subscription.Service, actor license.Actor, id string) subscription.License {
	t.Helper()
	l, err := s.License(context.Background(), actor, id)
	require.NoError(t, err)
	return l
}

func subTick(t *testing.T, s *subscription.Service, at time.Time) subscription.TickResult {
	t.Helper()
	r, err := s.Tick(context.Background(), at)
	require.NoError(t, err)
	return r
}

func subComputer(id, user string) license.Consumer {
	return license.Consumer{Asset: id, User: user}
}

// subSnapshot is every subscription record of the companies plus their event
// counts, as text.
func subSnapshot(t testing.TB, st storage.Store, companies ...string) string {
	t.Helper()
	var out []any
	kinds := []storage.Kind{subscription.KindLicense, subscription.KindAssignment, subscription.KindSettings,
		subscription.KindUser, subscription.KindCompany, subscription.KindCharge, storage.KindIdempotency}
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		for _, c := range companies {
			for _, k := range kinds {
				rs, err := tx.List(context.Background(), storage.ListQuery{Company: c, Kind: k})
				if err != nil {
					return err
				}
				for _, r := range rs {
					out = append(out, r.ID, r.Parent, r.Unique, string(r.Data))
				}
			}
			n, err := tx.CountEvents(context.Background(), eventlog.Filter{Company: c})
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	}))
	b, _ := json.Marshal(out)
	return string(b)
}

func subEvents(t *testing.T, st storage.Store, company string, types ...eventlog.Type) []eventlog.Event {
	t.Helper()
	var out []eventlog.Event
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: company, Types: types}, func(e eventlog.Event) error {
			out = append(out, e)
			return nil
		})
	}))
	return out
}

func subDate(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, time.UTC)
}

func subTestMonthlyCalendar(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	// Bought at 03:00 on 1 February in UTC+5, which is 22:00 on 31 January UTC:
	// the anchor is the 31st.
	plus5 := time.FixedZone("UTC+5", 5*3600)
	s, _, st := subSetup(t, newStore, time.Date(2026, 2, 1, 3, 0, 0, 0, plus5))
	l := subBuy(t, s, subMSP, subscription.PerComputer, 1, subscription.Monthly).Licenses[0]
	assert.Equal(t, time.UTC, l.PurchaseDate.Location())
	assert.Equal(t, subDate(2026, 1, 31, 22), l.PurchaseDate)
	assert.Equal(t, subDate(2026, 2, 28, 22), l.ExpirationDate, "31 January renews on the last day of February")
	require.NotNil(t, l.NextRenewal)
	assert.Equal(t, l.ExpirationDate, *l.NextRenewal)
	assert.True(t, l.AutoRenew, "auto-renewal is on by default")
	assert.Equal(t, license.InstalledInstance, l.Metric)

	// Nothing is due at the expiration instant itself: it is the last valid one.
	assert.Equal(t, 0, subTick(t, s, subDate(2026, 2, 28, 22)).Renewed)
	want := []time.Time{subDate(2026, 3, 31, 22), subDate(2026, 4, 30, 22), subDate(2026, 5, 31, 22)}
	at := subDate(2026, 2, 28, 22)
	for i, w := range want {
		r := subTick(t, s, at.Add(time.Nanosecond))
		assert.Equal(t, 1, r.Renewed, "renewal %d", i+1)
		got := subGet(t, s, subMSP, l.ID)
		assert.Equal(t, w, got.ExpirationDate, "renewal %d goes back to the anchor day when the month has it", i+1)
		assert.Equal(t, subscription.Active, got.State)
		at = w
	}
	// A tick months late renews every missed period, each with its charge.
	r := subTick(t, s, subDate(2026, 9, 1, 0))
	assert.Equal(t, 4, r.Renewed) // to June 30, July 31, August 31, September 30
	got := subGet(t, s, subMSP, l.ID)
	assert.Equal(t, subDate(2026, 9, 30, 22), got.ExpirationDate)
	assert.Equal(t, 7, got.Renewals)
	charges, err := s.Charges(ctx, subMSP)
	require.NoError(t, err)
	require.Len(t, charges, 8) // the purchase and 7 renewals
	assert.Equal(t, "purchase", charges[0].Reason)
	for i, c := range charges[1:] {
		assert.Equal(t, "renewal", c.Reason)
		assert.True(t, c.Amount.Equal(subPrice), "renewal cost %v", c.Amount)
		assert.Equal(t, charges[i].To, c.From, "periods are contiguous")
	}
	assert.Len(t, subEvents(t, st, subMSP.Company, subscription.EventRenewed), 7)

	// A leap year: bought 31 January 2028, renews on 29 February.
	s2, _, _ := subSetup(t, newStore, subDate(2028, 1, 31, 12))
	l2 := subBuy(t, s2, subMSP, subscription.PerUser, 1, subscription.Monthly).Licenses[0]
	assert.Equal(t, subDate(2028, 2, 29, 12), l2.ExpirationDate)
	assert.Equal(t, license.NamedUser, l2.Metric)
}

func subTestYearlyLeap(t *testing.T, newStore Factory, _ Features) {
	s, _, _ := subSetup(t, newStore, subDate(2024, 2, 29, 8))
	l := subBuy(t, s, subMSP, subscription.PerHost, 1, subscription.Yearly).Licenses[0]
	assert.Equal(t, subDate(2025, 2, 28, 8), l.ExpirationDate)
	assert.Equal(t, license.PhysicalServer, l.Metric)
	for _, w := range []time.Time{subDate(2026, 2, 28, 8), subDate(2027, 2, 28, 8), subDate(2028, 2, 29, 8)} {
		subTick(t, s, subGet(t, s, subMSP, l.ID).ExpirationDate.Add(time.Second))
		assert.Equal(t, w, subGet(t, s, subMSP, l.ID).ExpirationDate)
	}
}

func subTestCancelledRenewal(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2026, 3, 31, 10))
	l := subBuy(t, s, subMSP, subscription.PerSocket, 1, subscription.Monthly).Licenses[0]
	assert.Equal(t, subDate(2026, 4, 30, 10), l.ExpirationDate)
	off, err := s.SetAutoRenew(ctx, subMSP, l.ID, false)
	require.NoError(t, err)
	assert.False(t, off.AutoRenew)
	assert.Nil(t, off.NextRenewal, "no next renewal once cancelled")
	assert.Equal(t, 0, subTick(t, s, subDate(2026, 4, 30, 9)).Expired)
	assert.Equal(t, subscription.Active, subGet(t, s, subMSP, l.ID).State)
	r := subTick(t, s, subDate(2026, 5, 15, 0))
	assert.Equal(t, 1, r.Expired)
	assert.Equal(t, 0, r.Renewed)
	got := subGet(t, s, subMSP, l.ID)
	assert.Equal(t, subscription.Expired, got.State)
	require.NotNil(t, got.ExpiredAt)
	assert.Equal(t, subDate(2026, 4, 30, 10), *got.ExpiredAt, "it expires at its expiration date, not when the tick ran")
	assert.Len(t, subEvents(t, st, subMSP.Company, subscription.EventExpired), 1)
	_, err = s.SetAutoRenew(ctx, subMSP, l.ID, true)
	require.ErrorIs(t, err, license.ErrExpired)
	// Turning it back on before expiry restores the renewal.
	l2 := subBuy(t, s, subMSP, subscription.PerSocket, 1, "").Licenses[0]
	_, err = s.SetAutoRenew(ctx, subMSP, l2.ID, false)
	require.NoError(t, err)
	on, err := s.SetAutoRenew(ctx, subMSP, l2.ID, true)
	require.NoError(t, err)
	require.NotNil(t, on.NextRenewal)
	assert.Equal(t, on.ExpirationDate, *on.NextRenewal)
}

func subTestRefusedRenewal(t *testing.T, newStore Factory, _ Features) {
	s, _, st := subSetup(t, newStore, subDate(2026, 1, 10, 0))
	s.ApproveRenewal = func(l subscription.License, c subscription.Charge) error {
		return license.Errorf(license.Conflict, "payment", "the card on file was declined")
	}
	l := subBuy(t, s, subMSP, subscription.PerComputer, 1, subscription.Monthly).Licenses[0]
	r := subTick(t, s, subDate(2026, 2, 11, 0))
	assert.Equal(t, 0, r.Renewed)
	assert.Equal(t, 1, r.Expired)
	got := subGet(t, s, subMSP, l.ID)
	assert.Equal(t, subscription.Expired, got.State)
	assert.True(t, got.AutoRenew, "expired with auto-renewal on")
	ev := subEvents(t, st, subMSP.Company, subscription.EventExpired)
	require.Len(t, ev, 1)
	assert.Contains(t, string(ev[0].Details), "declined")
}

func subTestBillingPeriod(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2026, 6, 1, 0))
	_, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, UnitPrice: subPrice})
	require.ErrorIs(t, err, license.ErrInvalid)
	assert.Equal(t, "billing_period", license.ErrorField(err))
	subBuy(t, s, subMSP, subscription.PerComputer, 1, subscription.Yearly)
	before := subSnapshot(t, st, subMSP.Company)
	_, err = s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, Period: subscription.Monthly, UnitPrice: subPrice})
	require.ErrorIs(t, err, license.ErrConflict)
	assert.Equal(t, before, subSnapshot(t, st, subMSP.Company))
	l := subBuy(t, s, subMSP, subscription.PerUser, 2, "")
	assert.Equal(t, subscription.Yearly, l.Period)
	assert.Equal(t, subscription.Yearly, l.Licenses[1].Period)
	set, err := s.Settings(ctx, subMSP)
	require.NoError(t, err)
	assert.Equal(t, subscription.Settings{Period: subscription.Yearly, AutoExchange: true}, set)
	// Another company chooses its own.
	assert.Equal(t, subscription.Monthly, subBuy(t, s, subOther, subscription.PerUser, 1, subscription.Monthly).Period)
}

func subTestActivation(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2026, 6, 1, 0))
	out, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 2, Period: subscription.Monthly, UnitPrice: subPrice, ManualActivation: true})
	require.NoError(t, err)
	key := out.Keys[0]
	assert.Regexp(t, `^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$`, key)
	assert.NotEqual(t, out.Keys[0], out.Keys[1])
	assert.False(t, out.Licenses[0].Activated)
	// The key is stored nowhere, in any form a reader could use.
	snap := subSnapshot(t, st, subMSP.Company)
	assert.NotContains(t, snap, key)
	assert.NotContains(t, snap, strings.ReplaceAll(key, "-", ""))
	// An unactivated license cannot be assigned.
	_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-1", "ann"), License: out.Licenses[0].ID})
	require.ErrorIs(t, err, license.ErrConflict)

	// Unknown, malformed and another company's keys fail alike.
	other := subBuy(t, s, subOther, subscription.PerComputer, 1, subscription.Monthly)
	before := subSnapshot(t, st, subMSP.Company, subOther.Company)
	for _, k := range []string{"AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH", "nonsense", "", other.Keys[0], key + "0"} {
		_, err := s.Activate(ctx, subMSP, subscription.Activation{Key: k})
		require.ErrorIs(t, err, license.ErrNotFound, "key %q", k)
		assert.Equal(t, subscription.ErrUnknownKey.Error(), err.Error(), "the message reveals nothing")
	}
	assert.Equal(t, before, subSnapshot(t, st, subMSP.Company, subOther.Company))

	// Keys are read forgivingly: lower case, no dashes, O for 0, l for 1.
	typed := strings.ToLower(strings.ReplaceAll(key, "-", ""))
	typed = strings.ReplaceAll(strings.ReplaceAll(typed, "0", "o"), "1", "l")
	l, err := s.Activate(ctx, subMSP, subscription.Activation{Key: " " + typed + " "})
	require.NoError(t, err)
	assert.Equal(t, out.Licenses[0].ID, l.ID)
	assert.True(t, l.Activated)
	_, err = s.Activate(ctx, subMSP, subscription.Activation{Key: key})
	require.ErrorIs(t, err, license.ErrConflict)
	_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-1", "ann"), License: l.ID})
	require.NoError(t, err)
	assert.Len(t, subEvents(t, st, subMSP.Company, subscription.EventActivated), 1)
}

func subTestTrial(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2028, 2, 1, 0))
	// The last day given at 01:00 on 1 March in UTC+3 is 28 February in UTC... in 2028
	// a leap year, so 22:00 on 29 February UTC: the trial ends at the end of 29 February.
	plus3 := time.FixedZone("UTC+3", 3*3600)
	tr, err := s.StartTrial(ctx, subMSP, subscription.TrialRequest{Type: subscription.PerComputer, Quantity: 2, EndsOn: time.Date(2028, 3, 1, 1, 0, 0, 0, plus3)})
	require.NoError(t, err)
	require.Len(t, tr.Keys, 2)
	want := time.Date(2028, 2, 29, 23, 59, 59, 999999999, time.UTC)
	for _, l := range tr.Licenses {
		assert.Equal(t, subscription.Trial, l.State)
		assert.Equal(t, want, l.ExpirationDate)
		assert.True(t, l.Activated)
		assert.Nil(t, l.NextRenewal, "a trial does not renew")
	}
	a, b := tr.Licenses[0], tr.Licenses[1]
	_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-1", "ann"), License: a.ID})
	require.NoError(t, err)
	_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-2", "ann"), License: b.ID})
	require.NoError(t, err)
	// Convert trial a: buy a license waiting for activation and activate it.
	paid, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, Period: subscription.Monthly, UnitPrice: subPrice, ManualActivation: true})
	require.NoError(t, err)
	got, err := s.Activate(ctx, subMSP, subscription.Activation{Key: paid.Keys[0], ConvertTrial: a.ID})
	require.NoError(t, err)
	require.NotNil(t, got.Assignee)
	assert.Equal(t, "pc-1", got.Assignee.Asset, "the trial's computer keeps its protection")
	ca := subGet(t, s, subMSP, a.ID)
	assert.Equal(t, subscription.Expired, ca.State)
	assert.Equal(t, paid.Licenses[0].ID, ca.ConvertedTo)
	assert.Nil(t, ca.Assignee)
	as, err := s.Assignments(ctx, subMSP)
	require.NoError(t, err)
	require.Len(t, as, 2)
	assert.Equal(t, paid.Licenses[0].ID, as[0].License)

	// Trial b expires at the end of its last day; with no paid license
	// available the exchange reports that once.
	assert.Equal(t, 0, subTick(t, s, want).Expired)
	r := subTick(t, s, want.Add(time.Nanosecond))
	assert.Equal(t, 1, r.Expired)
	assert.Equal(t, 1, r.Unexchanged)
	assert.Equal(t, subscription.Expired, subGet(t, s, subMSP, b.ID).State)
	assert.Len(t, subEvents(t, st, subMSP.Company, subscription.EventTrialConverted), 1)
}

func subTestPools(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, _ := subSetup(t, newStore, subDate(2026, 6, 1, 0))
	subBuy(t, s, subMSP, subscription.PerComputer, 5, subscription.Monthly)
	assign := func(pc, user string) error {
		_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer(pc, user)})
		return err
	}
	// Global pool by default: no limit.
	require.NoError(t, assign("ann-1", "ann"))
	require.NoError(t, assign("ann-2", "ann"))
	// A user pool with a limit of 1 paid license.
	_, err := s.SetUserSettings(ctx, subMSP, subscription.UserSettings{User: "bob", Company: "Contoso", Allocation: subscription.Allocation{Mode: subscription.UserPool, Limit: 1}})
	require.NoError(t, err)
	require.NoError(t, assign("bob-1", "bob"))
	err = assign("bob-2", "bob")
	require.ErrorIs(t, err, license.ErrInsufficientLicenses)
	// A trial does not count against the limit.
	tr, err := s.StartTrial(ctx, subMSP, subscription.TrialRequest{Type: subscription.PerComputer, Quantity: 1, EndsOn: subDate(2026, 6, 30, 0)})
	require.NoError(t, err)
	_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("bob-2", "bob"), License: tr.Licenses[0].ID})
	require.NoError(t, err)
	// The company's settings override the user's: global pool for Contoso.
	_, err = s.SetCompanySettings(ctx, subMSP, subscription.CompanySettings{Company: "Contoso", Allocation: subscription.Allocation{Mode: subscription.GlobalPool}})
	require.NoError(t, err)
	require.NoError(t, assign("bob-3", "bob"))
	// ... and apply to all its users: a limit of 0 for Contoso stops carl too.
	_, err = s.SetUserSettings(ctx, subMSP, subscription.UserSettings{User: "carl", Company: "Contoso"})
	require.NoError(t, err)
	_, err = s.SetCompanySettings(ctx, subMSP, subscription.CompanySettings{Company: "Contoso", Allocation: subscription.Allocation{Mode: subscription.UserPool, Limit: 0}})
	require.NoError(t, err)
	require.ErrorIs(t, assign("carl-1", "carl"), license.ErrInsufficientLicenses)
	// Removing the company's settings restores carl's own (global pool).
	_, err = s.SetCompanySettings(ctx, subMSP, subscription.CompanySettings{Company: "Contoso"})
	require.NoError(t, err)
	require.NoError(t, assign("carl-1", "carl"))
	// The pool is now empty (5 paid: ann-1, ann-2, bob-1, bob-3, carl-1).
	require.ErrorIs(t, assign("dan-1", "dan"), license.ErrInsufficientLicenses)
	// One license per consumer and type; a user license needs a user consumer.
	require.ErrorIs(t, assign("ann-1", "ann"), license.ErrConflict)
	_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerUser, Consumer: subComputer("ann-1", "ann")})
	require.ErrorIs(t, err, license.ErrInvalid)
	// Unassigning returns the license to the pool.
	require.NoError(t, s.Unassign(ctx, subMSP, subscription.PerComputer, subComputer("ann-2", "ann")))
	require.NoError(t, assign("dan-1", "dan"))
}

func subTestExchange(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, clock, st := subSetup(t, newStore, subDate(2026, 1, 15, 0))
	old := subBuy(t, s, subMSP, subscription.PerComputer, 1, subscription.Monthly).Licenses[0]
	_, err := s.SetAutoRenew(ctx, subMSP, old.ID, false)
	require.NoError(t, err)
	_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-1", "ann")})
	require.NoError(t, err)
	clock.Set(subDate(2026, 2, 1, 0))
	spare := subBuy(t, s, subMSP, subscription.PerComputer, 1, "").Licenses[0]
	other := subBuy(t, s, subMSP, subscription.PerHost, 1, "").Licenses[0]
	r := subTick(t, s, subDate(2026, 2, 16, 0))
	assert.Equal(t, subscription.TickResult{Companies: 1, Expired: 1, Exchanged: 1}, r)
	got := subGet(t, s, subMSP, spare.ID)
	require.NotNil(t, got.Assignee)
	assert.Equal(t, "pc-1", got.Assignee.Asset)
	assert.Nil(t, subGet(t, s, subMSP, old.ID).Assignee)
	assert.Nil(t, subGet(t, s, subMSP, other.ID).Assignee, "only a license of the same type")
	ev := subEvents(t, st, subMSP.Company, subscription.EventExchanged)
	require.Len(t, ev, 1)
	assert.Equal(t, old.ID, ev[0].Source)
	assert.Equal(t, spare.ID, ev[0].Target)
	assert.Equal(t, license.SystemEmail, ev[0].Actor)

	// Switched off: an expiring assignment stays where it is.
	_, err = s.SetAutoRenew(ctx, subMSP, spare.ID, false)
	require.NoError(t, err)
	third := subBuy(t, s, subMSP, subscription.PerComputer, 1, "").Licenses[0]
	_, err = s.SetAutoExchange(ctx, subMSP, false)
	require.NoError(t, err)
	r = subTick(t, s, subDate(2026, 3, 2, 0))
	assert.Equal(t, 1, r.Expired)
	assert.Equal(t, 0, r.Exchanged)
	assert.NotNil(t, subGet(t, s, subMSP, spare.ID).Assignee)
	// Switched back on: the next tick exchanges it.
	_, err = s.SetAutoExchange(ctx, subMSP, true)
	require.NoError(t, err)
	r = subTick(t, s, subDate(2026, 3, 2, 0))
	assert.Equal(t, 1, r.Exchanged)
	assert.Equal(t, "pc-1", subGet(t, s, subMSP, third.ID).Assignee.Asset)

	// None available: it stays expired, one event says so, and a later
	// purchase lets a later tick exchange it.
	_, err = s.SetAutoRenew(ctx, subMSP, third.ID, false)
	require.NoError(t, err)
	// A trial is not an active license: the exchange does not take it.
	clock.Set(subDate(2026, 3, 20, 0))
	tr, err := s.StartTrial(ctx, subMSP, subscription.TrialRequest{Type: subscription.PerComputer, Quantity: 1, EndsOn: subDate(2026, 5, 1, 0)})
	require.NoError(t, err)
	r = subTick(t, s, subDate(2026, 4, 2, 0))
	assert.Equal(t, 1, r.Expired)
	assert.Equal(t, 1, r.Unexchanged)
	r = subTick(t, s, subDate(2026, 4, 3, 0))
	assert.Equal(t, 0, r.Unexchanged)
	assert.Len(t, subEvents(t, st, subMSP.Company, subscription.EventExchangeUnavailable), 1)
	assert.Nil(t, subGet(t, s, subMSP, tr.Licenses[0].ID).Assignee)
	clock.Set(subDate(2026, 4, 5, 0))
	fresh := subBuy(t, s, subMSP, subscription.PerComputer, 1, "").Licenses[0]
	r = subTick(t, s, subDate(2026, 4, 5, 0))
	assert.Equal(t, 1, r.Exchanged)
	assert.Equal(t, "pc-1", subGet(t, s, subMSP, fresh.ID).Assignee.Asset)
}

func subTestBulkDelete(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	run := func(mode subscription.DeleteMode) (subscription.BulkResult, []subscription.License, []subscription.Assignment) {
		s, _, st := subSetup(t, newStore, subDate(2026, 1, 1, 0))
		s.ApproveRenewal = func(l subscription.License, _ subscription.Charge) error {
			if l.Type == subscription.PerHost {
				return license.Errorf(license.Conflict, "payment", "declined")
			}
			return nil
		}
		// 2 expired without auto-renew (1 assigned), 1 expired with auto-renew
		// (refused renewal, assigned), 1 active.
		noRenew := subBuy(t, s, subMSP, subscription.PerComputer, 2, subscription.Monthly)
		for _, l := range noRenew.Licenses {
			_, err := s.SetAutoRenew(ctx, subMSP, l.ID, false)
			require.NoError(t, err)
		}
		host := subBuy(t, s, subMSP, subscription.PerHost, 1, "").Licenses[0]
		subBuy(t, s, subMSP, subscription.PerUser, 1, "")
		_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-1", "ann"), License: noRenew.Licenses[0].ID})
		require.NoError(t, err)
		_, err = s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerHost, Consumer: subComputer("host-1", "ann"), License: host.ID})
		require.NoError(t, err)
		_, err = s.SetTerms(ctx, subMSP, noRenew.Licenses[1].ID, subscription.TermsInput{Entitlements: []string{"sso"}})
		require.NoError(t, err)
		subTick(t, s, subDate(2026, 2, 2, 0))
		before := subSnapshot(t, st, subMSP.Company)
		res, err := s.BulkDelete(ctx, subMSP, mode)
		require.NoError(t, err)
		if slices.Contains(res.Licenses, noRenew.Licenses[1].ID) {
			require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
				_, err := tx.Get(ctx, subMSP.Company, subscription.KindTerms, noRenew.Licenses[1].ID)
				assert.True(t, storage.IsNotFound(err), "a deleted license's terms go with it: %v", err)
				return nil
			}))
		}
		if res.Deleted > 0 {
			ev := subEvents(t, st, subMSP.Company, subscription.EventBulkDeleted)
			require.Len(t, ev, 1)
			assert.Equal(t, int64(res.Deleted), ev[0].Count)
		} else {
			assert.Equal(t, before, subSnapshot(t, st, subMSP.Company))
		}
		ls, err := s.Licenses(ctx, subMSP)
		require.NoError(t, err)
		as, err := s.Assignments(ctx, subMSP)
		require.NoError(t, err)
		return res, ls, as
	}
	res, ls, as := run(subscription.AllExpired)
	assert.Equal(t, 3, res.Deleted)
	assert.Equal(t, 2, res.Released)
	assert.Len(t, ls, 1)
	assert.Empty(t, as)
	res, ls, _ = run(subscription.ExpiredAutoRenew)
	assert.Equal(t, 1, res.Deleted)
	assert.Equal(t, 1, res.Released)
	assert.Len(t, ls, 3)
	res, ls, as = run(subscription.ExpiredUnassigned)
	assert.Equal(t, 1, res.Deleted)
	assert.Equal(t, 0, res.Released)
	assert.Len(t, ls, 3)
	assert.Len(t, as, 2)
}

func subTestTickTwice(t *testing.T, newStore Factory, _ Features) {
	s, clock, st := subSetup(t, newStore, subDate(2026, 1, 31, 0))
	subBuy(t, s, subMSP, subscription.PerComputer, 3, subscription.Monthly)
	clock.Set(subDate(2026, 2, 1, 0))
	l := subBuy(t, s, subOther, subscription.PerComputer, 1, subscription.Monthly).Licenses[0]
	_, err := s.SetAutoRenew(context.Background(), subOther, l.ID, false)
	require.NoError(t, err)
	_, err = s.Assign(context.Background(), subOther, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc", "u")})
	require.NoError(t, err)
	at := subDate(2026, 5, 1, 0)
	r := subTick(t, s, at)
	assert.Equal(t, 2, r.Companies, "the tick covers every company")
	assert.Equal(t, 9, r.Renewed)
	assert.Equal(t, 1, r.Expired)
	before := subSnapshot(t, st, subMSP.Company, subOther.Company)
	r = subTick(t, s, at)
	assert.Equal(t, 0, r.Renewed+r.Expired+r.Exchanged+r.Unexchanged)
	assert.Equal(t, before, subSnapshot(t, st, subMSP.Company, subOther.Company))
	// An earlier time changes nothing either.
	subTick(t, s, subDate(2026, 3, 1, 0))
	assert.Equal(t, before, subSnapshot(t, st, subMSP.Company, subOther.Company))
}

func subTestTenants(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2026, 1, 1, 0))
	l := subBuy(t, s, subMSP, subscription.PerComputer, 1, subscription.Monthly).Licenses[0]
	before := subSnapshot(t, st, subMSP.Company)
	_, err := s.License(ctx, subOther, l.ID)
	require.ErrorIs(t, err, license.ErrNotFound)
	_, err = s.SetAutoRenew(ctx, subOther, l.ID, false)
	require.ErrorIs(t, err, license.ErrNotFound)
	_, err = s.Assign(ctx, subOther, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc", "u"), License: l.ID})
	require.ErrorIs(t, err, license.ErrNotFound)
	ls, err := s.Licenses(ctx, subOther)
	require.NoError(t, err)
	assert.Empty(t, ls)
	_, err = s.BulkDelete(ctx, subOther, subscription.AllExpired)
	require.NoError(t, err)
	assert.Equal(t, before, subSnapshot(t, st, subMSP.Company))
}

func subTestBadInput(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2026, 1, 1, 0))
	l := subBuy(t, s, subMSP, subscription.PerComputer, 1, subscription.Monthly).Licenses[0]
	viewer := subMSP
	viewer.Role = license.Viewer
	before := subSnapshot(t, st, subMSP.Company)
	cases := []struct {
		name  string
		code  license.Code
		field string
		call  func() error
	}{
		{"type", license.Invalid, "type", func() error {
			_, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: "laptop", Quantity: 1, UnitPrice: subPrice})
			return err
		}},
		{"quantity", license.Invalid, "quantity", func() error {
			_, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerUser, Quantity: 0, UnitPrice: subPrice})
			return err
		}},
		{"period", license.Invalid, "billing_period", func() error {
			_, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerUser, Quantity: 1, Period: "weekly", UnitPrice: subPrice})
			return err
		}},
		{"price", license.Invalid, "unit_price", func() error {
			_, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerUser, Quantity: 1, UnitPrice: license.Money{Amount: decimal.NewFromInt(-1), Currency: "USD"}})
			return err
		}},
		{"viewer", license.Forbidden, "role", func() error {
			_, err := s.Purchase(ctx, viewer, subscription.Purchase{Type: subscription.PerUser, Quantity: 1, UnitPrice: subPrice})
			return err
		}},
		{"trial in the past", license.Invalid, "ends_on", func() error {
			_, err := s.StartTrial(ctx, subMSP, subscription.TrialRequest{Type: subscription.PerUser, Quantity: 1, EndsOn: subDate(2025, 12, 31, 0)})
			return err
		}},
		{"computer for a per-user license", license.Invalid, "consumer.asset", func() error {
			_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerUser, Consumer: subComputer("pc", "u")})
			return err
		}},
		{"user for a per-computer license", license.Invalid, "consumer.asset", func() error {
			_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: license.Consumer{User: "x"}})
			return err
		}},
		{"consumer asset", license.Invalid, "consumer.asset", func() error {
			_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("", "u")})
			return err
		}},
		{"consumer user", license.Invalid, "consumer.user", func() error {
			_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc", "")})
			return err
		}},
		{"license id", license.Invalid, "license", func() error {
			_, err := s.SetAutoRenew(ctx, subMSP, "x", false)
			return err
		}},
		{"unknown license", license.NotFound, "license", func() error {
			_, err := s.SetAutoRenew(ctx, subMSP, license.NewID(), false)
			return err
		}},
		{"wrong type", license.Conflict, "license", func() error {
			_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerHost, Consumer: subComputer("h", "u"), License: l.ID})
			return err
		}},
		{"pool mode", license.Invalid, "mode", func() error {
			_, err := s.SetUserSettings(ctx, subMSP, subscription.UserSettings{User: "u", Allocation: subscription.Allocation{Mode: "shared"}})
			return err
		}},
		{"limit", license.Invalid, "limit", func() error {
			_, err := s.SetUserSettings(ctx, subMSP, subscription.UserSettings{User: "u", Allocation: subscription.Allocation{Mode: subscription.UserPool, Limit: -1}})
			return err
		}},
		{"bulk mode", license.Invalid, "mode", func() error {
			_, err := s.BulkDelete(ctx, subMSP, "everything")
			return err
		}},
		{"unassign nothing", license.NotFound, "consumer", func() error {
			return s.Unassign(ctx, subMSP, subscription.PerComputer, subComputer("pc", "u"))
		}},
		{"convert not a trial", license.Conflict, "convert_trial", func() error {
			p, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, UnitPrice: subPrice, ManualActivation: true})
			if err != nil {
				return err
			}
			before = subSnapshot(t, st, subMSP.Company)
			_, err = s.Activate(ctx, subMSP, subscription.Activation{Key: p.Keys[0], ConvertTrial: l.ID})
			return err
		}},
	}
	for _, tc := range cases {
		err := tc.call()
		var le *license.Error
		require.True(t, errors.As(err, &le), "%s: want a *license.Error, got %v", tc.name, err)
		assert.Equal(t, tc.code, le.Code, "%s: %v", tc.name, err)
		assert.Equal(t, tc.field, le.Field, "%s: %v", tc.name, err)
		assert.Equal(t, before, subSnapshot(t, st, subMSP.Company), "%s changed the state", tc.name)
	}
}

func subTestFaults(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	f := NewFaulty(newStore(t))
	clock := licensetest.NewClock(subDate(2026, 1, 31, 0))
	s := subscription.New(f, clock)
	var key string
	var trialID string
	ops := []struct {
		name string
		run  func() error
	}{
		{"purchase", func() error {
			_, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 2, Period: subscription.Monthly, UnitPrice: subPrice})
			return err
		}},
		{"manual purchase", func() error {
			p, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, UnitPrice: subPrice, ManualActivation: true})
			if err == nil {
				key = p.Keys[0]
			}
			return err
		}},
		{"trial", func() error {
			tr, err := s.StartTrial(ctx, subMSP, subscription.TrialRequest{Type: subscription.PerComputer, Quantity: 1, EndsOn: subDate(2026, 2, 10, 0)})
			if err == nil {
				trialID = tr.Licenses[0].ID
			}
			return err
		}},
		{"assign trial", func() error {
			_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-1", "ann"), License: trialID})
			return err
		}},
		{"activate and convert", func() error {
			_, err := s.Activate(ctx, subMSP, subscription.Activation{Key: key, ConvertTrial: trialID})
			return err
		}},
		{"assign", func() error {
			_, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer("pc-2", "ann")})
			return err
		}},
		{"user settings", func() error {
			_, err := s.SetUserSettings(ctx, subMSP, subscription.UserSettings{User: "ann", Company: "Contoso", Allocation: subscription.Allocation{Mode: subscription.UserPool, Limit: 5}})
			return err
		}},
		{"auto renew off", func() error {
			ls, err := s.Licenses(ctx, subMSP)
			if err != nil {
				return err
			}
			for _, l := range ls {
				if !l.Trial && l.AutoRenew && l.Assignee != nil {
					_, err = s.SetAutoRenew(ctx, subMSP, l.ID, false)
					return err
				}
			}
			return errors.New("no license to cancel")
		}},
		{"tick", func() error {
			_, err := s.Tick(ctx, subDate(2026, 3, 5, 0))
			return err
		}},
		{"unassign", func() error {
			return s.Unassign(ctx, subMSP, subscription.PerComputer, subComputer("pc-2", "ann"))
		}},
		{"bulk delete", func() error {
			_, err := s.BulkDelete(ctx, subMSP, subscription.AllExpired)
			return err
		}},
	}
	for _, op := range ops {
		for n := 1; ; n++ {
			before := subSnapshot(t, f, subMSP.Company)
			f.FailWrite(n)
			err := op.run()
			f.Disarm()
			if err == nil {
				break
			}
			require.ErrorIs(t, err, FaultError, "%s with write %d failing", op.name, n)
			assert.Equal(t, before, subSnapshot(t, f, subMSP.Company), "%s: failed write %d left changes behind", op.name, n)
			require.Less(t, n, 100, "%s keeps failing", op.name)
		}
	}
	res, err := s.Licenses(ctx, subMSP)
	require.NoError(t, err)
	assert.NotEmpty(t, res)
	before := subSnapshot(t, f, subMSP.Company)
	f.FailCommit(1)
	_, err = s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerUser, Quantity: 1, UnitPrice: subPrice})
	require.ErrorIs(t, err, FaultError)
	assert.Equal(t, before, subSnapshot(t, f, subMSP.Company))
}

func subTestIdempotent(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2026, 1, 1, 0))
	req := subscription.Purchase{Type: subscription.PerComputer, Quantity: 2, Period: subscription.Monthly, UnitPrice: subPrice, IdempotencyKey: "order-1"}
	a, err := s.Purchase(ctx, subMSP, req)
	require.NoError(t, err)
	require.Len(t, a.Keys, 2)
	snap := subSnapshot(t, st, subMSP.Company)
	assert.NotContains(t, snap, a.Keys[0], "the remembered response holds no key")
	b, err := s.Purchase(ctx, subMSP, req)
	require.NoError(t, err)
	assert.Equal(t, subIDs(a.Licenses), subIDs(b.Licenses))
	assert.Empty(t, b.Keys, "keys are shown once")
	assert.True(t, b.Replayed, "a replay says so")
	assert.False(t, a.Replayed)
	assert.Equal(t, snap, subSnapshot(t, st, subMSP.Company))
	trial := subscription.TrialRequest{Type: subscription.PerUser, Quantity: 1, EndsOn: subDate(2026, 1, 20, 0), IdempotencyKey: "trial-1"}
	tr, err := s.StartTrial(ctx, subMSP, trial)
	require.NoError(t, err)
	require.Len(t, tr.Keys, 1)
	tr2, err := s.StartTrial(ctx, subMSP, trial)
	require.NoError(t, err)
	assert.Empty(t, tr2.Keys, "a replayed trial shows no key")
	assert.True(t, tr2.Replayed)
	assert.NotContains(t, subSnapshot(t, st, subMSP.Company), tr.Keys[0])
}

// ReissueKey replaces a lost key: the old one stops activating and
// validating, the new one (shown once, stored as a hash) works; a replay
// shows no key and rotates nothing; only owners and admins may do it.
func subTestReissueKey(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := subSetup(t, newStore, subDate(2026, 6, 1, 0))
	out, err := s.Purchase(ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 2, Period: subscription.Monthly,
		UnitPrice: subPrice, ManualActivation: true})
	require.NoError(t, err)
	id, old := out.Licenses[0].ID, out.Keys[0]
	other := subBuy(t, s, subOther, subscription.PerComputer, 1, subscription.Monthly)

	before := subSnapshot(t, st, subMSP.Company, subOther.Company)
	for _, role := range []license.Role{license.Viewer, license.Editor, license.LicenseAdmin} {
		_, err := s.ReissueKey(ctx, license.Actor{Company: subMSP.Company, Email: "x@msp-a.example", Role: role}, id, subscription.ReissueRequest{})
		assert.ErrorIs(t, err, license.ErrForbidden, "%s", role)
	}
	_, err = s.ReissueKey(ctx, subMSP, other.Licenses[0].ID, subscription.ReissueRequest{})
	assert.ErrorIs(t, err, license.ErrNotFound, "another company's license")
	_, err = s.ReissueKey(ctx, subMSP, "not-an-id", subscription.ReissueRequest{})
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	assert.Equal(t, before, subSnapshot(t, st, subMSP.Company, subOther.Company), "refusals change nothing")

	r, err := s.ReissueKey(ctx, subMSP, id, subscription.ReissueRequest{IdempotencyKey: "rekey-1"})
	require.NoError(t, err)
	assert.False(t, r.Replayed)
	assert.Equal(t, id, r.License.ID)
	assert.Regexp(t, `^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$`, r.Key)
	assert.NotEqual(t, old, r.Key)
	snap := subSnapshot(t, st, subMSP.Company)
	assert.NotContains(t, snap, r.Key)
	assert.NotContains(t, snap, strings.ReplaceAll(r.Key, "-", ""), "only the new key's hash is stored")

	pc := license.Consumer{Asset: "pc-1"}
	v, err := s.ValidateKey(ctx, subMSP, old, license.ValidationRequest{Consumer: pc})
	require.NoError(t, err)
	assert.Equal(t, license.CodeNotFound, v.Code, "the old key validates nothing")
	_, err = s.Activate(ctx, subMSP, subscription.Activation{Key: old})
	require.ErrorIs(t, err, license.ErrNotFound, "the old key activates nothing")
	v, err = s.ValidateKey(ctx, subMSP, r.Key, license.ValidationRequest{Consumer: pc})
	require.NoError(t, err)
	assert.Equal(t, license.CodeInactive, v.Code, "the new key finds the license (not activated yet)")

	again, err := s.ReissueKey(ctx, subMSP, id, subscription.ReissueRequest{IdempotencyKey: "rekey-1"})
	require.NoError(t, err)
	assert.True(t, again.Replayed)
	assert.Empty(t, again.Key, "a replay shows no key")
	assert.Equal(t, r.License, again.License)
	l, err := s.Activate(ctx, subMSP, subscription.Activation{Key: r.Key})
	require.NoError(t, err, "the replay did not rotate the key again")
	assert.Equal(t, id, l.ID)
	evs := subEvents(t, st, subMSP.Company, subscription.EventKeyReissued)
	require.Len(t, evs, 1)
	assert.Equal(t, id, evs[0].Subject)
	assert.Equal(t, subMSP.Email, evs[0].Actor)
	// The other license's key is untouched.
	l, err = s.Activate(ctx, subMSP, subscription.Activation{Key: out.Keys[1]})
	require.NoError(t, err)
	assert.Equal(t, out.Licenses[1].ID, l.ID)
}

func subIDs(ls []subscription.License) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func subTestConcurrent(t *testing.T, newStore Factory, f Features) {
	ctx := context.Background()
	s, _, _ := subSetup(t, newStore, subDate(2026, 1, 1, 0))
	subBuy(t, s, subMSP, subscription.PerComputer, 5, subscription.Monthly)
	workers := 16
	if f.Short {
		workers = 8
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]string{}
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := fmt.Sprintf("pc-%02d", i)
			l, err := s.Assign(ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: subComputer(pc, "ann")})
			if err != nil {
				code := license.ErrorCode(err)
				assert.True(t, code == license.InsufficientLicenses || code == license.Conflict || code == license.Unavailable, "unexpected %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := got[l.ID]; dup {
				t.Errorf("license %s assigned to %s and %s", l.ID, prev, pc)
			}
			got[l.ID] = pc
		}()
	}
	wg.Wait()
	as, err := s.Assignments(ctx, subMSP)
	require.NoError(t, err)
	assert.Len(t, as, len(got))
	assert.LessOrEqual(t, len(got), 5)
	if !f.Parallel {
		assert.Len(t, got, 5, "five licenses, five assignments")
	}
}
