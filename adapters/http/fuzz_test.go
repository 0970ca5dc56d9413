package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// decodeOutcome checks the contract of DecodeJSON for one input: either a
// value decoded from exactly one valid JSON document, or an invalid (400) or too-large (413)
// error, never anything else and never a panic.
func decodeOutcome[T any](t *testing.T, data []byte, limit int64) {
	v, err := lkhttp.DecodeJSON[T](bytes.NewReader(data), limit, false)
	if err != nil {
		code := license.ErrorCode(err)
		if code != license.Invalid {
			// The only other outcome is the 413 protocol error.
			require.Contains(t, err.Error(), "exceeds", "unexpected error for %q: %v", data, err)
			require.Greater(t, int64(len(data)), limit)
		}
		return
	}
	require.LessOrEqual(t, int64(len(bytes.TrimSpace(data))), limit)
	// Accepted input is exactly one JSON value and the decoded value encodes.
	require.True(t, json.Valid(bytes.TrimSpace(data)), "accepted %q", data)
	_, err = json.Marshal(v)
	require.NoError(t, err)
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"quantity":30}`, `{"from":"a","to":"b","quantity":5}`, `{"quantity":1e3}`, `{"quantity":"5"}`,
		`{"name":"x","model":"perpetual","metric":"named_user","software":["a"]}`, `{"unit_price":{"amount":"1.5","currency":"usd"}}`,
		`{"quantity":5,"extra":1}`, `{} {}`, `[1,2]`, `null`, ``, `{"lease_ttl":1e30}`, "{\"name\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeOutcome[lkhttp.Quantity](t, data, 256)
		decodeOutcome[billing.TransferRequest](t, data, 256)
		decodeOutcome[billing.NewSite](t, data, 1024)
		decodeOutcome[pool.Spec](t, data, 4096)
		decodeOutcome[lkhttp.AllocateBody](t, data, 4096)
	})
}

func FuzzParseEventQuery(f *testing.F) {
	for _, s := range []string{
		"search=license&sort=time&desc=true&columns=type,count&limit=10",
		"sort=Event%20date&columns=Initiated%20by", "limit=-1", "limit=99999999999999999999", "cursor=%00%ff",
		"columns=type,type", "desc=yes", "types=license.purchase,,", "bogus=1", "search=a&search=b", "view=original",
	} {
		f.Add(s)
	}
	store := memory.New()
	company := license.NewID()
	actor := license.Actor{Company: company, Email: "ann@acme.example", Role: license.Owner}
	require.NoError(f, store.Update(context.Background(), func(tx storage.Tx) error {
		for i := range 5 {
			if _, err := tx.AppendEvent(context.Background(), eventlog.Event{ID: license.NewID(), Company: company,
				Time: testStart, Type: "license.purchase", Target: "North", Count: int64(i), Actor: actor.Email}); err != nil {
				return err
			}
		}
		return nil
	}))
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := lkhttp.ParseEventQuery(q)
		if err != nil {
			require.Equal(t, license.Invalid, license.ErrorCode(err), "%q: %v", raw, err)
			return
		}
		require.GreaterOrEqual(t, req.Limit, 0)
		require.LessOrEqual(t, req.Limit, eventlog.MaxLimit)
		for _, c := range req.Columns {
			require.True(t, c.Valid())
		}
		err = store.View(context.Background(), func(tx storage.Tx) error {
			_, err := eventlog.Query(context.Background(), tx, actor, req)
			if err != nil {
				return err
			}
			return eventlog.Export(context.Background(), tx, actor, eventlog.CurrentView, req, io.Discard)
		})
		if err != nil {
			require.Equal(t, license.Invalid, license.ErrorCode(err), "%q: %v", raw, err)
		}
	})
}

func FuzzParseVolumeQuery(f *testing.F) {
	for _, s := range []string{"search=oy&sort=seats&desc=true", "sort=nope", "desc=2", "format=xlsx", "search=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		vq, err := lkhttp.ParseVolumeQuery(q, "format")
		if err != nil {
			require.Equal(t, license.Invalid, license.ErrorCode(err))
			return
		}
		require.Contains(t, []string{"", "name", "seats", "usage", "created"}, string(vq.Sort))
	})
}

// FuzzRequestBodies sends arbitrary bodies to the license-management routes
// through the whole handler: never a 5xx, always a JSON answer, and a body the
// route refuses changes nothing.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{`{"quantity":5}`, `{"quantity":-1}`, `{"quantity":9223372036854775807}`, `{"from":"x","to":"y","quantity":1}`,
		`{"quantity":5,"x":1}`, `{`, `"`, `{"quantity":null}`, "\x00"} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(3), []byte(s))
	}
	store := memory.New()
	clock := licensetest.NewClock(testStart)
	h, err := lkhttp.New(lkhttp.Config{Store: store, Clock: clock, MaxBodyBytes: 512, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(f, err)
	ctx := context.Background()
	company := license.NewID()
	owner := license.Actor{Company: company, Email: "ann@acme.example", Role: license.Owner}
	b := &billing.Service{Store: store, Clock: clock}
	_, err = b.CreateCompany(ctx, owner, "Acme")
	require.NoError(f, err)
	n := int64(30)
	price, _ := license.ParseMoney("2.5", "USD")
	site, err := b.CreateSite(ctx, owner, billing.NewSite{Name: "North", Plan: "p", UnitPrice: price, PaymentType: billing.MonthlyInvoice, Licenses: &n})
	require.NoError(f, err)
	key, err := lkhttp.IssueKey(ctx, store, clock, company, owner.Email, license.Owner, "", license.SystemEmail)
	require.NoError(f, err)
	paths := []string{"/v1/sites/" + site.ID + "/purchase/preview", "/v1/sites/" + site.ID + "/decrease/preview",
		"/v1/transfers/preview", "/v1/sites", "/v1/pools", "/v1/apikeys", "/v1/topup/recipients", "/v1/customers"}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := paths[int(route)%len(paths)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key.Key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Less(t, rec.Code, 500, "%s %q: %s", path, body, rec.Body)
		if rec.Code >= 400 {
			require.Equal(t, lkhttp.ProblemContentType, rec.Header().Get("Content-Type"))
			e := mustProblem(t, rec.Body.Bytes())
			require.Equal(t, rec.Code, e.Status)
			require.False(t, strings.Contains(e.Detail, "licensekit internal"))
		} else {
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		}
		s, err := b.GetSite(ctx, owner, site.ID)
		require.NoError(t, err)
		require.Equal(t, int64(30), *s.Licenses, "previews never change the site")
	})
}

var _ http.Handler = (*lkhttp.Handler)(nil)
