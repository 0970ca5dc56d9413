// Package spec reads the OpenAPI document the REST adapter serves, in process,
// for the test that fails when the committed document is stale.
package spec

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/storage/memory"
)

// Served returns the document GET /openapi.json answers, byte for byte, from
// a handler over an empty memory store (the document depends on the route
// table only).
func Served() ([]byte, error) {
	h, err := lkhttp.New(lkhttp.Config{Store: memory.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET /openapi.json answered %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes(), nil
}
