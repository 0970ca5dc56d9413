package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
)

// The "topup" suite checks automatic top-up (package topup) running on billing:
// an increment covering a shortfall, the prerequisites and terms of enabling, increments,
// notification recipients, the outbox and its dispatcher (retries, crashes,
// rollbacks), the invoice estimate, 100 concurrent enrolments and a rapid
// state machine (topup_rapid.go).
func init() {
	Register("topup",
		Test{"IncrementCoversShortfall", topupTestIncrementCoversShortfall},
		Test{"BatchOvershoot", topupTestBatchOvershoot},
		Test{"NoTopUpWithinLicenses", topupTestWithinLicenses},
		Test{"NoLicenseAmountSet", topupTestNoAmountSet},
		Test{"Prerequisites", topupTestPrerequisites},
		Test{"TermsAndRoles", topupTestTermsAndRoles},
		Test{"EnableIncrements", topupTestEnableIncrements},
		Test{"SetIncrement", topupTestSetIncrement},
		Test{"Disable", topupTestDisable},
		Test{"NonMonthlySite", topupTestNonMonthlySite},
		Test{"Recipients", topupTestRecipients},
		Test{"Notification", topupTestNotification},
		Test{"NoRecipients", topupTestNoRecipients},
		Test{"Retries", topupTestRetries},
		Test{"CrashBeforeAndDuringSend", topupTestCrash},
		Test{"RolledBackCommit", topupTestRolledBackCommit},
		Test{"RolledBackEveryWrite", topupTestRolledBackWrites},
		Test{"InvoiceEstimate", topupTestInvoice},
		Test{"Tenants", topupTestTenants},
		Test{"ConcurrentEnrolments", topupTestConcurrent},
		Test{"StateMachine", topupTestStateMachine},
	)
}

var topupT0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// topupEnv is one company with sites on a fresh store, billing wired to the
// top-up policy.
type topupEnv struct {
	ctx     context.Context
	store   storage.Store
	clock   *licensetest.Clock
	billing *billing.Service
	topup   *topup.Service
	owner   license.Actor
}

func topupOwner(company string) license.Actor {
	return license.Actor{Company: company, Email: "owner@" + company + ".example", Role: license.Owner}
}

func newTopupEnv(t testing.TB, st storage.Store, company string) *topupEnv {
	t.Helper()
	clock := licensetest.NewClock(topupT0)
	e := &topupEnv{ctx: context.Background(), store: st, clock: clock,
		billing: &billing.Service{Store: st, Clock: clock, Overflow: topup.Overflow()},
		topup:   &topup.Service{Store: st, Clock: clock},
		owner:   topupOwner(company)}
	_, err := e.billing.CreateCompany(e.ctx, e.owner, "Company "+company)
	require.NoError(t, err)
	return e
}

func topupI64(n int64) *int64 { return &n }

// site creates a monthly-invoice site in group "north" at 2.50 USD.
func (e *topupEnv) site(t testing.TB, name string, licenses *int64) billing.Site {
	t.Helper()
	return e.siteWith(t, billing.NewSite{Name: name, Group: "north", PaymentType: billing.MonthlyInvoice, Licenses: licenses})
}

func (e *topupEnv) siteWith(t testing.TB, ns billing.NewSite) billing.Site {
	t.Helper()
	if ns.Plan == "" {
		ns.Plan = "standard"
	}
	if ns.UnitPrice.Currency == "" {
		ns.UnitPrice = license.NewMoney(decimal.RequireFromString("2.50"), "USD")
	}
	s, err := e.billing.CreateSite(e.ctx, e.owner, ns)
	require.NoError(t, err)
	return s
}

func (e *topupEnv) enable(t testing.TB) {
	t.Helper()
	_, err := e.topup.Enable(e.ctx, e.owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	require.NoError(t, err)
}

func (e *topupEnv) getSite(t testing.TB, id string) billing.Site {
	t.Helper()
	s, err := e.billing.GetSite(e.ctx, e.owner, id)
	require.NoError(t, err)
	return s
}

func (e *topupEnv) events(t testing.TB, types ...eventlog.Type) []eventlog.Event {
	t.Helper()
	var out []eventlog.Event
	require.NoError(t, e.store.View(e.ctx, func(tx storage.Tx) error {
		return tx.Events(e.ctx, eventlog.Filter{Company: e.owner.Company, Types: types}, func(ev eventlog.Event) error {
			out = append(out, ev)
			return nil
		})
	}))
	return out
}

func (e *topupEnv) outbox(t testing.TB, status topup.Status) []topup.OutboxEntry {
	t.Helper()
	out, err := e.topup.Outbox(e.ctx, e.owner, status)
	require.NoError(t, err)
	return out
}

// topupSnapshot is every record and event of a company, as text, to prove that
// a failed operation changed nothing.
func topupSnapshot(t testing.TB, st storage.Store, company string) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		for _, k := range []storage.Kind{billing.KindCompany, billing.KindMember, billing.KindSite, billing.KindAdjustment,
			topup.KindSettings, topup.KindOutbox, storage.KindIdempotency} {
			recs, err := tx.List(context.Background(), storage.ListQuery{Company: company, Kind: k})
			if err != nil {
				return err
			}
			for _, r := range recs {
				fmt.Fprintf(&b, "%s/%s parent=%s unique=%s %s\n", r.Kind, r.ID, r.Parent, r.Unique, r.Data)
			}
		}
		return tx.Events(context.Background(), eventlog.Filter{Company: company}, func(ev eventlog.Event) error {
			fmt.Fprintf(&b, "event %s %s %s %d %s\n", ev.Type, ev.Target, ev.Subject, ev.Count, ev.Details)
			return nil
		})
	}))
	return b.String()
}

// topupRecorder is a Notifier that records what it is asked to send. It can be
// told to fail the next calls, or to panic (a crash in the middle of a send).
type topupRecorder struct {
	mu        sync.Mutex
	sent      []topup.Notification
	failNext  int
	panicNext bool
}

func (r *topupRecorder) Notify(_ context.Context, n topup.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panicNext {
		r.panicNext = false
		panic("topupRecorder: crash during send")
	}
	if r.failNext > 0 {
		r.failNext--
		return errors.New("smtp: 451 try again later")
	}
	r.sent = append(r.sent, n)
	return nil
}

func (r *topupRecorder) got() []topup.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// topupCheckTriggered checks a topup.triggered event against the rule: a
// positive multiple of the increment, the smallest covering the shortfall.
func topupCheckTriggered(ev eventlog.Event) error {
	var d struct {
		Increment int64 `json:"increment"`
		Shortfall int64 `json:"shortfall"`
		Before    int64 `json:"licenses_before"`
		After     int64 `json:"licenses_after"`
		Enrolled  int64 `json:"devices_enrolled"`
	}
	if err := json.Unmarshal(ev.Details, &d); err != nil {
		return fmt.Errorf("topup.triggered event %s: details %s: %v", ev.ID, ev.Details, err)
	}
	switch {
	case d.Increment < 5 || d.Increment%5 != 0:
		return fmt.Errorf("topup.triggered event %s: increment %d is not a multiple of 5 >= 5", ev.ID, d.Increment)
	case ev.Count <= 0 || ev.Count%d.Increment != 0:
		return fmt.Errorf("topup.triggered event %s: added %d is not a positive multiple of increment %d", ev.ID, ev.Count, d.Increment)
	case ev.Count < d.Shortfall || ev.Count-d.Shortfall >= d.Increment:
		return fmt.Errorf("topup.triggered event %s: added %d is not the smallest multiple of %d covering shortfall %d", ev.ID, ev.Count, d.Increment, d.Shortfall)
	case d.After != d.Before+ev.Count || d.After < d.Enrolled:
		return fmt.Errorf("topup.triggered event %s: licenses %d -> %d (+%d) for %d enrolled", ev.ID, d.Before, d.After, ev.Count, d.Enrolled)
	}
	return nil
}

func topupTestIncrementCoversShortfall(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "shortfall")
	s := e.site(t, "Helsinki", topupI64(10))
	_, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 8})
	require.NoError(t, err)
	e.enable(t)
	require.Equal(t, int64(2), e.getSite(t, s.ID).Available(), "the site starts with 2 licenses available")

	r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 4})
	require.NoError(t, err)
	assert.Equal(t, int64(5), r.ToppedUp, "increment 5, 2 available, 4 enrolled: 5 licenses added")
	got := e.getSite(t, s.ID)
	assert.Equal(t, int64(15), got.LicenseCount())
	assert.Equal(t, int64(12), got.Enrolled)
	assert.Equal(t, int64(3), got.Available(), "3 remain available")

	evs := e.events(t, topup.EventTriggered)
	require.Len(t, evs, 1)
	assert.Equal(t, "Helsinki", evs[0].Target)
	assert.Equal(t, int64(5), evs[0].Count)
	assert.Equal(t, license.SystemEmail, evs[0].Actor)
	require.NoError(t, topupCheckTriggered(evs[0]))
	assert.JSONEq(t, `4`, string(topupDetail(t, evs[0], "devices_enrolling")))
	ob := e.outbox(t, topup.StatusPending)
	require.Len(t, ob, 1)
	assert.Equal(t, evs[0].ID, ob[0].Event)
	assert.Equal(t, int64(5), ob[0].Added)
	assert.Equal(t, int64(12), ob[0].Enrolled)
	assert.Equal(t, int64(15), ob[0].NewTotal)
}

func topupDetail(t testing.TB, ev eventlog.Event, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(ev.Details, &m))
	return m[key]
}

func topupTestBatchOvershoot(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "batch")
	s := e.site(t, "Oslo", topupI64(20))
	e.enable(t)
	r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 32}) // 12 beyond the 20 licenses
	require.NoError(t, err)
	assert.Equal(t, int64(15), r.ToppedUp)
	assert.Equal(t, int64(35), e.getSite(t, s.ID).LicenseCount())

	for _, tc := range []struct{ inc, enrol, want int64 }{{10, 10, 10}, {10, 4, 10}, {25, 35, 50}, {5, 29, 5}} {
		_, err := e.topup.SetIncrement(e.ctx, e.owner, s.ID, tc.inc)
		require.NoError(t, err)
		before := e.getSite(t, s.ID)
		short := before.Enrolled + tc.enrol - before.LicenseCount()
		r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: tc.enrol})
		require.NoError(t, err)
		assert.Equal(t, tc.want, r.ToppedUp, "increment %d, shortfall %d", tc.inc, short)
		assert.Equal(t, topup.Amount(short, tc.inc), r.ToppedUp)
	}
	for _, ev := range e.events(t, topup.EventTriggered) {
		require.NoError(t, topupCheckTriggered(ev))
	}
}

func topupTestWithinLicenses(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "fit")
	s := e.site(t, "Exact", topupI64(10))
	e.enable(t)
	r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 10})
	require.NoError(t, err)
	assert.Zero(t, r.ToppedUp, "an enrolment that fits adds nothing")
	assert.Equal(t, int64(10), e.getSite(t, s.ID).LicenseCount())
	assert.Empty(t, e.events(t, topup.EventTriggered))
	assert.Empty(t, e.outbox(t, ""))
}

// A site with no license amount set accepts any enrolment and is never topped
// up (billing only consults the policy for sites whose licenses are set).
func topupTestNoAmountSet(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "unset")
	s := e.site(t, "Open", nil)
	e.enable(t)
	r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 40})
	require.NoError(t, err)
	assert.Zero(t, r.ToppedUp)
	got := e.getSite(t, s.ID)
	assert.Nil(t, got.Licenses)
	assert.Equal(t, int64(40), got.Enrolled)
	assert.Empty(t, e.events(t, topup.EventTriggered))
}

func topupTestPrerequisites(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "prereq")
	e.site(t, "Good1", topupI64(5))
	e.site(t, "Good2", topupI64(5))
	card := e.siteWith(t, billing.NewSite{Name: "Card", Group: "north", PaymentType: billing.Card})
	south := e.siteWith(t, billing.NewSite{Name: "South", Group: "south", PaymentType: billing.MonthlyInvoice})
	lone := e.siteWith(t, billing.NewSite{Name: "Lone", PaymentType: billing.AnnualInvoice})
	before := topupSnapshot(t, e.store, e.owner.Company)

	_, err := e.topup.Enable(e.ctx, e.owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	requireCode(t, err, license.Conflict, "sites")
	assert.ErrorIs(t, err, license.ErrConflict)
	var pe *topup.PrerequisiteError
	require.ErrorAs(t, err, &pe)
	type prob struct {
		site string
		p    topup.Problem
	}
	var got []prob
	for _, p := range pe.Problems {
		got = append(got, prob{p.SiteName, p.Problem})
		assert.NotEmpty(t, p.Reason)
	}
	assert.ElementsMatch(t, []prob{{"Card", topup.ProblemPaymentType}, {"South", topup.ProblemOtherGroup},
		{"Lone", topup.ProblemPaymentType}, {"Lone", topup.ProblemNoGroup}}, got)
	msg := license.ErrorMessage(err)
	for _, name := range []string{"Card", "South", "Lone", "monthly invoice", "site group"} {
		assert.Contains(t, msg, name)
	}
	assert.NotContains(t, msg, "Good1")
	assert.Equal(t, before, topupSnapshot(t, e.store, e.owner.Company), "a refused enable changes nothing")

	// Fix the sites one by one: it stays refused until all pass.
	mi, grp := billing.MonthlyInvoice, "north"
	_, err = e.billing.UpdateSite(e.ctx, e.owner, card.ID, billing.SiteChange{PaymentType: &mi})
	require.NoError(t, err)
	_, err = e.billing.UpdateSite(e.ctx, e.owner, south.ID, billing.SiteChange{Group: &grp})
	require.NoError(t, err)
	_, err = e.topup.Enable(e.ctx, e.owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	require.ErrorAs(t, err, &pe)
	assert.Len(t, pe.Problems, 2, "only Lone is left: %v", err)
	_, err = e.billing.UpdateSite(e.ctx, e.owner, lone.ID, billing.SiteChange{PaymentType: &mi, Group: &grp})
	require.NoError(t, err)
	set, err := e.topup.Enable(e.ctx, e.owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	require.NoError(t, err)
	assert.True(t, set.Enabled)

	// A company without sites may enable: nothing fails the prerequisites.
	e2 := newTopupEnv(t, e.store, "empty")
	e2.enable(t)
}

func topupTestTermsAndRoles(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "terms")
	e.site(t, "A", topupI64(5))
	before := topupSnapshot(t, e.store, e.owner.Company)
	for _, terms := range []string{"", "   ", strings.Repeat("v", 101)} {
		_, err := e.topup.Enable(e.ctx, e.owner, topup.EnableRequest{AcceptedTermsVersion: terms})
		requireCode(t, err, license.Invalid, "accepted_terms_version")
		assert.Equal(t, before, topupSnapshot(t, e.store, e.owner.Company), "a refused enable (terms %q) changes nothing", terms)
	}
	for _, role := range []license.Role{license.Editor, license.LicenseAdmin, license.Viewer} {
		a := license.Actor{Company: e.owner.Company, Email: string(role) + "@terms.example", Role: role}
		_, err := e.billing.AddMember(e.ctx, e.owner, a.Email, role)
		require.NoError(t, err)
		before = topupSnapshot(t, e.store, e.owner.Company)
		_, err = e.topup.Enable(e.ctx, a, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
		requireCode(t, err, license.Forbidden, "role")
		_, err = e.topup.Disable(e.ctx, a)
		requireCode(t, err, license.Forbidden, "role")
		_, err = e.topup.AddRecipients(e.ctx, a, "x@y.example")
		requireCode(t, err, license.Forbidden, "role")
		assert.Equal(t, before, topupSnapshot(t, e.store, e.owner.Company))
		_, err = e.topup.Get(e.ctx, a)
		require.NoError(t, err, "any role may read the settings")
	}
	admin := license.Actor{Company: e.owner.Company, Email: "admin@terms.example", Role: license.Admin}
	_, err := e.billing.AddMember(e.ctx, e.owner, admin.Email, license.Admin)
	require.NoError(t, err)
	set, err := e.topup.Enable(e.ctx, admin, topup.EnableRequest{AcceptedTermsVersion: " 2026-01 "})
	require.NoError(t, err)
	assert.Equal(t, "2026-01", set.TermsVersion, "the accepted terms version is recorded")
	assert.Equal(t, admin.Email, set.EnabledBy)
	assert.Equal(t, topupT0, set.EnabledAt)

	// Enabling again with the same terms is a safe retry; other terms conflict.
	n := len(e.events(t, topup.EventEnabled))
	_, err = e.topup.Enable(e.ctx, e.owner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	require.NoError(t, err)
	_, err = e.topup.Enable(e.ctx, e.owner, topup.EnableRequest{AcceptedTermsVersion: "2027-01"})
	requireCode(t, err, license.Conflict, "enabled")
	assert.Len(t, e.events(t, topup.EventEnabled), n)
}

func topupTestEnableIncrements(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "incs")
	a := e.site(t, "A", topupI64(5))
	b := e.site(t, "B", topupI64(5))
	e.enable(t)
	evs := e.events(t, topup.EventEnabled)
	require.Len(t, evs, 1)
	assert.Equal(t, int64(5), evs[0].Count)
	var sites []topup.SiteIncrement
	require.NoError(t, json.Unmarshal(topupDetail(t, evs[0], "sites"), &sites))
	assert.Equal(t, []topup.SiteIncrement{{Site: a.ID, SiteName: "A", Increment: 5}, {Site: b.ID, SiteName: "B", Increment: 5}}, sites)
	assert.JSONEq(t, `"2026-01"`, string(topupDetail(t, evs[0], "terms_version")))

	_, err := e.topup.SetIncrement(e.ctx, e.owner, a.ID, 20)
	require.NoError(t, err)
	c := e.site(t, "C", topupI64(0)) // created after enabling: default 5
	set, err := e.topup.Get(e.ctx, e.owner)
	require.NoError(t, err)
	assert.Equal(t, []topup.SiteIncrement{{Site: a.ID, SiteName: "A", Increment: 20}, {Site: b.ID, SiteName: "B", Increment: 5}, {Site: c.ID, SiteName: "C", Increment: 5}}, set.Sites)
	r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: c.ID, Devices: 1})
	require.NoError(t, err)
	assert.Equal(t, int64(5), r.ToppedUp)

	// Disabling and enabling again sets every increment back to 5.
	_, err = e.topup.Disable(e.ctx, e.owner)
	require.NoError(t, err)
	e.enable(t)
	set, err = e.topup.Get(e.ctx, e.owner)
	require.NoError(t, err)
	for _, s := range set.Sites {
		assert.Equal(t, int64(5), s.Increment, s.SiteName)
	}
}

func topupTestSetIncrement(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "setinc")
	s := e.site(t, "A", topupI64(5))
	_, err := e.topup.SetIncrement(e.ctx, e.owner, s.ID, 10)
	requireCode(t, err, license.Conflict, "enabled")
	e.enable(t)
	before := topupSnapshot(t, e.store, e.owner.Company)
	for _, bad := range []int64{0, -5, 1, 3, 4, 7, 12, 101} {
		_, err := e.topup.SetIncrement(e.ctx, e.owner, s.ID, bad)
		requireCode(t, err, license.Invalid, "increment", "increment %d", bad)
	}
	_, err = e.topup.SetIncrement(e.ctx, e.owner, "no-such-site", 10)
	requireCode(t, err, license.NotFound, "site")
	viewer := license.Actor{Company: e.owner.Company, Email: "v@setinc.example", Role: license.Viewer}
	_, err = e.topup.SetIncrement(e.ctx, viewer, s.ID, 10)
	requireCode(t, err, license.Forbidden, "role")
	assert.Equal(t, before, topupSnapshot(t, e.store, e.owner.Company))

	for _, n := range []int64{10, 10, 5, 100} {
		got, err := e.topup.SetIncrement(e.ctx, e.owner, s.ID, n)
		require.NoError(t, err)
		assert.Equal(t, n, got.Increment)
	}
	evs := e.events(t, topup.EventIncrementChanged)
	require.Len(t, evs, 3, "setting the same value again writes no event")
	for i, want := range []int64{10, 5, 100} {
		assert.Equal(t, want, evs[i].Count)
		assert.Equal(t, "A", evs[i].Target)
		assert.JSONEq(t, fmt.Sprint(want), string(topupDetail(t, evs[i], "new")))
	}
}

func topupTestDisable(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "off")
	s := e.site(t, "A", topupI64(2))
	e.enable(t)
	r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 3})
	require.NoError(t, err)
	require.Equal(t, int64(5), r.ToppedUp)
	set, err := e.topup.Disable(e.ctx, e.owner)
	require.NoError(t, err)
	assert.False(t, set.Enabled)
	require.Len(t, e.events(t, topup.EventDisabled), 1)
	assert.Equal(t, int64(7), e.getSite(t, s.ID).LicenseCount(), "licenses already added stay")

	_, err = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 5})
	requireCode(t, err, license.InsufficientLicenses, "devices")
	r, err = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 4}) // fits: 7 licenses
	require.NoError(t, err)
	assert.Zero(t, r.ToppedUp)
	assert.Len(t, e.events(t, topup.EventTriggered), 1)
	assert.Len(t, e.outbox(t, ""), 1)

	_, err = e.topup.Disable(e.ctx, e.owner)
	require.NoError(t, err, "disabling twice is harmless")
	assert.Len(t, e.events(t, topup.EventDisabled), 1)
}

func topupTestNonMonthlySite(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "card")
	s := e.site(t, "A", topupI64(1))
	e.enable(t)
	card := billing.Card
	_, err := e.billing.UpdateSite(e.ctx, e.owner, s.ID, billing.SiteChange{PaymentType: &card})
	require.NoError(t, err)
	_, err = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 2})
	requireCode(t, err, license.InsufficientLicenses, "devices")
	assert.Empty(t, e.events(t, topup.EventTriggered))
}

func topupTestRecipients(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "rcpt")
	_, err := e.billing.AddMember(e.ctx, e.owner, "second.owner@rcpt.example", license.Owner)
	require.NoError(t, err)
	_, err = e.billing.AddMember(e.ctx, e.owner, "admin@rcpt.example", license.Admin)
	require.NoError(t, err)
	owners, err := e.topup.Owners(e.ctx, e.owner)
	require.NoError(t, err)
	assert.Equal(t, []string{"owner@rcpt.example", "second.owner@rcpt.example"}, owners, "only Owners are offered")

	before := topupSnapshot(t, e.store, e.owner.Company)
	for _, bad := range []string{"", "not-an-address", "Name <a@b.example>", "a@b.example\nBcc: x@y.example"} {
		_, err := e.topup.AddRecipients(e.ctx, e.owner, "ok@rcpt.example", bad)
		requireCode(t, err, license.Invalid, "email", "%q", bad)
	}
	assert.Equal(t, before, topupSnapshot(t, e.store, e.owner.Company), "one bad address adds none")

	list, err := e.topup.AddRecipients(e.ctx, e.owner, owners[0], "Finance@Partner.example", "finance@partner.EXAMPLE", "OWNER@rcpt.example")
	require.NoError(t, err)
	assert.Equal(t, []string{"owner@rcpt.example", "Finance@partner.example"}, list, "validated and de-duplicated ignoring case")
	list, err = e.topup.AddRecipients(e.ctx, e.owner, "finance@partner.example")
	require.NoError(t, err)
	assert.Len(t, list, 2)
	assert.Len(t, e.events(t, topup.EventRecipientsChanged), 1, "adding only duplicates writes no event")

	_, err = e.topup.RemoveRecipient(e.ctx, e.owner, "nobody@rcpt.example")
	requireCode(t, err, license.NotFound, "email")
	list, err = e.topup.RemoveRecipient(e.ctx, e.owner, "FINANCE@partner.example")
	require.NoError(t, err)
	assert.Equal(t, []string{"owner@rcpt.example"}, list)
	got, err := e.topup.Recipients(e.ctx, e.owner)
	require.NoError(t, err)
	assert.Equal(t, list, got)
	assert.Len(t, e.events(t, topup.EventRecipientsChanged), 2)
}

func topupTestNotification(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "notify")
	s := e.site(t, "Turku", topupI64(2))
	e.enable(t)
	_, err := e.topup.AddRecipients(e.ctx, e.owner, "owner@notify.example", "ops@partner.example")
	require.NoError(t, err)
	rec := &topupRecorder{}
	d := &topup.Dispatcher{Store: e.store, Notifier: rec}

	rep, err := d.RunOnce(e.ctx, topupT0)
	require.NoError(t, err)
	assert.Equal(t, topup.Report{}, rep, "nothing to send before a top-up")
	_, err = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 4})
	require.NoError(t, err)
	assert.Empty(t, rec.got(), "nothing is sent inside the transaction")
	// Recipients changed after the top-up do not change who hears of it.
	_, err = e.topup.AddRecipients(e.ctx, e.owner, "late@partner.example")
	require.NoError(t, err)

	rep, err = d.RunOnce(e.ctx, topupT0.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, topup.Report{Delivered: 1}, rep)
	sent := rec.got()
	require.Len(t, sent, 1)
	n := sent[0]
	assert.Equal(t, []string{"owner@notify.example", "ops@partner.example"}, n.Recipients)
	assert.Equal(t, "Turku", n.SiteName)
	assert.Equal(t, int64(5), n.Added)
	assert.Equal(t, int64(4), n.Enrolled)
	assert.Equal(t, int64(4), n.Enrolling)
	assert.Equal(t, int64(7), n.NewTotal)
	for _, want := range []string{"Turku", "Licenses added: 5", "Devices enrolled: 4", "Total licenses: 7"} {
		assert.Contains(t, n.Subject()+"\n"+n.Body(), want)
	}
	ob := e.outbox(t, topup.StatusDelivered)
	require.Len(t, ob, 1)
	assert.Equal(t, 1, ob[0].Attempts)
	assert.Empty(t, e.outbox(t, topup.StatusPending))

	rep, err = d.RunOnce(e.ctx, topupT0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, topup.Report{}, rep)
	assert.Len(t, rec.got(), 1, "delivered once")
}

func topupTestNoRecipients(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "norcpt")
	s := e.site(t, "A", topupI64(0))
	e.enable(t)
	_, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 1})
	require.NoError(t, err)
	rec := &topupRecorder{}
	rep, err := (&topup.Dispatcher{Store: e.store, Notifier: rec}).RunOnce(e.ctx, topupT0)
	require.NoError(t, err)
	assert.Equal(t, topup.Report{Delivered: 1}, rep)
	assert.Empty(t, rec.got(), "no recipient: nothing to send")
	assert.Len(t, e.outbox(t, topup.StatusDelivered), 1)
}

func topupTestRetries(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "retry")
	s := e.site(t, "A", topupI64(0))
	e.enable(t)
	_, err := e.topup.AddRecipients(e.ctx, e.owner, "ops@retry.example")
	require.NoError(t, err)
	_, err = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 1})
	require.NoError(t, err)
	rec := &topupRecorder{failNext: 100}
	d := &topup.Dispatcher{Store: e.store, Notifier: rec, MaxAttempts: 3}
	now := topupT0
	rep, err := d.RunOnce(e.ctx, now)
	require.NoError(t, err, "a failing notifier is not a dispatcher error")
	assert.Equal(t, topup.Report{Retrying: 1}, rep)
	ob := e.outbox(t, topup.StatusPending)
	require.Len(t, ob, 1)
	assert.Equal(t, 1, ob[0].Attempts)
	assert.Equal(t, now.Add(time.Minute), ob[0].NextAttempt, "first backoff is one minute")
	assert.Contains(t, ob[0].LastError, "451")

	rep, err = d.RunOnce(e.ctx, now.Add(59*time.Second))
	require.NoError(t, err)
	assert.Equal(t, topup.Report{}, rep, "not retried before its backoff ends")

	now = now.Add(time.Minute)
	rep, err = d.RunOnce(e.ctx, now)
	require.NoError(t, err)
	assert.Equal(t, topup.Report{Retrying: 1}, rep)
	ob = e.outbox(t, topup.StatusPending)
	require.Len(t, ob, 1)
	assert.Equal(t, now.Add(2*time.Minute), ob[0].NextAttempt, "the backoff doubles")

	now = now.Add(2 * time.Minute)
	rep, err = d.RunOnce(e.ctx, now)
	require.NoError(t, err)
	assert.Equal(t, topup.Report{Failed: 1}, rep)
	failed := e.outbox(t, topup.StatusFailed)
	require.Len(t, failed, 1)
	assert.Equal(t, 3, failed[0].Attempts)
	evs := e.events(t, topup.EventNotificationFailed)
	require.Len(t, evs, 1)
	assert.Equal(t, failed[0].ID, evs[0].Subject)

	rec.failNext = 0
	rep, err = d.RunOnce(e.ctx, now.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, topup.Report{}, rep, "a failed notification is not retried")
	assert.Empty(t, rec.got())

	assert.Equal(t, time.Hour, topup.DefaultBackoff(30), "the default backoff is capped at an hour")
}

func topupTestCrash(t *testing.T, newStore Factory, _ Features) {
	st := newStore(t)
	e := newTopupEnv(t, st, "crash")
	s := e.site(t, "A", topupI64(0))
	e.enable(t)
	_, err := e.topup.AddRecipients(e.ctx, e.owner, "ops@crash.example")
	require.NoError(t, err)
	_, err = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 3})
	require.NoError(t, err)

	// The process dies after the commit, before any dispatcher ran: the record
	// is pending and a dispatcher started later sends it.
	require.Len(t, e.outbox(t, topup.StatusPending), 1)

	// A dispatcher crashes in the middle of the send (after claiming it).
	rec := &topupRecorder{panicNext: true}
	d := &topup.Dispatcher{Store: st, Notifier: rec, ClaimTimeout: 10 * time.Minute}
	func() {
		defer func() { assert.NotNil(t, recover(), "the notifier crashed") }()
		_, _ = d.RunOnce(e.ctx, topupT0)
	}()
	ob := e.outbox(t, topup.StatusPending)
	require.Len(t, ob, 1, "a crash during the send leaves the notification pending")
	assert.Equal(t, 1, ob[0].Attempts)

	d2 := &topup.Dispatcher{Store: st, Notifier: rec}
	rep, err := d2.RunOnce(e.ctx, topupT0.Add(5*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, topup.Report{}, rep, "the claim holds until its timeout")
	rep, err = d2.RunOnce(e.ctx, topupT0.Add(10*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, topup.Report{Delivered: 1}, rep)
	require.Len(t, rec.got(), 1)
	assert.Equal(t, ob[0].ID, rec.got()[0].ID)
}

func topupTestRolledBackCommit(t *testing.T, newStore Factory, _ Features) {
	f := NewFaulty(newStore(t))
	e := newTopupEnv(t, f, "rollback")
	s := e.site(t, "A", topupI64(2))
	e.enable(t)
	_, err := e.topup.AddRecipients(e.ctx, e.owner, "ops@rollback.example")
	require.NoError(t, err)
	before := topupSnapshot(t, f, e.owner.Company)

	f.FailCommit(1)
	_, err = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 4})
	require.ErrorIs(t, err, FaultError)
	require.Equal(t, 1, f.Injected())
	assert.Equal(t, before, topupSnapshot(t, f, e.owner.Company), "a rolled-back top-up leaves nothing")
	assert.Empty(t, e.outbox(t, ""), "no outbox record")
	assert.Empty(t, e.events(t, topup.EventTriggered), "no event")
	rec := &topupRecorder{}
	rep, err := (&topup.Dispatcher{Store: f, Notifier: rec}).RunOnce(e.ctx, topupT0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, topup.Report{}, rep)
	assert.Empty(t, rec.got(), "no notification")
	assert.Equal(t, int64(2), e.getSite(t, s.ID).LicenseCount())
}

func topupTestRolledBackWrites(t *testing.T, newStore Factory, _ Features) {
	f := NewFaulty(newStore(t))
	e := newTopupEnv(t, f, "writes")
	s := e.site(t, "A", topupI64(2))
	e.enable(t)
	before := topupSnapshot(t, f, e.owner.Company)
	for n := 1; ; n++ {
		require.Less(t, n, 50, "the enrolment never succeeded")
		f.FailWrite(n)
		injected := f.Injected()
		r, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 4})
		f.Disarm()
		if f.Injected() == injected {
			require.NoError(t, err, "no fault fired at write %d", n)
			assert.Equal(t, int64(5), r.ToppedUp)
			break
		}
		require.Error(t, err, "write %d failed", n)
		assert.Equal(t, before, topupSnapshot(t, f, e.owner.Company), "failing write %d left something behind", n)
	}
	assert.Len(t, e.events(t, topup.EventTriggered), 1)
	assert.Len(t, e.outbox(t, ""), 1)
}

// Top-up licenses appear on the next invoice estimate like purchases.
func topupTestInvoice(t *testing.T, newStore Factory, _ Features) {
	e := newTopupEnv(t, newStore(t), "invoice")
	s := e.site(t, "Auto", topupI64(2))
	p := e.site(t, "Bought", topupI64(2))
	e.enable(t)
	_, err := e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: 4})
	require.NoError(t, err)
	_, err = e.billing.Purchase(e.ctx, e.owner, billing.PurchaseRequest{Site: p.ID, Quantity: 5})
	require.NoError(t, err)

	inv, err := e.billing.Estimate(e.ctx, e.owner, billing.EstimateOptions{})
	require.NoError(t, err)
	var auto, bought *billing.InvoiceLine
	for i, l := range inv.Lines {
		if l.Kind != billing.LineAdjustment {
			continue
		}
		switch l.Site {
		case s.ID:
			auto = &inv.Lines[i]
		case p.ID:
			bought = &inv.Lines[i]
		}
	}
	require.NotNil(t, auto, "the top-up is an adjustment line: %+v", inv.Lines)
	require.NotNil(t, bought)
	assert.Equal(t, int64(5), auto.Quantity)
	assert.Equal(t, "12.50 USD", auto.Amount.String())
	assert.Equal(t, bought.Quantity, auto.Quantity, "a top-up of 5 is billed as a purchase of 5")
	assert.True(t, bought.Amount.Equal(auto.Amount))
	assert.Equal(t, topupT0, auto.At)
	assert.Equal(t, "2026-12", inv.Period)
	// The next month's estimate has the site's 7 licenses as a licenses line.
	for _, l := range inv.Lines {
		if l.Kind == billing.LineLicenses && l.Site == s.ID {
			assert.Equal(t, int64(7), l.Quantity)
		}
	}
}

func topupTestTenants(t *testing.T, newStore Factory, _ Features) {
	st := newStore(t)
	a := newTopupEnv(t, st, "tenant-a")
	b := newTopupEnv(t, st, "tenant-b")
	sa := a.site(t, "Same", topupI64(0))
	sb := b.site(t, "Same", topupI64(0))
	a.enable(t)
	_, err := a.topup.AddRecipients(a.ctx, a.owner, "ops@a.example")
	require.NoError(t, err)
	_, err = b.topup.AddRecipients(b.ctx, b.owner, "ops@b.example")
	require.NoError(t, err)

	_, err = b.billing.Enroll(b.ctx, b.owner, billing.EnrollRequest{Site: sb.ID, Devices: 1})
	requireCode(t, err, license.InsufficientLicenses, "devices", "company b did not enable top-up")
	_, err = a.billing.Enroll(a.ctx, a.owner, billing.EnrollRequest{Site: sa.ID, Devices: 1})
	require.NoError(t, err)
	// A cannot reach B's site, even by ID.
	_, err = a.topup.SetIncrement(a.ctx, a.owner, sb.ID, 10)
	requireCode(t, err, license.NotFound, "site")

	b.enable(t)
	_, err = b.billing.Enroll(b.ctx, b.owner, billing.EnrollRequest{Site: sb.ID, Devices: 6})
	require.NoError(t, err)
	rec := &topupRecorder{}
	rep, err := (&topup.Dispatcher{Store: st, Notifier: rec}).RunOnce(a.ctx, topupT0)
	require.NoError(t, err)
	assert.Equal(t, topup.Report{Delivered: 2}, rep, "one dispatcher serves every company")
	byCompany := map[string][]string{}
	for _, n := range rec.got() {
		byCompany[n.Company] = n.Recipients
	}
	assert.Equal(t, map[string][]string{"tenant-a": {"ops@a.example"}, "tenant-b": {"ops@b.example"}}, byCompany)
	assert.Len(t, a.outbox(t, ""), 1)
	assert.Len(t, b.outbox(t, ""), 1)
}

// 100 concurrent enrolments on one site end with licenses >= enrolled, every
// top-up the smallest that covered its shortfall, and nothing lost.
func topupTestConcurrent(t *testing.T, newStore Factory, f Features) {
	e := newTopupEnv(t, newStore(t), "race")
	s := e.site(t, "Busy", topupI64(10))
	e.enable(t)
	const workers = 100
	rnd := rand.New(rand.NewPCG(4, 100))
	sizes := make([]int64, workers)
	var total int64
	for i := range sizes {
		sizes[i] = rnd.Int64N(3) + 1
		total += sizes[i]
	}
	results := make([]billing.EnrollResult, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = e.billing.Enroll(e.ctx, e.owner, billing.EnrollRequest{Site: s.ID, Devices: sizes[i]})
		})
	}
	close(start)
	wg.Wait()
	var added int64
	for i := range workers {
		require.NoError(t, errs[i], "enrolment %d", i)
		added += results[i].ToppedUp
		assert.Zero(t, results[i].ToppedUp%5, "enrolment %d added %d", i, results[i].ToppedUp)
	}
	got := e.getSite(t, s.ID)
	assert.Equal(t, total, got.Enrolled)
	assert.GreaterOrEqual(t, got.LicenseCount(), got.Enrolled)
	assert.Equal(t, int64(10)+added, got.LicenseCount(), "licenses = initial + top-ups")
	assert.Less(t, got.Available(), int64(5), "no top-up larger than needed: fewer than one increment left over")
	evs := e.events(t, topup.EventTriggered)
	var evAdded int64
	for _, ev := range evs {
		require.NoError(t, topupCheckTriggered(ev))
		evAdded += ev.Count
	}
	assert.Equal(t, added, evAdded, "one event per top-up")
	assert.Len(t, e.outbox(t, ""), len(evs), "one notification per top-up")
}
