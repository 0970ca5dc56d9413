package license

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is an ISO 4217 alphabetic code such as "USD".
type Currency string

// minorUnits lists ISO 4217 minor units of currencies whose exponent is not 2,
// plus the common 2-digit ones so that unknown codes can be refused.
var minorUnits = map[Currency]int32{
	// 0 decimals
	"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "XAF": 0, "XOF": 0, "PYG": 0, "UGX": 0, "HUF": 2,
	// 3 decimals
	"KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
	// 2 decimals
	"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2,
	"CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2, "HKD": 2, "CNY": 2, "INR": 2, "BRL": 2, "MXN": 2,
	"ZAR": 2, "TRY": 2, "ILS": 2, "AED": 2, "SAR": 2, "RON": 2, "BGN": 2, "THB": 2, "MYR": 2,
	"PHP": 2, "IDR": 2, "TWD": 2, "ARS": 2, "COP": 2, "EGP": 2, "NGN": 2, "KES": 2, "UAH": 2,
}

// ParseCurrency validates and upper-cases an ISO 4217 code known to licensekit.
func ParseCurrency(s string) (Currency, error) {
	c := Currency(strings.ToUpper(strings.TrimSpace(s)))
	if _, ok := minorUnits[c]; !ok {
		return "", Errorf(Invalid, "currency", "unknown currency %q: use an ISO 4217 code such as USD, EUR or JPY", s)
	}
	return c, nil
}

// Valid reports whether c is a known ISO 4217 code.
func (c Currency) Valid() bool { _, ok := minorUnits[c]; return ok }

// MinorUnits returns the number of decimal places of the currency's minor unit
// (USD 2, JPY 0, KWD 3). It panics for an unknown currency; validate first.
func (c Currency) MinorUnits() int32 {
	u, ok := minorUnits[c]
	if !ok {
		panic(fmt.Sprintf("license: unknown currency %q", string(c)))
	}
	return u
}

// Rounding is a rule for rounding to a currency's minor unit.
type Rounding string

const (
	// HalfAwayFromZero rounds 0.005 to 0.01 and -0.005 to -0.01 (the default,
	// commercial rounding).
	HalfAwayFromZero Rounding = "half_away_from_zero"
	// HalfEven rounds half to the even neighbour (banker's rounding).
	HalfEven Rounding = "half_even"
)

// Money is an exact decimal amount in one currency. The zero value is invalid
// (no currency); build one with NewMoney or ParseMoney.
type Money struct {
	Amount   decimal.Decimal
	Currency Currency
}

// NewMoney returns amount in currency c.
func NewMoney(amount decimal.Decimal, c Currency) Money { return Money{Amount: amount, Currency: c} }

// Bounds of amounts. An amount is read from text (ParseMoney, JSON) only when
// it is at most MaxAmountText characters long and, in full decimal notation,
// has at most MaxAmountDigits integer digits and at most the currency's
// MaxScale decimal places: "1e9999" or a number of a million digits is refused
// before it is ever expanded. Amounts a person enters (prices) are held to the
// tighter MaxInputDigits by Money.Check, so that anything licensekit computes
// from them (a price times a quantity, a sum of lines) still reads back.
const (
	MaxAmountText   = 64 // characters of an amount written as text
	MaxAmountDigits = 30 // integer digits of any amount read from text
	MaxInputDigits  = 12 // integer digits of an amount given as input (below one trillion)
	ExtraScale      = 4  // decimal places allowed beyond the currency's minor unit
)

// MaxScale is the most decimal places an amount in c may have: its minor unit
// plus ExtraScale (USD 6, JPY 4, KWD 7), so that unit prices may be finer than
// a cent. It panics for an unknown currency; validate first.
func (c Currency) MaxScale() int32 { return c.MinorUnits() + ExtraScale }

// ParseMoney parses a decimal string ("12.34", "1.5e3") in currency c, within
// the bounds above.
//
// Errors: invalid (field "currency": unknown currency; field "amount": not a
// decimal number, or out of bounds).
func ParseMoney(amount string, c string) (Money, error) {
	cur, err := ParseCurrency(c)
	if err != nil {
		return Money{}, err
	}
	amount = strings.TrimSpace(amount)
	if len(amount) > MaxAmountText {
		return Money{}, Errorf(Invalid, "amount", "the amount is %d characters long; the maximum is %d", len(amount), MaxAmountText)
	}
	d, err := decimal.NewFromString(amount)
	if err != nil {
		return Money{}, Errorf(Invalid, "amount", "amount %q is not a decimal number", amount)
	}
	m := Money{Amount: d, Currency: cur}
	if err := m.checkBounds("amount", MaxAmountDigits); err != nil {
		return Money{}, err
	}
	return m, nil
}

// Check validates an amount given as input, however it was built (ParseMoney,
// JSON, NewMoney): a known currency, at most MaxInputDigits integer digits and
// at most the currency's MaxScale decimal places. Services call it on every
// amount they accept; it does not judge the sign.
//
// Errors: invalid, naming field.
func (m Money) Check(field string) error {
	if !m.Currency.Valid() {
		return Errorf(Invalid, field, "%s needs a known ISO 4217 currency, not %q", field, m.Currency)
	}
	return m.checkBounds(field, MaxInputDigits)
}

// checkBounds refuses an amount with more than maxDigits integer digits or more
// than the currency's MaxScale decimal places. It never expands the number: it
// works on the coefficient and the exponent.
func (m Money) checkBounds(field string, maxDigits int) error {
	d := m.Amount
	if d.IsZero() {
		return nil
	}
	coef := d.Coefficient()
	coef.Abs(coef)
	// 2^400 has 121 digits, more than any amount within bounds writes: a
	// longer coefficient is refused before it is turned into text.
	if coef.BitLen() > 400 {
		return Errorf(Invalid, field, "%s has too many digits", field)
	}
	digits := len(coef.String())
	exp := int64(d.Exponent())
	if intDigits := int64(digits) + exp; intDigits > int64(maxDigits) {
		return Errorf(Invalid, field, "%s has more than %d digits before the decimal point", field, maxDigits)
	}
	if exp < 0 {
		// Trailing zeros of the coefficient do not count as decimal places.
		scale := -exp
		s := coef.String()
		for scale > 0 && len(s) > 1 && s[len(s)-1] == '0' {
			s, scale = s[:len(s)-1], scale-1
		}
		if max := int64(m.Currency.MaxScale()); scale > max {
			return Errorf(Invalid, field, "%s has more than %d decimal places (%d for %s)", field, max, max, m.Currency)
		}
	}
	return nil
}

// Zero returns zero in currency c.
func Zero(c Currency) Money { return Money{Amount: decimal.Zero, Currency: c} }

// Add returns m+o. Amounts in different currencies are never summed: the result
// is a currency_mismatch error.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, Errorf(CurrencyMismatch, "currency", "cannot add %s to %s: amounts are in different currencies", o.Currency, m.Currency)
	}
	return Money{Amount: m.Amount.Add(o.Amount), Currency: m.Currency}, nil
}

// Sub returns m-o, or a currency_mismatch error.
func (m Money) Sub(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, Errorf(CurrencyMismatch, "currency", "cannot subtract %s from %s: amounts are in different currencies", o.Currency, m.Currency)
	}
	return Money{Amount: m.Amount.Sub(o.Amount), Currency: m.Currency}, nil
}

// Mul returns m × n (exact, not rounded).
func (m Money) Mul(n int64) Money {
	return Money{Amount: m.Amount.Mul(decimal.NewFromInt(n)), Currency: m.Currency}
}

// MulDec returns m × d (exact, not rounded).
func (m Money) MulDec(d decimal.Decimal) Money {
	return Money{Amount: m.Amount.Mul(d), Currency: m.Currency}
}

// Round rounds to the currency's minor unit with rule r ("" means HalfAwayFromZero).
func (m Money) Round(r Rounding) Money {
	places := m.Currency.MinorUnits()
	var a decimal.Decimal
	switch r {
	case HalfEven:
		a = m.Amount.RoundBank(places)
	default:
		a = m.Amount.Round(places) // shopspring Round is half away from zero
	}
	return Money{Amount: a, Currency: m.Currency}
}

// Equal reports whether m and o have the same currency and numerically equal amounts.
func (m Money) Equal(o Money) bool { return m.Currency == o.Currency && m.Amount.Equal(o.Amount) }

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.Amount.IsZero() }

// String formats as "12.34 USD" with the currency's minor units.
func (m Money) String() string {
	if !m.Currency.Valid() {
		return m.Amount.String()
	}
	return m.Amount.StringFixed(m.Currency.MinorUnits()) + " " + string(m.Currency)
}

type moneyJSON struct {
	Amount   string   `json:"amount"`
	Currency Currency `json:"currency"`
}

// MarshalJSON writes {"amount":"12.34","currency":"USD"}; the amount is a string so
// that no JSON reader turns it into a float. It shows at least the currency's
// minor units ("75.00", "1234" JPY) and more digits only when the amount has
// them (a unit price of "2.1234").
func (m Money) MarshalJSON() ([]byte, error) {
	return json.Marshal(moneyJSON{Amount: m.AmountString(), Currency: m.Currency})
}

// Canonical returns m with its amount in the form reading m's JSON gives
// back: the same value, with as many decimal places as AmountString shows.
// Stores that keep a value beside its JSON (storage.SaveKept) need this form.
func (m Money) Canonical() Money {
	if d, err := decimal.NewFromString(m.AmountString()); err == nil {
		m.Amount = d
	}
	return m
}

// AmountString formats the amount with at least the currency's minor units.
func (m Money) AmountString() string {
	if !m.Currency.Valid() {
		return m.Amount.String()
	}
	places := m.Currency.MinorUnits()
	if m.Amount.Exponent() < -places {
		// More places than the minor units: as many as the amount needs,
		// trailing zeros dropped, but never fewer than the minor units.
		s := m.Amount.String()
		if dot := strings.IndexByte(s, '.'); dot >= 0 && int32(len(s)-dot-1) >= places {
			return s
		}
	}
	return m.Amount.StringFixed(places)
}

// UnmarshalJSON reads the form MarshalJSON writes, validating the currency.
func (m *Money) UnmarshalJSON(b []byte) error {
	var v moneyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return Errorf(Invalid, "amount", "money must be {\"amount\":\"12.34\",\"currency\":\"USD\"}")
	}
	p, err := ParseMoney(v.Amount, string(v.Currency))
	if err != nil {
		return err
	}
	*m = p
	return nil
}
