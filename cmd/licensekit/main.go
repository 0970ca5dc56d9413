// Command licensekit runs and administers a licensekit server: the reference
// server (serve), API keys, companies, the schema, the event chains, event
// exports, backups and the demo data, on a SQLite file or a PostgreSQL
// database.
//
//	go install github.com/licensekit/licensekit/cmd/licensekit@latest
//	licensekit serve                           # what go run ./examples/server does
//	licensekit company create -name "Acme MSP" -owner owner@acme.example
//	licensekit keys create -company ID -email ci@acme.example -role viewer
//	licensekit keys list -company ID
//	licensekit keys revoke -company ID key_0123456789abcdef
//	licensekit migrate status                  # or: migrate up
//	licensekit verify                          # every company's event chain
//	licensekit export events -company ID -o events.csv
//	licensekit backup -o licensekit-backup.db  # SQLite; PostgreSQL: pg_dump
//	licensekit demo
//
// "licensekit help COMMAND" (or COMMAND -h) prints a command's flags.
//
// Configuration: every command takes -sqlite FILE (default licensekit.db) or
// -postgres DSN, and -config FILE. A value comes from, in this order: the
// flag on the command line, its environment variable (LICENSEKIT_SQLITE,
// LICENSEKIT_POSTGRES, LICENSEKIT_CONFIG, ... as each flag's help says),
// the config file (one "name = value" a line, flag names without the dash;
// one file may hold the flags of every command), the default.
//
// Exit codes: 0 success; 1 failure (the store is unreachable, a key or a
// company does not exist, ...); 2 usage error (unknown command, bad flag,
// missing argument); 3 a check failed (verify found a broken event chain or
// checkpoint).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
