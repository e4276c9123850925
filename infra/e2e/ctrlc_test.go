package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
)

// Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
// `make run` must then stop in order (the services before Redis, the bus
// and the database, so that none loses a dependency while it still works),
// and from its start to its stop print no noise (see noiseLine): a clean
// run that prints what looks like faults teaches to ignore the real ones.
func TestCtrlCStopsTheStackInOrderWithoutAnError(t *testing.T) {
	t.Parallel() // a stack (or process) of its own: runs beside the others that have one
	root := repoRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "localstack")
	build := exec.Command("go", "build", "-o", bin, "./infra/cmd/localstack")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	logs := &testkit.SyncBuffer{}
	cmd := exec.Command(bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "STACK_ROOT="+root, "DATA_DIR="+filepath.Join(dir, "data"),
		"INGRESS_ADDR=127.0.0.1:0", "NATS_ADDR=127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logs, logs
	// A group of its own, as a shell gives a foreground job: the SIGINT
	// below goes to it and whatever shares it, not to this test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()

	deadline := time.Now().Add(5 * time.Minute)
	for !strings.Contains(logs.String(), "ready: http://") {
		select {
		case err := <-exited:
			t.Fatalf("the stack exited before it was ready (%v):\n%s", err, logs)
		case <-time.After(200 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "not ready within 5 minutes:\n%s", logs)
	}
	time.Sleep(time.Second) // expiration polls Redis every 100 ms meanwhile

	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT), "Ctrl-C")
	select {
	case err := <-exited:
		assert.NoError(t, err, "a clean exit")
	case <-time.After(90 * time.Second):
		t.Fatalf("still running 90 s after Ctrl-C:\n%s", logs)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		assert.NotRegexp(t, noiseLine, line)
	}
	if t.Failed() {
		t.Logf("stack output:\n%s", logs)
	}
}
