package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendLine records one step of a stop in the shared log file.
func appendLine(t *testing.T, file, line string) {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	require.NoError(t, err)
}

// fakeService is a supervised process that notes its SIGTERM in logFile.
func fakeService(t *testing.T, dir, logFile string, con *console) *process {
	t.Helper()
	ready := filepath.Join(dir, "ready")
	bin := filepath.Join(dir, "svc")
	script := "#!/bin/sh\ntrap 'echo service >> " + logFile + "; exit 0' TERM\necho up > " + ready + "\nwhile :; do sleep 0.05; done\n"
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	p := &process{name: "svc", bin: bin, con: con, done: make(chan struct{}), env: os.Environ}
	return p
}

func waitFile(t *testing.T, file string) {
	t.Helper()
	require.Eventually(t, func() bool { _, err := os.Stat(file); return err == nil }, 10*time.Second, 10*time.Millisecond)
}

// A clean stop must not pull Redis, the bus or the database from under a
// service that is still finishing: expiration logged an ERROR on every
// Ctrl-C when Redis went first.
func TestStopStopsServicesBeforeRedisTheBusAndTheEngine(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "order")
	con := &console{out: io.Discard}
	p := fakeService(t, dir, logFile, con)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stack{con: con, names: []string{"svc"}, procs: map[string][]*process{"svc": {p}}, cancel: cancel}
	// Appended in the order Start starts them.
	for _, name := range []string{"engine", "bus", "redis", "stripe-mock"} {
		s.stops = append(s.stops, func() { appendLine(t, logFile, name) })
	}
	go p.supervise(ctx)
	waitFile(t, filepath.Join(dir, "ready"))

	s.Stop()
	b, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Equal(t, []string{"service", "stripe-mock", "redis", "bus", "engine"}, strings.Fields(string(b)))
}

// The terminal sends Ctrl-C's SIGINT to its whole foreground process group;
// a child in that group would stop on its own, out of order.
func TestChildrenRunInAProcessGroupOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	con := &console{out: io.Discard}
	p := fakeService(t, dir, filepath.Join(dir, "order"), con)
	ctx, cancel := context.WithCancel(context.Background())
	go p.supervise(ctx)
	waitFile(t, filepath.Join(dir, "ready"))
	_, pid := p.started()
	pgid, err := syscall.Getpgid(pid)
	require.NoError(t, err)
	assert.Equal(t, pid, pgid, "the service leads its own process group")
	assert.NotEqual(t, syscall.Getpgrp(), pgid)
	cancel()
	p.stop()

	c, err := startChild(con.writer("sleep"), "sleep", "sleep", "30")
	require.NoError(t, err)
	defer c.stop()
	pgid, err = syscall.Getpgid(c.cmd.Process.Pid)
	require.NoError(t, err)
	assert.Equal(t, c.cmd.Process.Pid, pgid, "a helper (redis-server, stripe-mock) leads its own process group")
}

// stripe-mock must not be reachable from other machines: bound to
// 127.0.0.1 only, the same port on another loopback address stays free
// (it would not be if stripe-mock held every interface).
func TestStripeMockListensOnLoopbackOnly(t *testing.T) {
	con := &console{out: io.Discard}
	c, url, err := startStripeMock(context.Background(), filepath.Join("..", ".."), con)
	require.NoError(t, err)
	defer c.stop()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", port))
	require.NoError(t, err, "stripe-mock holds the port on every interface")
	ln.Close()

	// Every socket it listens on (HTTPS too) is on 127.0.0.1.
	addrs := listeningAddrs(t, c.cmd.Process.Pid)
	require.Len(t, addrs, 2, "HTTP and HTTPS: %v", addrs)
	for _, a := range addrs {
		assert.True(t, strings.HasPrefix(a, "0100007F:"), "listens on %s (hex, /proc/net/tcp), not 127.0.0.1", a)
	}
}

// listeningAddrs returns the local addresses (as /proc/net/tcp{,6} show
// them) of the TCP sockets pid listens on.
func listeningAddrs(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, err := os.ReadFile(table)
		require.NoError(t, err)
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" && inodes[f[9]] { // 0A: LISTEN
				out = append(out, f[1])
			}
		}
	}
	return out
}
