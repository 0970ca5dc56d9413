package pool_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

func requireInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
	assert.Equal(t, field, license.ErrorField(err), "%v", err)
}

func TestSpecRefusesControlAndBidiInEveryTextField(t *testing.T) {
	base := func() pool.Spec {
		return pool.Spec{Name: "Office", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"office"},
			LeaseTTL: time.Minute, Automatic: pool.Automatic{Enabled: true, Rule: pool.RuleServiceContract, Contract: "C-1"}}
	}
	require.NoError(t, base().Validate())
	set := map[string]func(*pool.Spec, string){
		"name":                      func(s *pool.Spec, v string) { s.Name = v },
		"software":                  func(s *pool.Spec, v string) { s.Software = []string{v} },
		"supply_contract":           func(s *pool.Spec, v string) { s.SupplyContract = v },
		"license_agreement":         func(s *pool.Spec, v string) { s.LicenseAgreement = v },
		"description":               func(s *pool.Spec, v string) { s.Description = v },
		"responsible.owner":         func(s *pool.Spec, v string) { s.Responsible.Owner = v },
		"automatic.contract":        func(s *pool.Spec, v string) { s.Automatic.Contract = v },
		"restrictions.location":     func(s *pool.Spec, v string) { s.Restrictions.Locations = []string{v} },
		"restrictions.organisation": func(s *pool.Spec, v string) { s.Restrictions.Organisations = []string{v} },
	}
	for field, f := range set {
		for _, bad := range []string{"a\x00b", "a\u202Eb", "a\u2066b", "a\x1bb", "a\u0085b"} {
			s := base()
			f(&s, bad)
			requireInvalidField(t, s.Validate(), field)
		}
		s := base()
		f(&s, "a\nb")
		if field == "description" {
			require.NoError(t, s.Validate(), "a description may have several lines")
		} else {
			requireInvalidField(t, s.Validate(), field)
		}
	}
	// The consumer is checked by every call that takes one, before anything is read.
	svc := &pool.Service{Store: memory.New()}
	viewer := license.Actor{Company: "acme", Email: "vic@acme.example", Role: license.Viewer}
	for field, c := range map[string]license.Consumer{
		"consumer.user":         {User: "ann\u202E"},
		"consumer.fingerprint":  {Fingerprint: "fp\x1b"},
		"consumer.asset_groups": {AssetGroups: []string{"g\x00"}},
	} {
		_, err := svc.Validate(context.Background(), viewer, license.NewID(), license.ValidationRequest{Consumer: c})
		requireInvalidField(t, err, field)
	}
}

func TestServiceRefusesUnboundedPricesAndBadTextChangingNothing(t *testing.T) {
	ctx := context.Background()
	s := &pool.Service{Store: memory.New(), Clock: licensetest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}
	admin := license.Actor{Company: "acme", Email: "lia@acme.example", Role: license.LicenseAdmin}
	p, err := s.Create(ctx, admin, pool.CreateRequest{Spec: pool.Spec{Name: "Office", Model: license.Perpetual, Metric: license.NamedUser, Software: []string{"office"}}})
	require.NoError(t, err)
	before, err := s.Get(ctx, admin, p.ID)
	require.NoError(t, err)

	for _, amount := range []decimal.Decimal{decimal.New(1, 9999), decimal.New(1, -9999), decimal.RequireFromString("1" + strings.Repeat("0", 5000)), decimal.RequireFromString("0.0000001")} {
		price := license.NewMoney(amount, "USD")
		_, err := s.AddTransaction(ctx, admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1, UnitPrice: &price})
		requireInvalidField(t, err, "unit_price")
	}
	_, err = s.AddTransaction(ctx, admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1, Note: "n\u202Eote"})
	requireInvalidField(t, err, "note")
	_, err = s.AddComment(ctx, admin, p.ID, pool.CommentRequest{Text: "bad\x00comment"})
	requireInvalidField(t, err, "comment")
	_, err = s.AddComment(ctx, admin, p.ID, pool.CommentRequest{Text: "bad \u2067comment"})
	requireInvalidField(t, err, "comment")
	_, err = s.Create(ctx, admin, pool.CreateRequest{Spec: pool.Spec{Name: "Office\nFAKE", Model: license.Perpetual, Metric: license.NamedUser, Software: []string{"office"}}})
	requireInvalidField(t, err, "name")

	after, err := s.Get(ctx, admin, p.ID)
	require.NoError(t, err)
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	assert.JSONEq(t, string(b1), string(b2), "nothing changed")
	list, err := s.List(ctx, admin, pool.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, list, 1)

	c, err := s.AddComment(ctx, admin, p.ID, pool.CommentRequest{Text: "first line\nsecond line"})
	require.NoError(t, err)
	assert.Equal(t, "first line\nsecond line", c.Text)
}
