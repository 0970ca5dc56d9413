package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/adapters/http/client"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type running struct {
	base   string
	demo   Demo
	out    *syncBuffer
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// start runs the server in-process on a free port with a SQLite file.
func start(t *testing.T, env map[string]string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{out: &syncBuffer{}, logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	args = append([]string{"-addr", "127.0.0.1:0", "-interval", "50ms"}, args...)
	go func() {
		r.done <- run(ctx, args, func(k string) string { return env[k] },
			r.out, r.logs, func(base string, d Demo) { r.base, r.demo = base, d; close(ready) })
	}()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("server did not start: %v\n%s", err, r.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start in time")
	}
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
	assert.Contains(t, r.logs.String(), `msg="background loop stopped" loop=topup-notifications`)
	assert.Contains(t, r.logs.String(), `msg="background loop stopped" loop=subscription-tick`)
	assert.Contains(t, r.logs.String(), "msg=stopped")
}

// shellWords splits a printed command line the way sh would for the simple
// quoting the server prints, expanding $LK.
func shellWords(line string, env map[string]string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			s := line[i+1 : i+1+j]
			for k, v := range env {
				s = strings.ReplaceAll(s, "$"+k, v)
			}
			cur.WriteString(s)
			i += j + 1
			inWord = true
		case c == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '$':
			j := i + 1
			for j < len(line) && (line[j] == '_' || line[j] >= 'A' && line[j] <= 'Z' || line[j] >= '0' && line[j] <= '9') {
				j++
			}
			cur.WriteString(env[line[i+1:j]])
			i = j - 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// api is the typed client of the server at base, authenticated with key.
func api(t *testing.T, base, key string, opts ...client.ClientOption) *client.ClientWithResponses {
	t.Helper()
	c, err := client.New(base, key, opts...)
	require.NoError(t, err)
	return c
}

// curl runs one printed curl command with net/http and returns the status and body
// (or writes the body to the -o file in dir).
func curl(t *testing.T, line, dir string, env map[string]string) (int, []byte) {
	t.Helper()
	w := shellWords(line, env)
	require.Equal(t, "curl", w[0], line)
	method, url, out := "GET", "", ""
	var body io.Reader
	hdr := http.Header{}
	for i := 1; i < len(w); i++ {
		switch w[i] {
		case "-s":
		case "-X":
			i++
			method = w[i]
		case "-H":
			i++
			k, v, ok := strings.Cut(w[i], ": ")
			require.True(t, ok, w[i])
			hdr.Set(k, v)
		case "-d":
			i++
			body = strings.NewReader(w[i])
		case "-o":
			i++
			out = w[i]
		default:
			require.Empty(t, url, "two URLs in %q", line)
			url = w[i]
		}
	}
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	req.Header = hdr
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if out != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, out), b, 0o600))
	}
	return res.StatusCode, b
}

// readmeCommands returns the curl lines of the README's quick start.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "curl ") {
			out = append(out, l)
		}
	}
	return out
}

var idemHeader = regexp.MustCompile(`Idempotency-Key: [^']*`)

// normalise replaces the base URL and idempotency keys, which differ per run.
func normalise(cmds []string, base string) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		c = strings.ReplaceAll(c, base, "BASE")
		out[i] = idemHeader.ReplaceAllString(c, "Idempotency-Key: K")
	}
	return out
}

// printed returns the exported variables and the curl lines of the welcome text.
func printed(t *testing.T, out string) (map[string]string, []string) {
	t.Helper()
	vars := map[string]string{}
	var cmds []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "export "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
		}
		if strings.HasPrefix(l, "curl ") {
			cmds = append(cmds, l)
		}
	}
	return vars, cmds
}

// The README walkthrough: the commands the server prints (purchase preview,
// purchase, transfer, top-up, event log export) work as printed against a
// fresh SQLite file, and the server restarts on the same file and stops cleanly.
func TestREADMEWalkthrough(t *testing.T) {
	dir := t.TempDir()
	walkthrough(t, dir, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(dir, "licensekit.db")})
}

// The same walkthrough on PostgreSQL, in a database created for the test.
// It runs when LICENSEKIT_TEST_POSTGRES_DSN is set (always under CI=true).
func TestREADMEWalkthroughOnPostgres(t *testing.T) {
	dsn := os.Getenv("LICENSEKIT_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("LICENSEKIT_TEST_POSTGRES_DSN is not set; under CI the PostgreSQL tests must run (see .ci/run)")
		}
		t.Skip("set LICENSEKIT_TEST_POSTGRES_DSN to run the walkthrough on PostgreSQL")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := fmt.Sprintf("lk_server_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	u := url.URL{Scheme: "postgres", User: url.UserPassword(cfg.User, cfg.Password),
		Host: fmt.Sprintf("%s:%d", cfg.Host, cfg.Port), Path: "/" + name, RawQuery: "sslmode=disable"}
	if cfg.Password == "" {
		u.User = url.User(cfg.User)
	}
	dir := t.TempDir()
	walkthrough(t, dir, map[string]string{"LICENSEKIT_POSTGRES": u.String(), "LICENSEKIT_ATTACHMENTS": filepath.Join(dir, "attachments")})
}

func walkthrough(t *testing.T, dir string, env0 map[string]string) {
	r := start(t, env0)
	out := r.out.String()
	assert.Contains(t, out, "created demo data")
	env, cmds := printed(t, out)
	key := env["LK"]
	require.NotEmpty(t, key, out)
	assert.Equal(t, r.demo.Key, key)
	assert.Equal(t, r.demo.Oulu, env["OULU"])
	require.Len(t, cmds, 7)
	// The README shows exactly these commands (for the default address).
	assert.Equal(t, normalise(readmeCommands(t), "http://127.0.0.1:8080"), normalise(cmds, r.base))

	status, body := curl(t, cmds[0], dir, env)
	require.Equal(t, 200, status, string(body))
	var sites struct {
		Items      []map[string]any `json:"items"`
		NextCursor string           `json:"next_cursor"`
	}
	require.NoError(t, json.Unmarshal(body, &sites))
	require.Len(t, sites.Items, 3)
	assert.Empty(t, sites.NextCursor, "one page")
	for _, s := range sites.Items {
		assert.Equal(t, "Nordics", s["group"])
		assert.Equal(t, "monthly_invoice", s["payment_type"])
	}

	// Purchase preview and purchase: Oulu has no amount set and 20 enrolled; buying 30.
	status, pre := curl(t, cmds[1], dir, env)
	require.Equal(t, 200, status, string(pre))
	status, done := curl(t, cmds[2], dir, env)
	require.Equal(t, 200, status, string(done))
	assert.JSONEq(t, string(pre), string(done))
	var q struct {
		Minimum   int64 `json:"minimum"`
		NewTotal  int64 `json:"new_total"`
		AddedCost struct {
			Amount string `json:"amount"`
		} `json:"added_cost"`
	}
	require.NoError(t, json.Unmarshal(done, &q))
	assert.Equal(t, int64(20), q.Minimum)
	assert.Equal(t, int64(30), q.NewTotal)
	assert.Equal(t, "25.00", q.AddedCost.Amount)
	// The printed purchase carries an idempotency key: running it again changes nothing.
	status, again := curl(t, cmds[2], dir, env)
	require.Equal(t, 200, status)
	assert.JSONEq(t, string(done), string(again))

	status, body = curl(t, cmds[3], dir, env) // transfer 5 Helsinki -> Oulu
	require.Equal(t, 200, status, string(body))
	assert.Contains(t, string(body), `"transferred":5`)

	status, body = curl(t, cmds[4], dir, env) // enable top-up
	require.Equal(t, 200, status, string(body))
	assert.Contains(t, string(body), `"enabled":true`)

	status, body = curl(t, cmds[5], dir, env) // Tampere: 2 available, 4 enrolling: +5
	require.Equal(t, 200, status, string(body))
	assert.Contains(t, string(body), `"topped_up":5`)
	assert.Contains(t, string(body), `"licenses":15`)

	status, body = curl(t, cmds[6], dir, env) // event log export
	require.Equal(t, 200, status, string(body))
	f, err := os.ReadFile(filepath.Join(dir, "events.csv"))
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, []string{"Event date", "Event type", "Source", "Target", "License count", "Initiated by"}, rows[0])
	types := map[string]bool{}
	for _, row := range rows[1:] {
		types[row[1]] = true
	}
	for _, want := range []string{"license.purchase", "license.transfer", "topup.enabled", "topup.triggered", "site.enroll"} {
		assert.True(t, types[want], "export lacks %s", want)
	}

	// The notification loop delivers the top-up's notification in the background
	// (no recipients here: it is marked delivered).
	ctx := context.Background()
	c := api(t, r.base, key)
	require.Eventually(t, func() bool {
		rsp, err := c.GetV1TopupNotificationsWithResponse(ctx, &client.GetV1TopupNotificationsParams{
			Status: client.Ptr(client.GetV1TopupNotificationsParamsStatusDelivered)})
		require.NoError(t, err)
		require.NoError(t, client.Check(rsp, 200))
		for _, n := range *rsp.JSON200.Items {
			if n.Status == client.TopupOutboxEntryStatusDelivered {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	r.stop(t)

	// A second start on the same file keeps the data, issues and prints no
	// key, and says how to get one; the first key still works.
	r2 := start(t, env0)
	out2 := r2.out.String()
	assert.Contains(t, out2, "licensekit: using ")
	env2, cmds2 := printed(t, out2)
	assert.Empty(t, env2["LK"], "a later start prints no key")
	assert.Empty(t, r2.demo.Key)
	assert.Contains(t, out2, "is not shown again")
	assert.Contains(t, out2, "-new-owner-key")
	assert.Equal(t, normalise(cmds, r.base), normalise(cmds2, r2.base))
	assert.Equal(t, r.demo.Oulu, r2.demo.Oulu)
	keys, err := api(t, r2.base, key).GetV1ApikeysWithResponse(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, client.Check(keys, 200))
	assert.Len(t, *keys.JSON200.Items, 1, "one owner key however many starts")
	status, body = curl(t, cmds2[0], dir, env) // the first run's key still works
	require.Equal(t, 200, status, string(body))
	assert.Contains(t, string(body), `"licenses":35`) // Oulu: 30 bought + 5 transferred

	// Attachments are files next to the database and survive restarts.
	pools := r2.demo.Pools
	att, err := api(t, r2.base, key).PostV1PoolsIdAttachmentsWithBodyWithResponse(ctx, pools[0],
		&client.PostV1PoolsIdAttachmentsParams{Name: client.Ptr("contract.txt")}, "text/plain", strings.NewReader("signed contract"))
	require.NoError(t, err)
	require.NoError(t, client.Check(att, 201))
	r2.stop(t)
	r3 := start(t, env0)
	file, err := api(t, r3.base, key).GetV1PoolsIdAttachmentsAttachmentWithResponse(ctx, pools[0], att.JSON201.Id.String(), nil)
	require.NoError(t, err)
	require.NoError(t, client.Check(file, 200))
	assert.Equal(t, "signed contract", string(file.Body))
	r3.stop(t)
}

// With -owner-key-file the first start writes the owner key to that file
// (mode 0600) and prints none; later starts leave the file and issue nothing;
// -new-owner-key issues a further key (the lost-key path), which the owner
// then uses to revoke the lost one.
func TestOwnerKeyBootstrapToFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "owner.key")
	env := map[string]string{"LICENSEKIT_SQLITE": filepath.Join(dir, "licensekit.db"), "LICENSEKIT_OWNER_KEY_FILE": file}
	readKey := func() string {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	ctx := context.Background()
	listKeys := func(base, key string) []string {
		rsp, err := api(t, base, key).GetV1ApikeysWithResponse(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, client.Check(rsp, 200))
		var names []string
		for _, k := range *rsp.JSON200.Items {
			names = append(names, k.Id+" "+*k.Name)
		}
		return names
	}

	r := start(t, env)
	out := r.out.String()
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the key file is private")
	first := readKey()
	assert.Equal(t, r.demo.Key, first)
	assert.NotContains(t, out, first, "the key is not printed")
	assert.Contains(t, out, `export LK="$(cat `+file+`)"`)
	require.Len(t, listKeys(r.base, first), 1)
	r.stop(t)

	r = start(t, env)
	assert.Empty(t, r.demo.Key, "a later start issues nothing")
	assert.Equal(t, first, readKey(), "and leaves the file alone")
	assert.Contains(t, r.out.String(), "is not shown again")
	assert.Len(t, listKeys(r.base, first), 1)
	r.stop(t)

	r = start(t, env, "-new-owner-key")
	second := readKey()
	assert.NotEqual(t, first, second)
	assert.Equal(t, r.demo.Key, second)
	keys := listKeys(r.base, second)
	require.Len(t, keys, 2)
	for _, k := range keys {
		if id, name, _ := strings.Cut(k, " "); name == "bootstrap owner key" {
			rsp, err := api(t, r.base, second).DeleteV1ApikeysIdWithResponse(ctx, id, nil)
			require.NoError(t, err)
			require.NoError(t, client.Check(rsp, 200))
		}
	}
	rsp, err := api(t, r.base, first).GetV1SitesWithResponse(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, 401, rsp.StatusCode(), "the lost key is revoked")
	r.stop(t)
}

func TestConfigFromFlagsAndEnvironment(t *testing.T) {
	env := map[string]string{"LICENSEKIT_ADDR": "127.0.0.1:9999", "LICENSEKIT_SQLITE": "/tmp/x.db", "LICENSEKIT_POSTGRES": ""}
	c, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9999", c.addr)
	assert.Equal(t, "/tmp/x.db", c.sqlite)
	c, err = parseConfig([]string{"-addr", ":1", "-postgres", "postgres://x"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, ":1", c.addr)
	assert.Equal(t, "postgres://x", c.postgres)
	c, err = parseConfig(nil, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", c.addr)
	assert.Equal(t, "licensekit.db", c.sqlite)
	assert.Equal(t, "licensekit.db.attachments", c.blobs)
	_, err = parseConfig([]string{"extra"}, func(string) string { return "" }, io.Discard)
	assert.Error(t, err)
}

func TestConfigOfLimits(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseConfig(nil, none, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, lkhttp.DefaultFailedAuth, c.limits.FailedAuth, "on by default")
	assert.Equal(t, lkhttp.DefaultValidation, c.limits.Validation)
	assert.Empty(t, c.proxies)

	env := map[string]string{"LICENSEKIT_AUTH_FAIL_RATE": "3", "LICENSEKIT_AUTH_FAIL_BURST": "4",
		"LICENSEKIT_VALIDATE_RATE": "0", "LICENSEKIT_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1,2001:db8::/32"}
	c, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, lkhttp.Rate{PerMinute: 3, Burst: 4}, c.limits.FailedAuth)
	assert.Equal(t, lkhttp.NoLimit, c.limits.Validation, "a rate of 0 turns it off")
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8::/32")}, c.proxies)

	c, err = parseConfig([]string{"-auth-fail-rate", "30", "-validate-rate", "120", "-validate-burst", "7", "-trusted-proxies", ""},
		func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, lkhttp.Rate{PerMinute: 30, Burst: 4}, c.limits.FailedAuth, "the flag wins over the environment")
	assert.Equal(t, lkhttp.Rate{PerMinute: 120, Burst: 7}, c.limits.Validation)
	assert.Empty(t, c.proxies)

	for _, bad := range [][]string{{"-auth-fail-rate", "-1"}, {"-auth-fail-burst", "0"}, {"-validate-burst", "2.5"},
		{"-trusted-proxies", "10.0.0.0/8,proxy.example"}} {
		_, err = parseConfig(bad, none, io.Discard)
		assert.Error(t, err, "%v", bad)
	}
	_, err = parseConfig(nil, func(k string) string {
		if k == "LICENSEKIT_VALIDATE_BURST" {
			return "lots"
		}
		return ""
	}, io.Discard)
	assert.ErrorContains(t, err, "LICENSEKIT_VALIDATE_BURST")
}

// from is an HTTP client whose connections leave from the loopback address ip
// (all of 127.0.0.0/8 is local on Linux), so one test can be several clients.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

// send lists the sites of the server at base with key, through c, with the
// extra headers (name, value, ...).
func send(t *testing.T, c *http.Client, base, key string, headers ...string) *client.GetV1SitesResponse {
	t.Helper()
	var editors []client.RequestEditorFn
	for i := 0; i+1 < len(headers); i += 2 {
		editors = append(editors, client.Header(headers[i], headers[i+1]))
	}
	rsp, err := api(t, base, key, client.WithHTTPClient(c)).GetV1SitesWithResponse(context.Background(), nil, editors...)
	require.NoError(t, err)
	return rsp
}

// The reference server limits failed authentications by default (here tuned
// by the environment to a burst of 5): 500 wrong keys from one address are
// refused with 429 and Retry-After after the burst, while another address is
// still answered and the good key still works from the refused address.
// Behind a trusted proxy each X-Forwarded-For client has its own limit.
func TestServerLimitsFailedAuthentication(t *testing.T) {
	env := map[string]string{"LICENSEKIT_SQLITE": filepath.Join(t.TempDir(), "lk.db"),
		"LICENSEKIT_AUTH_FAIL_BURST": "5", "LICENSEKIT_TRUSTED_PROXIES": "127.0.0.3"}
	r := start(t, env)
	defer r.stop(t)
	base := r.base
	attacker := from(t, "127.0.0.1")
	codes := map[int]int{}
	retryAfter := ""
	for i := 0; i < 500; i++ {
		res := send(t, attacker, base, fmt.Sprintf("lk_%07d%s", i, strings.Repeat("x", 36)))
		codes[res.StatusCode()]++
		if res.StatusCode() == 429 && retryAfter == "" {
			retryAfter = res.HTTPResponse.Header.Get("Retry-After")
		}
	}
	assert.Equal(t, map[int]int{401: 5, 429: 495}, codes)
	assert.Equal(t, "6", retryAfter, "10 a minute by default: the next in 6 s")
	assert.Equal(t, 401, send(t, from(t, "127.0.0.2"), base, "lk_other00"+strings.Repeat("x", 36)).StatusCode(), "another address is served")
	assert.Equal(t, 200, send(t, attacker, base, r.demo.Key).StatusCode(), "the good key works from the refused address")
	assert.Regexp(t, `msg="http request" [^\n]*client=127\.0\.0\.1 [^\n]*status=401`, r.logs.String())

	proxy := from(t, "127.0.0.3")
	for i := 0; i < 5; i++ {
		require.Equal(t, 401, send(t, proxy, base, fmt.Sprintf("lk_p%06d%s", i, strings.Repeat("x", 36)), "X-Forwarded-For", "198.51.100.9").StatusCode())
	}
	assert.Equal(t, 429, send(t, proxy, base, "lk_p0000099"+strings.Repeat("x", 36), "X-Forwarded-For", "198.51.100.9").StatusCode())
	assert.Equal(t, 401, send(t, proxy, base, "lk_q0000000"+strings.Repeat("x", 36), "X-Forwarded-For", "198.51.100.10").StatusCode(),
		"another client behind the trusted proxy")
	assert.Contains(t, r.logs.String(), "client=198.51.100.10")
}

// The reference server bounds every phase of a connection, writing included
// (the API handler extends the write deadline as a response progresses).
func TestServerBoundsEveryPhase(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	assert.Positive(t, srv.ReadHeaderTimeout)
	assert.Positive(t, srv.ReadTimeout)
	assert.Positive(t, srv.WriteTimeout)
	assert.Positive(t, srv.IdleTimeout)
	assert.Greater(t, srv.WriteTimeout, lkhttp.DefaultWriteTimeout, "the handler's per-write deadline takes over at the first write")
}
