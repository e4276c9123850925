package docdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgDatabase is the PostgreSQL database FerretDB keeps everything in; each
// MongoDB database is a schema inside it.
const pgDatabase = "ferretdb"

// pgBinDirs is where Debian's postgresql package puts its server binaries.
const pgBinDirs = "/usr/lib/postgresql/*/bin"

// postgres is a private PostgreSQL server: its own cluster directory, a
// unix socket in a private directory, no TCP listener.
type postgres struct {
	cmd     *exec.Cmd
	done    chan struct{}
	dataDir string
	sockDir string
	ownSock bool // sockDir was made by us and is removed on stop
}

// pgBinDir returns the newest installed PostgreSQL's bin directory.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob(pgBinDirs)
	var found []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return "", errors.New("PostgreSQL server binaries not found under " + pgBinDirs +
			"; install Debian's postgresql package (make deps does)")
	}
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	return found[0], nil
}

// runAs is the account PostgreSQL runs under: initdb and postgres refuse to
// run as root, so root hands them to Debian's postgres user.
type runAs struct {
	cred     *syscall.Credential
	uid, gid int
}

func pgAccount() (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{uid: os.Getuid(), gid: os.Getgid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runAs{}, fmt.Errorf("running as root needs the postgres user (Debian's postgresql package creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return runAs{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}, nil
}

// own gives dir to the account, so PostgreSQL can write there.
func (a runAs) own(dir string) error {
	if a.cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, a.uid, a.gid)
	})
}

// ErrUnreachable: the postgres account cannot walk down to the data
// directory (it sits under a private folder such as /root).
var ErrUnreachable = errors.New("the postgres user cannot reach the data directory")

// reach makes sure the account can walk down to dir: the folder holding
// dir, and temporary folders of ours above it, are opened for traversal
// (not listing) if needed; any other closed ancestor is ErrUnreachable.
func (a runAs) reach(dir string) error {
	if a.cred == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	parent := filepath.Dir(abs)
	tmp := filepath.Clean(os.TempDir())
	for p := parent; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		ok := fi.Mode().Perm()&0o001 != 0 ||
			(int(st.Uid) == a.uid && fi.Mode().Perm()&0o100 != 0) ||
			(int(st.Gid) == a.gid && fi.Mode().Perm()&0o010 != 0)
		switch {
		case ok:
		case p == parent || (strings.HasPrefix(p, tmp+string(filepath.Separator)) && int(st.Uid) == os.Geteuid()):
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("letting the postgres user reach %s: %w", dir, err)
			}
		default:
			return fmt.Errorf("%w: %s is closed to it (%s)", ErrUnreachable, p, dir)
		}
		if p == "/" {
			return nil
		}
	}
}

func (a runAs) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.cred, Setpgid: true}
	return cmd
}

// startPostgres initialises dataDir when it holds no cluster yet and starts
// the server with its socket in a fresh private directory.
func startPostgres(ctx context.Context, dataDir string, durable bool, extra []string, logw io.Writer) (*postgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	acct, err := pgAccount()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dataDir, err)
	}
	if err := acct.own(dataDir); err != nil {
		return nil, fmt.Errorf("handing %s to the postgres user: %w", dataDir, err)
	}
	if err := acct.reach(dataDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		args := []string{"-D", dataDir, "-E", "UTF8", "--locale=C", "-U", "postgres", "--auth=trust"}
		if !durable {
			args = append(args, "--no-sync")
		}
		if out, err := acct.command(filepath.Join(bin, "initdb"), args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb %s: %w\n%s", dataDir, err, strings.TrimSpace(string(out)))
		}
	}
	// A short private path: unix socket paths are limited to ~100 bytes.
	sockDir, err := os.MkdirTemp("", "docdb-pg-")
	if err != nil {
		return nil, err
	}
	if err := acct.own(sockDir); err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	args := []string{"-D", dataDir, "-k", sockDir,
		"-c", "listen_addresses=",
		"-c", "unix_socket_permissions=0700",
		// FerretDB binds field names as parameters; a generic plan cannot
		// use the GIN expression indexes, so plan every statement afresh.
		"-c", "plan_cache_mode=force_custom_plan",
		"-c", "max_connections=300",
		"-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning",
		"-c", "log_checkpoints=off",
	}
	if durable {
		// A crashed process loses nothing; only a crash of the machine may
		// lose the last fraction of a second of commits.
		args = append(args, "-c", "synchronous_commit=off")
	} else {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, s := range extra {
		args = append(args, "-c", s)
	}
	cmd := acct.command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logw, logw
	// The server dies with us, however we end.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	p := &postgres{cmd: cmd, done: make(chan struct{}), dataDir: dataDir, sockDir: sockDir, ownSock: true}
	go func() { _ = cmd.Wait(); close(p.done) }()
	if err := p.waitReady(ctx, 60*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	if err := p.ensureDatabase(ctx); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// connString is a libpq/pgx connection string for database db.
func (p *postgres) connString(db string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", p.sockDir, db)
}

// URL is the postgres:// URL FerretDB connects with.
func (p *postgres) url(params string) string {
	return "postgres://postgres@/" + pgDatabase + "?host=" + p.sockDir + "&sslmode=disable" + params
}

// waitReady waits until the server's lock file says it accepts
// connections, as `pg_ctl -w start` does. Trying to connect instead makes
// the server log "FATAL: the database system is starting up" for every try
// that comes too early.
func (p *postgres) waitReady(ctx context.Context, timeout time.Duration) error {
	lockFile := filepath.Join(p.dataDir, "postmaster.pid")
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(lockFile); err == nil && postmasterReady(b, p.cmd.Process.Pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within %s (%s never said ready)", timeout, lockFile)
		}
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited at start (%v); see its log above", p.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// postmasterReady reads a postmaster.pid: its first line is the server's
// pid (a file left by an earlier server names another), its eighth the
// server's status, "ready" once it accepts connections (PostgreSQL 10+).
func postmasterReady(lockFile []byte, pid int) bool {
	lines := strings.Split(string(lockFile), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

func (p *postgres) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.connString("postgres"))
	if err != nil {
		return fmt.Errorf("connecting to postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pgDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("looking up database %s: %w", pgDatabase, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgDatabase+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
		return fmt.Errorf("creating database %s: %w", pgDatabase, err)
	}
	return nil
}

// smartShutdownGrace is how long stop lets sessions end by themselves.
const smartShutdownGrace = 3 * time.Second

// stop shuts the server down once its sessions have ended (a smart
// shutdown: by now our clients have gone, and a session whose client went
// away ends quietly), then terminates the sessions left, each logging
// "FATAL: terminating connection due to administrator command" (a fast
// shutdown), and kills the server if that does not finish in time either.
func (p *postgres) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(smartShutdownGrace):
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if p.ownSock {
		os.RemoveAll(p.sockDir)
	}
}
