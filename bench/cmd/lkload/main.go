// Command lkload drives a running licensekit server (examples/server) with
// concurrent clients, bounded in requests and in time, and prints the
// throughput and latency. Operations: lease (acquire + release a
// concurrent-user seat of -pool, one user per client) and preview (a purchase
// preview of -quantity licenses for -site).
//
//	LICENSEKIT_API_KEY=lk_... go run ./bench/cmd/lkload -url http://127.0.0.1:8080 \
//	    -op lease -pool <pool id> -clients 32 -requests 20000 -duration 30s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/licensekit/licensekit/bench/loadgen"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "server URL")
	key := flag.String("key", os.Getenv("LICENSEKIT_API_KEY"), "API key (default $LICENSEKIT_API_KEY)")
	op := flag.String("op", "lease", "lease or preview")
	poolID := flag.String("pool", "", "concurrent-user pool (op lease)")
	site := flag.String("site", "", "site (op preview)")
	quantity := flag.Int64("quantity", 10, "licenses to preview buying (op preview)")
	clients := flag.Int("clients", 8, "concurrent clients")
	requests := flag.Int64("requests", 10000, "operations in all (0: only -duration bounds the run)")
	duration := flag.Duration("duration", 30*time.Second, "time bound (0: only -requests bounds the run)")
	wait := flag.Duration("wait", 0, "op lease: how long a claim waits on the server for a seat when none is free (wait_seconds, at most 30s; 0: a refused claim fails the run)")
	flag.Parse()
	if *key == "" {
		fail("an API key is required (-key or LICENSEKIT_API_KEY)")
	}
	c := loadgen.NewClient(*url, *key, *clients)
	var fn loadgen.Op
	switch *op {
	case "lease":
		if *poolID == "" {
			fail("-pool is required for -op lease")
		}
		fn = func(ctx context.Context, client int, _ int64) error {
			user := "lkload-" + strconv.Itoa(client)
			var lease string
			var err error
			if *wait > 0 {
				lease, err = c.AcquireLeaseWaiting(ctx, *poolID, user, *wait)
			} else {
				lease, err = c.AcquireLease(ctx, *poolID, user)
			}
			if err != nil {
				return err
			}
			return c.ReleaseLease(ctx, *poolID, lease)
		}
	case "preview":
		if *site == "" {
			fail("-site is required for -op preview")
		}
		fn = func(ctx context.Context, _ int, _ int64) error {
			_, err := c.PreviewPurchase(ctx, *site, *quantity)
			return err
		}
	default:
		fail("unknown -op " + *op + ": use lease or preview")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadgen.Run(ctx, loadgen.Config{Clients: *clients, Requests: *requests, Duration: *duration}, fn)
	fmt.Printf("%s: %d operations from %d clients in %s: %.0f/s, p50 %s, p99 %s\n",
		*op, res.Ops, *clients, res.Elapsed.Round(time.Millisecond), res.PerSecond(), res.P50, res.P99)
	if res.TimedOut {
		fmt.Println("the time bound ended the run before all requests were made")
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "lkload:", msg)
	os.Exit(1)
}
