package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Back-off between restarts of a crashed service, as Kubernetes'
// CrashLoopBackOff: doubling from one second up to half a minute, reset once
// a run lasted a minute.
const (
	firstBackoff = time.Second
	maxBackoff   = 30 * time.Second
	stableAfter  = time.Minute
	stopGrace    = 25 * time.Second
)

// process is one service binary kept running until the stack stops.
type process struct {
	name string
	bin  string
	args []string
	env  func() []string // called per start: each run gets a fresh NATS client id
	// socket, when set, is called per start for the listening socket the
	// process inherits as descriptor 3 (see service.HTTP.Inherited). The
	// child holds the only copy, so a dead replica refuses connections and
	// its balancer skips it.
	socket func() (*os.File, error)
	con    *console

	mu        sync.Mutex
	cmd       *exec.Cmd
	startedAt time.Time
	done      chan struct{}
}

// supervise runs the process, restarting it after a crash, until ctx ends.
func (p *process) supervise(ctx context.Context) {
	defer close(p.done)
	backoff := firstBackoff
	for {
		start := time.Now()
		cmd := exec.Command(p.bin, p.args...)
		cmd.Env = p.env()
		out := p.con.writer(p.name)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = childAttr()
		if err := p.start(cmd); err != nil {
			p.con.printf("%s could not start: %v", p.name, err)
		} else {
			p.mu.Lock()
			p.cmd, p.startedAt = cmd, start
			p.mu.Unlock()
			err := cmd.Wait()
			if ctx.Err() != nil {
				return
			}
			p.con.printf("%s exited (%v); restarting in %s", p.name, exitText(err), backoff)
		}
		if time.Since(start) > stableAfter {
			backoff = firstBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// start starts cmd with the process's socket, if it has one, and closes
// the parent's copy of it.
func (p *process) start(cmd *exec.Cmd) error {
	if p.socket == nil {
		return cmd.Start()
	}
	f, err := p.socket()
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(cmd.Env, "LISTEN_FDS=1")
	return cmd.Start()
}

// childAttr is how every child of the stack starts: in a process group of
// its own, so the terminal's Ctrl-C (sent to the whole foreground group)
// reaches only the stack, which then stops its children in order (the
// services before Redis, the bus and the database they use); and told to
// stop (SIGTERM) if the stack itself dies hard.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// signal sends sig to the running process, if any.
func (p *process) signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("%s is not running", p.name)
	}
	return p.cmd.Process.Signal(sig)
}

// started is when the running process was started, and its pid.
func (p *process) started() (time.Time, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return time.Time{}, 0
	}
	return p.startedAt, p.cmd.Process.Pid
}

// stop asks the process to finish (SIGTERM), then kills it after the grace
// period. The supervisor's context must already be cancelled.
func (p *process) stop() {
	_ = p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		p.con.printf("%s did not stop within %s; killing it", p.name, stopGrace)
		_ = p.signal(syscall.SIGKILL)
		<-p.done
	}
}
