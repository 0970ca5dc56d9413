package license_test

import (
	"errors"
	"fmt"

	"github.com/licensekit/licensekit/license"
)

func ExampleMoney_Round() {
	price, _ := license.ParseMoney("4.995", "USD")
	line := price.Mul(3) // 14.985 USD, exact
	fmt.Println(line.Round(license.HalfAwayFromZero))
	fmt.Println(line.Round(license.HalfEven))
	// Output:
	// 14.99 USD
	// 14.98 USD
}

func ExampleMoney_Add() {
	a, _ := license.ParseMoney("10", "USD")
	b, _ := license.ParseMoney("10", "EUR")
	_, err := a.Add(b)
	fmt.Println(license.ErrorCode(err))
	// Output: currency_mismatch
}

func ExampleError() {
	err := fmt.Errorf("allocate: %w", license.Errorf(license.InsufficientLicenses, "pool_id", "no free license in pool %q", "Office"))
	fmt.Println(errors.Is(err, license.ErrInsufficientLicenses), license.ErrorField(err))
	// Output: true pool_id
}
