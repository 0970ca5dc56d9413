package http

import (
	"reflect"
	"strings"
)

// locationRoute is the GET route that reads what rt creates: the route at
// rt's path plus one parameter (POST /v1/sites -> GET /v1/sites/{id}), or else
// the route at rt's own path answering the same type (POST /v1/company ->
// GET /v1/company); "" when there is none.
func locationRoute(routes []Route, rt *Route) (path string, own bool) {
	for _, o := range routes {
		if o.Method != "GET" {
			continue
		}
		rest, ok := strings.CutPrefix(o.Path, rt.Path+"/")
		if ok && strings.HasPrefix(rest, "{") && strings.HasSuffix(rest, "}") && !strings.Contains(rest, "/") {
			return o.Path, false
		}
	}
	for _, o := range routes {
		if o.Method == "GET" && o.Path == rt.Path && o.Response != nil && o.Response == rt.Response {
			return o.Path, true
		}
	}
	return "", false
}

// location is the Location of a 201 answer of c's route with body resp: a
// reference relative to the request's URL, so it holds wherever the API is
// mounted ("sites/<id>" for POST .../v1/sites). It is "" when no route reads
// the new resource or resp has no id.
func (c *call) location(resp any) string {
	path, own := locationRoute(c.h.routes, c.rt)
	if path == "" {
		return ""
	}
	last := c.r.URL.Path
	if i := strings.LastIndex(last, "/"); i >= 0 {
		last = last[i+1:]
	}
	if own {
		return last
	}
	id := idOf(reflect.ValueOf(resp))
	if id == "" {
		return ""
	}
	return last + "/" + id
}

// idOf is the string member "id" of a JSON-encoded struct (promoted members
// of embedded structs included).
func idOf(v reflect.Value) string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	t := v.Type()
	var embedded []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			embedded = append(embedded, i)
			continue
		}
		if name == "id" && f.Type.Kind() == reflect.String {
			return v.Field(i).String()
		}
	}
	for _, i := range embedded {
		if id := idOf(v.Field(i)); id != "" {
			return id
		}
	}
	return ""
}
