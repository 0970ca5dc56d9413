package server

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
)

// The key file is created with mode 0600, read back as the same key, and
// refused when others may read it or when it holds no Ed25519 key.
func TestCheckpointKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.key")
	k1, created, err := LoadCheckpointKey(path)
	require.NoError(t, err)
	assert.True(t, created)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	k2, created, err := LoadCheckpointKey(path)
	require.NoError(t, err)
	assert.False(t, created)
	assert.True(t, k1.Equal(k2), "the stored key is read back")

	require.NoError(t, os.Chmod(path, 0o644))
	_, _, err = LoadCheckpointKey(path)
	assert.ErrorContains(t, err, "readable by others")

	bad := filepath.Join(t.TempDir(), "bad.key")
	require.NoError(t, os.WriteFile(bad, []byte("not a key"), 0o600))
	_, _, err = LoadCheckpointKey(bad)
	assert.ErrorContains(t, err, "not a PEM private key")
}

// With a key file the server signs every company's chain head in the
// background (a round runs at start) and verify checks the checkpoints.
func TestServerSignsCheckpoints(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "checkpoint.key")
	r := start(t, map[string]string{"LICENSEKIT_SQLITE": filepath.Join(dir, "licensekit.db"), "LICENSEKIT_CHECKPOINT_KEY": key})
	defer r.stop(t)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.logs.String(), `msg="event chain checkpoint" company=`+r.demo.Company) {
		require.True(t, time.Now().Before(deadline), "no checkpoint logged:\n%s", r.logs.String())
		time.Sleep(20 * time.Millisecond)
	}
	_, err := os.Stat(key)
	require.NoError(t, err, "the key file was created")

	req, err := http.NewRequest("GET", r.base+"/v1/events/verify", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+r.demo.Key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var v eventlog.Verification
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	require.NotNil(t, v.Checkpoints)
	assert.True(t, v.Intact, "%+v %+v", v, v.Checkpoints)
	assert.GreaterOrEqual(t, v.Checkpoints.Checked, 1)
	assert.Positive(t, v.Checkpoints.VerifiedChain)
}

func TestCheckpointFlags(t *testing.T) {
	env := map[string]string{"LICENSEKIT_CHECKPOINT_KEY": "/keys/lk.pem"}
	c, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "/keys/lk.pem", c.checkpointKey)
	assert.Equal(t, time.Hour, c.checkpointEvery)
	c, err = parseConfig([]string{"-checkpoint-key", "k.pem", "-checkpoint-interval", "5m"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "k.pem", c.checkpointKey)
	assert.Equal(t, 5*time.Minute, c.checkpointEvery)
	c, err = parseConfig(nil, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, c.checkpointKey, "checkpoints are off without a key")
	_, err = parseConfig([]string{"-checkpoint-interval", "0s"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "checkpoint-interval")
}
