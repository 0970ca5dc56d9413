// Command vendor is a small licensed product built on package client, the
// SDK a vendor's product links in. It imports nothing of licensekit but
// client and license/licensefile (the file format): no store, no server code.
//
// At start it activates this machine on the vendor's pool and takes a
// floating seat, which the SDK renews with heartbeats in the background;
// with -seat-wait it waits that long for a seat when every seat is taken.
// Every -every it checks its license and prints one line: licensed by the
// server; licensed from the answer cached within the grace the server set
// (the server stopped for longer than a heartbeat, say); or, when that grace
// is over too, licensed by its signed license file, offline. Seat events
// (renewed, missed, lost, regained) are printed as they happen. Ctrl-C gives
// the seat back.
//
// Start the reference server with a license key, then the product with the
// owner key it wrote and the demo's concurrent-user pool:
//
//	go run ./examples/server -owner-key-file owner.key -license-key license.pem
//	go run ./examples/vendor -server http://127.0.0.1:8080 -key "$(cat owner.key)" -pool POOL_ID
//
// Stop the server for a while and start it again: the product stays
// licensed and its seat is renewed (or taken again) when the server is back.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/licensekit/licensekit/client"
	"github.com/licensekit/licensekit/license/licensefile"
)

func main() {
	var o Options
	flag.StringVar(&o.Server, "server", "http://127.0.0.1:8080", "the licensekit server")
	flag.StringVar(&o.Key, "key", os.Getenv("LK"), "API key of the product (env LK)")
	flag.StringVar(&o.Pool, "pool", "", "the vendor's concurrent-user pool")
	flag.StringVar(&o.Software, "software", "AutoCAD", "the software this product is, as the pool grants it (the demo pool grants AutoCAD)")
	features := flag.String("features", "", "comma-separated features the product needs (entitlements)")
	flag.StringVar(&o.State, "state", "vendor-state.json", "where the product keeps its cached answer and borrowed seats")
	licenseFile := flag.String("license-file", "", "signed license file for offline use (optional)")
	publicKey := flag.String("public-key", "", "the vendor's Ed25519 public key, hex (the server logs it at start)")
	flag.DurationVar(&o.Every, "every", 30*time.Second, "how often the product checks its license")
	flag.DurationVar(&o.SeatWait, "seat-wait", 0, "how long to wait for a floating seat when every seat is taken (at most 30s; 0: go on without one)")
	flag.Parse()
	if *features != "" {
		o.Features = strings.Split(*features, ",")
	}
	if *licenseFile != "" {
		b, err := os.ReadFile(*licenseFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vendor:", err)
			os.Exit(2)
		}
		o.LicenseFile = b
	}
	if *publicKey != "" {
		b, err := hex.DecodeString(*publicKey)
		if err != nil || len(b) != ed25519.PublicKeySize {
			fmt.Fprintln(os.Stderr, "vendor: -public-key is not a hex Ed25519 public key")
			os.Exit(2)
		}
		o.PublicKeys = map[string]ed25519.PublicKey{licensefile.KeyID(b): b}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "vendor:", err)
		os.Exit(1)
	}
}

// Options configure the product.
type Options struct {
	Server, Key, Pool string
	Software          string   // the software the pool must grant
	Features          []string // the entitlements the product needs
	State             string   // state file ("" keeps it in memory)
	Every             time.Duration
	SeatWait          time.Duration // how long to wait for a floating seat when every seat is taken
	LicenseFile       []byte
	PublicKeys        map[string]ed25519.PublicKey
	Consumer          client.Consumer // zero: this machine

	// For tests: the check ticks, the heartbeat ticks, the clock and the HTTP client.
	Checks     <-chan time.Time
	Heartbeats <-chan time.Time
	Now        func() time.Time
	HTTP       *http.Client
}

func (o Options) client() (*client.Client, error) {
	opts := []client.Option{client.WithAPIKey(o.Key), client.WithProduct(o.Software, o.Features...), client.WithPublicKeys(o.PublicKeys)}
	if o.State != "" {
		opts = append(opts, client.WithState(client.FileState(o.State)))
	}
	if o.Consumer != (client.Consumer{}) {
		opts = append(opts, client.WithConsumer(o.Consumer))
	}
	if o.Heartbeats != nil {
		opts = append(opts, client.WithHeartbeatTimer(nil, func(time.Duration) <-chan time.Time { return o.Heartbeats }))
	}
	if o.Now != nil {
		opts = append(opts, client.WithClock(o.Now))
	}
	if o.HTTP != nil {
		opts = append(opts, client.WithHTTPClient(o.HTTP))
	}
	return client.New(o.Server, opts...)
}

func run(ctx context.Context, w io.Writer, o Options) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	lic := client.Pool(o.Pool)
	v, err := c.Activate(ctx, lic)
	if err != nil && !client.Unreachable(err) {
		return err
	}
	if err == nil && !v.Valid {
		return fmt.Errorf("not licensed: %s: %s", v.Code, v.Message)
	}
	fmt.Fprintln(w, "activated:", describe(v, err))
	seat := takeSeat(ctx, w, c, o.Pool, o.SeatWait)
	checks := o.Checks
	if checks == nil {
		t := time.NewTicker(o.Every)
		defer t.Stop()
		checks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			if seat != nil {
				err := seat.Close()
				fmt.Fprintln(w, "seat: given back", errText(err))
			}
			return nil
		case <-checks:
		}
		v, err := c.Validate(ctx, lic)
		if seat == nil && err == nil && !v.Cached {
			seat = takeSeat(ctx, w, c, o.Pool, o.SeatWait) // started offline: take the seat now
		}
		if err == nil || !errors.Is(err, client.ErrOfflineExpired) {
			fmt.Fprintln(w, "check:", describe(v, err))
			continue
		}
		// The server has been gone longer than its grace: the license file.
		res, ferr := c.VerifyFile(o.LicenseFile, licensefile.Request{Fingerprint: c.Consumer().Fingerprint, Entitlements: o.Features})
		if ferr != nil {
			fmt.Fprintln(w, "check: not licensed:", ferr)
			continue
		}
		fmt.Fprintf(w, "check: licensed by the license file %s until %s (offline)\n", res.Claims.LicenseID, res.Claims.ExpiresAt.Format(time.DateOnly))
	}
}

// takeSeat takes a floating seat, waiting up to wait for one when every seat
// is taken, and prints its events; nil when none could be taken (the server
// is unreachable or every seat stayed taken).
func takeSeat(ctx context.Context, w io.Writer, c *client.Client, pool string, wait time.Duration) *client.Lease {
	seat, err := c.Lease(ctx, pool, client.WaitForSeat(wait))
	if err != nil {
		fmt.Fprintln(w, "no floating seat:", err)
		return nil
	}
	fmt.Fprintln(w, "seat: held")
	go func() {
		for e := range seat.Events() {
			if e.Err != nil {
				fmt.Fprintf(w, "seat: %s (%v)\n", e.Kind, e.Err)
			} else {
				fmt.Fprintf(w, "seat: %s\n", e.Kind)
			}
		}
	}()
	return seat
}

func describe(v client.Validation, err error) string {
	switch {
	case err != nil:
		return "not licensed: " + err.Error()
	case !v.Valid:
		return "not licensed: " + string(v.Code)
	case v.Cached:
		return "licensed from the cached answer (server unreachable), offline until " + v.OfflineUntil.Format(time.RFC3339)
	}
	return "licensed by the server (" + string(v.Code) + ")"
}

func errText(err error) string {
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return ""
}
