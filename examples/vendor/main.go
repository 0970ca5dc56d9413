// Command vendor shows a product that embeds licensekit checking its license
// at start-up, in the two ways a vendor offers:
//
//   - online, through the library on a store (in memory, or a SQLite file):
//     the vendor's pool grants the product with entitlements (feature codes);
//     at start-up the product calls Validate with Allocate for this machine, which
//     takes a license the first time and afterwards just validates; a machine
//     beyond the pool's licenses, a feature not bought, and a client that
//     hammers the check (rate limited) each get their typed answer;
//   - offline, through a license file signed with the vendor's Ed25519 key:
//     the product verifies it against the public keys it ships with, for this
//     machine's fingerprint, with no network; another machine, a tampered
//     file, the grace period after expiry and a rotated key are shown.
//
// Each step prints one line with the result code.
//
//	go run ./examples/vendor                      # in-memory store
//	go run ./examples/vendor -store sqlite -db licenses.db
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/sqlite"
)

func main() {
	storeKind := flag.String("store", "memory", "memory or sqlite")
	db := flag.String("db", "vendor-licenses.db", "SQLite database file (with -store sqlite)")
	flag.Parse()
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte("licensekit-example:" + host))
	opts := Options{Store: *storeKind, DBPath: *db, Now: time.Now().UTC(), Fingerprint: hex.EncodeToString(sum[:8])}
	if err := run(context.Background(), os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "vendor:", err)
		os.Exit(1)
	}
}

// Options configure a run.
type Options struct {
	Store       string    // "memory" or "sqlite"
	DBPath      string    // SQLite file
	Now         time.Time // the moment of the start-up check
	Fingerprint string    // this machine's fingerprint
}

func openStore(o Options) (storage.Store, error) {
	switch o.Store {
	case "", "memory":
		return memory.New(), nil
	case "sqlite":
		return sqlite.Open(o.DBPath)
	}
	return nil, fmt.Errorf("unknown store %q: use memory or sqlite", o.Store)
}

// product is what the product ships: its name and the features it uses.
const product = "acme-backup"

func run(ctx context.Context, w io.Writer, o Options) error {
	store, err := openStore(o)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := online(ctx, w, store, o); err != nil {
		return err
	}
	return offline(w, o)
}

func printResult(w io.Writer, step string, v license.Validation) {
	fmt.Fprintf(w, "%-44s %-22s %s", step, v.Code, v.Message)
	if len(v.Missing) > 0 {
		fmt.Fprintf(w, " (missing %v)", v.Missing)
	}
	fmt.Fprintln(w)
}

func online(ctx context.Context, w io.Writer, store storage.Store, o Options) error {
	clock := licensetest.NewClock(o.Now)
	// A limiter of 5 checks at once, then one per minute, per pool.
	svc := &pool.Service{Store: store, Clock: clock, Limiter: license.NewTokenBucket(1.0/60, 5)}
	vendor := license.Actor{Company: "acme-customer", Email: "licensing@vendor.example", Role: license.Admin}

	// The vendor sells the customer 2 installations of the product with the
	// backup and sso features.
	p, err := svc.Create(ctx, vendor, pool.CreateRequest{Spec: pool.Spec{
		Name: "Acme Backup Pro", Model: license.Perpetual, Metric: license.InstalledInstance,
		Software: []string{product}, Entitlements: []string{"backup", "sso"},
	}})
	if err != nil {
		return err
	}
	if _, err := svc.AddTransaction(ctx, vendor, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 2, Date: o.Now}); err != nil {
		return err
	}
	fmt.Fprintf(w, "online (%s store): pool %q, 2 licenses, entitlements %v\n", storeName(o), p.Name, p.Entitlements)

	// The product at start-up: validate this machine, taking a license the
	// first time.
	me := license.ValidationRequest{Consumer: license.Consumer{Fingerprint: o.Fingerprint}, Software: product, Features: []string{"backup", "sso"}}
	startup := func(step string, req license.ValidationRequest) error {
		req.Allocate = true
		v, err := svc.Validate(ctx, vendor, p.ID, req)
		if err != nil {
			return err
		}
		printResult(w, step, v)
		return nil
	}
	if err := startup("start-up, this machine (first run)", me); err != nil {
		return err
	}
	v, err := svc.Validate(ctx, vendor, p.ID, me)
	if err != nil {
		return err
	}
	printResult(w, "start-up, this machine (validate only)", v)
	if err := startup("start-up, a second machine", license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "second-machine"}, Software: product}); err != nil {
		return err
	}
	if err := startup("start-up, a third machine", license.ValidationRequest{Consumer: license.Consumer{Fingerprint: "third-machine"}, Software: product}); err != nil {
		return err
	}
	audit := me
	audit.Features = []string{"backup", "audit"}
	v, err = svc.Validate(ctx, vendor, p.ID, audit)
	if err != nil {
		return err
	}
	printResult(w, "this machine asks for the audit feature", v)

	// A client that hammers the check is refused without touching the store.
	_, err = svc.Validate(ctx, vendor, p.ID, me)
	if license.ErrorCode(err) == license.RateLimited {
		fmt.Fprintf(w, "%-44s %-22s %s\n", "one check too many", license.RateLimited, license.ErrorMessage(err))
	} else {
		return fmt.Errorf("expected a rate-limited refusal, got %v", err)
	}
	return nil
}

func storeName(o Options) string {
	if o.Store == "" {
		return "memory"
	}
	return o.Store
}

func verifyLine(w io.Writer, step string, v *licensefile.Verifier, file []byte, req licensefile.Request) {
	res, err := v.Verify(file, req)
	var fe *licensefile.Error
	switch {
	case err == nil && res.InGrace:
		fmt.Fprintf(w, "%-44s %-22s licensee %s, expired %s, still accepted\n", step, "in_grace", res.Claims.Licensee, res.Claims.ExpiresAt.Format(time.DateOnly))
	case err == nil:
		fmt.Fprintf(w, "%-44s %-22s licensee %s, entitlements %v, until %s\n", step, "valid", res.Claims.Licensee, res.Claims.Entitlements, res.Claims.ExpiresAt.Format(time.RFC3339Nano))
	case errors.As(err, &fe):
		fmt.Fprintf(w, "%-44s %-22s %s\n", step, fe.Code, fe.Message)
	default:
		fmt.Fprintf(w, "%-44s %-22s %v\n", step, "error", err)
	}
}

func offline(w io.Writer, o Options) error {
	// The vendor, once: a signing key; the product ships the public key.
	kid, pub, priv, err := licensefile.GenerateKey()
	if err != nil {
		return err
	}
	// The vendor, per customer: a file for this machine, valid until the end
	// of the day one year from now (a date-only expiry), with 14 days' grace.
	until := license.EndOfDay(license.AddYears(o.Now, 1))
	file, err := licensefile.Issue(licensefile.Claims{
		LicenseID: "ACME-0001", Licensee: "Acme Corp", Product: product,
		Entitlements: []string{"backup", "sso"}, Fingerprint: o.Fingerprint,
		IssuedAt: o.Now, ExpiresAt: until, GraceSeconds: 14 * 24 * 3600,
	}, kid, priv)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "offline: license file of %d bytes signed with key %s\n", len(file), kid)
	at := func(t time.Time, keys map[string]ed25519.PublicKey) *licensefile.Verifier {
		return &licensefile.Verifier{Keys: keys, Now: func() time.Time { return t }}
	}
	shipped := map[string]ed25519.PublicKey{kid: pub}
	me := licensefile.Request{Fingerprint: o.Fingerprint, Entitlements: []string{"backup"}}

	verifyLine(w, "start-up, this machine", at(o.Now, shipped), file, me)
	verifyLine(w, "start-up, another machine", at(o.Now, shipped), file, licensefile.Request{Fingerprint: "another-machine"})
	verifyLine(w, "this machine asks for the audit feature", at(o.Now, shipped), file, licensefile.Request{Fingerprint: o.Fingerprint, Entitlements: []string{"audit"}})
	// Change one character in the middle of the claims (for example to
	// stretch the expiry): still well-formed, but the signature fails.
	tampered := append([]byte(nil), file...)
	parts := bytes.SplitN(tampered, []byte("."), 4)
	i := len(parts[0]) + 1 + len(parts[1]) + 1 + len(parts[2])/2
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	verifyLine(w, "a tampered file", at(o.Now, shipped), tampered, me)
	verifyLine(w, "start-up, last instant of validity", at(until, shipped), file, me)
	verifyLine(w, "start-up, a week after expiry", at(until.Add(7*24*time.Hour), shipped), file, me)
	verifyLine(w, "start-up, after the grace period", at(until.Add(14*24*time.Hour+time.Nanosecond), shipped), file, me)

	// Key rotation: the vendor signs new files with a new key; an update of
	// the product ships both public keys, so old files keep working.
	kid2, pub2, _, err := licensefile.GenerateKey()
	if err != nil {
		return err
	}
	verifyLine(w, "old file, product with only the new key", at(o.Now, map[string]ed25519.PublicKey{kid2: pub2}), file, me)
	verifyLine(w, "old file, product with both keys", at(o.Now, map[string]ed25519.PublicKey{kid: pub, kid2: pub2}), file, me)
	return nil
}
