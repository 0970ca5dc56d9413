package http

import (
	"net/http"
	"reflect"
)

// contractDoc adds to an operation of the OpenAPI document the headers of
// the conventions every route follows: paging (Link) and optimistic
// concurrency (If-Match, ETag). responses holds the success response.
func contractDoc(rt Route, params []any, responses map[string]any) []any {
	ok, _ := responses[itoa(rt.Status)].(map[string]any)
	headers, _ := ok["headers"].(map[string]any)
	if headers == nil && ok != nil {
		headers = map[string]any{}
		ok["headers"] = headers
	}
	for _, q := range rt.Query {
		if q.Name == "cursor" && rt.Response != nil {
			headers["Link"] = map[string]any{"description": `<URL of the next page>; rel="next" (the same query with the cursor replaced); absent on the last page`,
				"schema": map[string]any{"type": "string"}}
			break
		}
	}
	if rt.Versioned != "" {
		if rt.Method != http.MethodDelete {
			headers["ETag"] = map[string]any{"description": `The version of the resource as a strong ETag ("3"), also its version member; send it back in If-Match`,
				"schema": map[string]any{"type": "string", "pattern": `^"[1-9][0-9]*"$`}}
		}
		if rt.Method != http.MethodGet {
			desc := `Apply only if the resource is still at this version: an ETag this API gave, or *`
			if rt.IfMatchRequired {
				desc += "; required, as this operation replaces the whole object"
			}
			params = append(params, map[string]any{"name": "If-Match", "in": "header", "required": rt.IfMatchRequired,
				"description": desc, "schema": map[string]any{"type": "string"}})
		}
	} else if rt.Method == http.MethodPut || rt.Method == http.MethodPatch || rt.Method == http.MethodDelete {
		params = append(params, map[string]any{"name": "If-Match", "in": "header",
			"description": "Refused (400): this operation has no version to match.", "schema": map[string]any{"type": "string"}})
	}
	return params
}

// contractStatuses are the error statuses the conventions add to rt.
func contractStatuses(rt Route) []int {
	var out []int
	if rt.Versioned != "" && rt.Method != http.MethodGet {
		out = append(out, http.StatusPreconditionFailed)
		if rt.IfMatchRequired {
			out = append(out, http.StatusPreconditionRequired)
		}
	}
	if isExport(rt) {
		out = append(out, http.StatusNotAcceptable)
	}
	return out
}

// isExport reports whether rt is an export (it honours Accept).
func isExport(rt Route) bool {
	return rt.Method == http.MethodGet && rt.Produces != "" && rt.Produces != "application/json" && rt.Produces != "application/octet-stream"
}

// absentType is the type of the fields that hide a member of an embedded
// domain type (see absent): neither appears in the schemas.
var absentType = reflect.TypeFor[*absent]()
