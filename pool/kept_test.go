package pool_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

// Every pool save keeps its value for the next load (storage.SaveKept), which
// in tests checks that the value is what decoding the record gives back.
// Prices are the value most likely to differ in form ("12.5" is stored as
// "12.50"): they are kept in the form the record gives back, and read back
// equal.
func TestPoolsWithPricesAreKeptWhole(t *testing.T) {
	ctx := context.Background()
	s := &pool.Service{Store: memory.New()}
	admin := license.Actor{Company: "acme", Email: "a@acme.example", Role: license.Admin}
	p, err := s.Create(ctx, admin, pool.CreateRequest{Spec: pool.Spec{Name: "Office", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"office"}}})
	require.NoError(t, err)
	for _, a := range []string{"12.50", "12.5", "100", "100.00", "0.10", "7"} {
		price := license.NewMoney(decimal.RequireFromString(a), "USD")
		_, err := s.AddTransaction(ctx, admin, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 1, UnitPrice: &price})
		require.NoError(t, err)
	}
	_, err = s.Allocate(ctx, admin, p.ID, pool.AllocateRequest{Consumer: license.Consumer{Asset: "pc"}})
	require.NoError(t, err)
	got, err := s.Get(ctx, admin, p.ID)
	require.NoError(t, err)
	var prices []string
	for _, tr := range got.Transactions {
		prices = append(prices, tr.UnitPrice.AmountString())
	}
	require.Equal(t, []string{"12.50", "12.50", "100.00", "100.00", "0.10", "7.00"}, prices)
}
