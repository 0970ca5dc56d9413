package reliability_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/webhook"
)

// tenant is company A's world, made over HTTP. Each successful request is
// remembered by route ("POST /v1/sites/{id}/purchase") with its body, so the
// sweep can replay A's own valid bodies with B's key.
type tenant struct {
	s       *server
	company string
	key     string
	ids     map[string]string // resource -> id (site, pool, leasePool, allocation, ...)
	refs    []string          // A's resource ids and keys: a request naming one must be refused
	secrets []string          // refs, and A's names: never in an answer to B unless B sent them
	bodies  map[string]any    // route -> a body A used successfully
}

func (a *tenant) req(status int, method, pattern string, body, out any, headers ...string) {
	a.s.t.Helper()
	path := pathParamRE.ReplaceAllStringFunc(pattern, func(m string) string { return a.param(pattern, strings.Trim(m, "{}")) })
	if strings.HasSuffix(pattern, "/attachments") {
		path += "?name=northwind-contract.txt"
		headers = append(headers, "Content-Type", "text/plain")
	}
	a.s.ok(status, method, path, a.key, body, out, headers...)
	if body != nil {
		a.bodies[method+" "+pattern] = body
	}
}

// param is A's id for path parameter name of pattern ("" when A has none).
func (a *tenant) param(pattern, name string) string {
	if name != "id" {
		return a.ids[name]
	}
	rest := strings.TrimPrefix(pattern, "/v1/")
	switch {
	case strings.HasPrefix(rest, "pools/{id}/leases"):
		return a.ids["leasePool"]
	case strings.HasPrefix(rest, "pools/"):
		return a.ids["pool"]
	case strings.HasPrefix(rest, "sites/"), strings.HasPrefix(rest, "topup/sites/"):
		return a.ids["site"]
	case strings.HasPrefix(rest, "customers/"):
		return a.ids["customer"]
	case strings.HasPrefix(rest, "volume-licenses/"):
		return a.ids["volumeLicense"]
	case strings.HasPrefix(rest, "subscriptions/licenses/"):
		return a.ids["subLicense"]
	case strings.HasPrefix(rest, "apikeys/"):
		return a.ids["apiKey"]
	case strings.HasPrefix(rest, "webhooks/"):
		return a.ids["webhook"]
	}
	return ""
}

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// northwind builds company A: sites, pools with an allocation, a lease and an
// attachment, a volume license with a customer, an API key, top-up with a
// recipient, and subscription licenses (one activated and assigned).
func northwind(s *server) *tenant {
	t := s.t
	t.Helper()
	a := &tenant{s: s, ids: map[string]string{}, bodies: map[string]any{}}
	a.company, a.key = s.company("Northwind Traders", "nora@northwind.example")
	var site, site2 lkhttp.SiteView
	a.req(201, "POST", "/v1/sites", siteBody("Northwind HQ", 30), &site)
	a.req(201, "POST", "/v1/sites", siteBody("Northwind Lab", 10), &site2)
	a.ids["site"], a.ids["site2"] = site.ID, site2.ID
	q := map[string]int64{"quantity": 2}
	a.req(200, "POST", "/v1/sites/{id}/enroll", q, nil)
	a.req(200, "POST", "/v1/sites/{id}/unenroll", map[string]int64{"quantity": 1}, nil)
	a.req(200, "POST", "/v1/sites/{id}/purchase/preview", q, nil)
	a.req(200, "POST", "/v1/sites/{id}/purchase", q, nil)
	a.req(200, "POST", "/v1/sites/{id}/decrease/preview", q, nil)
	a.req(200, "POST", "/v1/sites/{id}/decrease", q, nil)
	tr := map[string]any{"from": site.ID, "to": site2.ID, "quantity": 1}
	a.req(200, "POST", "/v1/transfers/preview", tr, nil)
	a.req(200, "POST", "/v1/transfers", tr, nil)
	a.req(200, "PATCH", "/v1/sites/{id}", map[string]string{"plan": "business"}, nil)

	var p, p2, lp pool.Pool
	a.req(201, "POST", "/v1/pools", poolSpec("Northwind Office", "named_user"), &p)
	a.ids["pool"] = p.ID
	s.ok(201, "POST", "/v1/pools", a.key, poolSpec("Northwind Spare", "named_user"), &p2)
	s.ok(201, "POST", "/v1/pools", a.key, poolSpec("Northwind CAD", "concurrent_user"), &lp)
	a.ids["pool2"], a.ids["leasePool"] = p2.ID, lp.ID
	a.req(200, "PUT", "/v1/pools/{id}", poolSpec("Northwind Office", "named_user"), nil, "If-Match", "*")
	a.req(201, "POST", "/v1/pools/{id}/transactions", map[string]any{"kind": "purchase", "count": 10}, nil)
	s.ok(201, "POST", "/v1/pools/"+lp.ID+"/transactions", a.key, map[string]any{"kind": "purchase", "count": 10}, nil)
	a.req(200, "POST", "/v1/pools/{id}/reassign", map[string]any{"to": p2.ID, "count": 1}, nil)
	a.req(201, "POST", "/v1/pools/{id}/comments", map[string]string{"text": "Northwind note"}, nil)
	var att pool.Attachment
	a.req(201, "POST", "/v1/pools/{id}/attachments", "Northwind contract text", &att)
	a.ids["attachment"] = att.ID
	var al pool.Allocation
	a.req(201, "POST", "/v1/pools/{id}/allocations", map[string]any{"consumer": map[string]string{"user": "northwind-user-1"}}, &al)
	a.ids["allocation"] = al.ID
	var ls pool.Lease
	a.req(201, "POST", "/v1/pools/{id}/leases", map[string]any{"consumer": map[string]string{"user": "northwind-user-2"}}, &ls)
	a.ids["lease"] = ls.ID

	var vl lkhttp.VolumeLicenseView
	a.req(201, "POST", "/v1/volume-licenses", map[string]any{"product": "Northwind MDR", "seats": 200,
		"renewal_date": "2027-06-30", "price_per_user": map[string]string{"amount": "4.00", "currency": "USD"}}, &vl)
	a.ids["volumeLicense"] = vl.ID
	var cu volume.Customer
	a.req(201, "POST", "/v1/customers", map[string]any{"legal_name": "Northwind Customer Oy",
		"allocations": []map[string]any{{"license": vl.ID, "seats": 10}}}, &cu)
	a.ids["customer"] = cu.ID
	a.req(200, "PATCH", "/v1/customers/{id}", map[string]any{"legal_name": "Northwind Customer Ab"}, nil)
	a.req(200, "POST", "/v1/customers/{id}/usage", map[string]any{"license": vl.ID, "users": 3}, nil)

	var ck lkhttp.CreatedAPIKey
	a.req(201, "POST", "/v1/apikeys", map[string]string{"email": "bot@northwind.example", "role": "viewer"}, &ck)
	a.ids["apiKey"] = ck.APIKey.ID
	a.req(200, "PUT", "/v1/company/members", map[string]string{"email": "mia@northwind.example", "role": "admin"}, nil)
	a.req(200, "POST", "/v1/topup/enable", map[string]string{"accepted_terms_version": "2026-01"}, nil)
	a.req(200, "PUT", "/v1/topup/sites/{id}/increment", map[string]int64{"increment": 10}, nil)
	a.ids["email"] = "northwind-it@northwind.example"
	a.req(200, "POST", "/v1/topup/recipients", map[string]any{"emails": []string{a.ids["email"]}}, nil)

	var issued subscription.Issued
	a.req(201, "POST", "/v1/subscriptions/purchase", map[string]any{"type": "computer", "quantity": 3, "billing_period": "monthly",
		"unit_price": map[string]string{"amount": "5.00", "currency": "USD"}, "manual_activation": true}, &issued)
	require.Len(t, issued.Keys, 3)
	a.ids["subLicense"] = issued.Licenses[0].ID
	a.req(200, "POST", "/v1/subscriptions/activate", map[string]any{"key": issued.Keys[0]}, nil)
	a.req(200, "POST", "/v1/subscriptions/assign", map[string]any{"type": "computer", "license": issued.Licenses[0].ID,
		"consumer": map[string]string{"asset": "northwind-pc", "user": "northwind-user-3"}}, nil)
	// B replays the unassign of this assignment and the activation of an unused key.
	a.bodies["POST /v1/subscriptions/unassign"] = map[string]any{"type": "computer",
		"consumer": map[string]string{"asset": "northwind-pc", "user": "northwind-user-3"}}
	a.bodies["POST /v1/subscriptions/activate"] = map[string]any{"key": issued.Keys[1]}
	a.req(200, "POST", "/v1/subscriptions/validate-key", map[string]any{"key": issued.Keys[0],
		"consumer": map[string]string{"asset": "northwind-pc", "user": "northwind-user-3"}}, nil)
	// B validates an unused key of A's: it must look unknown.
	a.bodies["POST /v1/subscriptions/validate-key"] = map[string]any{"key": issued.Keys[2],
		"consumer": map[string]string{"asset": "northwind-pc"}}
	a.req(200, "PUT", "/v1/subscriptions/licenses/{id}/auto-renew", map[string]bool{"on": true}, nil)
	a.req(201, "POST", "/v1/subscriptions/trials", map[string]any{"type": "user", "quantity": 1, "ends_on": "2026-12-31"}, nil)

	var wh webhook.Created
	a.req(201, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.northwind.example/licensekit", "events": []string{"*"}}, &wh)
	a.ids["webhook"] = wh.Endpoint.ID
	a.req(200, "PATCH", "/v1/webhooks/{id}", map[string]any{"description": "Northwind hook"}, nil)
	a.req(201, "POST", "/v1/pools/{id}/comments", map[string]string{"text": "Northwind note for the hook"}, nil)
	var dl struct {
		Items []webhook.Delivery `json:"items"`
	}
	a.req(200, "GET", "/v1/webhooks/{id}/deliveries", nil, &dl)
	require.NotEmpty(t, dl.Items, "the comment after the webhook's creation makes a delivery")
	a.ids["delivery"] = dl.Items[0].ID

	a.refs = []string{a.company, issued.Keys[1], issued.Keys[2], issued.Licenses[1].ID, issued.Licenses[2].ID}
	for k, id := range a.ids {
		if k != "email" { // an e-mail names no resource of A; B may add the same address
			a.refs = append(a.refs, id)
		}
	}
	a.secrets = append([]string{"Northwind", "northwind", a.ids["email"]}, a.refs...)
	return a
}

// openAPIOp is one operation of the OpenAPI document.
type openAPIOp struct {
	method, path string
	op           map[string]any
}

func openAPIOps(t *testing.T, s *server) ([]openAPIOp, map[string]any) {
	t.Helper()
	var doc struct {
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components map[string]any                       `json:"components"`
	}
	s.ok(200, "GET", "/openapi.json", "", nil, &doc)
	var ops []openAPIOp
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ops = append(ops, openAPIOp{method: strings.ToUpper(method), path: path, op: op})
		}
	}
	// Reads first, then mutations, each in path order: a mutation that wrongly
	// reached A would show in the reads of later runs, not hide them.
	slices.SortFunc(ops, func(x, y openAPIOp) int {
		gx, gy := x.method != "GET", y.method != "GET"
		if gx != gy {
			if gx {
				return 1
			}
			return -1
		}
		return strings.Compare(x.path+x.method, y.path+y.method)
	})
	schemas, _ := doc.Components["schemas"].(map[string]any)
	return ops, schemas
}

// exampleOf makes a minimal JSON value of an OpenAPI schema, for routes A never
// called: required properties (all, when none are marked), the first enum value.
func exampleOf(schema map[string]any, schemas map[string]any, name string, depth int) any {
	if ref, ok := schema["$ref"].(string); ok {
		s, _ := schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		return exampleOf(s, schemas, name, depth)
	}
	if alts, ok := schema["anyOf"].([]any); ok && len(alts) > 0 {
		// A nullable reference: anyOf [{$ref}, {type: null}]; use the first.
		first, _ := alts[0].(map[string]any)
		return exampleOf(first, schemas, name, depth)
	}
	if e, ok := schema["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if depth > 4 {
		return nil
	}
	typ := schema["type"]
	if ts, ok := typ.([]any); ok && len(ts) > 0 {
		typ = ts[0] // OpenAPI 3.1 unions list the non-null type first
	}
	switch typ {
	case "object":
		props, _ := schema["properties"].(map[string]any)
		out := map[string]any{}
		req, _ := schema["required"].([]any)
		for k, v := range props {
			if len(req) > 0 && !slices.Contains(req, any(k)) {
				continue
			}
			ps, _ := v.(map[string]any)
			out[k] = exampleOf(ps, schemas, k, depth+1)
		}
		return out
	case "array":
		items, _ := schema["items"].(map[string]any)
		return []any{exampleOf(items, schemas, name, depth+1)}
	case "integer", "number":
		return 1
	case "boolean":
		return false
	case "string":
		switch {
		case schema["format"] == "date-time":
			return "2027-01-31T00:00:00Z"
		case strings.Contains(name, "email"):
			return "other@other.example"
		case name == "amount":
			return "1.00"
		case name == "currency":
			return "USD"
		}
		return "other"
	}
	return map[string]any{}
}

// Tenant isolation, from the OpenAPI document: every documented operation,
// called with a valid owner key of company B on company A's resources (path
// parameters are A's ids; bodies are the ones A used, or minimal valid JSON
// from the schema), answers 404 (403 where documented) when it names any of
// A's resources, and no answer to B contains any id, name or key of A.
// Nothing of A changes.
func TestTenantIsolationSweepSQLite(t *testing.T) {
	st, _ := sqliteStore(t)
	isolationSweep(t, st)
}

func TestTenantIsolationSweepPostgres(t *testing.T) {
	st, _ := postgresStore(t)
	isolationSweep(t, st)
}

func isolationSweep(t *testing.T, st storage.Store) {
	s := newServer(t, st)
	a := northwind(s)
	_, other := s.company("Other Ltd", "olga@other.example")
	// B has top-up enabled too, so the increment route reaches the site lookup.
	s.ok(200, "POST", "/v1/topup/enable", other, map[string]string{"accepted_terms_version": "2026-01"}, nil)
	before := dump(t, st, a.company)
	countA := func(snap snapshot) map[string]string {
		out := map[string]string{}
		for k, v := range snap.Records {
			if strings.HasPrefix(k, a.company+"/") || strings.Contains(v, a.company) {
				out[k] = v
			}
		}
		return out
	}

	ops, schemas := openAPIOps(t, s)
	require.Greater(t, len(ops), 60, "the OpenAPI document lists the API")
	probed, refused, leaksChecked := 0, 0, 0
	var notFoundAnswers []string
	for _, o := range ops {
		name := o.method + " " + o.path
		if o.op["x-access"] == "public" {
			continue
		}
		_, documents403 := o.op["responses"].(map[string]any)["403"]
		params := pathParamRE.FindAllStringSubmatch(o.path, -1)
		path := o.path
		for _, m := range params {
			v := a.param(o.path, m[1])
			require.NotEmpty(t, v, "%s: company A has no %q to probe with; add one to northwind()", name, m[1])
			path = strings.Replace(path, m[0], v, 1)
		}
		var body any
		var headers []string
		// An operation that requires If-Match gets the wildcard, so that the
		// answer is about the resource, not the missing header.
		ps, _ := o.op["parameters"].([]any)
		for _, p := range ps {
			if pm, ok := p.(map[string]any); ok && pm["name"] == "If-Match" && pm["required"] == true {
				headers = append(headers, "If-Match", "*")
			}
		}
		if rb, ok := o.op["requestBody"].(map[string]any); ok {
			content, _ := rb["content"].(map[string]any)
			if js, ok := content["application/json"].(map[string]any); ok {
				if b, ok := a.bodies[name]; ok {
					body = b
				} else {
					sch, _ := js["schema"].(map[string]any)
					body = exampleOf(sch, schemas, "", 0)
				}
			} else {
				body = "other bytes"
				path += "?name=other.txt"
				for ct := range content {
					headers = append(headers, "Content-Type", ct)
				}
			}
		}
		raw, _ := json.Marshal(body)
		namesA := len(params) > 0 || containsAny(string(raw), a.refs)
		if !namesA && body != nil {
			// A body of B's own: A's names become B's, so that B's answers
			// about its own resources cannot look like A's.
			raw = []byte(strings.NewReplacer("Northwind", "Other", "northwind", "other").Replace(string(raw)))
			if _, isText := body.(string); !isText {
				body = json.RawMessage(raw)
			}
		}
		r := s.do(o.method, path, other, body, headers...)
		probed++
		sent := path + string(raw)
		for _, sec := range a.secrets {
			if strings.Contains(sent, sec) {
				continue // B's own words echoed back ("no site <id> in this company")
			}
			if !assert.NotContains(t, string(r.body), sec, "%s answered B with A's data (status %d)", name, r.status) {
				break
			}
		}
		leaksChecked++
		if !namesA {
			continue
		}
		refused++
		// B cannot tell A's resource from one that does not exist: the same
		// request on fresh ids gets the same answer.
		swap, back := a.freshIDs(sent)
		missing := s.do(o.method, swap.Replace(path), other, jsonOrText(swap.Replace(string(raw)), body), headers...)
		assert.Equal(t, missing.status, r.status, "%s: A's resource and a missing one get different statuses: %s / %s", name, r.body, missing.body)
		assert.Equal(t, string(r.body), back.Replace(string(missing.body)), "%s: A's resource and a missing one get different answers", name)
		switch {
		case r.status == 404:
		case r.status == 403 && documents403:
		case r.status < 300:
			// A 2xx answer about a missing resource (a validation result that
			// says not_found): allowed only because it is the same as for an
			// id that never existed.
			notFoundAnswers = append(notFoundAnswers, name)
			assert.Contains(t, string(r.body), "not_found", "%s answered 2xx on A's resource without saying not_found: %s", name, r.body)
		default:
			assert.Equal(t, 404, r.status, "%s on company A's resources with company B's key: %s", name, r.body)
		}
	}
	after := dump(t, st, a.company)
	assert.Equal(t, before.Events[a.company], after.Events[a.company], "B's calls appended no event of A")
	assert.Equal(t, countA(before), countA(after), "B's calls changed no record of A")
	t.Logf("isolation sweep: %d documented operations probed with another company's key, %d named A's resources "+
		"(404, or the same 2xx \"not_found\" result as a missing id: %v), %d answers scanned for A's data",
		probed, refused, notFoundAnswers, leaksChecked)
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if x != "" && strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// freshIDs maps each of A's ids in sent to a fresh id of the same shape (swap)
// and back (back). A license key is replaced by a well-formed unknown key.
func (a *tenant) freshIDs(sent string) (swap, back *strings.Replacer) {
	var fw, bw []string
	for _, ref := range a.refs {
		if ref == "" || !strings.Contains(sent, ref) {
			continue
		}
		fresh := freshLike(ref)
		fw = append(fw, ref, fresh)
		bw = append(bw, fresh, ref)
	}
	return strings.NewReplacer(fw...), strings.NewReplacer(bw...)
}

// freshLike returns an id of ref's shape that names nothing: ref with its
// last character changed. The order between ids is kept (stores lock records
// in id order, so the first missing one reported depends on it).
func freshLike(ref string) string {
	const hexDigits, crockford = "0123456789abcdef", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	last := ref[len(ref)-1]
	for _, set := range []string{hexDigits, crockford} {
		if i := strings.IndexByte(set, last); i >= 0 {
			return ref[:len(ref)-1] + string(set[(i+1)%len(set)])
		}
	}
	return ref + "0"
}

// jsonOrText returns raw as the request body of the same kind as body.
func jsonOrText(raw string, body any) any {
	switch body.(type) {
	case nil:
		return nil
	case string:
		return raw
	}
	return json.RawMessage(raw)
}
