package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape returns the metrics at url as series -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		require.NoError(t, err, l)
		out[l[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// The metrics address serves /metrics, and the series move with known
// requests: two sites listings and a 404 count under their route patterns,
// the store counts its transactions (and SQLite its group-commit batches),
// the domain gauges hold the demo data. The public address does not serve
// /metrics, and pprof is there only with -pprof.
func TestMetricsMoveWithRequests(t *testing.T) {
	dir := t.TempDir()
	maddr := freeAddr(t)
	r := start(t, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(dir, "lk.db")}, "-metrics-addr", maddr)
	defer r.stop(t)
	murl := "http://" + maddr + "/metrics"

	const sites = `licensekit_http_requests_total{method="GET",route="GET /v1/sites",status="200"}`
	const unmatched = `licensekit_http_requests_total{method="GET",route="unmatched",status="404"}`
	const writes = `licensekit_store_transactions_total{kind="write",outcome="ok"}`
	before := scrape(t, murl)
	for range 2 {
		assert.Equal(t, 200, send(t, http.DefaultClient, r.base, r.demo.Key).StatusCode())
	}
	res, err := http.Get(r.base + "/v1/no/such/thing")
	require.NoError(t, err)
	res.Body.Close()
	// A write: an API key for CI.
	req, _ := http.NewRequest("POST", r.base+"/v1/apikeys", strings.NewReader(`{"email":"ci@demo.example","role":"viewer"}`))
	req.Header.Set("Authorization", "Bearer "+r.demo.Key)
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 201, res.StatusCode)

	after := scrape(t, murl)
	assert.Equal(t, before[sites]+2, after[sites], "two listings counted under the route pattern")
	assert.Equal(t, before[unmatched]+1, after[unmatched], "a 404 counted under one bounded label")
	assert.Equal(t, before[`licensekit_http_request_duration_seconds_count{method="GET",route="GET /v1/sites"}`]+2,
		after[`licensekit_http_request_duration_seconds_count{method="GET",route="GET /v1/sites"}`])
	assert.Greater(t, after[writes], before[writes], "the key's write transaction counted")
	assert.Greater(t, after[`licensekit_store_transactions_total{kind="read",outcome="ok"}`], before[`licensekit_store_transactions_total{kind="read",outcome="ok"}`])
	assert.Greater(t, after["licensekit_store_group_commit_batch_size_count"], before["licensekit_store_group_commit_batch_size_count"])
	for k := range after {
		assert.NotContains(t, k, "/v1/no/such", "no series is labelled with a path")
	}
	assert.Contains(t, strings.Join(keys(after), "\n"), "go_build_info{")

	// The domain gauges are refreshed in the background: the demo's three sites.
	require.Eventually(t, func() bool {
		m := scrape(t, murl)
		return m[`licensekit_domain_records{what="sites"}`] == 3 && m[`licensekit_domain_records{what="site_enrolled"}`] == 48 &&
			m[`licensekit_domain_records{what="pool_seats_held"}`] == 1
	}, 10*time.Second, 20*time.Millisecond)

	res, err = http.Get(r.base + "/metrics")
	require.NoError(t, err)
	res.Body.Close()
	assert.NotEqual(t, 200, res.StatusCode, "the public address does not serve the metrics")
	res, err = http.Get("http://" + maddr + "/debug/pprof/")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 404, res.StatusCode, "no pprof without -pprof")
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPprofOnTheMetricsAddress(t *testing.T) {
	maddr := freeAddr(t)
	r := start(t, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(t.TempDir(), "lk.db")}, "-metrics-addr", maddr, "-pprof")
	defer r.stop(t)
	res, err := http.Get("http://" + maddr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(b), "goroutine profile")
	res, err = http.Get(r.base + "/debug/pprof/")
	require.NoError(t, err)
	res.Body.Close()
	assert.NotEqual(t, 200, res.StatusCode, "never on the public address")

	_, err = parseConfig([]string{"-pprof"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "-pprof needs -metrics-addr")
}

// freeAddr is a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a := l.Addr().String()
	require.NoError(t, l.Close())
	return a
}

// With -log-format json every line is a JSON object, and a request's line
// carries its request id, route pattern, company and key id.
func TestJSONLogsCarryTheRequest(t *testing.T) {
	r := start(t, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(t.TempDir(), "lk.db"), "LICENSEKIT_LOG_FORMAT": "json"})
	rsp := send(t, http.DefaultClient, r.base, r.demo.Key, "X-Request-Id", "req-ops-1")
	require.Equal(t, 200, rsp.StatusCode())
	r.cancel()
	require.NoError(t, <-r.done)
	var found map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "not JSON: %s", l)
		if m["msg"] == "http request" && m["request_id"] == "req-ops-1" {
			found = m
		}
	}
	require.NotNil(t, found, r.logs.String())
	assert.Equal(t, "GET /v1/sites", found["route"])
	assert.Equal(t, r.demo.Company, found["company"])
	assert.Regexp(t, `^\S+$`, found["key_id"])
	assert.NotEmpty(t, found["key_id"])

	_, err := parseConfig([]string{"-log-format", "xml"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "-log-format")
}

// selfSigned writes a certificate for 127.0.0.1 named cn and its key.
func selfSigned(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600))
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// With -tls-cert and -tls-key the server speaks HTTPS only, sends HSTS, and
// serves a renewed certificate after SIGHUP (a broken one is not taken).
func TestTLSWithReloadOnHangup(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := selfSigned(t, cert, key, "first")
	r := start(t, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(dir, "lk.db")}, "-tls-cert", cert, "-tls-key", key)
	defer r.stop(t)
	require.True(t, strings.HasPrefix(r.base, "https://"), r.base)

	served := func() *x509.Certificate {
		c, err := tls.Dial("tcp", strings.TrimPrefix(r.base, "https://"), &tls.Config{InsecureSkipVerify: true})
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	assert.Equal(t, "first", served().Subject.CommonName)

	pool := x509.NewCertPool()
	pool.AddCert(first)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	rsp := send(t, c, r.base, r.demo.Key)
	require.Equal(t, 200, rsp.StatusCode())
	assert.Equal(t, hstsValue, rsp.HTTPResponse.Header.Get("Strict-Transport-Security"))

	res, err := http.Get(strings.Replace(r.base, "https://", "http://", 1) + "/v1/sites")
	if err == nil {
		res.Body.Close()
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "plain HTTP to the TLS port is refused")
	}

	// A broken pair on SIGHUP leaves the current certificate.
	require.NoError(t, os.WriteFile(cert, []byte("garbage"), 0o600))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "TLS certificate not reloaded") }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, "first", served().Subject.CommonName)

	selfSigned(t, cert, key, "second")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return served().Subject.CommonName == "second" }, 10*time.Second, 10*time.Millisecond)
}

// A non-loopback address without TLS is refused before the store is touched,
// unless -insecure-http; a loopback address is served in plain HTTP.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "lk.db")
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0", "-sqlite", db}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	require.ErrorIs(t, err, errPlainHTTP)
	_, statErr := os.Stat(db)
	assert.True(t, os.IsNotExist(statErr), "nothing was created")

	_, err = parseConfig([]string{"-tls-cert", "c.pem"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "go together")

	r := start(t, map[string]string{"LICENSEKIT_SQLITE": db, "LICENSEKIT_INSECURE_HTTP": "true"}, "-addr", "0.0.0.0:0")
	port := r.base[strings.LastIndexByte(r.base, ':'):]
	rsp := send(t, http.DefaultClient, "http://127.0.0.1"+port, r.demo.Key)
	assert.Equal(t, 200, rsp.StatusCode())
	assert.Empty(t, rsp.HTTPResponse.Header.Get("Strict-Transport-Security"), "no HSTS over plain HTTP")
	r.stop(t)
}

// The config file sets flags; the environment and the command line win over
// it, in that order; mistakes name the line.
func TestConfigFilePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "licensekit.conf")
	require.NoError(t, os.WriteFile(file, []byte("# licensekit\naddr = 127.0.0.1:7000\nsqlite = \"/from/file.db\"\ninterval = 3s\n\nvalidate-rate = 5\n"), 0o600))
	env := map[string]string{"LICENSEKIT_CONFIG": file, "LICENSEKIT_SQLITE": "/from/env.db"}
	c, err := parseConfig([]string{"-validate-rate", "7"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7000", c.addr, "the file over the default")
	assert.Equal(t, "/from/env.db", c.sqlite, "the environment over the file")
	assert.Equal(t, 3*time.Second, c.interval)
	assert.Equal(t, float64(7), c.limits.Validation.PerMinute, "the command line over the file")

	for body, want := range map[string]string{"nosuch = 1\n": `:1: no flag "nosuch"`, "addr\n": ":1: want name = value",
		"interval = soon\n": ":1: interval", "addr = a:1\naddr = b:2\n": ":2: addr is set twice"} {
		require.NoError(t, os.WriteFile(file, []byte(body), 0o600))
		_, err = parseConfig([]string{"-config", file}, func(string) string { return "" }, io.Discard)
		assert.ErrorContains(t, err, want, body)
	}
	_, err = parseConfig([]string{"-config", filepath.Join(dir, "missing")}, func(string) string { return "" }, io.Discard)
	assert.Error(t, err)
}

// Every flag that an environment variable sets names it in its usage text
// (EnvOf reads it there for the config file's precedence).
func TestEveryEnvironmentVariableIsNamed(t *testing.T) {
	src, err := os.ReadFile("run.go")
	require.NoError(t, err)
	used := regexp.MustCompile(`"(LICENSEKIT_[A-Z_]+)"`).FindAllStringSubmatch(string(src), -1)
	var usage strings.Builder
	_, _ = parseConfig([]string{"-h"}, func(string) string { return "" }, &usage)
	named := map[string]bool{}
	for _, m := range envOfUsage.FindAllStringSubmatch(usage.String(), -1) {
		named[m[1]] = true
	}
	for _, u := range used {
		assert.True(t, named[u[1]], "a flag's help names %s as EnvOf reads it", u[1])
	}
}
