package license_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
)

func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
	assert.Equal(t, field, license.ErrorField(err), "%v", err)
}

func TestParseMoneyRefusesUnboundedAmounts(t *testing.T) {
	million := "1" + strings.Repeat("0", 1_000_000)
	for name, amount := range map[string]string{
		"huge exponent":       "1e9999",
		"huge exponent upper": "9E400",
		"tiny exponent":       "1e-9999",
		"million digits":      million,
		"million decimals":    "0." + strings.Repeat("1", 1_000_000),
		"31 integer digits":   "1" + strings.Repeat("0", 30),
		"too many decimals":   "1.1234567",
		"long text":           strings.Repeat("0", 100) + "1",
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := license.ParseMoney(amount, "USD")
			runtime.ReadMemStats(&after)
			requireInvalid(t, err, "amount")
			// Refusing must not expand the number: parsing a million digits or
			// 1e9999 would allocate hundreds of kilobytes.
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "refusing must not expand the number")

			var m license.Money
			b, _ := json.Marshal(map[string]string{"amount": amount, "currency": "USD"})
			requireInvalid(t, json.Unmarshal(b, &m), "amount")
			assert.True(t, m.Amount.IsZero(), "nothing decoded")
		})
	}
}

func TestParseMoneyAcceptsAmountsWithinBounds(t *testing.T) {
	for amount, cur := range map[string]string{
		"12.34": "USD", "2.123456": "USD", "1.500000000": "USD", // trailing zeros are not decimal places
		"1234.5678": "JPY", "1.1234567": "KWD", "1e3": "EUR", "-10.005": "USD",
		strings.Repeat("9", license.MaxAmountDigits) + ".99": "USD",
	} {
		m, err := license.ParseMoney(amount, cur)
		require.NoError(t, err, amount)
		assert.True(t, m.Amount.Equal(decimal.RequireFromString(amount)), amount)
	}
	_, err := license.ParseMoney("1.12345", "JPY")
	requireInvalid(t, err, "amount")
}

func TestMoneyCheckBoundsInput(t *testing.T) {
	ok := []string{"0", "999999999999.999999", "0.000001", "-5"}
	for _, a := range ok {
		require.NoError(t, license.NewMoney(decimal.RequireFromString(a), "USD").Check("unit_price"), a)
	}
	bad := []license.Money{
		license.NewMoney(decimal.RequireFromString("1000000000000"), "USD"), // 13 integer digits
		license.NewMoney(decimal.New(1, 9999), "USD"),
		license.NewMoney(decimal.New(1, -9999), "USD"),
		license.NewMoney(decimal.RequireFromString("0.0000001"), "USD"),
		license.NewMoney(decimal.RequireFromString("1"+strings.Repeat("0", 5000)), "USD"),
		license.NewMoney(decimal.RequireFromString("1"), "XXX"),
	}
	for _, m := range bad {
		requireInvalid(t, m.Check("unit_price"), "unit_price")
	}
}

func TestCheckTextRefusesControlAndBidiCharacters(t *testing.T) {
	bad := map[string]string{
		"NUL":                  "a\x00b",
		"newline":              "a\nb",
		"carriage return":      "a\rb",
		"tab":                  "a\tb",
		"escape":               "a\x1b[31mb",
		"DEL":                  "a\x7fb",
		"C1":                   "a\u0085b",
		"RLO":                  "invoice\u202Efdp.exe",
		"LRE":                  "a\u202Ab",
		"RLI":                  "a\u2067b",
		"PDI":                  "a\u2069b",
		"RLM":                  "a\u200Fb",
		"ALM":                  "a\u061Cb",
		"line separator":       "a\u2028b",
		"invalid UTF-8":        "a\xffb",
		"truncated UTF-8":      "a\xe2\x82",
		"too long":             strings.Repeat("é", 11),
		"much too long, bytes": strings.Repeat("x", 900_000),
	}
	for name, s := range bad {
		t.Run(name, func(t *testing.T) {
			requireInvalid(t, license.CheckLine("site.name", s, 10), "site.name")
			requireInvalid(t, license.CheckName("site.name", s, 10), "site.name")
		})
	}
	for _, s := range []string{"", "Acme Ltd", "Åsa Ødegård", "日本語", "שלום", "a\uFFFDb", strings.Repeat("é", 12)} {
		require.NoError(t, license.CheckLine("name", s, 12), "%q", s)
	}
	requireInvalid(t, license.CheckName("name", "", 10), "name")
}

func TestCheckTextAllowsLinesButNotOtherControls(t *testing.T) {
	for _, s := range []string{"line 1\nline 2", "a\tb", "windows\r\nline"} {
		require.NoError(t, license.CheckText("comment", s, 100), "%q", s)
	}
	for _, s := range []string{"a\x00b", "a\rb", "a\r", "x\u202Ey", "a\x1bb", "a\u2029b"} {
		requireInvalid(t, license.CheckText("comment", s, 100), "comment")
	}
}

func TestCheckEntitlementsRefusesBidiCharacters(t *testing.T) {
	requireInvalid(t, license.CheckEntitlements("entitlements", []string{"export\u202Epdf"}), "entitlements")
	requireInvalid(t, license.CheckEntitlements("entitlements", []string{"a\u2066b"}), "entitlements")
	require.NoError(t, license.CheckEntitlements("entitlements", []string{"export_pdf", "日本"}))
}
