package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/topup"
)

const (
	mpEnv       = "LICENSEKIT_POSTGRES_MULTIPROCESS"
	mpProcs     = 4
	mpCapacity  = 37 // licenses in the pool
	mpAttempts  = 25 // allocations and enrolments per process
	mpLicenses0 = 6  // the site's licenses before any enrolment
)

var mpOwner = license.Actor{Company: "mp", Email: "owner@mp.example", Role: license.Owner}

// TestHelperMultiProcess is one application process of TestMultiProcess; it
// does nothing unless started by it. It allocates from the pool and enrols
// devices on the site, then prints what committed.
func TestHelperMultiProcess(t *testing.T) {
	env := os.Getenv(mpEnv)
	if env == "" {
		return
	}
	parts := strings.Split(env, ",") // schema,poolID,siteID,worker
	require.Len(t, parts, 4)
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv(dsnEnv), postgres.WithSchema(parts[0]), postgres.WithMaxConns(4))
	require.NoError(t, err)
	defer s.Close()
	pools := &pool.Service{Store: s}
	bill := &billing.Service{Store: s, Overflow: topup.Overflow()}
	var allocated, enrolled, toppedUp int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	// Two goroutines per process, each on its own connection.
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range mpAttempts / 2 {
				_, err := pools.Allocate(ctx, mpOwner, parts[1], pool.AllocateRequest{Consumer: license.Consumer{Asset: fmt.Sprintf("w%s-g%d-%d", parts[3], g, i)}})
				switch license.ErrorCode(err) {
				case "":
					mu.Lock()
					allocated++
					mu.Unlock()
				case license.InsufficientLicenses:
				default:
					t.Errorf("allocate: %v", err)
				}
				r, err := bill.Enroll(ctx, license.System("mp"), billing.EnrollRequest{Site: parts[2], Devices: 1})
				if err != nil {
					t.Errorf("enroll: %v", err)
					continue
				}
				mu.Lock()
				enrolled++
				toppedUp += r.ToppedUp
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("result %d %d %d\n", allocated, enrolled, toppedUp)
}

// TestMultiProcess runs 4 processes, each with its own connection pool, all
// allocating from one license pool and enrolling on one site with top-up on.
func TestMultiProcess(t *testing.T) {
	dsn, schema := freshSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	defer s.Close()
	pools := &pool.Service{Store: s}
	bill := &billing.Service{Store: s, Overflow: topup.Overflow()}
	top := &topup.Service{Store: s}

	p, err := pools.Create(ctx, mpOwner, pool.CreateRequest{Spec: pool.Spec{Name: "Shared", Model: license.Perpetual, Metric: license.InstalledInstance, Software: []string{"Suite"}}})
	require.NoError(t, err)
	_, err = pools.AddTransaction(ctx, mpOwner, p.ID, pool.TransactionInput{Kind: pool.TxPurchase, Count: mpCapacity})
	require.NoError(t, err)
	_, err = bill.CreateCompany(ctx, mpOwner, "MP MSP")
	require.NoError(t, err)
	lic := int64(mpLicenses0)
	site, err := bill.CreateSite(ctx, mpOwner, billing.NewSite{Name: "Helsinki", Plan: "standard", Group: "north", PaymentType: billing.MonthlyInvoice,
		UnitPrice: license.NewMoney(decimal.RequireFromString("2.50"), "EUR"), Licenses: &lic})
	require.NoError(t, err)
	_, err = top.Enable(ctx, mpOwner, topup.EnableRequest{AcceptedTermsVersion: "2026-01"})
	require.NoError(t, err)

	var allocated, enrolled, toppedUp int64
	var cmds []*exec.Cmd
	var outs []*bufio.Scanner
	for w := range mpProcs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMultiProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%s,%d", mpEnv, schema, p.ID, site.ID, w))
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
		outs = append(outs, bufio.NewScanner(out))
	}
	for w, cmd := range cmds {
		var got bool
		var lines []string
		for outs[w].Scan() {
			line := outs[w].Text()
			lines = append(lines, line)
			if rest, ok := strings.CutPrefix(line, "result "); ok {
				f := strings.Fields(rest)
				require.Len(t, f, 3)
				for k, dst := range []*int64{&allocated, &enrolled, &toppedUp} {
					n, err := strconv.ParseInt(f[k], 10, 64)
					require.NoError(t, err)
					*dst += n
				}
				got = true
			}
		}
		require.NoError(t, cmd.Wait(), "process %d:\n%s", w, strings.Join(lines, "\n"))
		require.True(t, got, "process %d reported no result:\n%s", w, strings.Join(lines, "\n"))
	}

	attempts := int64(mpProcs * (mpAttempts / 2) * 2)
	assert.Equal(t, int64(mpCapacity), allocated, "exactly the pool's capacity was allocated across processes")
	assert.Equal(t, attempts, enrolled, "every enrolment committed (top-up covers it)")

	pane, err := pools.Status(ctx, mpOwner, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(mpCapacity), pane.Counts.Total)
	assert.Equal(t, int64(mpCapacity), pane.Counts.Allocated, "the pool holds exactly its capacity in allocations")
	assert.Zero(t, pane.Counts.Available)

	got, err := bill.GetSite(ctx, mpOwner, site.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Licenses)
	assert.Equal(t, enrolled, got.Enrolled)
	assert.GreaterOrEqual(t, *got.Licenses, got.Enrolled, "no site has fewer licenses than enrolled devices")
	assert.Equal(t, int64(mpLicenses0)+toppedUp, *got.Licenses, "licenses = initial + what top-up reported adding")

	// Exactly one event per committed change.
	count := func(types ...eventlog.Type) int64 {
		var n int64
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			var err error
			n, err = tx.CountEvents(ctx, eventlog.Filter{Company: "mp", Types: types})
			return err
		}))
		return n
	}
	assert.Equal(t, allocated, count(pool.EventAllocated), "one pool.allocated event per allocation")
	assert.Equal(t, enrolled, count(billing.EventEnroll), "one site.enroll event per enrolment")
	var triggered, added int64
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: "mp", Types: []eventlog.Type{topup.EventTriggered}}, func(e eventlog.Event) error {
			triggered++
			added += e.Count
			return nil
		})
	}))
	assert.Equal(t, toppedUp, added, "top-up events add up to the licenses added")
	assert.Positive(t, triggered)
	// The company's event chain, appended from 4 processes, is intact.
	v, err := storage.VerifyChain(ctx, s, "mp", time.Now())
	require.NoError(t, err)
	assert.True(t, v.Intact, "event chain: %+v", v)
	assert.Equal(t, count(), v.Checked)
}
