package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/storage/memory"
)

// The contract checker: every request the tests send through a fixture and
// every answer they get is validated against the OpenAPI document the handler
// serves. An answer the document does not declare (status, media type,
// headers, body) fails the test that caused it.

var (
	contractResponses atomic.Int64 // responses validated against the document
	contractRequests  atomic.Int64 // requests the document accepts
	contractRefused   atomic.Int64 // requests the document refuses (answered 4xx, as they must be)
	contractUnrouted  atomic.Int64 // requests to no documented operation (answered 404/405 problems)
)

func TestMain(m *testing.M) {
	// Formats the document uses beyond the validator's own: IDs are UUIDs
	// (version 7 included), decimals are plain decimal strings.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`))
	openapi3.DefineStringFormatValidator("decimal", openapi3.NewRegexpFormatValidator(`^-?[0-9]+(\.[0-9]+)?$`))
	code := m.Run()
	fmt.Printf("contract: %d responses validated against /openapi.json (%d requests valid, %d refused as the document says, %d to no operation)\n",
		contractResponses.Load(), contractRequests.Load(), contractRefused.Load(), contractUnrouted.Load())
	os.Exit(code)
}

type contractSpec struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	specMu    sync.Mutex
	specCache = map[string]contractSpec{} // by the document's text
)

// specOf parses and checks the document h serves at /openapi.json (once per
// distinct document: a handler's configuration can add routes).
func specOf(h *lkhttp.Handler) (contractSpec, error) {
	raw := string(h.OpenAPIDocument())
	specMu.Lock()
	defer specMu.Unlock()
	if s, ok := specCache[raw]; ok {
		return s, nil
	}
	s, err := parseSpec([]byte(raw))
	if err != nil {
		return s, err
	}
	specCache[raw] = s
	return s, nil
}

func parseSpec(raw []byte) (contractSpec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return contractSpec{}, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return contractSpec{}, fmt.Errorf("the document is not valid OpenAPI: %w", err)
	}
	doc.Servers = nil // the API is mounted anywhere; match paths alone
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return contractSpec{}, err
	}
	return contractSpec{doc: doc, router: r}, nil
}

// maxCheckedBody is the largest request body the checker reads and
// validates. A larger one (the tests' oversized inputs) reaches the handler
// untouched and unchecked: copying and validating a megabyte under the race
// detector takes seconds, which timing tests would count against the server.
// Its answer is still checked.
const maxCheckedBody = 64 << 10

// validating wraps h so every exchange is checked against the document.
func validating(t testing.TB, h *lkhttp.Handler) http.Handler {
	t.Helper()
	s, err := specOf(h)
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		big := r.ContentLength > maxCheckedBody
		if r.Body != nil && !big {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if err := s.check(r, body, big, rec.status(), rec.Header(), rec.body.Bytes()); err != nil {
			t.Errorf("contract: %s %s -> %d: %v\nresponse: %.400s", r.Method, r.URL.RequestURI(), rec.status(), err, rec.body.Bytes())
		}
	})
}

// check validates one exchange: the request against its operation (a request
// the document refuses must be answered 4xx) and the response against the
// operation's declared statuses, headers and bodies.
func (s contractSpec) check(r *http.Request, reqBody []byte, bigBody bool, status int, header http.Header, respBody []byte) error {
	vr := r.Clone(context.Background())
	vr.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := s.router.FindRoute(vr)
	for _, v := range params {
		if v == "" && err == nil {
			// The router lets a parameter match nothing (/v1/sites as /v1/sites/{id}); the mux does not.
			err = fmt.Errorf("no operation for %s %s", r.Method, r.URL.Path)
		}
	}
	if err != nil {
		// Not a documented operation: only a 404 or 405 problem may answer.
		contractUnrouted.Add(1)
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("no documented operation, yet answered %d", status)
		}
		if ct := header.Get("Content-Type"); ct != lkhttp.ProblemContentType {
			return fmt.Errorf("no documented operation: answered %s, want a problem", ct)
		}
		_, err := lkhttp.ParseProblem(respBody)
		return err
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	reqOpts := *opts
	reqOpts.ExcludeRequestBody = bigBody
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: &reqOpts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		contractRefused.Add(1)
		if status < 400 || status >= 500 {
			return fmt.Errorf("the document refuses this request, yet it was answered %d: %v", status, err)
		}
	} else {
		contractRequests.Add(1)
	}
	registerDecoder(header.Get("Content-Type"))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	contractResponses.Add(1)
	return nil
}

var decoderMu sync.Mutex

// registerDecoder lets the validator read a binary response of any media type
// (stored attachments keep their own) as bytes.
func registerDecoder(ct string) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || strings.HasSuffix(mt, "json") {
		return
	}
	decoderMu.Lock()
	defer decoderMu.Unlock()
	if openapi3filter.RegisteredBodyDecoder(mt) == nil {
		openapi3filter.RegisterBodyDecoder(mt, openapi3filter.FileBodyDecoder)
	}
}

// teeWriter passes the response on and keeps a copy.
type teeWriter struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *teeWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// TestContractCheckerCatchesUndeclaredAnswers: the checker is not toothless.
// With a status removed from one operation of the document, an answer with
// that status fails; so do a body member of the wrong type and an undeclared
// media type.
func TestContractCheckerCatchesUndeclaredAnswers(t *testing.T) {
	raw, err := lkhttp.Document(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	good, err := parseSpec(raw)
	if err != nil {
		t.Fatal(err)
	}
	problem := []byte(`{"type":"https://licensekit.dev/problems/not_found","title":"No such resource","status":404,"detail":"no such site","code":"not_found","field":"site"}`)
	ph := http.Header{"Content-Type": {lkhttp.ProblemContentType}}
	req := httptest.NewRequest("GET", "/v1/sites/s1", nil)
	req.Header.Set("Authorization", "Bearer lk_x")
	if err := good.check(req, nil, false, 404, ph, problem); err != nil {
		t.Fatalf("a declared 404 problem must pass: %v", err)
	}

	// The planted bug: GET /v1/sites/{id} no longer declares 404.
	bad, err := parseSpec(raw)
	if err != nil {
		t.Fatal(err)
	}
	bad.doc.Paths.Value("/v1/sites/{id}").Get.Responses.Delete("404")
	if err := bad.check(req, nil, false, 404, ph, problem); err == nil {
		t.Fatal("a 404 the document does not declare passed the checker")
	}

	// A member of the wrong type, and a media type the operation does not produce.
	wrong := bytes.Replace(problem, []byte(`"status":404`), []byte(`"status":"404"`), 1)
	if err := good.check(req, nil, false, 404, ph, wrong); err == nil {
		t.Fatal("a problem with a string status passed the checker")
	}
	if err := good.check(req, nil, false, 404, http.Header{"Content-Type": {"text/plain"}}, []byte("not found")); err == nil {
		t.Fatal("a text/plain error passed the checker")
	}
	// A request the document refuses must not be answered 2xx.
	post := httptest.NewRequest("POST", "/v1/sites", strings.NewReader(`{"bogus":1}`))
	post.Header.Set("Content-Type", "application/json")
	if err := good.check(post, []byte(`{"bogus":1}`), false, 201, http.Header{"Content-Type": {"application/json"}}, []byte(`{}`)); err == nil {
		t.Fatal("a request with an unknown member answered 201 passed the checker")
	}
}
