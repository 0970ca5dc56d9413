package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/adapters/http/client"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage/memory"
)

// buyLicenses is the README's "Go client" snippet: it buys 30 licenses for
// the site oulu with the API key key and prints the site's new total.
func buyLicenses(ctx context.Context, base, key, oulu string) error {
	c, err := client.New(base, key) // sends Authorization: Bearer key
	if err != nil {
		return err
	}
	rsp, err := c.PostV1SitesIdPurchaseWithResponse(ctx, oulu,
		&client.PostV1SitesIdPurchaseParams{IdempotencyKey: client.Ptr("buy-oulu-30")},
		client.PostV1SitesIdPurchaseJSONRequestBody{Quantity: client.Ptr(30)})
	if err != nil {
		return err
	}
	if err := client.Check(rsp, http.StatusOK); err != nil {
		return err // a *client.Error: status, code, detail and field of the problem
	}
	fmt.Println(rsp.JSON200.NewTotal)
	return nil
}

// The snippet against a server over a memory store: a company, its owner's
// key and a site with 20 licenses, created through the client; buying 30
// prints 50, and a viewer's key gets a typed 403.
func Example() {
	ctx := context.Background()
	store := memory.New()
	h, err := lkhttp.New(lkhttp.Config{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	company := license.NewID()
	owner := license.Actor{Company: company, Email: "olga@example.com", Role: license.Owner}
	if _, err := (&billing.Service{Store: store}).CreateCompany(ctx, owner, "Example Oy"); err != nil {
		panic(err)
	}
	key, err := lkhttp.IssueKey(ctx, store, license.SystemClock{}, company, owner.Email, license.Owner, "example", license.SystemEmail)
	if err != nil {
		panic(err)
	}
	c, err := client.New(srv.URL, key.Key)
	if err != nil {
		panic(err)
	}
	site, err := c.PostV1SitesWithResponse(ctx, nil, client.PostV1SitesJSONRequestBody{Name: client.Ptr("Oulu"),
		Plan: client.Ptr("business"), PaymentType: client.Ptr(client.BillingNewSiteInputPaymentTypeMonthlyInvoice), Group: client.Ptr("Nordics"),
		UnitPrice: &client.LicenseMoney{Amount: "2.50", Currency: "USD"}, Licenses: client.Ptr(20)})
	if err != nil {
		panic(err)
	}
	if err := client.Check(site, http.StatusCreated); err != nil {
		panic(err)
	}
	if err := buyLicenses(ctx, srv.URL, key.Key, site.JSON201.Id.String()); err != nil {
		panic(err)
	}
	viewer, err := c.PostV1ApikeysWithResponse(ctx, nil, client.PostV1ApikeysJSONRequestBody{
		Email: client.Ptr("vic@example.com"), Role: client.Ptr(client.ApikeyNewInputRoleViewer)})
	if err != nil {
		panic(err)
	}
	if err := client.Check(viewer, http.StatusCreated); err != nil {
		panic(err)
	}
	err = buyLicenses(ctx, srv.URL, *viewer.JSON201.Key, site.JSON201.Id.String())
	fmt.Println(err.(*client.Error).Status, err.(*client.Error).Code)
	// Output:
	// 50
	// 403 forbidden
}

// The README's "Go client" code block is the body of buyLicenses, with base,
// key and oulu read from the environment as in the quick start.
func TestREADMEGoClientSnippetIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Go client\n")
	if !ok {
		t.Fatal(`README.md has no "### Go client" section`)
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal(`README.md's "Go client" section has no Go code block`)
	}
	snippet, _, _ := strings.Cut(block, "```\n")
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(src), "func buyLicenses(ctx context.Context, base, key, oulu string) error {\n")
	body, _, _ = strings.Cut(body, "\treturn nil\n}\n")
	var code strings.Builder
	for _, l := range strings.SplitAfter(body, "\n") {
		code.WriteString(strings.TrimPrefix(l, "\t"))
	}
	want := strings.NewReplacer(`client.New(base, key) // sends Authorization: Bearer key`,
		`client.New("http://127.0.0.1:8080", os.Getenv("LK")) // sends Authorization: Bearer $LK`,
		`PostV1SitesIdPurchaseWithResponse(ctx, oulu,`, `PostV1SitesIdPurchaseWithResponse(ctx, os.Getenv("OULU"),`).Replace(code.String())
	if snippet != want {
		t.Fatalf("README.md's Go client snippet differs from buyLicenses in example_test.go:\nREADME:\n%s\nexample:\n%s", snippet, want)
	}
}
