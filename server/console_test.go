package server

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reference server serves the web console at / and the REST API under
// /v1/ (an unknown API path stays the API's JSON 404); the startup text says
// where the console is.
func TestServerServesTheConsoleAtRoot(t *testing.T) {
	dir := t.TempDir()
	r := start(t, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(dir, "lk.db")})
	assert.Contains(t, r.out.String(), "Web console: open "+r.base+"/ in a browser")

	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(r.base + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)

	resp, err = c.Get(r.base + "/signin")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"))
	assert.Contains(t, string(b), `<label for="key">API key</label>`)

	resp, err = c.Get(r.base + "/v1/no-such-route")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.NotContains(t, resp.Header.Get("Content-Type"), "text/html", "the API answers its own 404")

	resp, err = c.Get(r.base + "/openapi.json")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
