package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/storage/storagetest"
)

// backend is a store the commands run against: its flags, how to open it
// from the test, and how to run SQL on it behind licensekit's back.
type backend struct {
	name  string
	flags []string
	env   map[string]string
	open  func(t *testing.T) storage.Store
	exec  func(t *testing.T, q string, args ...any)
	isSQL bool // SQLite: backup copies the file
}

func sqliteBackend(t *testing.T) backend {
	path := filepath.Join(t.TempDir(), "lk.db")
	return backend{name: "sqlite", env: map[string]string{"LICENSEKIT_SQLITE": path}, isSQL: true,
		open: func(t *testing.T) storage.Store {
			s, err := sqlite.Open(path)
			require.NoError(t, err)
			return s
		},
		exec: func(t *testing.T, q string, args ...any) {
			db, err := sql.Open("sqlite", "file:"+path)
			require.NoError(t, err)
			defer db.Close()
			_, err = db.Exec(q, args...)
			require.NoError(t, err)
		}}
}

// postgresBackend is a database created for the test; it runs when
// LICENSEKIT_TEST_POSTGRES_DSN is set (always under CI=true).
func postgresBackend(t *testing.T) backend {
	db := storagetest.PostgresDatabase(t)
	return backend{name: "postgres", flags: []string{"-postgres", db},
		open: func(t *testing.T) storage.Store {
			s, err := postgres.Open(context.Background(), db)
			require.NoError(t, err)
			return s
		},
		exec: func(t *testing.T, q string, args ...any) {
			c, err := pgx.Connect(context.Background(), db)
			require.NoError(t, err)
			defer c.Close(context.Background())
			q = strings.ReplaceAll(q, "?", "$1")
			_, err = c.Exec(context.Background(), q, args...)
			require.NoError(t, err)
		}}
}

// cli runs one command line in-process.
func cli(t *testing.T, b backend, extraEnv map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := map[string]string{}
	for k, v := range b.env {
		env[k] = v
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	var out, errb bytes.Buffer
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// the store flags go after the command's words
		words := 1
		if len(args) > 1 && (args[0] == "keys" || args[0] == "company" || args[0] == "migrate" || args[0] == "export") {
			words = 2
		}
		args = append(append(append([]string{}, args[:words]...), b.flags...), args[words:]...)
	}
	code = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommandsOnSQLite(t *testing.T)   { commandsScenario(t, sqliteBackend(t)) }
func TestCommandsOnPostgres(t *testing.T) { commandsScenario(t, postgresBackend(t)) }

func commandsScenario(t *testing.T, b backend) {
	ctx := context.Background()
	dir := t.TempDir()
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(t, b, nil, args...)
		require.Equal(t, exitOK, code, "%v: %s%s", args, out, errOut)
		return out
	}

	// migrate: a fresh store has nothing applied; status changes nothing, up applies all.
	assert.Regexp(t, `^schema version 0, this licensekit knows \d+: \d+ to apply`, ok("migrate", "status"))
	assert.Contains(t, ok("migrate", "status"), "schema version 0", "status did not migrate")
	assert.Regexp(t, `^schema at version \d+ \(was 0\)`, ok("migrate", "up"))
	assert.Contains(t, ok("migrate", "status"), "up to date")

	// demo: once per store.
	demo := strings.TrimSpace(ok("demo"))
	assert.Equal(t, demo, strings.TrimSpace(ok("demo")), "the demo data is loaded once")

	// company create: the company and its owner's key, which authenticates.
	out := ok("company", "create", "-name", "Acme MSP", "-owner", "owner@acme.example")
	lines := strings.Fields(out)
	require.Len(t, lines, 2, out)
	company, ownerKey := lines[0], lines[1]
	st := b.open(t)
	keys := &apikey.Service{Store: st}
	k, _, err := keys.Authenticate(ctx, ownerKey)
	require.NoError(t, err)
	assert.Equal(t, company, k.Company)
	assert.Equal(t, license.Owner, k.Role)
	st.Close()

	// keys create (to a file), list, revoke.
	keyFile := filepath.Join(dir, "ci.key")
	assert.Empty(t, ok("keys", "create", "-company", company, "-email", "ci@acme.example", "-role", "viewer", "-key-file", keyFile), "the key went to the file")
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	raw, _ := os.ReadFile(keyFile)
	ciKey := strings.TrimSpace(string(raw))
	var listed []apikey.Key
	require.NoError(t, json.Unmarshal([]byte(ok("keys", "list", "-company", company, "-json")), &listed))
	require.Len(t, listed, 2)
	var ciID string
	for _, l := range listed {
		if l.Email == "ci@acme.example" {
			ciID = l.ID
			assert.Equal(t, license.Viewer, l.Role)
		}
	}
	require.NotEmpty(t, ciID)
	assert.NotContains(t, ok("keys", "list", "-company", company), ciKey, "a listing never shows a key")
	assert.Contains(t, ok("keys", "revoke", "-company", company, ciID), "revoked "+ciID)
	st = b.open(t)
	_, _, err = (&apikey.Service{Store: st}).Authenticate(ctx, ciKey)
	assert.Equal(t, license.KeyRevoked, license.ErrorCode(err), "the revoked key no longer works")
	st.Close()
	// Another company's key cannot be revoked through this one.
	code, _, errOut := cli(t, b, nil, "keys", "revoke", "-company", demo, ciID)
	assert.Equal(t, exitFailed, code, errOut)

	// Failures and usage errors.
	code, _, errOut = cli(t, b, nil, "keys", "create", "-company", license.NewID(), "-email", "x@acme.example", "-role", "viewer")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "not_found")
	code, _, errOut = cli(t, b, nil, "keys", "create", "-company", company)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-email is required")
	code, _, _ = cli(t, b, nil, "keys", "create", "-company", company, "-email", "x@acme.example", "-role", "emperor")
	assert.Equal(t, exitFailed, code, "a bad role is the service's invalid error")
	code, _, _ = cli(t, b, nil, "keys", "frobnicate")
	assert.Equal(t, exitUsage, code)

	// export events: the company's log as CSV.
	csvFile := filepath.Join(dir, "events.csv")
	ok("export", "events", "-company", company, "-o", csvFile)
	f, err := os.ReadFile(csvFile)
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	require.NoError(t, err)
	types := map[string]bool{}
	for _, r := range rows[1:] {
		types[r[2]] = true
	}
	for _, want := range []string{"company.created", "apikey.created", "apikey.revoked"} {
		assert.True(t, types[want], "export lacks %s: %v", want, types)
	}
	assert.NotContains(t, string(f), ciKey)

	// verify: intact, then broken by a change behind licensekit's back (exit 3).
	assert.Contains(t, ok("verify"), "2 companies verified, 0 broken")
	b.exec(t, `UPDATE events SET actor = 'mallory@example.com' WHERE company = ? AND type = 'apikey.revoked'`, company)
	code, out, _ = cli(t, b, nil, "verify")
	assert.Equal(t, exitCheck, code, out)
	assert.Contains(t, out, company+": BROKEN at event")
	assert.Contains(t, out, demo+": intact")
	code, _, _ = cli(t, b, nil, "verify", "-company", demo)
	assert.Equal(t, exitOK, code, "the other company's chain is intact")

	// backup: SQLite copies the live file; PostgreSQL points to pg_dump.
	bak := filepath.Join(dir, "backup.db")
	code, out, errOut = cli(t, b, nil, "backup", "-o", bak)
	if b.isSQL {
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "backed up")
		code, out, _ = cli(t, backend{}, nil, "keys", "list", "-sqlite", bak, "-company", company)
		assert.Equal(t, exitOK, code)
		assert.Contains(t, out, ciID, "the copy holds the data")
		code, _, errOut = cli(t, b, nil, "backup", "-o", bak)
		assert.Equal(t, exitFailed, code, "a backup never overwrites")
		assert.Contains(t, errOut, "exists")
	} else {
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, errOut, "pg_dump")
	}

	// A database of a newer licensekit is refused and left alone.
	b.exec(t, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 'now')`)
	code, out, errOut = cli(t, b, nil, "migrate", "status")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, "newer than this licensekit")
	code, _, errOut = cli(t, b, nil, "migrate", "up")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "version 999")
	code, _, _ = cli(t, b, nil, "keys", "list", "-company", company)
	assert.Equal(t, exitFailed, code, "no command opens it")
}

// serve runs the reference server (the same as examples/server) until the
// context ends; a bad flag is a usage error.
func TestServeCommand(t *testing.T) {
	b := sqliteBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-interval", "50ms"}, func(k string) string { return b.env[k] }, &out, &errb)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Stop with Ctrl-C.") }, 30*time.Second, 10*time.Millisecond, errb.String())
	assert.Contains(t, out.String(), "export LK=lk_")
	cancel()
	assert.Equal(t, exitOK, <-done, errb.String())

	code, _, errOut := cli(t, b, nil, "serve", "-no-such-flag")
	assert.Equal(t, exitUsage, code, errOut)
	code, _, errOut = cli(t, b, nil, "serve", "-addr", "0.0.0.0:0")
	assert.Equal(t, exitUsage, code, "plain HTTP beyond loopback is refused: %s", errOut)
	assert.Contains(t, errOut, "-insecure-http")
}

// The store comes from the flag, then the environment, then the config
// file (which may hold other commands' flags too), then the default.
func TestCommandConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	fromFile, fromEnv, fromFlag := filepath.Join(dir, "file.db"), filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
	conf := filepath.Join(dir, "licensekit.conf")
	require.NoError(t, os.WriteFile(conf, []byte("# shared by serve and the admin commands\naddr = 127.0.0.1:8443\nsqlite = "+fromFile+"\n"), 0o600))
	none := backend{}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	code, _, errOut := cli(t, none, map[string]string{"LICENSEKIT_CONFIG": conf}, "migrate", "up")
	require.Equal(t, exitOK, code, errOut)
	assert.True(t, exists(fromFile), "the file's store")
	code, _, _ = cli(t, none, map[string]string{"LICENSEKIT_CONFIG": conf, "LICENSEKIT_SQLITE": fromEnv}, "migrate", "up")
	require.Equal(t, exitOK, code)
	assert.True(t, exists(fromEnv), "the environment wins over the file")
	code, _, _ = cli(t, none, map[string]string{"LICENSEKIT_CONFIG": conf, "LICENSEKIT_SQLITE": fromEnv}, "migrate", "up", "-sqlite", fromFlag)
	require.Equal(t, exitOK, code)
	assert.True(t, exists(fromFlag), "the flag wins over both")
	flagOnly := filepath.Join(dir, "flag-only.db")
	code, _, _ = cli(t, none, map[string]string{"LICENSEKIT_CONFIG": conf}, "migrate", "up", "-sqlite", flagOnly)
	require.Equal(t, exitOK, code)
	assert.True(t, exists(flagOnly), "the flag wins over the file")

	require.NoError(t, os.WriteFile(conf, []byte("sqlite-typo = x.db\n"), 0o600))
	code, _, errOut = cli(t, none, nil, "migrate", "status", "-config", conf)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `no flag "sqlite-typo"`)
}

// Every command has help, and help exits 0; no arguments is a usage error.
func TestHelpForEveryCommand(t *testing.T) {
	for _, c := range commands() {
		args := append(strings.Fields(c.name), "-h")
		code, out, errOut := cli(t, backend{}, nil, args...)
		assert.Equal(t, exitOK, code, c.name)
		assert.Contains(t, out+errOut, "-", c.name)
		if c.define != nil {
			assert.Contains(t, errOut, "Usage: licensekit "+c.name, c.name)
		}
	}
	code, out, _ := cli(t, backend{}, nil, "help")
	assert.Equal(t, exitOK, code)
	for _, c := range commands() {
		assert.Contains(t, out, c.name)
	}
	code, _, _ = cli(t, backend{}, nil)
	assert.Equal(t, exitUsage, code)
}

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

// The README's config file example names only flags the commands know.
func TestREADMEConfigExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, block, found := strings.Cut(string(b), "# /etc/licensekit.conf\n")
	require.True(t, found)
	block, _, _ = strings.Cut(block, "```")
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		name, _, ok := strings.Cut(l, "=")
		require.True(t, ok, l)
		assert.True(t, knownElsewhere(strings.TrimSpace(name)), "the README's config example sets %q, which no command knows", name)
		n++
	}
	assert.Positive(t, n)
}
