package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ticketing.dev/common/docdb"
	"ticketing.dev/common/freeport"
)

// checkDataDir makes sure DATA_DIR exists and is writable.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("DATA_DIR %s cannot be created: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("DATA_DIR %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// checkFree fails with the variable's name when addr is taken.
func checkFree(name, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s is not available (already in use?): %w", name, addr, err)
	}
	return ln.Close()
}

// freePort returns a loopback port for a child that binds its own
// (see package freeport).
func freePort() (int, error) { return freeport.Pick() }

// jwtKey returns the configured key, or one generated on the first run and
// kept in DATA_DIR so sessions survive restarts.
func jwtKey(cfg Config) (string, error) {
	if cfg.JWTKey != "" {
		return cfg.JWTKey, nil
	}
	file := filepath.Join(cfg.DataDir, "jwt.key")
	if b, err := os.ReadFile(file); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	key := hex.EncodeToString(buf)
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing dev JWT key: %w", err)
	}
	return key, nil
}

// build compiles the services (and the stack's FerretDB and bus) into binDir with one `go build`, so packages
// are compiled once and in parallel; an up-to-date binary is not relinked.
func build(ctx context.Context, root, binDir string, services []string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-o", binDir + string(os.PathSeparator)}
	for _, cmd := range []string{"ferretdb", "natsbus"} {
		if _, err := os.Stat(filepath.Join(root, "infra", "cmd", cmd)); err == nil {
			args = append(args, "./infra/cmd/"+cmd)
		}
	}
	for _, s := range services {
		args = append(args, "./"+s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building services failed:\n%s", strings.TrimSpace(string(out)))
	}
	return nil
}

// startEngine runs the database engine's PostgreSQL (a private cluster
// under dir, package docdb) and its index keeper, and returns the URL the
// per-service FerretDB processes connect to.
func startEngine(ctx context.Context, root, dir string, con *console) (pgURL string, stop func(), err error) {
	if err := ensurePackage(root, "/usr/lib/postgresql/*/bin/postgres:postgresql"); err != nil {
		return "", nil, err
	}
	cfg := docdb.Config{
		Dir:         dir,
		Durable:     true,
		External:    true,
		Logger:      slog.New(slog.NewTextHandler(con.writer("docdb"), &slog.HandlerOptions{Level: slog.LevelWarn})),
		PostgresLog: con.filtered("postgres", expectedPostgresNoise),
		// The statement of a refused claim is noise too (see below).
		PostgresSettings: []string{"log_min_error_statement=panic"},
	}
	e, err := docdb.Start(ctx, cfg)
	if errors.Is(err, docdb.ErrUnreachable) {
		// PostgreSQL runs as the postgres user, which cannot enter a
		// DATA_DIR under a private folder such as /root: keep the cluster
		// in a stable place named after DATA_DIR instead.
		abs, _ := filepath.Abs(dir)
		cfg.Dir = filepath.Join("/var/tmp", fmt.Sprintf("ticketing-postgres-%08x", fnv32(abs)))
		con.printf("the postgres user cannot reach %s; keeping the PostgreSQL cluster in %s", dir, cfg.Dir)
		e, err = docdb.Start(ctx, cfg)
	}
	if err != nil {
		return "", nil, fmt.Errorf("starting the database engine: %w", err)
	}
	return e.PostgreSQLURL(), e.Stop, nil
}

// expectedPostgresNoise are the server's lines about a refused insert
// under a unique key: that is how two processes claiming the same version
// learn that one of them lost (package outbox), not a fault.
func expectedPostgresNoise(line []byte) bool {
	return bytes.Contains(line, []byte("duplicate key value violates unique constraint")) ||
		(bytes.Contains(line, []byte("DETAIL:  Key (")) && bytes.Contains(line, []byte("already exists")))
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// ensurePackage installs a missing Debian package (CMD:PACKAGE, as
// infra/scripts/ensure-packages.sh takes it); a no-op when it is there.
func ensurePackage(root, spec string) error {
	cmd := exec.Command(filepath.Join(root, "infra", "scripts", "ensure-packages.sh"), spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s is needed: %s", spec[strings.LastIndex(spec, ":")+1:], strings.TrimSpace(string(out)))
	}
	return nil
}

// child is a helper process (redis-server, stripe-mock).
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startChild starts bin with its output on out (a console writer).
func startChild(out io.Writer, name string, bin string, args ...string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitTCP waits until addr accepts connections or the child exits.
func waitTCP(c *child, addr string, timeout time.Duration) error {
	return waitListening(context.Background(), filepath.Base(c.cmd.Path), addr, timeout, c.done)
}

// waitListening waits until addr accepts connections; exited (nil for a
// supervised process, which is restarted) ends the wait early.
func waitListening(ctx context.Context, name, addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return conn.Close()
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening on %s", name, addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not listen on %s within %s", name, addr, timeout)
}

// startRedis runs redis-server with append-only persistence under dir,
// installing Debian's package first when missing (as root).
func startRedis(root string, con *console, dir string) (*child, string, error) {
	if err := ensurePackage(root, "redis-server:redis-server"); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	c, err := startChild(con.filtered("redis", redisOvercommitWarning), "redis", "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--appendonly", "yes", "--save", "", "--daemonize", "no", "--loglevel", "warning")
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitTCP(c, addr, 20*time.Second); err != nil {
		c.stop()
		return nil, "", err
	}
	return c, addr, nil
}

// redisOvercommitWarning is the line redis-server prints at every start
// on a machine whose vm.overcommit_memory is 0 (Linux's default): a
// background save or AOF rewrite forks, and the kernel's heuristic could
// refuse that fork when memory runs short. The local stack's Redis holds a
// few scheduled expirations (a fork of a few MB), and the setting is the
// machine's (sysctl, as root), not the stack's to change; so the line is
// left out, where it would read as a fault on every start.
func redisOvercommitWarning(line []byte) bool {
	return bytes.Contains(line, []byte("WARNING")) && bytes.Contains(line, []byte("overcommit"))
}

// startStripeMock runs stripe-mock, pinned as a Go tool in common/go.mod.
// stripeMockArgs serves HTTP on addr, loopback only. -http-addr, not
// -http-port: the port alone binds every interface; and any HTTP flag also
// opens HTTPS on every interface at the fixed port 12112 (so a second
// stripe-mock on the machine exits) unless -https-addr says otherwise: a
// loopback port of the kernel's choosing, never used.
func stripeMockArgs(addr string) []string {
	return []string{"-http-addr", addr, "-https-addr", "127.0.0.1:"}
}

func startStripeMock(ctx context.Context, root string, con *console) (*child, string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, "", fmt.Errorf("building stripe-mock: %s", ee.Stderr)
		}
		return nil, "", fmt.Errorf("building stripe-mock: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c, err := startChild(con.writer("stripe"), "stripe", strings.TrimSpace(string(out)), stripeMockArgs(addr)...)
	if err != nil {
		return nil, "", err
	}
	if err := waitTCP(c, addr, 30*time.Second); err != nil {
		c.stop()
		return nil, "", err
	}
	return c, "http://" + addr, nil
}
