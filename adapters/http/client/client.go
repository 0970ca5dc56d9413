package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// New returns a client of the API at server, the base URL the adapter is
// mounted at (for example http://127.0.0.1:8080), that sends every request
// with the API key key ("Authorization: Bearer key"; no header when key is
// empty). opts are applied after the key, so WithHTTPClient sets the
// transport and a per-call Bearer overrides the key.
func New(server, key string, opts ...ClientOption) (*ClientWithResponses, error) {
	if key != "" {
		opts = append([]ClientOption{WithRequestEditorFn(Bearer(key))}, opts...)
	}
	return NewClientWithResponses(server, opts...)
}

// Bearer returns a request editor that authenticates a request with key.
// Given to one call, it replaces the client's key for that call.
func Bearer(key string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}
}

// Header returns a request editor that sets one header (for example
// X-Request-Id) on a request.
func Header(name, value string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set(name, value)
		return nil
	}
}

// Ptr returns a pointer to v, for the optional members of request bodies and
// parameters.
func Ptr[T any](v T) *T { return &v }

// Response is what every generated response type has: its status and its
// raw body.
type Response interface {
	StatusCode() int
	Bytes() []byte
}

// Error is an error answer of the API: the HTTP status and the members of
// its RFC 9457 problem body (application/problem+json): the stable
// machine-readable code (invalid, not_found, conflict, ...), the problem
// type's title, the detail of this occurrence and the input at fault (field).
type Error struct {
	Status int
	Code   string
	Title  string
	Detail string
	Field  string
	Body   []byte // the raw body
}

func (e *Error) Error() string {
	s := fmt.Sprintf("licensekit API: %d %s", e.Status, e.Code)
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Check returns nil when rsp has status want, and otherwise an *Error with
// the status and whatever problem members its body carries.
func Check(rsp Response, want int) error {
	if rsp.StatusCode() == want {
		return nil
	}
	return ErrorOf(rsp.StatusCode(), rsp.Bytes())
}

// ErrorOf decodes an error answer's body (status is its HTTP status). A body
// that is not a problem object still gives an *Error with Status and Body set.
func ErrorOf(status int, body []byte) *Error {
	e := &Error{Status: status, Body: body}
	var p struct {
		Code   string `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Field  string `json:"field"`
	}
	if json.Unmarshal(body, &p) == nil {
		e.Code, e.Title, e.Detail, e.Field = p.Code, p.Title, p.Detail, p.Field
	}
	return e
}
