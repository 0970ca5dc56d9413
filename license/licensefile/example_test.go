package licensefile_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/licensekit/licensekit/license/licensefile"
)

func Example() {
	// The vendor, once: generate a key pair; ship the public key in the product.
	kid, pub, priv, _ := licensefile.GenerateKey()

	// The vendor, per customer: issue a file for one machine.
	file, _ := licensefile.Issue(licensefile.Claims{
		LicenseID: "L-1001", Licensee: "Acme", Product: "backup",
		Entitlements: []string{"sso"}, Fingerprint: "machine-42",
		IssuedAt:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		ExpiresAt: time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}, kid, priv)

	// The product, at start-up, offline.
	v := &licensefile.Verifier{
		Keys: map[string]ed25519.PublicKey{kid: pub},
		Now:  func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) },
	}
	res, err := v.Verify(file, licensefile.Request{Fingerprint: "machine-42", Entitlements: []string{"sso"}})
	fmt.Println(res.Claims.Licensee, err)
	_, err = v.Verify(file, licensefile.Request{Fingerprint: "machine-7"})
	fmt.Println(err)
	// Output:
	// Acme <nil>
	// licensefile: fingerprint_mismatch: the license was issued for another machine
}
