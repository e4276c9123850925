package testkit

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/common/freeport"
)

// FreePort returns a loopback TCP port for a server the test starts
// (see package freeport).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startChild runs cmd as a child that dies with the test binary (Pdeathsig),
// and is killed when t ends, so nothing is left running.
func startChild(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() && out.Len() > 0 {
			t.Logf("%s output:\n%s", cmd.Path, out.String())
		}
	})
}

// waitTCP waits until addr accepts connections and probe (if any) succeeds.
func waitTCP(addr string, timeout time.Duration, probe func(net.Conn) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			if probe == nil {
				c.Close()
				return nil
			}
			_ = c.SetDeadline(time.Now().Add(time.Second))
			err = probe(c)
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v", addr, timeout, last)
}

// Redis is a redis-server started for one test.
type Redis struct {
	Host string
	Port int
}

// Addr is host:port.
func (r Redis) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// NewRedis starts redis-server (Debian's package; `make test` installs it)
// on a free port without persistence, killed when t ends.
func NewRedis(t testing.TB) Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: install it with `apt-get install redis-server` (make test does this when run as root)")
	}
	port := FreePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir())
	startChild(t, cmd)
	r := Redis{Host: "127.0.0.1", Port: port}
	if err := waitTCP(r.Addr(), 10*time.Second, pingRedis); err != nil {
		t.Fatal(err)
	}
	return r
}

func pingRedis(c net.Conn) error {
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return errors.New("redis answered " + strings.TrimSpace(line))
	}
	return nil
}

// NewStripeMock starts stripe-mock (pinned as a Go tool in common/go.mod) on
// a free port and returns its base URL; killed when t ends.
func NewStripeMock(t testing.TB) string {
	t.Helper()
	cmd, url, err := stripeMockCommand()
	if err != nil {
		t.Fatal(err)
	}
	startChild(t, cmd)
	if err := waitTCP(strings.TrimPrefix(url, "http://"), 30*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	return url
}

// stripeMockCommand prepares stripe-mock on a free port.
func stripeMockCommand() (*exec.Cmd, string, error) {
	// `go tool -n` builds the tool once into the shared cache and prints the
	// binary's path, so tests do not pay `go run` on every start.
	out, err := exec.Command("go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		return nil, "", fmt.Errorf("locating stripe-mock (go tool -n stripe-mock): %w", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return nil, "", errors.New("go tool -n stripe-mock printed nothing")
	}
	port, err := freeport.Pick()
	if err != nil {
		return nil, "", err
	}
	// Loopback only, and HTTPS on a kernel-chosen loopback port: any HTTP
	// flag alone also opens HTTPS on every interface at the fixed port
	// 12112, where a second stripe-mock on the machine fails and exits.
	return exec.Command(fields[0], "-http-addr", fmt.Sprintf("127.0.0.1:%d", port), "-https-addr", "127.0.0.1:"),
		fmt.Sprintf("http://127.0.0.1:%d", port), nil
}
