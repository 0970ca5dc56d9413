package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

// Mount the API under a prefix of a product's own mux, issue a key for a
// company's owner, and preview a purchase over HTTP.
func Example() {
	ctx := context.Background()
	store := memory.New()
	clock := licensetest.NewClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))

	// The product's tenant and its owner (normally created once, at sign-up).
	company := license.NewID()
	owner := license.Actor{Company: company, Email: "ann@example.com", Role: license.Owner}
	b := &billing.Service{Store: store, Clock: clock}
	_, _ = b.CreateCompany(ctx, owner, "Acme")
	price, _ := license.ParseMoney("2.50", "USD")
	site, _ := b.CreateSite(ctx, owner, billing.NewSite{Name: "North", Plan: "Business", UnitPrice: price, PaymentType: billing.MonthlyInvoice})
	_, _ = b.Enroll(ctx, owner, billing.EnrollRequest{Site: site.ID, Devices: 20})
	key, _ := lkhttp.IssueKey(ctx, store, clock, company, owner.Email, license.Owner, "example", license.SystemEmail)

	api, _ := lkhttp.New(lkhttp.Config{Store: store, Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := http.NewServeMux()
	mux.Handle("/licensing/", http.StripPrefix("/licensing", api))

	req := httptest.NewRequest("POST", "/licensing/v1/sites/"+site.ID+"/purchase/preview", strings.NewReader(`{"quantity":30}`))
	req.Header.Set("Authorization", "Bearer "+key.Key)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)

	var q billing.PurchaseQuote
	_ = json.Unmarshal(rec.Body.Bytes(), &q)
	fmt.Println(rec.Code, "minimum", q.Minimum, "added cost", q.AddedCost, "estimated total", q.EstimatedTotal)

	// Without a key:
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/licensing/v1/sites", nil))
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// 200 minimum 20 added cost 25.00 USD estimated total 75.00 USD
	// 401 {"type":"https://licensekit.dev/problems/unauthenticated","title":"Missing or unknown API key","status":401,"detail":"send an API key as \"Authorization: Bearer lk_...\"","code":"unauthenticated","field":"Authorization"}
}

func ExampleStatusOf() {
	for _, c := range []license.Code{license.Invalid, license.NotFound, license.BelowEnrolled, license.CurrencyMismatch, license.Unavailable} {
		fmt.Println(c, lkhttp.StatusOf(c))
	}
	// Output:
	// invalid 400
	// not_found 404
	// below_enrolled 409
	// currency_mismatch 422
	// unavailable 503
}
