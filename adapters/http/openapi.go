package http

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/shopspring/decimal"
)

// OpenAPI builds the OpenAPI 3.0 document of routes: one operation per route,
// with its path and query parameters, request and response schemas reflected
// from the Go types (json tags), the bearer-key security scheme and the error
// body.
func OpenAPI(routes []Route) map[string]any {
	g := &schemaGen{components: map[string]any{}}
	errRef := g.schema(reflect.TypeFor[Problem]())
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		p := openAPIPath(rt.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		params := []any{}
		for _, name := range pathParams(rt.Path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
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
		}
		okResp := map[string]any{"description": http.StatusText(rt.Status)}
		switch {
		case rt.Response != nil:
			okResp["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(rt.Response)}}
		case rt.Produces != "":
			okResp["content"] = map[string]any{rt.Produces: map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
		}
		errResp := func(d string) any {
			return map[string]any{"description": d, "content": map[string]any{ProblemContentType: map[string]any{"schema": errRef}}}
		}
		responses := map[string]any{itoa(rt.Status): okResp, "default": errResp("Error (see the code)")}
		if rt.Access != Public {
			responses["401"] = errResp("Missing, unknown, expired (key_expired) or revoked (key_revoked) API key")
			responses["403"] = errResp("The key's role may not do this")
			responses["429"] = errResp("Too many failed authentications from this address or key prefix, or attempts on this license (rate_limited; see the Retry-After header, in seconds)")
		}
		opObj := map[string]any{
			"operationId": operationID(rt),
			"summary":     rt.Summary,
			"tags":        []string{rt.Tag},
			"parameters":  params,
			"responses":   responses,
			"x-access":    string(rt.Access),
			"x-retry":     string(rt.Retry),
		}
		if rt.Access == Public {
			opObj["security"] = []any{}
		}
		if rt.Consumes != "" {
			opObj["requestBody"] = map[string]any{"required": true,
				"content": map[string]any{rt.Consumes: map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
		}
		if rt.Request != nil {
			opObj["requestBody"] = map[string]any{"required": true,
				"content": map[string]any{"application/json": map[string]any{"schema": g.schema(rt.Request)}}}
		}
		paths[p][strings.ToLower(rt.Method)] = opObj
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "licensekit",
			"version": "1",
			"description": "License pools, MSP sites and billing, automatic top-up, volume licenses, subscriptions and the event log. " +
				"Errors are {\"error\":{\"code\",\"message\",\"field\"}}; statuses: invalid 400, unauthenticated/key_expired/key_revoked 401, forbidden 403, " +
				"not_found 404, conflict/insufficient_licenses/below_enrolled/quarantined/restriction_failed/expired 409, too_large 413, " +
				"currency_mismatch 422, rate_limited 429, unavailable 503, internal 500.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         g.components,
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "http", "scheme": "bearer", "description": "An API key: lk_..."}},
		},
		"security": []any{map[string]any{"apiKey": []any{}}},
	}
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

type schemaGen struct {
	components map[string]any
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	moneyType    = reflect.TypeFor[license.Money]()
	decimalType  = reflect.TypeFor[decimal.Decimal]()
	rawType      = reflect.TypeFor[json.RawMessage]()
)

// schema returns the JSON schema of t; named structs go to components.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	case decimalType:
		return map[string]any{"type": "string", "description": "decimal number"}
	case rawType:
		return map[string]any{"description": "any JSON value"}
	case moneyType:
		return map[string]any{"type": "object", "properties": map[string]any{
			"amount": map[string]any{"type": "string", "maxLength": license.MaxAmountText,
				"description": "decimal amount, e.g. \"12.34\"; as input at most 12 digits before the decimal point and the currency's minor unit plus 4 after it"},
			"currency": map[string]any{"type": "string", "description": "ISO 4217 code, e.g. USD"},
		}, "required": []string{"amount", "currency"}}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name := schemaName(t)
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // placeholder against recursion
			g.components[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	n := t.Name()
	n = strings.NewReplacer("[", "_", "]", "", "/", "_", "*", "", ",", "_", " ", "").Replace(n)
	if pkg == "" {
		return n
	}
	return pkg + "." + n
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	g.fields(t, props)
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				// Embedded: its fields are promoted, outer fields win.
				inner := map[string]any{}
				g.fields(ft, inner)
				for k, v := range inner {
					if _, ok := props[k]; !ok {
						props[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
	}
}
