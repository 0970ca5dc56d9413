package reliability_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The reference server (./examples/server) built once per test binary, for
// the tests that run it as separate processes.
var built struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

func serverBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "licensekit-server-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "server")
		cmd := exec.Command("go", "build", "-o", built.path, "../examples/server")
		built.out, built.err = cmd.CombinedOutput()
	})
	require.NoError(t, built.err, "go build ./examples/server: %s", built.out)
	return built.path
}

// removeServerBinary removes what serverBinary built (TestMain calls it).
func removeServerBinary() {
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
}

// proc is one running server process.
type proc struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer runs the reference server with args (and -addr on a free
// loopback port) and waits until it listens.
func startServer(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(serverBinary(t), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = os.Environ()
	cmd.Stdout = nil
	errPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	p := &proc{cmd: cmd, stderr: &syncBuffer{}}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { p.kill() })
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.stderr.Write([]byte(line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil && !sent {
				base <- m[1]
				sent = true
			}
		}
	}()
	select {
	case p.base = <-base:
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not start: %s", p.stderr.String())
	}
	return p
}

// kill sends SIGKILL (once) and waits for the process to go.
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// stop asks the process to shut down (SIGTERM: it finishes its background
// rounds) and waits for it.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not stop: %s", p.stderr.String())
	}
}
