package http

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
	"github.com/shopspring/decimal"
)

// XLSXContentType is the media type of an Excel workbook.
const XLSXContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// tagDescriptions describes every tag of the route table, in the order the
// document lists them.
var tagDescriptions = []struct{ name, description string }{
	{"system", "Liveness, readiness and this document; no API key needed."},
	{"apikeys", "API keys of the caller's company: each key is bound to a company, an e-mail and a role."},
	{"company", "The API key's company, its members and roles, and the estimate of its next invoice."},
	{"sites", "MSP sites: their plan, unit price, payment type and group, and the devices enrolled on them."},
	{"licenses", "Buying, decreasing and transferring the licenses of sites, each with a preview that changes nothing."},
	{"topup", "Automatic top-up: licenses added when enrolled devices outgrow a site's licenses, and who is told."},
	{"pools", "License pools: their lifecycle, transactions, reassignments, comments, attachments and status."},
	{"allocations", "Allocations of a pool's licenses to consumers, manual or by the automatic rules."},
	{"leases", "Concurrent-user seats held by heartbeats."},
	{"volume", "Volume licenses and the customer accounts that hold their seats."},
	{"subscriptions", "Subscription licenses: purchase, trials, activation, assignment, renewal and settings."},
	{"validation", "Checks whether a consumer may use a license, answering valid or one typed code."},
	{"events", "The company's event log: query, CSV export and the verification of its hash chain."},
	{"webhooks", "Webhook endpoints of the company (owners only): registration, signing-secret rotation, the delivery log and redelivery."},
}

// enums lists the values of the string types that appear in bodies, so the
// document states them.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[license.Role]():               strs(license.Owner, license.Admin, license.Editor, license.LicenseAdmin, license.Viewer),
	reflect.TypeFor[license.Metric]():             strs(license.Metrics...),
	reflect.TypeFor[license.Model]():              strs(license.Rental, license.Perpetual),
	reflect.TypeFor[license.Rounding]():           strs(license.HalfAwayFromZero, license.HalfEven),
	reflect.TypeFor[license.ValidationCode]():     strs(license.CodeValid, license.CodeInGrace, license.CodeNotFound, license.CodeInactive, license.CodeSuspended, license.CodeExpired, license.CodeOutsideRestrictions, license.CodeNoAllocation, license.CodeQuarantined, license.CodeSeatsExhausted, license.CodeEntitlementsMissing),
	reflect.TypeFor[billing.PaymentType]():        strs(billing.MonthlyInvoice, billing.Card, billing.AnnualInvoice),
	reflect.TypeFor[billing.AdjustmentKind]():     strs(billing.AdjustPurchase, billing.AdjustDecrease),
	reflect.TypeFor[billing.LineKind]():           strs(billing.LineLicenses, billing.LineAdjustment),
	reflect.TypeFor[subscription.Type]():          strs(subscription.Types...),
	reflect.TypeFor[subscription.State]():         strs(subscription.Trial, subscription.Active, subscription.Expired),
	reflect.TypeFor[subscription.BillingPeriod](): strs(subscription.Monthly, subscription.Yearly),
	reflect.TypeFor[subscription.ConsumerKind]():  strs(subscription.ConsumerUser, subscription.ConsumerComputer),
	reflect.TypeFor[subscription.PoolMode]():      strs(subscription.GlobalPool, subscription.UserPool),
	reflect.TypeFor[subscription.DeleteMode]():    strs(subscription.AllExpired, subscription.ExpiredAutoRenew, subscription.ExpiredUnassigned),
	reflect.TypeFor[pool.Status]():                strs(pool.StatusNew, pool.StatusActive, pool.StatusClosed, pool.StatusRetired),
	reflect.TypeFor[pool.Rule]():                  strs(pool.RuleNone, pool.RuleSoftwareInventory, pool.RuleServiceContract, pool.RulePackageDistribution),
	reflect.TypeFor[pool.TxKind]():                strs(pool.TxPurchase, pool.TxRentalPeriod, pool.TxMaintenance, pool.TxUpgrade, pool.TxReassignOut, pool.TxReassignIn),
	reflect.TypeFor[pool.TxStatus]():              strs(pool.TxUpcoming, pool.TxActive, pool.TxEnded),
	reflect.TypeFor[pool.FactKind]():              strs(pool.FactInstalled, pool.FactUninstalled, pool.FactResponsibleChanged, pool.FactContractBound, pool.FactContractUnbound, pool.FactDistributed),
	reflect.TypeFor[topup.Status]():               strs(topup.StatusPending, topup.StatusDelivered, topup.StatusFailed),
	reflect.TypeFor[topup.Problem]():              strs(topup.ProblemPaymentType, topup.ProblemNoGroup, topup.ProblemOtherGroup),
	reflect.TypeFor[eventlog.ExportMode]():        strs(eventlog.CurrentView, eventlog.OriginalData),
	reflect.TypeFor[eventlog.Column]():            strs(append(append([]eventlog.Column{}, eventlog.AllColumns...), eventlog.ColSeq, eventlog.ColChain)...),
	reflect.TypeFor[volume.SortKey]():             strs(volume.SortName, volume.SortSeats, volume.SortUsage, volume.SortCreated),
}

func strs[T ~string](vs ...T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// problemResponses are the error responses of the document
// (components/responses), by status.
var problemResponses = map[int]string{
	400: "The request is invalid: a malformed body, parameter or header (an Idempotency-Key over 255 bytes on any route), an unknown field, or a value the domain refuses (code invalid; field names the input).",
	401: "The API key is missing or unknown (code unauthenticated), expired (key_expired) or revoked (key_revoked).",
	403: "The key's role may not do this (code forbidden).",
	404: "No such resource in the key's company (code not_found); another company's resources answer 404 too.",
	409: "The current state refuses the request (conflict, insufficient_licenses, below_enrolled, quarantined, restriction_failed or expired), or an Idempotency-Key was reused with another request.",
	406: "None of the media types the export offers is acceptable to the Accept header (code not_acceptable).",
	412: "The resource is no longer at the version given in If-Match (code precondition_failed); nothing changed: read it again.",
	413: "The request body exceeds the route's limit (code too_large).",
	415: "The body is not application/json (code unsupported_media_type).",
	428: "This change replaces a whole object and must carry If-Match (code precondition_required).",
	422: "The request can never succeed with these resources: amounts in different currencies (code currency_mismatch).",
	429: "Too many requests (code rate_limited): too many failed authentications from this address or key prefix, too many requests for this key, or too many attempts on this license; Retry-After says when to try again, in seconds.",
	500: "An unexpected failure (code internal); no detail is disclosed.",
	503: "A dependency such as the store cannot be reached (code unavailable); retry later.",
}

// OpenAPI builds the OpenAPI 3.1 document of routes: one operation per route,
// with a description, its path, query and header parameters, request and
// response schemas reflected from the Go types (json tags: fields without
// omitempty are required, pointers, slices and maps may be null), every
// status the operation can answer with its problem details, the bearer-key
// security scheme and the tags.
func OpenAPI(routes []Route) map[string]any {
	g := &schemaGen{components: map[string]any{}, routes: routes}
	problemRef := g.problemSchema()
	for _, rt := range routes {
		if rt.Response != nil {
			g.schema(rt.Response, false)
		}
	}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		p := openAPIPath(rt.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = g.operation(rt)
	}
	responses := map[string]any{}
	for status, d := range problemResponses {
		r := map[string]any{"description": d,
			"content": map[string]any{ProblemContentType: map[string]any{"schema": problemRef}}}
		switch status {
		case 401:
			r["headers"] = map[string]any{"WWW-Authenticate": map[string]any{
				"description": `Bearer realm="licensekit"`, "schema": map[string]any{"type": "string"}}}
		case 429:
			r["headers"] = map[string]any{"Retry-After": map[string]any{
				"description": "Seconds to wait before trying again.", "required": true,
				"schema": map[string]any{"type": "integer", "minimum": 1}}}
		}
		responses[problemName(status)] = r
	}
	tags := []any{}
	for _, t := range tagDescriptions {
		tags = append(tags, map[string]any{"name": t.name, "description": t.description})
	}
	return map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": map[string]any{
			"title":   "licensekit",
			"version": "1",
			"license": map[string]any{"name": "No license declared yet", "url": "https://github.com/licensekit/licensekit"},
			"description": "License pools, MSP sites and billing, automatic top-up, volume licenses, subscriptions and the event log.\n\n" +
				"Every error is an RFC 9457 problem (application/problem+json) with the members type, title, status and detail, " +
				"the stable machine-readable code and, when one input is at fault, field. The type of code c is " + ProblemTypeBase + "c: " +
				"an identifier to compare, not a page to fetch. Statuses by code: " + codeStatuses() + ".",
		},
		"servers": []any{map[string]any{"url": "/", "description": "Where the product mounts the API (any prefix)."}},
		"tags":    tags,
		"paths":   paths,
		"components": map[string]any{
			"schemas":   g.components,
			"responses": responses,
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "http", "scheme": "bearer",
				"description": "An API key (lk_...) sent as Authorization: Bearer lk_...; it decides the company and the role of every request."}},
		},
		"security": []any{map[string]any{"apiKey": []any{}}},
	}
}

func codeStatuses() string {
	var parts []string
	for _, pc := range ProblemCodes {
		parts = append(parts, pc.Code+" "+itoa(pc.Status))
	}
	return strings.Join(parts, ", ")
}

func problemName(status int) string {
	return "Problem" + itoa(status)
}

// problemSchema adds the Problem schema, with the enum of codes, and returns its reference.
func (g *schemaGen) problemSchema() map[string]any {
	ref := g.schema(reflect.TypeFor[Problem](), false)
	s := g.components[schemaName(reflect.TypeFor[Problem]())].(map[string]any)
	props := s["properties"].(map[string]any)
	codes := []string{}
	for _, pc := range ProblemCodes {
		codes = append(codes, pc.Code)
	}
	props["code"] = map[string]any{"type": "string", "enum": codes, "description": "The stable machine-readable code; the status and the type follow from it."}
	props["type"] = map[string]any{"type": "string", "format": "uri", "description": "The problem type: " + ProblemTypeBase + "<code>."}
	props["title"] = map[string]any{"type": "string", "description": "A short summary of the problem type, the same for every occurrence."}
	props["status"] = map[string]any{"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status of the response."}
	props["detail"] = map[string]any{"type": "string", "description": "What went wrong, in words a person can act on."}
	props["instance"] = map[string]any{"type": "string", "format": "uri-reference", "description": "The occurrence, when given."}
	props["field"] = map[string]any{"type": "string", "description": "The input at fault: a body field, a query parameter or a header."}
	props["details"] = map[string]any{"description": "Structured data of some errors: the sites that keep automatic top-up from being enabled.",
		"type": "array", "items": g.schema(reflect.TypeFor[topup.SiteProblem](), false)}
	s["description"] = "An RFC 9457 problem details object, the body of every error response."
	return ref
}

// operation is the OpenAPI operation object of rt.
func (g *schemaGen) operation(rt Route) map[string]any {
	params := []any{}
	for _, name := range pathParams(rt.Path) {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true,
			"description": "The " + strings.ReplaceAll(name, "_", " ") + " named by the path.",
			"schema":      map[string]any{"type": "string", "minLength": 1}})
	}
	for _, q := range rt.Query {
		s := map[string]any{"type": q.Type}
		if q.Type == "" {
			s["type"] = "string"
		}
		if len(q.Enum) > 0 {
			s["enum"] = q.Enum
		}
		params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": s})
	}
	switch rt.Retry {
	case RetryKey:
		params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header",
			"description": "Repeating a request with the same key returns the first result and changes nothing; the same key with another request is a conflict.",
			"schema":      map[string]any{"type": "string", "maxLength": 255}})
	case RetrySafe:
		params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header",
			"description": "Accepted and not needed: repeating this request cannot apply it twice.",
			"schema":      map[string]any{"type": "string", "maxLength": 255}})
	case RetryUnsafe:
		params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header",
			"description": "Refused (400): this request cannot honour a key yet, so send it without one.",
			"schema":      map[string]any{"type": "string", "maxLength": 255}})
	}
	params = append(params, map[string]any{"name": "X-Request-Id", "in": "header",
		"description": "A request id of at most 128 printable ASCII characters, echoed in the response and logged; one is made up when absent or unfit.",
		"schema":      map[string]any{"type": "string"}})

	responses := map[string]any{itoa(rt.Status): g.success(rt)}
	params = contractDoc(rt, params, responses)
	for _, s := range errorStatuses(rt) {
		responses[itoa(s)] = map[string]any{"$ref": "#/components/responses/" + problemName(s)}
	}
	opObj := map[string]any{
		"operationId": operationID(rt),
		"summary":     rt.Summary,
		"description": describe(rt),
		"tags":        []string{rt.Tag},
		"parameters":  params,
		"responses":   responses,
		"x-access":    string(rt.Access),
	}
	if rt.Retry != "" {
		opObj["x-retry"] = string(rt.Retry)
	}
	if rt.Access == Public {
		opObj["security"] = []any{}
	}
	if rt.Consumes != "" {
		opObj["requestBody"] = map[string]any{"required": true, "description": "The raw bytes; Content-Type is their media type.",
			"content": map[string]any{"*/*": map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": rt.Consumes}}}}
	}
	if rt.Request != nil {
		opObj["requestBody"] = map[string]any{"required": true,
			"content": map[string]any{"application/json": map[string]any{"schema": g.schema(rt.Request, true)}}}
	}
	return opObj
}

// success is the response object of rt's success status.
func (g *schemaGen) success(rt Route) map[string]any {
	resp := map[string]any{"description": http.StatusText(rt.Status)}
	hdr := map[string]any{"X-Request-Id": map[string]any{"description": "The request id, as sent or made up.", "schema": map[string]any{"type": "string"}}}
	switch {
	case rt.Response != nil:
		resp["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(rt.Response, false)}}
	case rt.Produces == "application/json":
		resp["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object",
			"description": "An OpenAPI 3.1 document."}}}
	case rt.Produces != "":
		content := map[string]any{}
		for _, ct := range append([]string{rt.Produces}, rt.Alternatives...) {
			key := ct
			if ct == "application/octet-stream" {
				key = "*/*" // a stored attachment is served with its own media type
			}
			content[key] = map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": ct}}
		}
		resp["content"] = content
		hdr["Content-Disposition"] = map[string]any{"description": "attachment, with the file name.", "schema": map[string]any{"type": "string"}}
	}
	if rt.Status == http.StatusCreated {
		if path, _ := locationRoute(g.routes, &rt); path != "" {
			hdr["Location"] = map[string]any{"required": true, "schema": map[string]any{"type": "string", "format": "uri-reference"},
				"description": "Where to read the new resource (GET " + openAPIPath(path) + "), relative to the request's URL so it holds under any mount prefix."}
		}
	}
	if rt.Response != nil && hasMember(rt.Response, "replayed") {
		hdr[IdempotencyReplayedHeader] = map[string]any{"schema": map[string]any{"type": "string", "enum": []string{"true"}},
			"description": "Present (true) when this answers a repeat of the request with the same Idempotency-Key: the same metadata, without the secret."}
	}
	resp["headers"] = hdr
	return resp
}

// errorStatuses lists the error statuses rt can answer.
func errorStatuses(rt Route) []int {
	set := map[int]bool{500: true}
	mutating := rt.Method != http.MethodGet && rt.Method != http.MethodHead
	if rt.Access != Public {
		set[400] = true // the domain refuses values; a malformed Idempotency-Key or body
		set[401], set[403], set[429], set[503] = true, true, true, true
		if mutating || len(pathParams(rt.Path)) > 0 {
			set[404] = true
		}
		if mutating {
			set[409] = true
		}
		if usesMoney(rt) {
			set[422] = true
		}
	}
	// Any route refuses an Idempotency-Key longer than 255 bytes, public ones included.
	set[400] = true
	if mutating {
		set[413] = true
	}
	if rt.Request != nil {
		set[415] = true
	}
	if rt.Path == "/readyz" {
		set[503] = true
	}
	for _, s := range contractStatuses(rt) {
		set[s] = true
	}
	var out []int
	for s := range set {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// usesMoney reports whether rt's request or response holds an amount of
// money, where amounts in different currencies can meet (422).
func usesMoney(rt Route) bool {
	seen := map[reflect.Type]bool{}
	return rt.Tag == "licenses" || rt.Tag == "sites" || holds(rt.Request, moneyType, seen) || holds(rt.Response, moneyType, seen)
}

func holds(t, want reflect.Type, seen map[reflect.Type]bool) bool {
	if t == nil || seen[t] {
		return false
	}
	seen[t] = true
	if t == want {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holds(t.Elem(), want, seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if holds(t.Field(i).Type, want, seen) {
				return true
			}
		}
	}
	return false
}

// describe writes rt's description as sentences: what it does, who may call
// it, and what a retry does.
func describe(rt Route) string {
	if rt.Description != "" {
		return rt.Description
	}
	s := []string{sentence(rt.Summary)}
	switch rt.Access {
	case Public:
		s = append(s, "No API key is needed.")
	case Member:
		s = append(s, "Any role of the key's company may call it.")
	case Editor:
		s = append(s, "The key's role must be one that may edit: owner, admin, editor or license administrator.")
	case Prices:
		s = append(s, "The key's role must be one that may see prices: owner, admin, editor or license administrator.")
	case Manage:
		s = append(s, "The key must belong to an owner or an admin.")
	case Owner:
		s = append(s, "The key must belong to an owner.")
	}
	switch rt.Retry {
	case RetryKey:
		s = append(s, "Send an Idempotency-Key to make retries safe: the same key with the same request returns the first result and changes nothing.")
	case RetrySafe:
		s = append(s, "It is safe to retry: repeating the request cannot apply it twice.")
	case RetryUnsafe:
		s = append(s, "A retry applies it again, so a request carrying an Idempotency-Key is refused.")
	default:
		s = append(s, "It changes nothing.")
	}
	if rt.Status == http.StatusCreated {
		s = append(s, "It answers 201 Created with the new resource.")
	}
	return strings.Join(s, " ")
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

var pathParamRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

func openAPIPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return pathParamRE.ReplaceAllString(p, "{$1}")
}

func pathParams(p string) []string {
	var out []string
	for _, m := range pathParamRE.FindAllStringSubmatch(p, -1) {
		out = append(out, m[1])
	}
	return out
}

func operationID(rt Route) string {
	parts := []string{strings.ToLower(rt.Method)}
	for _, s := range strings.Split(strings.Trim(rt.Path, "/"), "/") {
		s = strings.Trim(s, "{}.$")
		s = strings.ReplaceAll(s, "-", "_")
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "_")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// schemaGen reflects Go types into JSON schemas. Response schemas state the
// required members; request schemas (input true) require nothing, since the
// decoder leaves an absent member at its zero value.
type schemaGen struct {
	components map[string]any
	routes     []Route
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	moneyType    = reflect.TypeFor[license.Money]()
	decimalType  = reflect.TypeFor[decimal.Decimal]()
	rawType      = reflect.TypeFor[json.RawMessage]()
)

const decimalPattern = `^-?[0-9]+(\.[0-9]+)?$`

// schema returns the JSON schema of a value of type t as encoding/json writes
// it; named structs go to components. A pointer, slice or map can be null.
func (g *schemaGen) schema(t reflect.Type, input bool) map[string]any {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Interface:
		return nullable(g.value(t, input))
	case reflect.Slice:
		if t != rawType {
			return nullable(g.value(t, input))
		}
	}
	return g.value(t, input)
}

// value is the schema of t's non-null values.
func (g *schemaGen) value(t reflect.Type, input bool) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "integer", "description": "A duration in nanoseconds."}
	case decimalType:
		return map[string]any{"type": "string", "format": "decimal", "pattern": decimalPattern, "description": "A decimal number."}
	case rawType:
		return map[string]any{"description": "Any JSON value."}
	case moneyType:
		// One component, so that generated clients have one money type.
		name := schemaName(t)
		g.components[name] = map[string]any{"type": "object", "additionalProperties": false, "description": "An amount of money in one currency.", "properties": map[string]any{
			"amount": map[string]any{"type": "string", "format": "decimal", "pattern": decimalPattern, "maxLength": license.MaxAmountText,
				"description": `A decimal amount, e.g. "12.34"; as input at most 12 digits before the decimal point and the currency's minor unit plus 4 after it.`},
			"currency": map[string]any{"type": "string", "description": "An ISO 4217 code, e.g. USD."},
		}, "required": []string{"amount", "currency"}}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	if vs, ok := enums[t]; ok {
		return map[string]any{"type": "string", "enum": vs}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), input)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), input)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t, input)
		}
		name := schemaName(t)
		if input {
			name += "Input"
		}
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // placeholder against recursion
			g.components[name] = g.object(t, input)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// nullable lets s also be null.
func nullable(s map[string]any) map[string]any {
	if _, ok := s["$ref"]; ok {
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	t, ok := s["type"].(string)
	if !ok {
		return s // any value, null included
	}
	out := map[string]any{}
	for k, v := range s {
		out[k] = v
	}
	out["type"] = []any{t, "null"}
	if e, ok := s["enum"].([]string); ok {
		vs := []any{}
		for _, v := range e {
			vs = append(vs, v)
		}
		out["enum"] = append(vs, nil)
	}
	return out
}

var typeArgPath = regexp.MustCompile(`[A-Za-z0-9_.\-]+/`)

func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	n := t.Name()
	// A generic type's arguments keep their package's name only:
	// List[github.com/licensekit/licensekit/pool.Allocation] is List_pool.Allocation.
	n = typeArgPath.ReplaceAllString(n, "")
	n = strings.NewReplacer("[", "_", "]", "", "/", "_", "*", "", ",", "_", " ", "").Replace(n)
	if pkg == "" {
		return n
	}
	return pkg + "." + n
}

func (g *schemaGen) object(t reflect.Type, input bool) map[string]any {
	props := map[string]any{}
	required := map[string]bool{}
	g.fields(t, input, props, required, false)
	for k, v := range props {
		if v == nil { // a member hidden by an absent field
			delete(props, k)
			delete(required, k)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if !input && len(required) > 0 {
		var req []string
		for k := range required {
			req = append(req, k)
		}
		sort.Strings(req)
		s["required"] = req
	}
	return s
}

// fields adds the members of struct t to props; required collects the ones
// encoding/json always writes (no omitempty or omitzero, not promoted through
// a nil-able embedded pointer).
func (g *schemaGen) fields(t reflect.Type, input bool, props map[string]any, required map[string]bool, optional bool) {
	// Direct members first: they win over the members promoted from embedded structs.
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.Anonymous && name == "" {
			embedded = append(embedded, f)
			continue
		}
		g.field(t, f, input, props, required, optional)
	}
	for _, f := range embedded {
		g.field(t, f, input, props, required, optional)
	}
}

func (g *schemaGen) field(owner reflect.Type, f reflect.StructField, input bool, props map[string]any, required map[string]bool, optional bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return
	}
	name, opts, _ := strings.Cut(tag, ",")
	if f.Anonymous && name == "" {
		ft := f.Type
		viaPointer := false
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			viaPointer = true
		}
		if ft.Kind() == reflect.Struct {
			// Embedded: its fields are promoted, outer fields win.
			inner, innerReq := map[string]any{}, map[string]bool{}
			g.fields(ft, input, inner, innerReq, optional || viaPointer)
			for k, v := range inner {
				if _, ok := props[k]; !ok {
					props[k] = v
					if innerReq[k] {
						required[k] = true
					}
				}
			}
			return
		}
	}
	if !f.IsExported() {
		return
	}
	if name == "" {
		name = f.Name
	}
	if f.Type == absentType {
		props[name] = nil // hides the promoted member of that name
		return
	}
	omit := false
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			omit = true
		}
	}
	if !input && name == "id" && uuidIDs[owner] && f.Type.Kind() == reflect.String {
		props[name] = map[string]any{"type": "string", "format": "uuid"}
	} else if strings.Contains(","+opts+",", ",string,") {
		props[name] = map[string]any{"type": "string"}
	} else if omit && !input {
		// An omitted member is never null: encoding/json drops nil values.
		props[name] = g.value(f.Type, input)
	} else {
		props[name] = g.schema(f.Type, input)
	}
	if !omit && !optional {
		required[name] = true
	}
}

// Document returns the OpenAPI document a Handler over store serves at
// /openapi.json.
func Document(store storage.Store) ([]byte, error) {
	h, err := New(Config{Store: store})
	if err != nil {
		return nil, err
	}
	return h.OpenAPIDocument(), nil
}

// OpenAPIDocument returns the OpenAPI document h serves at /openapi.json.
func (h *Handler) OpenAPIDocument() []byte { return append([]byte(nil), h.openapi...) }

// uuidIDs are the types whose id member license.NewID makes: a UUID.
var uuidIDs = map[reflect.Type]bool{
	reflect.TypeFor[billing.Site]():         true,
	reflect.TypeFor[billing.Adjustment]():   true,
	reflect.TypeFor[volume.License]():       true,
	reflect.TypeFor[volume.Customer]():      true,
	reflect.TypeFor[eventlog.Event]():       true,
	reflect.TypeFor[subscription.Charge]():  true,
	reflect.TypeFor[subscription.License](): true,
	reflect.TypeFor[pool.Pool]():            true,
	reflect.TypeFor[pool.Transaction]():     true,
	reflect.TypeFor[pool.Attachment]():      true,
	reflect.TypeFor[pool.Comment]():         true,
	reflect.TypeFor[topup.Notification]():   true,
}

// hasMember reports whether values of t are JSON objects with a member named
// name (promoted members of embedded structs included).
func hasMember(t reflect.Type, name string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if n == name {
			return true
		}
		if f.Anonymous && n == "" && hasMember(f.Type, name) {
			return true
		}
	}
	return false
}
