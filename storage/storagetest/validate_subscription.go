package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
)

// Subscription validation tests of the "validate" suite (registered in validate.go).

var subValT0 = time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)

// subValSnap is subSnapshot plus the terms records.
func subValSnap(t testing.TB, st storage.Store, company string) string {
	t.Helper()
	s := subSnapshot(t, st, company)
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		rs, err := tx.List(context.Background(), storage.ListQuery{Company: company, Kind: subscription.KindTerms})
		for _, r := range rs {
			s += "|" + r.ID + string(r.Data)
		}
		return err
	}))
	return s
}

type subValEnv struct {
	t     *testing.T
	ctx   context.Context
	st    storage.Store
	svc   *subscription.Service
	clock *licensetest.Clock
}

func newSubValEnv(t *testing.T, newStore Factory) *subValEnv {
	svc, clock, st := subSetup(t, newStore, subValT0)
	return &subValEnv{t: t, ctx: context.Background(), st: st, svc: svc, clock: clock}
}

// validate runs Validate (by ID) and ValidateKey (when key is given), checks
// both agree and that neither wrote anything.
func (e *subValEnv) validate(id, key string, c license.ValidationRequest) license.Validation {
	e.t.Helper()
	before := subValSnap(e.t, e.st, subMSP.Company)
	v, err := e.svc.Validate(e.ctx, subMSP, id, c)
	require.NoError(e.t, err)
	requireConsistent(e.t, v)
	if key != "" {
		k, err := e.svc.ValidateKey(e.ctx, subMSP, key, c)
		require.NoError(e.t, err)
		assert.Equal(e.t, v, k, "validation by key and by ID differ")
	}
	require.Equal(e.t, before, subValSnap(e.t, e.st, subMSP.Company), "Validate wrote to the store (%s)", v.Code)
	return v
}

func (e *subValEnv) assign(id string, c license.Consumer) {
	e.t.Helper()
	_, err := e.svc.Assign(e.ctx, subMSP, subscription.AssignRequest{Type: subscription.PerComputer, Consumer: c, License: id})
	require.NoError(e.t, err)
}

func (e *subValEnv) terms(id string, grace int, ents ...string) {
	e.t.Helper()
	_, err := e.svc.SetTerms(e.ctx, subMSP, id, subscription.TermsInput{Entitlements: ents, GraceDays: grace})
	require.NoError(e.t, err)
}

func subValTestEveryCode(t *testing.T, newStore Factory, _ Features) {
	e := newSubValEnv(t, newStore)
	day := 24 * time.Hour
	bought := subBuy(t, e.svc, subMSP, subscription.PerComputer, 5, subscription.Monthly)
	a, b, c, d, f := bought.Licenses[0], bought.Licenses[1], bought.Licenses[2], bought.Licenses[3], bought.Licenses[4]
	keyA := bought.Keys[0]
	manual, err := e.svc.Purchase(e.ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 1, UnitPrice: subPrice, ManualActivation: true})
	require.NoError(t, err)
	e.assign(a.ID, subComputer("pc-1", "ann"))
	e.assign(b.ID, subComputer("pc-2", "ann"))
	e.assign(c.ID, subComputer("pc-3", "bob"))
	e.assign(f.ID, subComputer("pc-5", "cy"))
	// a and b expire at their expiration date; f renews then.
	for _, id := range []string{a.ID, b.ID} {
		_, err = e.svc.SetAutoRenew(e.ctx, subMSP, id, false)
		require.NoError(t, err)
	}
	e.terms(a.ID, 0, "backup", "sso")
	e.terms(b.ID, 5, "backup")
	_, err = e.svc.Suspend(e.ctx, subMSP, c.ID, "chargeback")
	require.NoError(t, err)

	pc1 := license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "pc-1", User: "ann"}, Features: []string{"backup"}}
	pc2 := license.Consumer{Asset: "pc-2"}
	pc5 := license.Consumer{Asset: "pc-5"}
	exp := b.ExpirationDate // 28 February 2026, 10:00 (anchored monthly renewal)
	require.Equal(t, time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC), exp)
	renewed := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC) // f's expiration after its first renewal
	type tc struct {
		name string
		at   time.Time
		id   string
		key  string
		c    license.ValidationRequest
		want license.ValidationCode
		chk  func(*testing.T, license.Validation)
	}
	with := func(c license.ValidationRequest, f func(*license.ValidationRequest)) license.ValidationRequest {
		f(&c)
		return c
	}
	cases := []tc{
		{name: "unknown license", id: license.NewID(), c: pc1, want: license.CodeNotFound},
		{name: "not activated", id: manual.Licenses[0].ID, key: manual.Keys[0], c: pc1, want: license.CodeInactive},
		{name: "suspended", id: c.ID, c: license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-3"}}, want: license.CodeSuspended, chk: func(t *testing.T, v license.Validation) {
			assert.Contains(t, v.Message, "chargeback")
		}},
		{name: "valid by key", id: a.ID, key: keyA, c: pc1, want: license.CodeValid, chk: func(t *testing.T, v license.Validation) {
			assert.Equal(t, a.ExpirationDate, *v.ExpiresAt)
		}},
		{name: "last instant", at: exp, id: b.ID, c: license.ValidationRequest{Consumer: pc2}, want: license.CodeValid},
		{name: "in grace", at: exp.Add(time.Nanosecond), id: b.ID, c: license.ValidationRequest{Consumer: pc2}, want: license.CodeInGrace, chk: func(t *testing.T, v license.Validation) {
			assert.Equal(t, exp.Add(5*day), *v.GraceEnds)
		}},
		{name: "no grace", at: exp.Add(time.Nanosecond), id: a.ID, c: pc1, want: license.CodeExpired},
		{name: "grace over", at: exp.Add(5*day + time.Nanosecond), id: b.ID, c: license.ValidationRequest{Consumer: pc2}, want: license.CodeExpired},
		{name: "renewal pending", at: exp.Add(time.Nanosecond), id: f.ID, c: license.ValidationRequest{Consumer: pc5}, want: license.CodeValid, chk: func(t *testing.T, v license.Validation) {
			assert.Equal(t, renewed, *v.ExpiresAt, "the date the renewal will give")
			assert.Contains(t, v.Message, "renewal")
		}},
		{name: "two renewals pending", at: renewed.Add(time.Hour), id: f.ID, c: license.ValidationRequest{Consumer: pc5}, want: license.CodeValid, chk: func(t *testing.T, v license.Validation) {
			assert.Equal(t, time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC), *v.ExpiresAt)
		}},
		{name: "another type", id: a.ID, c: with(pc1, func(c *license.ValidationRequest) { c.Software = "per user" }), want: license.CodeOutsideRestrictions, chk: func(t *testing.T, v license.Validation) {
			assert.Equal(t, "software", v.Failed)
		}},
		{name: "its type", id: a.ID, c: with(pc1, func(c *license.ValidationRequest) { c.Software = "Per Computer" }), want: license.CodeValid},
		{name: "another computer", id: a.ID, c: with(pc1, func(c *license.ValidationRequest) { c.Fingerprint = "pc-9" }), want: license.CodeNoAllocation},
		{name: "not assigned", id: d.ID, c: license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-4"}}, want: license.CodeNoAllocation},
		{name: "entitlements missing", id: a.ID, key: keyA, c: with(pc1, func(c *license.ValidationRequest) { c.Features = []string{"backup", "audit"} }), want: license.CodeEntitlementsMissing, chk: func(t *testing.T, v license.Validation) {
			assert.Equal(t, []string{"audit"}, v.Missing)
		}},
		{name: "no terms, no features asked", id: d.ID, c: license.ValidationRequest{Consumer: license.Consumer{}}, want: license.CodeNoAllocation},
	}
	reached := map[license.ValidationCode]bool{}
	for _, tc := range cases {
		at := tc.at
		if at.IsZero() {
			at = subValT0
		}
		e.clock.Set(at)
		v := e.validate(tc.id, tc.key, tc.c)
		require.Equal(t, tc.want, v.Code, "%s: %+v", tc.name, v)
		if tc.chk != nil {
			tc.chk(t, v)
		}
		reached[v.Code] = true
	}
	for _, code := range []license.ValidationCode{license.CodeNotFound, license.CodeInactive, license.CodeSuspended, license.CodeExpired,
		license.CodeOutsideRestrictions, license.CodeNoAllocation, license.CodeEntitlementsMissing, license.CodeValid, license.CodeInGrace} {
		assert.True(t, reached[code], "no subscription test reached %s", code)
	}

	// Expired by the tick (auto-renewal off): still in grace until 5 days
	// after the expiration date, then expired.
	e.clock.Set(subValT0)
	_, err = e.svc.SetAutoExchange(e.ctx, subMSP, false) // keep b assigned when it expires
	require.NoError(t, err)
	subTick(t, e.svc, exp.Add(time.Hour))
	require.Equal(t, subscription.Expired, subGet(t, e.svc, subMSP, b.ID).State)
	// The tick renewed f to the date validation projected before it ran.
	require.Equal(t, renewed, subGet(t, e.svc, subMSP, f.ID).ExpirationDate)
	e.clock.Set(exp.Add(2 * time.Hour))
	v := e.validate(f.ID, "", license.ValidationRequest{Consumer: pc5})
	assert.Equal(t, license.CodeValid, v.Code)
	assert.Equal(t, renewed, *v.ExpiresAt)
	assert.NotContains(t, v.Message, "pending")
	e.clock.Set(exp.Add(2 * day))
	assert.Equal(t, license.CodeInGrace, e.validate(b.ID, "", license.ValidationRequest{Consumer: pc2}).Code)
	e.clock.Set(exp.Add(5*day + time.Nanosecond))
	assert.Equal(t, license.CodeExpired, e.validate(b.ID, "", license.ValidationRequest{Consumer: pc2}).Code)

	// A trial's date-only end is the end of that day in UTC.
	e.clock.Set(subValT0)
	trial, err := e.svc.StartTrial(e.ctx, subMSP, subscription.TrialRequest{Type: subscription.PerUser, Quantity: 1, EndsOn: time.Date(2026, 2, 14, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	_, err = e.svc.Assign(e.ctx, subMSP, subscription.AssignRequest{Type: subscription.PerUser, Consumer: license.Consumer{User: "ann"}, License: trial.Licenses[0].ID})
	require.NoError(t, err)
	end := license.EndOfDay(time.Date(2026, 2, 14, 12, 0, 0, 0, time.UTC))
	ann := license.Consumer{User: "ann"}
	e.clock.Set(end)
	assert.Equal(t, license.CodeValid, e.validate(trial.Licenses[0].ID, trial.Keys[0], license.ValidationRequest{Consumer: ann}).Code)
	e.clock.Set(end.Add(time.Nanosecond))
	assert.Equal(t, license.CodeExpired, e.validate(trial.Licenses[0].ID, trial.Keys[0], license.ValidationRequest{Consumer: ann}).Code)
}

func subValTestOrder(t *testing.T, newStore Factory, _ Features) {
	e := newSubValEnv(t, newStore)
	bought := subBuy(t, e.svc, subMSP, subscription.PerComputer, 2, subscription.Monthly)
	l, free := bought.Licenses[0], bought.Licenses[1]
	e.assign(l.ID, subComputer("pc-1", "ann"))
	_, err := e.svc.SetAutoRenew(e.ctx, subMSP, l.ID, false) // expires at its date
	require.NoError(t, err)
	e.terms(l.ID, 0, "backup")
	e.terms(free.ID, 0, "backup")
	late := l.ExpirationDate.Add(time.Hour)
	other := license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-9"}, Features: []string{"audit"}}
	for _, c := range []struct {
		name string
		id   string
		at   time.Time
		c    license.ValidationRequest
		want license.ValidationCode
	}{
		{"expired, another type, unassigned, missing", l.ID, late, license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-9"}, Software: "user", Features: []string{"audit"}}, license.CodeExpired},
		{"another type, unassigned, missing", l.ID, subValT0, license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-9"}, Software: "user", Features: []string{"audit"}}, license.CodeOutsideRestrictions},
		{"unassigned, missing", l.ID, subValT0, other, license.CodeNoAllocation},
		{"unassigned license, missing", free.ID, subValT0, other, license.CodeNoAllocation},
		{"missing only", l.ID, subValT0, license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-1"}, Features: []string{"audit"}}, license.CodeEntitlementsMissing},
	} {
		e.clock.Set(c.at)
		assert.Equal(t, c.want, e.validate(c.id, "", c.c).Code, c.name)
	}
	e.clock.Set(subValT0)
	_, err = e.svc.Suspend(e.ctx, subMSP, l.ID, "")
	require.NoError(t, err)
	e.clock.Set(late)
	assert.Equal(t, license.CodeSuspended, e.validate(l.ID, "", other).Code, "suspended and expired: suspended")
}

func subValTestTerms(t *testing.T, newStore Factory, _ Features) {
	e := newSubValEnv(t, newStore)
	l := subBuy(t, e.svc, subMSP, subscription.PerComputer, 1, subscription.Monthly).Licenses[0]
	viewer := license.Actor{Company: subMSP.Company, Email: "v@msp-a.example", Role: license.Viewer}
	editor := license.Actor{Company: subMSP.Company, Email: "e@msp-a.example", Role: license.Editor}
	before := subValSnap(t, e.st, subMSP.Company)
	for _, c := range []struct {
		field string
		in    subscription.TermsInput
	}{
		{"entitlements", subscription.TermsInput{Entitlements: []string{"ok", ""}}},
		{"entitlements", subscription.TermsInput{Entitlements: []string{strings.Repeat("x", license.MaxEntitlementLength+1)}}},
		{"entitlements", subscription.TermsInput{Entitlements: []string{"two words"}}},
		{"grace_days", subscription.TermsInput{GraceDays: -1}},
		{"grace_days", subscription.TermsInput{GraceDays: subscription.MaxGraceDays + 1}},
	} {
		_, err := e.svc.SetTerms(e.ctx, subMSP, l.ID, c.in)
		requireCode(t, err, license.Invalid, c.field)
	}
	for _, a := range []license.Actor{viewer, editor} {
		_, err := e.svc.SetTerms(e.ctx, a, l.ID, subscription.TermsInput{})
		requireCode(t, err, license.Forbidden, "role")
		_, err = e.svc.Suspend(e.ctx, a, l.ID, "")
		requireCode(t, err, license.Forbidden, "role")
	}
	_, err := e.svc.SetTerms(e.ctx, subMSP, license.NewID(), subscription.TermsInput{})
	requireCode(t, err, license.NotFound, "license")
	_, err = e.svc.SetTerms(e.ctx, subOther, l.ID, subscription.TermsInput{})
	requireCode(t, err, license.NotFound, "license")
	_, err = e.svc.Unsuspend(e.ctx, subMSP, l.ID)
	requireCode(t, err, license.Conflict, "suspended")
	_, err = e.svc.Validate(e.ctx, subMSP, l.ID, license.ValidationRequest{Features: []string{" "}})
	requireCode(t, err, license.Invalid, "consumer.features")
	_, err = e.svc.Validate(e.ctx, subMSP, "nope", license.ValidationRequest{})
	requireCode(t, err, license.Invalid, "license")
	_, err = e.svc.ValidateKey(e.ctx, subMSP, "ABCD", license.ValidationRequest{Consumer: license.Consumer{CPUs: -1}})
	requireCode(t, err, license.Invalid, "consumer.cpus")
	// Subscription licenses are assigned, never allocated on validation.
	_, err = e.svc.Validate(e.ctx, subMSP, l.ID, license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-1"}, Allocate: true})
	requireCode(t, err, license.Invalid, "allocate")
	_, err = e.svc.ValidateKey(e.ctx, subMSP, "ABCD", license.ValidationRequest{Consumer: license.Consumer{Asset: "pc-1"}, Allocate: true})
	requireCode(t, err, license.Invalid, "allocate")
	require.Equal(t, before, subValSnap(t, e.st, subMSP.Company), "refused changes change nothing")

	tm, err := e.svc.SetTerms(e.ctx, subMSP, l.ID, subscription.TermsInput{Entitlements: []string{"sso", " sso", "backup"}, GraceDays: 3})
	require.NoError(t, err)
	assert.Equal(t, []string{"sso", "backup"}, tm.Entitlements)
	_, err = e.svc.Suspend(e.ctx, subMSP, l.ID, "unpaid")
	require.NoError(t, err)
	_, err = e.svc.Suspend(e.ctx, subMSP, l.ID, "again")
	requireCode(t, err, license.Conflict, "suspended")
	tm, err = e.svc.Unsuspend(e.ctx, subMSP, l.ID)
	require.NoError(t, err)
	assert.False(t, tm.Suspended)
	assert.Equal(t, []string{"sso", "backup"}, tm.Entitlements, "unsuspending keeps the terms")
	got, err := e.svc.Terms(e.ctx, subMSP, l.ID)
	require.NoError(t, err)
	assert.Equal(t, tm, got)
	evs := subEvents(t, e.st, subMSP.Company, subscription.EventTermsChanged, subscription.EventSuspended, subscription.EventUnsuspended)
	var types []eventlog.Type
	for _, ev := range evs {
		types = append(types, ev.Type)
		assert.Equal(t, l.ID, ev.Subject)
	}
	assert.Equal(t, []eventlog.Type{subscription.EventTermsChanged, subscription.EventSuspended, subscription.EventUnsuspended}, types)
	// Another tenant neither sees nor validates the license.
	v, err := e.svc.Validate(e.ctx, subOther, l.ID, license.ValidationRequest{})
	require.NoError(t, err)
	assert.Equal(t, license.CodeNotFound, v.Code)
}

func subValTestRateLimited(t *testing.T, newStore Factory, _ Features) {
	e := newSubValEnv(t, newStore)
	bought, err := e.svc.Purchase(e.ctx, subMSP, subscription.Purchase{Type: subscription.PerComputer, Quantity: 2, Period: subscription.Monthly, UnitPrice: subPrice, ManualActivation: true})
	require.NoError(t, err)
	l, key, other := bought.Licenses[0], bought.Keys[0], bought.Keys[1]
	cs := &countingStore{Store: e.st}
	svc := subscription.New(cs, e.clock)
	svc.Limiter = license.NewTokenBucket(1, 2)
	pc := license.Consumer{Asset: "pc-1"}

	// Activations per key: a burst of 2, then refused without a transaction.
	_, err = svc.Activate(e.ctx, subMSP, subscription.Activation{Key: key})
	require.NoError(t, err)
	_, err = svc.Activate(e.ctx, subMSP, subscription.Activation{Key: key})
	requireCode(t, err, license.Conflict, "key") // already activated: the attempt still counts
	opens, before := cs.count(), subValSnap(t, e.st, subMSP.Company)
	_, err = svc.Activate(e.ctx, subMSP, subscription.Activation{Key: key})
	requireCode(t, err, license.RateLimited, "")
	assert.Equal(t, opens, cs.count(), "a refused activation opens no transaction")
	assert.Equal(t, before, subValSnap(t, e.st, subMSP.Company))
	// Another key has its own bucket; guessing keys is limited per key.
	_, err = svc.Activate(e.ctx, subMSP, subscription.Activation{Key: other})
	require.NoError(t, err)

	// Validations per license (by ID) and per key hash (by key).
	for range 2 {
		_, err = svc.Validate(e.ctx, subMSP, l.ID, license.ValidationRequest{Consumer: pc})
		require.NoError(t, err)
		_, err = svc.ValidateKey(e.ctx, subMSP, key, license.ValidationRequest{Consumer: pc})
		require.NoError(t, err)
	}
	opens, before = cs.count(), subValSnap(t, e.st, subMSP.Company)
	for range 3 {
		_, err = svc.Validate(e.ctx, subMSP, l.ID, license.ValidationRequest{Consumer: pc})
		requireCode(t, err, license.RateLimited, "")
		_, err = svc.ValidateKey(e.ctx, subMSP, key, license.ValidationRequest{Consumer: pc})
		requireCode(t, err, license.RateLimited, "")
	}
	assert.Equal(t, opens, cs.count(), "refused validations open no transaction")
	assert.Equal(t, before, subValSnap(t, e.st, subMSP.Company))
	e.clock.Advance(time.Second)
	v, err := svc.Validate(e.ctx, subMSP, l.ID, license.ValidationRequest{Consumer: pc})
	require.NoError(t, err)
	assert.Equal(t, license.CodeNoAllocation, v.Code, "a token refilled after a second")
}
