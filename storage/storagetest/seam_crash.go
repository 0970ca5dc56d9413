package storagetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
)

// Crash-safety helpers for durable stores. A store's test re-executes its own
// test binary as a writer process (CrashWriter), kills it with SIGKILL in the
// middle of its stream of operations, reopens the store and calls CheckCrash.

const (
	crashCompany                 = "crash"
	crashKindOp    storage.Kind  = "crashop"
	crashKindCount storage.Kind  = "crashcount"
	crashEvent     eventlog.Type = "crash.op"
)

type crashCounter struct {
	N   int64 `json:"n"`
	Sum int64 `json:"sum"`
}

// CrashWriter performs operations 1, 2, 3 ... on s until it is killed (or ctx
// ends). Operation i, in one Update: loads the counter for update, inserts
// record op-i, puts the counter with N and Sum advanced, and appends one event.
// After each commit it writes "committed i" on out.
func CrashWriter(ctx context.Context, s storage.Store, out io.Writer) error {
	for ctx.Err() == nil {
		i, err := crashOp(ctx, s)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(out, "committed %d\n", i); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// crashOp performs the next operation and returns its number.
func crashOp(ctx context.Context, s storage.Store) (int64, error) {
	var i int64
	err := s.Update(ctx, func(tx storage.Tx) error {
		c, r, err := storage.Load[crashCounter](ctx, tx, crashCompany, crashKindCount, "counter", true)
		if storage.IsNotFound(err) {
			r = storage.Record{Company: crashCompany, Kind: crashKindCount, ID: "counter"}
		} else if err != nil {
			return err
		}
		c.N++
		i = c.N
		c.Sum += i
		op := storage.Record{Company: crashCompany, Kind: crashKindOp, ID: fmt.Sprintf("op-%09d", i), Parent: "counter",
			Data: []byte(`{"i":` + strconv.FormatInt(i, 10) + `,"pad":"` + strings.Repeat("x", int(i%200)) + `"}`)}
		if err := tx.Insert(ctx, op); err != nil {
			return err
		}
		if err := storage.Save(ctx, tx, r, c); err != nil {
			return err
		}
		_, err = tx.AppendEvent(ctx, eventlog.Event{ID: op.ID, Company: crashCompany, Time: time.Now().UTC(), Type: crashEvent, Count: i, Actor: "system", Subject: op.ID})
		return err
	})
	return i, err
}

// RunCrash starts the current test binary running test helper (a test that calls
// CrashWriter when env is in its environment), reads the operations it reports
// committed, kills it with SIGKILL after a random number of them, and returns
// the reported operation numbers.
func RunCrash(t *testing.T, helper string, env []string) []int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	killAfter := 20 + rand.IntN(150)
	var reported []int64
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		n, ok := strings.CutPrefix(line, "committed ")
		if !ok {
			continue // test framework output
		}
		i, err := strconv.ParseInt(n, 10, 64)
		require.NoError(t, err, "writer line %q", line)
		reported = append(reported, i)
		if len(reported) == killAfter && !killed {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	err = cmd.Wait()
	require.True(t, killed, "writer ended before it was killed: %v\n%s", err, stderr.String())
	require.Error(t, err, "the writer was killed")
	return reported
}

// CheckCrash checks the store after a killed CrashWriter: every operation
// reported committed is there, no operation is partly visible (its record and
// its event both or neither), operations are a prefix 1..N, and the counter
// equals what the records add up to.
func CheckCrash(t *testing.T, s storage.Store, reported []int64) {
	t.Helper()
	ctx := context.Background()
	require.NotEmpty(t, reported)
	var c crashCounter
	var ops []storage.Record
	var evs []eventlog.Event
	require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
		var err error
		c, _, err = storage.Load[crashCounter](ctx, tx, crashCompany, crashKindCount, "counter", false)
		if err != nil {
			return err
		}
		ops, err = tx.List(ctx, storage.ListQuery{Company: crashCompany, Kind: crashKindOp})
		if err != nil {
			return err
		}
		return tx.Events(ctx, eventlog.Filter{Company: crashCompany, Sort: eventlog.ColCount}, func(e eventlog.Event) error {
			evs = append(evs, e)
			return nil
		})
	}))
	last := reported[len(reported)-1]
	require.GreaterOrEqual(t, c.N, last, "every operation reported committed survives the crash")
	require.LessOrEqual(t, c.N, last+1, "at most the one operation in flight at the kill committed unreported")
	require.Len(t, ops, int(c.N), "records of operations match the counter")
	require.Len(t, evs, int(c.N), "one event per committed operation")
	var sum int64
	for k, r := range ops {
		i := int64(k + 1)
		require.Equal(t, fmt.Sprintf("op-%09d", i), r.ID, "operations form the prefix 1..N")
		var d struct {
			I int64 `json:"i"`
		}
		require.NoError(t, json.Unmarshal(r.Data, &d))
		require.Equal(t, i, d.I)
		sum += d.I
		require.Equal(t, r.ID, evs[k].ID, "operation %d has its event", i)
		require.Equal(t, i, evs[k].Count)
	}
	require.Equal(t, sum, c.Sum, "the stored sum equals the sum recomputed from the records")
	v, err := storage.VerifyChain(ctx, s, crashCompany, time.Now())
	require.NoError(t, err)
	require.True(t, v.Intact, "the event chain survives the crash: %+v", v)
	require.Equal(t, c.N, v.Checked)
	// The reopened store takes new writes.
	i, err := crashOp(ctx, s)
	require.NoError(t, err, "write after reopening")
	require.Equal(t, c.N+1, i)
}
