package client_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"time"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/client"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

// vendor is what the examples run against: a reference server in this
// process with an installed-instance pool and a concurrent-user pool of 2
// licenses each, and an API key for the product.
type vendor struct {
	URL, Key        string
	Installs, Seats string
	close           func()
	publicKeys      map[string]ed25519.PublicKey
	signingKey      ed25519.PrivateKey
	signingKeyID    string
}

func exampleVendor() *vendor {
	ctx := context.Background()
	store := memory.New()
	h, err := lkhttp.New(lkhttp.Config{Store: store, LicenseKey: vendorKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	owner := license.Actor{Company: license.NewID(), Email: "vendor@example.com", Role: license.Owner}
	if _, err := (&billing.Service{Store: store}).CreateCompany(ctx, owner, "Vendor"); err != nil {
		panic(err)
	}
	pools := &pool.Service{Store: store}
	mk := func(metric license.Metric) string {
		p, err := pools.Create(ctx, owner, pool.CreateRequest{Spec: pool.Spec{Name: "Acme CAD " + string(metric), Model: license.Perpetual,
			Metric: metric, Software: []string{"acme-cad"}, Entitlements: []string{"export"}}})
		if err != nil {
			panic(err)
		}
		if _, err := pools.AddTransaction(ctx, owner, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 2}); err != nil {
			panic(err)
		}
		return p.ID
	}
	k, err := lkhttp.IssueKey(ctx, store, license.SystemClock{}, owner.Company, "product@example.com", license.Editor, "product", license.SystemEmail)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	pub := vendorKey.Public().(ed25519.PublicKey)
	return &vendor{URL: srv.URL, Key: k.Key, Installs: mk(license.InstalledInstance), Seats: mk(license.ConcurrentUser), close: srv.Close,
		publicKeys: vendorKeys(), signingKey: vendorKey, signingKeyID: licensefile.KeyID(pub)}
}

// machine is the consumer of the examples (a real product leaves it out:
// the consumer is then this machine's Fingerprint).
var machine = client.WithConsumer(client.Consumer{User: "designer-1", Fingerprint: "3f1c9a0e5b7d2c48a6e0f1b2c3d4e5f6"})

func ExampleNew() {
	v := exampleVendor()
	defer v.close()
	c, err := client.New(v.URL, client.WithAPIKey(v.Key), client.WithProduct("acme-cad", "export"), machine)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("runs as", c.Consumer().User)
	// Output: runs as designer-1
}

func ExampleClient_Activate() {
	v := exampleVendor()
	defer v.close()
	c, _ := client.New(v.URL, client.WithAPIKey(v.Key), client.WithProduct("acme-cad", "export"), machine)
	ans, err := c.Activate(context.Background(), client.Pool(v.Installs))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ans.Valid, ans.Code, "offline for", ans.OfflineUntil.Sub(ans.CheckedAt).Round(time.Hour))
	// Output: true valid offline for 24h0m0s
}

func ExampleClient_Validate() {
	v := exampleVendor()
	defer v.close()
	c, _ := client.New(v.URL, client.WithAPIKey(v.Key), client.WithProduct("acme-cad", "export"), machine)
	ans, _ := c.Validate(context.Background(), client.Pool(v.Installs))
	fmt.Println(ans.Valid, ans.Code) // not activated yet
	_, _ = c.Activate(context.Background(), client.Pool(v.Installs))
	ans, _ = c.Validate(context.Background(), client.Pool(v.Installs))
	fmt.Println(ans.Valid, ans.Code)
	// The same machine asking for a feature the customer did not buy.
	more, _ := client.New(v.URL, client.WithAPIKey(v.Key), client.WithProduct("acme-cad", "export", "render"), machine)
	ans, _ = more.Validate(context.Background(), client.Pool(v.Installs))
	fmt.Println(ans.Valid, ans.Code, ans.Missing)
	// Output:
	// false no_allocation
	// true valid
	// false entitlements_missing [render]
}

func ExampleClient_Deactivate() {
	v := exampleVendor()
	defer v.close()
	c, _ := client.New(v.URL, client.WithAPIKey(v.Key), machine)
	ctx := context.Background()
	_, _ = c.Activate(ctx, client.Pool(v.Installs))
	if err := c.Deactivate(ctx, client.Pool(v.Installs)); err != nil {
		fmt.Println(err)
		return
	}
	ans, _ := c.Validate(ctx, client.Pool(v.Installs))
	fmt.Println(ans.Code)
	// Output: no_allocation
}

func ExampleClient_Lease() {
	v := exampleVendor()
	defer v.close()
	c, _ := client.New(v.URL, client.WithAPIKey(v.Key), machine)
	seat, err := c.Lease(context.Background(), v.Seats) // heartbeats in the background
	if err != nil {
		fmt.Println(err)
		return
	}
	held, _ := seat.Held()
	fmt.Println("held:", held)
	go func() {
		for e := range seat.Events() { // renewed, missed, lost, regained
			_ = e
		}
	}()
	if err := seat.Close(); err != nil { // gives the seat back
		fmt.Println(err)
	}
	held, _ = seat.Held()
	fmt.Println("held:", held)
	// Output:
	// held: true
	// held: false
}

func ExampleClient_Borrow() {
	v := exampleVendor()
	defer v.close()
	c, _ := client.New(v.URL, client.WithAPIKey(v.Key), client.WithPublicKeys(v.publicKeys), machine)
	ctx := context.Background()
	b, err := c.Borrow(ctx, v.Seats, 7) // a seat for a week offline
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("borrowed for", b.ExpiresAt.Sub(time.Now()).Round(24*time.Hour))
	res, err := c.VerifyBorrowed(v.Seats) // works offline, after a restart too (WithState)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("file for", res.Claims.Product)
	fmt.Println(c.Return(ctx, v.Seats)) // back early
	// Output:
	// borrowed for 168h0m0s
	// file for acme-cad
	// <nil>
}

func ExampleClient_VerifyFile() {
	v := exampleVendor()
	defer v.close()
	file, _ := licensefile.Issue(licensefile.Claims{LicenseID: "ACME-1", Product: "acme-cad", Entitlements: []string{"export"},
		IssuedAt: time.Now(), ExpiresAt: time.Now().Add(365 * 24 * time.Hour)}, v.signingKeyID, v.signingKey)
	c, _ := client.New(v.URL, client.WithPublicKeys(v.publicKeys), machine)
	res, err := c.VerifyFile(file, licensefile.Request{Entitlements: []string{"export"}})
	fmt.Println(res.Claims.LicenseID, err)
	_, other, _ := ed25519.GenerateKey(nil)
	forged, _ := licensefile.Issue(licensefile.Claims{LicenseID: "ACME-1", Product: "acme-cad", IssuedAt: time.Now()}, "not-the-vendor", other)
	_, err = c.VerifyFile(forged, licensefile.Request{})
	fmt.Println(err)
	// Output:
	// ACME-1 <nil>
	// licensefile: unknown_key: signed with unknown key "not-the-vendor"
}

func ExampleFingerprintOf() {
	fmt.Println(client.FingerprintOf("0a1b2c3d4e5f", "acme-cad"))
	fmt.Println(client.FingerprintOf("0a1b2c3d4e5f", "acme-cad") == client.FingerprintOf("0a1b2c3d4e5f", "other-product"))
	// Output:
	// 29d0ad6da925bd0b7f4aceead4a368c1
	// false
}
