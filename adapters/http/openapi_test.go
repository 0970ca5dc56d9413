package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/storage/memory"
)

// served is the document GET /openapi.json answers, decoded.
func served(t *testing.T) map[string]any {
	t.Helper()
	f := newFixture(t)
	var doc map[string]any
	f.ok(200, "GET", "/openapi.json", "", nil, &doc)
	return doc
}

func obj(t *testing.T, v any, path ...string) map[string]any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%v: not an object at %s", path, p)
		v = m[p]
	}
	m, ok := v.(map[string]any)
	require.True(t, ok, "%v: not an object", path)
	return m
}

// TestOpenAPIOperationsAreDocumented: OpenAPI 3.1; every operation has a
// description of whole sentences and a tag the document lists with a
// description; every authenticated operation declares 401, 403 and 429 and
// every operation 500; each body route declares 413 and (JSON) 415.
func TestOpenAPIOperationsAreDocumented(t *testing.T) {
	doc := served(t)
	require.Equal(t, "3.1.0", doc["openapi"])
	tags := map[string]bool{}
	for _, tg := range doc["tags"].([]any) {
		m := tg.(map[string]any)
		require.NotEmpty(t, m["description"], m["name"])
		tags[m["name"].(string)] = true
	}
	f := newFixture(t)
	n := 0
	for _, rt := range f.h.Routes() {
		p := strings.TrimSuffix(rt.Path, "{$}")
		op := obj(t, doc, "paths", p, strings.ToLower(rt.Method))
		n++
		d, _ := op["description"].(string)
		require.True(t, len(d) > len(rt.Summary) && strings.HasSuffix(d, ".") && d[0] >= 'A' && d[0] <= 'Z',
			"%s %s: description %q", rt.Method, rt.Path, d)
		for _, tg := range op["tags"].([]any) {
			require.True(t, tags[tg.(string)], "%s %s: tag %v is not listed", rt.Method, rt.Path, tg)
		}
		resp := obj(t, op, "responses")
		want := []string{"400", "500"}
		if rt.Access != lkhttp.Public {
			want = append(want, "401", "403", "429", "503")
		}
		if rt.Request != nil {
			want = append(want, "413", "415")
		}
		if rt.Consumes != "" {
			want = append(want, "413")
		}
		if strings.Contains(rt.Path, "{") {
			want = append(want, "404")
		}
		for _, s := range want {
			require.Contains(t, resp, s, "%s %s", rt.Method, rt.Path)
		}
		require.NotContains(t, resp, "default", "%s %s: every status is declared", rt.Method, rt.Path)
	}
	require.Greater(t, n, 90)
}

// TestOpenAPIProblemsAndHeaders: the Problem schema lists every code; 429
// declares Retry-After; 201s that have a reading route declare Location.
func TestOpenAPIProblemsAndHeaders(t *testing.T) {
	doc := served(t)
	schemas := obj(t, doc, "components", "schemas")
	problem := obj(t, schemas, "http.Problem")
	var codes []string
	for _, c := range obj(t, problem, "properties", "code")["enum"].([]any) {
		codes = append(codes, c.(string))
	}
	var want []string
	for _, pc := range lkhttp.ProblemCodes {
		want = append(want, pc.Code)
	}
	require.Equal(t, want, codes)
	require.ElementsMatch(t, []any{"code", "detail", "status", "title", "type"}, problem["required"])
	require.Contains(t, obj(t, doc, "components", "responses", "Problem429", "headers"), "Retry-After")
	require.Contains(t, obj(t, doc, "components", "responses", "Problem429", "content"), lkhttp.ProblemContentType)
	require.Contains(t, obj(t, doc, "paths", "/v1/sites", "post", "responses", "201", "headers"), "Location")
	require.Contains(t, obj(t, doc, "components", "securitySchemes"), "apiKey")
	require.Contains(t, obj(t, doc, "paths", "/v1/apikeys", "post", "responses", "201", "headers"), lkhttp.IdempotencyReplayedHeader)
	require.Contains(t, obj(t, doc, "paths", "/v1/subscriptions/purchase", "post", "responses", "201", "headers"), lkhttp.IdempotencyReplayedHeader)
}

// TestOpenAPISchemasStateRequiredNullAndEnums: members without omitempty are
// required, a pointer may be null, a slice may be null, known string types
// carry their values, and an omitempty member is optional.
func TestOpenAPISchemasStateRequiredNullAndEnums(t *testing.T) {
	doc := served(t)
	schemas := obj(t, doc, "components", "schemas")
	site := obj(t, schemas, "http.SiteView")
	req := site["required"].([]any)
	require.Contains(t, req, "id")
	require.Contains(t, req, "licenses")
	require.NotContains(t, req, "unit_price", "omitempty: shown only to roles that see prices")
	props := obj(t, site, "properties")
	require.Equal(t, []any{"integer", "null"}, obj(t, props, "licenses")["type"], "an unlimited site has licenses null")
	require.Equal(t, []any{"monthly_invoice", "card", "annual_invoice"}, obj(t, props, "payment_type")["enum"])
	require.Equal(t, "date-time", obj(t, props, "created_at")["format"])

	in := obj(t, schemas, "billing.NewSiteInput")
	require.NotContains(t, in, "required", "a request member may be left out")
	require.Equal(t, []any{"integer", "null"}, obj(t, in, "properties", "licenses")["type"], "licenses: null is accepted")

	role := obj(t, schemas, "apikey.Key", "properties", "role")
	require.Equal(t, []any{"owner", "admin", "editor", "license_admin", "viewer"}, role["enum"])

	exp := obj(t, doc, "paths", "/v1/volume-licenses/{id}/export", "get", "responses", "200", "content")
	require.Contains(t, exp, "text/csv")
	require.Contains(t, exp, lkhttp.XLSXContentType)
	self := obj(t, doc, "paths", "/openapi.json", "get", "responses", "200", "content", "application/json", "schema")
	require.Equal(t, "object", self["type"])
}

// TestDocumentIsWhatTheHandlerServes: Document (what the lint step reads) is
// the served document.
func TestDocumentIsWhatTheHandlerServes(t *testing.T) {
	raw, err := lkhttp.Document(memory.New())
	require.NoError(t, err)
	var a, b map[string]any
	require.NoError(t, json.Unmarshal(raw, &a))
	b = served(t)
	require.Equal(t, a, b)
}
