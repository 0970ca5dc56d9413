package licensekit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lkhttp "github.com/licensekit/licensekit/adapters/http"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/memory"
)

// Example_embedding runs embed, the README's "Embedding" snippet (all of
// embedding_test.go after its package clause), on a fresh SQLite file.
func Example_embedding() {
	dir, err := os.MkdirTemp("", "licensekit-embedding")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := embed(context.Background(), filepath.Join(dir, "licensekit.db")); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// pool: 25 total, 1 allocated, 24 available
	// site: 30 licenses, 10 available, adds 25.00 EUR a month
	// decrease by 11: below_enrolled
}

// The README's "Embedding" code block is embedding_test.go without its
// package clause, so the snippet a reader copies is the code Example_embedding
// compiles and runs.
func TestREADMEEmbeddingSnippetIsTheExample(t *testing.T) {
	snippetIsFile(t, "## Embedding", "embedding_test.go")
}

// snippetIsFile fails unless the first go block under heading in README.md
// is file without its package clause.
func snippetIsFile(t *testing.T, heading, file string) {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippet, err := codeBlockAfter(string(readme), heading)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const clause = "package licensekit_test\n\n"
	code, ok := strings.CutPrefix(string(src), clause)
	if !ok {
		t.Fatalf("%s does not start with %q", file, clause)
	}
	if snippet != code {
		line, inREADME, inExample := diffLine(snippet, code)
		t.Errorf("README.md's %s snippet differs from %s after its package clause; first difference at line %d:\nREADME:  %q\nexample: %q",
			strings.TrimPrefix(heading, "## "), file, line, inREADME, inExample)
	}
}

// Example_forVendors runs runLicensed, the README's "For vendors" snippet
// (vendors_test.go after its package clause), against the reference API in
// this process.
func Example_forVendors() {
	ctx := context.Background()
	store := memory.New()
	h, err := lkhttp.New(lkhttp.Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	vendor := license.Actor{Company: license.NewID(), Email: "licensing@vendor.example", Role: license.Owner}
	pools := &pool.Service{Store: store}
	p, err := pools.Create(ctx, vendor, pool.CreateRequest{Spec: pool.Spec{Name: "Acme CAD", Model: license.Perpetual,
		Metric: license.ConcurrentUser, Software: []string{"acme-cad"}, Entitlements: []string{"export"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := pools.AddTransaction(ctx, vendor, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 5}); err != nil {
		fmt.Println(err)
		return
	}
	key, err := lkhttp.IssueKey(ctx, store, license.SystemClock{}, vendor.Company, "product@vendor.example", license.Editor, "", license.SystemEmail)
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "licensekit-vendor")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	seats := func() int64 {
		pane, _ := pools.Status(ctx, vendor, p.ID)
		return pane.Counts.Allocated
	}
	err = runLicensed(ctx, srv.URL, key.Key, p.ID, filepath.Join(dir, "license.json"), func(context.Context) error {
		fmt.Println("working; seats taken:", seats())
		return nil
	})
	fmt.Println("done:", err, "; seats taken:", seats())
	// Output:
	// working; seats taken: 1
	// done: <nil> ; seats taken: 0
}

// The README's "For vendors" code block is vendors_test.go without its
// package clause.
func TestREADMEVendorSnippetIsTheExample(t *testing.T) {
	snippetIsFile(t, "## For vendors", "vendors_test.go")
}

// codeBlockAfter returns the body of the first ```go block after heading in
// markdown, up to the next heading of the same level.
func codeBlockAfter(markdown, heading string) (string, error) {
	_, section, ok := strings.Cut(markdown, "\n"+heading+"\n")
	if !ok {
		return "", fmt.Errorf("no %q heading", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```go\n")
	if !ok {
		return "", fmt.Errorf("no go code block under %q", heading)
	}
	body, _, ok := strings.Cut(block, "\n```\n")
	if !ok {
		return "", fmt.Errorf("the go code block under %q is not closed", heading)
	}
	return body + "\n", nil
}

// diffLine returns the first line (1-based) where a and b differ, and those lines.
func diffLine(a, b string) (int, string, string) {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y || i >= len(la) || i >= len(lb) {
			return i + 1, x, y
		}
	}
	return 0, "", ""
}

// The rule the README states: billing refuses a company that was never
// created (not_found, nothing written), pools work for any company ID.
func TestBillingNeedsItsCompanyPoolsDoNot(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	admin := license.Actor{Company: license.NewID(), Email: "ann@example.com", Role: license.Admin}
	price, err := license.ParseMoney("2.50", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	sites := &billing.Service{Store: store}
	newSite := billing.NewSite{Name: "Helsinki", Plan: "business", UnitPrice: price, PaymentType: billing.MonthlyInvoice}

	_, err = sites.CreateSite(ctx, admin, newSite)
	if license.ErrorCode(err) != license.NotFound {
		t.Fatalf("a site before CreateCompany: got %v, want not_found", err)
	}
	if got, err := sites.Sites(ctx, admin); err != nil || len(got) != 0 {
		t.Fatalf("the refused site was written: %v, %v", got, err)
	}

	pools := &pool.Service{Store: store}
	if _, err := pools.Create(ctx, admin, pool.CreateRequest{Spec: pool.Spec{Name: "Office", Model: license.Perpetual,
		Metric: license.NamedUser, Software: []string{"Office 2026"}}}); err != nil {
		t.Fatalf("a pool without a company record: %v", err)
	}

	if _, err := sites.CreateCompany(ctx, admin, "Acme MSP"); err != nil {
		t.Fatal(err)
	}
	if _, err := sites.CreateSite(ctx, admin, newSite); err != nil {
		t.Fatalf("a site after CreateCompany: %v", err)
	}
}
