package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/server"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// Exit codes (documented in the package comment and the README).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitCheck  = 3
)

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errCheckFailed reports a failed check (exit code 3); the details are printed.
var errCheckFailed = errors.New("check failed")

// env is what a command runs with.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	clock          license.Clock
}

// command is one (sub)command: define registers its flags on fs and returns
// the function that runs it with the remaining arguments.
type command struct {
	name    string // "keys create"
	args    string // positional arguments in the usage line
	summary string
	define  func(fs *flag.FlagSet, e *env) func(ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{name: "serve", args: "[flags]", summary: "run the reference server (the REST API and the web console, with demo data on an empty store)"},
		{name: "keys create", summary: "issue an API key and print it once (or write it to -key-file)", define: keysCreate},
		{name: "keys list", summary: "list a company's API keys (never the keys themselves)", define: keysList},
		{name: "keys revoke", args: "KEY_ID", summary: "revoke an API key", define: keysRevoke},
		{name: "company create", summary: "create a company with its owner and print the owner's API key once", define: companyCreate},
		{name: "migrate up", summary: "bring the schema up to date (refuses a database of a newer licensekit)", define: migrateUp},
		{name: "migrate status", summary: "print the schema version without changing anything", define: migrateStatus},
		{name: "verify", summary: "verify the event hash chains and, with a checkpoint key, their signed checkpoints (exit 3 when broken)", define: verify},
		{name: "export events", summary: "export a company's event log as CSV", define: exportEvents},
		{name: "backup", summary: "copy a SQLite database to a new file while it is in use (PostgreSQL: pg_dump, see the help)", define: backup},
		{name: "demo", summary: "load the demo data into the store (once; the server's first start does the same)", define: demo},
	}
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr, clock: license.SystemClock{}}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		if len(args) > 1 {
			return run(ctx, append(args[1:], "-h"), getenv, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	if args[0] == "serve" {
		err := server.Run(ctx, args[1:], getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		if err != nil {
			fmt.Fprintln(stderr, "licensekit serve:", message(err))
			var ue server.UsageError
			if errors.As(err, &ue) {
				return exitUsage
			}
			return exitFailed
		}
		return exitOK
	}
	cmd, rest, ok := find(args)
	if !ok {
		fmt.Fprintf(stderr, "licensekit: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		usage(stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("licensekit "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	runFn := cmd.define(fs, e)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: licensekit %s [flags] %s\n\n%s.\n\nFlags:\n", cmd.name, cmd.args, cmd.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if f := fs.Lookup("config"); f != nil {
		if err := server.ApplyConfigFile(fs, f.Value.String(), getenv, knownElsewhere); err != nil {
			fmt.Fprintln(stderr, "licensekit:", err)
			return exitUsage
		}
	}
	err := runFn(ctx, fs.Args())
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "licensekit %s: %v (see licensekit help %s)\n", cmd.name, err, cmd.name)
		return exitUsage
	case errors.Is(err, errCheckFailed):
		return exitCheck
	default:
		fmt.Fprintf(stderr, "licensekit %s: %s\n", cmd.name, message(err))
		return exitFailed
	}
}

// message is err for a person: a licensekit error's code and message.
func message(err error) string {
	if c := license.ErrorCode(err); c != "" && c != license.Internal {
		return string(c) + ": " + license.ErrorMessage(err)
	}
	return err.Error()
}

// find picks the command args name (one word or two) and its arguments.
func find(args []string) (command, []string, bool) {
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name && c.define != nil {
			return c, args[len(words):], true
		}
	}
	return command{}, nil, false
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: licensekit COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
"licensekit help COMMAND" prints a command's flags. A value comes from the flag,
then its environment variable, then the -config file (name = value lines), then
the default. Exit codes: 0 success, 1 failure, 2 usage error, 3 a check failed.
`)
}

// knownElsewhere accepts the flag names of every command, so that one config
// file serves them all.
func knownElsewhere(name string) bool {
	for _, n := range server.FlagNames() {
		if n == name {
			return true
		}
	}
	for _, c := range commands() {
		if c.define == nil {
			continue
		}
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		c.define(fs, &env{getenv: func(string) string { return "" }})
		if fs.Lookup(name) != nil {
			return true
		}
	}
	return false
}

// storeFlags are the flags that choose the store, and -config.
type storeFlags struct {
	sqlite, postgres, config string
}

func defineStore(fs *flag.FlagSet, e *env) *storeFlags {
	def := func(k, fallback string) string {
		if v := e.getenv(k); v != "" {
			return v
		}
		return fallback
	}
	s := &storeFlags{}
	fs.StringVar(&s.sqlite, "sqlite", def("LICENSEKIT_SQLITE", "licensekit.db"), "SQLite database file (env LICENSEKIT_SQLITE)")
	fs.StringVar(&s.postgres, "postgres", def("LICENSEKIT_POSTGRES", ""), "PostgreSQL DSN; when set, used instead of SQLite (env LICENSEKIT_POSTGRES)")
	fs.StringVar(&s.config, "config", def("LICENSEKIT_CONFIG", ""), "file of flag values, one name = value a line (env LICENSEKIT_CONFIG)")
	return s
}

// open opens the store (migrating it, as the server does).
func (s *storeFlags) open(ctx context.Context) (storage.Store, error) {
	if s.postgres != "" {
		return postgres.Open(ctx, s.postgres)
	}
	return sqlite.Open(s.sqlite)
}

// with opens the store, runs fn and closes the store.
func (s *storeFlags) with(ctx context.Context, fn func(storage.Store) error) error {
	st, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected arguments: %s", strings.Join(args, " "))
	}
	return nil
}

// required refuses an empty flag value.
func required(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return usagef("-%s is required", name)
	}
	return nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
