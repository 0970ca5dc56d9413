// Command server is the licensekit reference server, package server run as a
// program: the REST API and the web console over a SQLite file (the default,
// ./licensekit.db) or a PostgreSQL database, with demo data.
//
//	go run ./examples/server                      # 127.0.0.1:8080, ./licensekit.db
//	go run ./examples/server -addr 127.0.0.1:9090 -sqlite /var/lib/licensekit.db
//	go run ./examples/server -postgres postgres://user:pass@localhost/licensekit
//
// It takes the flags and environment variables of "licensekit serve"
// (cmd/licensekit), which the package server documentation lists; SIGINT or
// SIGTERM stops it gracefully.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/licensekit/licensekit/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "licensekit:", err)
		os.Exit(1)
	}
}
