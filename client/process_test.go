package client_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/licensekit/licensekit/adapters/http/client"
	"github.com/licensekit/licensekit/client"
	"github.com/licensekit/licensekit/license/licensefile"
)

// process is the reference server (examples/server) running as its own
// process on a SQLite file.
type process struct {
	t    *testing.T
	bin  string
	dir  string
	addr string // host:port, kept across restarts
	cmd  *exec.Cmd
	done chan struct{}
}

var listening = regexp.MustCompile(`msg=listening addr=http://(\S+)`)

func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "licensekit-server")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/licensekit/licensekit/examples/server")...).CombinedOutput()
	require.NoError(t, err, "go build ./examples/server: %s", out)
	return bin
}

// start runs the server and waits until it listens.
func (p *process) start() {
	p.t.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lastErr string
	for range 50 { // a restart may find the port not yet free
		cmd := exec.Command(p.bin, "-addr", addr, "-sqlite", filepath.Join(p.dir, "licensekit.db"),
			"-owner-key-file", filepath.Join(p.dir, "owner.key"), "-license-key", filepath.Join(p.dir, "license.pem"), "-interval", "1h")
		stderr, err := cmd.StderrPipe()
		require.NoError(p.t, err)
		cmd.Stdout = nil
		require.NoError(p.t, cmd.Start())
		found := make(chan string, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if m := listening.FindStringSubmatch(sc.Text()); m != nil {
					found <- m[1]
				} else if strings.Contains(sc.Text(), "address already in use") {
					lastErr = sc.Text()
				}
			}
			_ = cmd.Wait()
		}()
		select {
		case a := <-found:
			p.addr, p.cmd, p.done = a, cmd, done
			return
		case <-done:
			time.Sleep(20 * time.Millisecond)
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			p.t.Fatal("the server did not start listening")
		}
	}
	p.t.Fatalf("the server did not start: %s", lastErr)
}

// stop kills the server (no graceful goodbye: a crash or a pulled cable).
func (p *process) stop() {
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.cmd = nil
	}
}

func (p *process) url() string { return "http://" + p.addr }

// publicKey reads the license key the server created and returns the
// product's key set.
func (p *process) publicKeys() map[string]ed25519.PublicKey {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "license.pem"))
	require.NoError(p.t, err)
	blk, _ := pem.Decode(b)
	require.NotNil(p.t, blk)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	require.NoError(p.t, err)
	pub := k.(ed25519.PrivateKey).Public().(ed25519.PublicKey)
	return map[string]ed25519.PublicKey{licensefile.KeyID(pub): pub}
}

// The SDK against the reference server in its own process on SQLite:
// activation retried after a lost answer takes one seat; a lease survives a
// server crash shorter than its TTL and is renewed after the restart; the
// product stays licensed within the server's grace and not beyond; a
// borrowed seat's file verifies with the server's public key.
func TestAgainstServerProcessOnSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server binary")
	}
	p := &process{t: t, bin: buildServer(t), dir: t.TempDir()}
	p.start()
	t.Cleanup(p.stop)
	ownerKey, err := os.ReadFile(filepath.Join(p.dir, "owner.key"))
	require.NoError(t, err)
	key := strings.TrimSpace(string(ownerKey))
	ctx := context.Background()

	// The demo data's concurrent-user pool (AutoCAD, 5 seats, TTL 5 minutes).
	admin, err := api.New(p.url(), key)
	require.NoError(t, err)
	pools, err := admin.GetV1PoolsWithResponse(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, api.Check(pools, http.StatusOK))
	var cad string
	for _, pl := range *pools.JSON200.Items {
		if pl.Metric != nil && *pl.Metric == "concurrent_user" {
			cad = pl.Id.String()
		}
	}
	require.NotEmpty(t, cad)
	leases := func() int {
		rsp, err := admin.GetV1PoolsIdLeasesWithResponse(ctx, cad, nil)
		require.NoError(t, err)
		require.NoError(t, api.Check(rsp, http.StatusOK))
		return len(*rsp.JSON200.Items)
	}

	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	drop := &dropFirst{base: http.DefaultTransport, match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/validate-and-allocate") }}
	k := newTicks()
	state := client.MemoryState()
	c, err := client.New(p.url(), client.WithHTTPClient(&http.Client{Transport: drop, Timeout: 10 * time.Second}), client.WithAPIKey(key),
		client.WithConsumer(client.Consumer{User: "designer", Fingerprint: "fp-designer"}), client.WithClock(now),
		client.WithPublicKeys(p.publicKeys()), client.WithState(state), k.option(), fast)
	require.NoError(t, err)

	v, err := c.Activate(ctx, client.Pool(cad))
	require.NoError(t, err)
	require.True(t, v.Valid, "%+v", v)
	require.Len(t, drop.keys, 2)
	assert.Equal(t, drop.keys[0], drop.keys[1])
	assert.Equal(t, 1, leases(), "the retried activation took one seat")

	l, err := c.Lease(ctx, cad)
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, 1, leases(), "the activation's seat is the lease's")

	// The server crashes; within its grace the product stays licensed.
	p.stop()
	k.beat(t)
	assert.Equal(t, client.LeaseMissed, next(t, l).Kind)
	v, err = c.Validate(ctx, client.Pool(cad))
	require.NoError(t, err)
	assert.True(t, v.Valid && v.Cached, "%+v", v)

	// Beyond the grace, not (a second client on the same state, a day on).
	dayLater := func() time.Time { return now().Add(25 * time.Hour) }
	c2, err := client.New(p.url(), client.WithAPIKey(key), client.WithConsumer(client.Consumer{User: "designer"}),
		client.WithClock(dayLater), client.WithState(state), fast)
	require.NoError(t, err)
	_, err = c2.Validate(ctx, client.Pool(cad))
	require.ErrorIs(t, err, client.ErrOfflineExpired)

	// Restarted within the TTL: the next heartbeat renews the same seat.
	p.start()
	k.beat(t)
	assert.Equal(t, client.LeaseRenewed, next(t, l).Kind)
	assert.Equal(t, 1, leases())
	v, err = c.Validate(ctx, client.Pool(cad))
	require.NoError(t, err)
	assert.True(t, v.Valid && !v.Cached, "%+v", v)

	// Borrowing: the file verifies with the server's public key.
	b, err := c.Borrow(ctx, cad, 3)
	require.NoError(t, err)
	res, err := c.VerifyBorrowed(cad)
	require.NoError(t, err)
	assert.Equal(t, b.Lease, res.Claims.LicenseID)
	require.NoError(t, c.Return(ctx, cad))
	require.NoError(t, l.Close())
	assert.Equal(t, 0, leases())
}
