package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/client"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// lines delivers what the product prints, line by line.
func lines(t *testing.T, r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			t.Log(sc.Text())
			ch <- sc.Text()
		}
	}()
	return ch
}

// waitFor reads printed lines until one starts with prefix.
func waitFor(t *testing.T, out <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-out:
			require.True(t, ok, "the product ended before printing %q", prefix)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("the product did not print %q", prefix)
		}
	}
}

// The product activates, holds a seat with heartbeats, stays licensed while
// the server is stopped for longer than a heartbeat (within the grace),
// renews its seat when the server is back, and falls back to its license
// file once the grace is over.
func TestProductSurvivesServerStopAndFallsBackToItsFile(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "vendor.db"))
	require.NoError(t, err)
	defer store.Close()
	_, signing, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	h, err := lkhttp.New(lkhttp.Config{Store: store, LicenseKey: signing, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	owner := license.Actor{Company: license.NewID(), Email: "vendor@example.com", Role: license.Owner}
	_, err = (&billing.Service{Store: store}).CreateCompany(ctx, owner, "Vendor")
	require.NoError(t, err)
	pools := &pool.Service{Store: store}
	p, err := pools.Create(ctx, owner, pool.CreateRequest{Spec: pool.Spec{Name: "Acme CAD", Model: license.Perpetual,
		Metric: license.ConcurrentUser, Software: []string{"acme-cad"}, Entitlements: []string{"export"}, LeaseTTL: 5 * time.Minute}})
	require.NoError(t, err)
	_, err = pools.AddTransaction(ctx, owner, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: 3})
	require.NoError(t, err)
	key, err := lkhttp.IssueKey(ctx, store, license.SystemClock{}, owner.Company, "product@example.com", license.Editor, "", license.SystemEmail)
	require.NoError(t, err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()

	// The vendor's offline file for this machine.
	pub := signing.Public().(ed25519.PublicKey)
	file, err := licensefile.Issue(licensefile.Claims{LicenseID: "ACME-7", Product: "acme-cad", Entitlements: []string{"export"},
		Fingerprint: "fp-ws-7", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(90 * 24 * time.Hour)}, licensefile.KeyID(pub), signing)
	require.NoError(t, err)

	var offset atomic.Int64
	checks, beats := make(chan time.Time), make(chan time.Time)
	r, w := io.Pipe()
	out := lines(t, r)
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(pctx, w, Options{Server: "http://" + addr, Key: key.Key, Pool: p.ID, LicenseFile: file,
			Software: "acme-cad", Features: []string{"export"},
			PublicKeys: map[string]ed25519.PublicKey{licensefile.KeyID(pub): pub},
			Consumer:   client.Consumer{User: "ws-7", Fingerprint: "fp-ws-7"},
			State:      filepath.Join(t.TempDir(), "state.json"),
			Checks:     checks, Heartbeats: beats,
			Now:  func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
			HTTP: &http.Client{Timeout: 5 * time.Second}})
		w.Close()
	}()
	require.Equal(t, "activated: licensed by the server (valid)", waitFor(t, out, "activated:"))
	waitFor(t, out, "seat: held")
	beats <- time.Now()
	require.Equal(t, "seat: renewed", waitFor(t, out, "seat:"))
	checks <- time.Now()
	require.Equal(t, "check: licensed by the server (valid)", waitFor(t, out, "check:"))

	// The server stops for longer than a heartbeat.
	require.NoError(t, srv.Close())
	beats <- time.Now()
	require.Contains(t, waitFor(t, out, "seat:"), "seat: missed")
	offset.Store(int64(2 * time.Minute))
	checks <- time.Now()
	require.Contains(t, waitFor(t, out, "check:"), "licensed from the cached answer")

	// It comes back on the same address: the seat is renewed.
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	srv = &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	beats <- time.Now()
	require.Equal(t, "seat: renewed", waitFor(t, out, "seat:"))
	checks <- time.Now()
	require.Equal(t, "check: licensed by the server (valid)", waitFor(t, out, "check:"))

	// Gone beyond the grace (a day): the license file carries the product.
	require.NoError(t, srv.Close())
	offset.Store(int64(25 * time.Hour))
	checks <- time.Now()
	require.Contains(t, waitFor(t, out, "check:"), "licensed by the license file ACME-7")

	// Back, and Ctrl-C: the seat is given back.
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	srv = &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	stop()
	require.Equal(t, "seat: given back ", waitFor(t, out, "seat: given back"))
	require.NoError(t, <-done)
	ls, err := pools.Leases(ctx, owner, p.ID)
	require.NoError(t, err)
	require.Empty(t, ls)
}
