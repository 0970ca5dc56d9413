package server

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage/sqlite"
)

func TestConfigOfSQLiteSync(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseConfig(nil, none, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, sqlite.Full, c.sqliteSync, "full by default")
	c, err = parseConfig([]string{"-sqlite-sync", "normal"}, none, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, sqlite.Normal, c.sqliteSync)
	env := map[string]string{"LICENSEKIT_SQLITE_SYNC": "NORMAL"}
	c, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, sqlite.Normal, c.sqliteSync)
	c, err = parseConfig([]string{"-sqlite-sync", "full"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, sqlite.Full, c.sqliteSync, "the flag wins over the environment")
	_, err = parseConfig([]string{"-sqlite-sync", "off"}, none, io.Discard)
	require.ErrorContains(t, err, "-sqlite-sync must be full or normal")
}
