package console_test

import (
	"context"
	"crypto/tls"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/adapters/console"
	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage/memory"
)

type fixture struct {
	srv     *httptest.Server
	bill    *billing.Service
	owner   license.Actor
	site    billing.Site // 30 licenses, 20 enrolled
	other   billing.Site // 10 licenses, 0 enrolled
	keys    map[license.Role]string
	store   *memory.Store
	company string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	clock := license.SystemClock{}
	f := &fixture{bill: &billing.Service{Store: store, Clock: clock}, keys: map[license.Role]string{}, store: store}
	f.company = license.NewID()
	f.owner = license.Actor{Company: f.company, Email: "owner@msp.example", Role: license.Owner}
	_, err := f.bill.CreateCompany(ctx, f.owner, "MSP")
	require.NoError(t, err)
	price, err := license.ParseMoney("2.50", "EUR")
	require.NoError(t, err)
	thirty, ten := int64(30), int64(10)
	f.site, err = f.bill.CreateSite(ctx, f.owner, billing.NewSite{Name: "Helsinki", Plan: "Pro", UnitPrice: price, PaymentType: billing.MonthlyInvoice, Group: "Nordics", Licenses: &thirty})
	require.NoError(t, err)
	f.other, err = f.bill.CreateSite(ctx, f.owner, billing.NewSite{Name: "Tampere", Plan: "Pro", UnitPrice: price, PaymentType: billing.Card, Group: "Nordics", Licenses: &ten})
	require.NoError(t, err)
	_, err = f.bill.Enroll(ctx, f.owner, billing.EnrollRequest{Site: f.site.ID, Devices: 20})
	require.NoError(t, err)
	for role, email := range map[license.Role]string{license.Owner: "owner@msp.example", license.Admin: "admin@msp.example", license.Viewer: "viewer@msp.example"} {
		c, err := apikey.IssueFor(ctx, store, clock, f.company, apikey.New{Email: email, Role: role}, license.SystemEmail)
		require.NoError(t, err)
		f.keys[role] = c.Key
	}
	h, err := console.New(console.Config{Store: store, Clock: clock, Billing: f.bill, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) licenses(t *testing.T, id string) int64 {
	t.Helper()
	s, err := f.bill.GetSite(context.Background(), f.owner, id)
	require.NoError(t, err)
	return s.LicenseCount()
}

// browser is a client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, "no CSRF token in the page")
	return m[1]
}

// signIn signs c in with key and returns the CSRF token of the session.
func (f *fixture) signIn(t *testing.T, c *http.Client, key string) string {
	t.Helper()
	_, page := get(t, c, f.srv.URL+"/signin")
	resp, _ := post(t, c, f.srv.URL+"/signin", url.Values{"csrf": {csrfOf(t, page)}, "key": {key}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/licenses", resp.Header.Get("Location"))
	status, page := get(t, c, f.srv.URL+"/licenses")
	require.Equal(t, http.StatusOK, status)
	return csrfOf(t, page)
}

func TestSignInSetsSessionCookieAndSignOutEndsIt(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	status, _ := get(t, c, f.srv.URL+"/licenses")
	require.Equal(t, http.StatusSeeOther, status, "no session: sent to sign in")

	_, page := get(t, c, f.srv.URL+"/signin")
	resp, _ := post(t, c, f.srv.URL+"/signin", url.Values{"csrf": {csrfOf(t, page)}, "key": {f.keys[license.Owner]}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == console.SessionCookie {
			cookie = ck
		}
	}
	require.NotNil(t, cookie)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, cookie.SameSite)
	assert.False(t, cookie.Secure, "plain HTTP: not Secure")
	assert.NotContains(t, cookie.Value, f.keys[license.Owner], "the cookie is not the key")

	status, page = get(t, c, f.srv.URL+"/licenses")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "Helsinki")
	assert.Contains(t, page, "owner@msp.example")

	resp, _ = post(t, c, f.srv.URL+"/signout", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	status, _ = get(t, c, f.srv.URL+"/licenses")
	assert.Equal(t, http.StatusSeeOther, status, "signed out")

	// The old cookie value is dead on the server too, not only in the jar.
	req, _ := http.NewRequest("GET", f.srv.URL+"/licenses", nil)
	req.AddCookie(&http.Cookie{Name: console.SessionCookie, Value: cookie.Value})
	r2, err := browser(t).Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, http.StatusSeeOther, r2.StatusCode)
}

func TestSessionCookieIsSecureOverTLS(t *testing.T) {
	store := memory.New()
	h, err := console.New(console.Config{Store: store})
	require.NoError(t, err)
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	ctx := context.Background()
	company := license.NewID()
	_, err = (&billing.Service{Store: store}).CreateCompany(ctx, license.Actor{Company: company, Email: "o@x.example", Role: license.Owner}, "X")
	require.NoError(t, err)
	k, err := apikey.IssueFor(ctx, store, license.SystemClock{}, company, apikey.New{Email: "o@x.example", Role: license.Owner}, license.SystemEmail)
	require.NoError(t, err)
	c := srv.Client()
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test server
	_, page := get(t, c, srv.URL+"/signin")
	resp, _ := post(t, c, srv.URL+"/signin", url.Values{"csrf": {csrfOf(t, page)}, "key": {k.Key}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	found := false
	for _, ck := range resp.Cookies() {
		if ck.Name == console.SessionCookie {
			found = true
			assert.True(t, ck.Secure)
			assert.True(t, ck.HttpOnly)
		}
	}
	assert.True(t, found)
}

func TestSignInRefusesUnknownKeyAndMissingToken(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	_, page := get(t, c, f.srv.URL+"/signin")
	resp, body := post(t, c, f.srv.URL+"/signin", url.Values{"csrf": {csrfOf(t, page)}, "key": {"lk_nope"}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body, `role="alert"`)
	assert.Contains(t, body, "not known")

	resp, _ = post(t, c, f.srv.URL+"/signin", url.Values{"key": {f.keys[license.Owner]}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "sign-in without its CSRF token")
	for _, ck := range resp.Cookies() {
		assert.NotEqual(t, console.SessionCookie, ck.Name)
	}
}

func TestPostWithoutOrWithWrongCSRFTokenIsRefused(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	token := f.signIn(t, c, f.keys[license.Owner])
	for name, form := range map[string]url.Values{
		"missing": {"site": {f.site.ID}, "quantity": {"5"}},
		"wrong":   {"site": {f.site.ID}, "quantity": {"5"}, "csrf": {token + "x"}},
	} {
		resp, body := post(t, c, f.srv.URL+"/licenses/purchase", form)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		assert.Contains(t, body, "CSRF", name)
	}
	assert.Equal(t, int64(30), f.licenses(t, f.site.ID), "nothing bought")

	resp, body := post(t, c, f.srv.URL+"/licenses/purchase", url.Values{"site": {f.site.ID}, "quantity": {"5"}, "csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.Equal(t, int64(35), f.licenses(t, f.site.ID))
	_, page := get(t, c, f.srv.URL+resp.Header.Get("Location"))
	assert.Contains(t, page, "Bought 5 licenses")
	_, page = get(t, c, f.srv.URL+resp.Header.Get("Location"))
	assert.NotContains(t, page, "Bought 5 licenses", "the notice is shown once")
}

func TestDoubleSubmitOfOneDialogBuysOnce(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	f.signIn(t, c, f.keys[license.Owner])
	_, page := get(t, c, f.srv.URL+"/licenses?dialog=purchase&site="+f.site.ID)
	idem := regexp.MustCompile(`name="idem" value="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, idem, "the dialog carries an idempotency token")
	form := url.Values{"site": {f.site.ID}, "quantity": {"5"}, "csrf": {csrfOf(t, page)}, "idem": {idem[1]}}
	for range 2 {
		resp, body := post(t, c, f.srv.URL+"/licenses/purchase", form)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	}
	assert.Equal(t, int64(35), f.licenses(t, f.site.ID), "bought once")
	_, page2 := get(t, c, f.srv.URL+"/licenses?dialog=purchase&site="+f.site.ID)
	assert.NotContains(t, page2, idem[1], "each rendering has its own token")
}

func TestViewerSeesNoPurchaseAndForgedPostIsRefused(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	token := f.signIn(t, c, f.keys[license.Viewer])
	_, page := get(t, c, f.srv.URL+"/licenses")
	assert.NotContains(t, page, "dialog=purchase")
	assert.NotContains(t, page, "2.50 EUR", "a viewer sees no prices")
	assert.NotContains(t, page, "Invoice estimate")
	resp, body := post(t, c, f.srv.URL+"/licenses/purchase", url.Values{"site": {f.site.ID}, "quantity": {"5"}, "csrf": {token}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, "viewer")
	assert.Equal(t, int64(30), f.licenses(t, f.site.ID))

	// The admin sees both.
	c2 := browser(t)
	f.signIn(t, c2, f.keys[license.Admin])
	_, page = get(t, c2, f.srv.URL+"/licenses")
	assert.Contains(t, page, "dialog=purchase")
	assert.Contains(t, page, "2.50 EUR")
}

func TestDemotionTakesEffectAtTheNextRequest(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	token := f.signIn(t, c, f.keys[license.Admin])
	_, err := f.bill.AddMember(context.Background(), f.owner, "admin@msp.example", license.Viewer)
	require.NoError(t, err)
	_, page := get(t, c, f.srv.URL+"/licenses")
	assert.NotContains(t, page, "dialog=purchase")
	resp, _ := post(t, c, f.srv.URL+"/licenses/purchase", url.Values{"site": {f.site.ID}, "quantity": {"5"}, "csrf": {token}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, int64(30), f.licenses(t, f.site.ID))
}

func TestDomainRefusalIsShownNextToTheField(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	token := f.signIn(t, c, f.keys[license.Owner])
	// 30 licenses, 20 enrolled: removing 15 would leave 15 < 20.
	resp, body := post(t, c, f.srv.URL+"/licenses/decrease", url.Values{"site": {f.site.ID}, "quantity": {"15"}, "csrf": {token}})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	_, derr := f.bill.PreviewDecrease(context.Background(), f.owner, billing.DecreaseRequest{Site: f.site.ID, Quantity: 15})
	require.Error(t, derr)
	want := regexp.MustCompile(`<p id="quantity-error" class="error" role="alert"\s*>([^<]*)</p>`).FindStringSubmatch(body)
	require.NotNil(t, want, body)
	assert.Equal(t, html.EscapeString(license.ErrorMessage(derr)), want[1], "the domain's message, on the field")
	assert.Regexp(t, `id="quantity"[^>]*aria-describedby="quantity-error preview"[^>]*aria-invalid="true"`, body)
	assert.Equal(t, int64(30), f.licenses(t, f.site.ID))
}

func TestPreviewAnswersTheBillingPreview(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	token := f.signIn(t, c, f.keys[license.Owner])
	req, _ := http.NewRequest("POST", f.srv.URL+"/licenses/preview", strings.NewReader(url.Values{"kind": {"purchase"}, "site": {f.site.ID}, "quantity": {"10"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", token)
	resp, err := c.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	q, err := f.bill.PreviewPurchase(context.Background(), f.owner, billing.PurchaseRequest{Site: f.site.ID, Quantity: 10})
	require.NoError(t, err)
	assert.Contains(t, string(b), q.AddedCost.String())
	assert.Contains(t, string(b), q.EstimatedTotal.String())
	assert.Equal(t, int64(30), f.licenses(t, f.site.ID), "a preview changes nothing")
}

func TestRevokedKeyEndsTheSession(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	f.signIn(t, c, f.keys[license.Admin])
	ctx := context.Background()
	keys, err := (&apikey.Service{Store: f.store}).List(ctx, f.owner)
	require.NoError(t, err)
	for _, k := range keys {
		if k.Email == "admin@msp.example" {
			_, err := (&apikey.Service{Store: f.store}).Revoke(ctx, f.owner, k.ID)
			require.NoError(t, err)
		}
	}
	status, body := get(t, c, f.srv.URL+"/licenses")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body, "revoked")
}

func TestEventLogExportHasTheVisibleColumns(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	f.signIn(t, c, f.keys[license.Owner])
	status, page := get(t, c, f.srv.URL+"/events?cols=type&cols=actor&sort=type")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "Hash chain: intact")
	// The choice is remembered for this person.
	_, page = get(t, c, f.srv.URL+"/events")
	assert.Regexp(t, `name="cols" value="type"`, page)
	status, csv := get(t, c, f.srv.URL+"/events/export?view=current&cols=type&cols=actor")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Event type,Initiated by", strings.SplitN(csv, "\n", 2)[0][:len("Event type,Initiated by")])
	assert.Equal(t, "Event type,Initiated by", strings.TrimRight(strings.SplitN(csv, "\n", 2)[0], "\r"))
}

func TestEventLogColumnOrderCanBeChanged(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	f.signIn(t, c, f.keys[license.Owner])
	_, page := get(t, c, f.srv.URL+"/events?cols=time&cols=type&cols=actor")
	m := regexp.MustCompile(`href="([^"]+)" aria-label="Move Event type one place earlier"`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	status, page := get(t, c, f.srv.URL+html.UnescapeString(m[1]))
	require.Equal(t, http.StatusOK, status)
	heads := regexp.MustCompile(`<th scope="col" data-col="([a-z_]+)"`).FindAllStringSubmatch(page, -1)
	var order []string
	for _, h := range heads {
		order = append(order, h[1])
	}
	assert.Equal(t, []string{"type", "time", "actor"}, order)
}

func TestSignInAttemptsAreLimited(t *testing.T) {
	store := memory.New()
	h, err := console.New(console.Config{Store: store, SignInLimiter: license.NewTokenBucket(0.001, 3), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := browser(t)
	_, page := get(t, c, srv.URL+"/signin")
	token := csrfOf(t, page)
	var last *http.Response
	var body string
	for range 4 {
		last, body = post(t, c, srv.URL+"/signin", url.Values{"csrf": {token}, "key": {"lk_wrong"}})
	}
	assert.Equal(t, http.StatusTooManyRequests, last.StatusCode)
	assert.NotEmpty(t, last.Header.Get("Retry-After"))
	assert.Contains(t, body, "Too many sign-in attempts")
}

func TestSecureCookiesBehindATLSProxy(t *testing.T) {
	h, err := console.New(console.Config{Store: memory.New(), SecureCookies: true})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/signin")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEmpty(t, resp.Cookies())
	for _, ck := range resp.Cookies() {
		assert.True(t, ck.Secure, ck.Name)
		assert.True(t, ck.HttpOnly, ck.Name)
	}
}

func TestEventLogColumnsAreRememberedAcrossRestartsAndBadChoicesAreNot(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	f.signIn(t, c, f.keys[license.Owner])
	status, _ := get(t, c, f.srv.URL+"/events?cols=type&cols=type")
	assert.Equal(t, http.StatusUnprocessableEntity, status, "a repeated column is the domain's refusal")
	status, page := get(t, c, f.srv.URL+"/events")
	require.Equal(t, http.StatusOK, status, "a refused choice is not remembered")
	assert.Contains(t, page, `<th scope="col" data-col="time"`, "the default columns")

	status, _ = get(t, c, f.srv.URL+"/events?cols=actor&cols=type")
	require.Equal(t, http.StatusOK, status)

	// A second console process (sessions and memory of its own) on the same store.
	h2, err := console.New(console.Config{Store: f.store, Billing: f.bill, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv2 := httptest.NewServer(h2)
	defer srv2.Close()
	f2 := *f
	f2.srv = srv2
	f2.signIn(t, c, f.keys[license.Owner])
	_, page = get(t, c, srv2.URL+"/events")
	heads := regexp.MustCompile(`<th scope="col" data-col="([a-z_]+)"`).FindAllStringSubmatch(page, -1)
	var order []string
	for _, h := range heads {
		order = append(order, h[1])
	}
	assert.Equal(t, []string{"actor", "type"}, order)
}

func TestTopUpRefusalsAreShownNextToTheirFields(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	token := f.signIn(t, c, f.keys[license.Owner])
	// Tampere pays by card: the domain refuses to enable top-up and says why.
	resp, body := post(t, c, f.srv.URL+"/topup/enable", url.Values{"csrf": {token}, "accept": {console.TermsVersion}})
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	m := regexp.MustCompile(`<p id="enable-error" class="error" role="alert">([^<]*)</p>`).FindStringSubmatch(body)
	require.NotNil(t, m, body)
	assert.Contains(t, html.UnescapeString(m[1]), "Tampere")
	assert.Contains(t, html.UnescapeString(m[1]), "monthly invoice")
	assert.Regexp(t, `id="accept"[^>]*aria-invalid="true" aria-describedby="enable-error"`, body)

	// Without the terms accepted, nothing is asked of the domain.
	resp, body = post(t, c, f.srv.URL+"/topup/enable", url.Values{"csrf": {token}})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, body, "accept the automatic top-up terms")

	// Once Tampere pays by monthly invoice, top-up can be enabled.
	card := billing.MonthlyInvoice
	_, err := f.bill.UpdateSite(context.Background(), f.owner, f.other.ID, billing.SiteChange{PaymentType: &card})
	require.NoError(t, err)
	resp, _ = post(t, c, f.srv.URL+"/topup/enable", url.Values{"csrf": {token}, "accept": {console.TermsVersion}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page := get(t, c, f.srv.URL+"/topup")
	assert.Contains(t, page, "Automatic top-up is on")
	assert.Contains(t, page, "Automatic top-up is <strong>on</strong>")

	// An increment that is not a multiple of 5 is the domain's refusal, on its field.
	resp, body = post(t, c, f.srv.URL+"/topup/increment", url.Values{"csrf": {token}, "site": {f.site.ID}, "increment": {"7"}})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Regexp(t, `<p id="inc-error-\d+" class="error" role="alert">[^<]*5`, body)
	resp, _ = post(t, c, f.srv.URL+"/topup/increment", url.Values{"csrf": {token}, "site": {f.site.ID}, "increment": {"10"}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)

	// Recipients: a bad address is refused on the field; a good one is added and removed.
	resp, body = post(t, c, f.srv.URL+"/topup/recipients", url.Values{"csrf": {token}, "email": {"nope"}})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, body, `id="email-error"`)
	resp, _ = post(t, c, f.srv.URL+"/topup/recipients", url.Values{"csrf": {token}, "email": {"ops@msp.example"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = get(t, c, f.srv.URL+"/topup")
	assert.Contains(t, page, "Remove ops@msp.example")
	resp, _ = post(t, c, f.srv.URL+"/topup/recipients/remove", url.Values{"csrf": {token}, "email": {"ops@msp.example"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = get(t, c, f.srv.URL+"/topup")
	assert.NotContains(t, page, "Remove ops@msp.example")
}

func TestViewerCannotChangeTopUpNorReadTheLog(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	token := f.signIn(t, c, f.keys[license.Viewer])
	_, page := get(t, c, f.srv.URL+"/topup")
	assert.NotContains(t, page, `action="/topup/enable"`)
	assert.NotContains(t, page, `href="/events"`)
	resp, _ := post(t, c, f.srv.URL+"/topup/recipients", url.Values{"csrf": {token}, "email": {"x@msp.example"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	status, _ := get(t, c, f.srv.URL+"/events")
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = get(t, c, f.srv.URL+"/events/export?view=original")
	assert.Equal(t, http.StatusForbidden, status)
}

func TestEventLogShowsTimesToTheSecond(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	f.signIn(t, c, f.keys[license.Owner])
	status, page := get(t, c, f.srv.URL+"/events?cols=time&cols=type")
	require.Equal(t, http.StatusOK, status)
	m := regexp.MustCompile(`<td><time datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC</time></td>`).FindStringSubmatch(page)
	require.NotNil(t, m, "a time cell shown to the second, the exact value kept in datetime")
	exact, err := time.Parse(time.RFC3339Nano, m[1])
	require.NoError(t, err)
	assert.Equal(t, exact.UTC().Format("2006-01-02 15:04:05"), m[2])
	assert.NotRegexp(t, `<td>\d{4}-\d\d-\d\dT[^<]*Z</td>`, page, "no raw RFC 3339 time is shown as a cell")
}
