// Command natsbus is the local stack's bus: one NATS Streaming server
// (-bus stan, cluster id "ticketing") or one nats-server with JetStream
// (-bus jetstream), alone or as one server of a cluster (-cluster-addr and
// -routes). It runs as a process of its own, supervised by the stack like
// the services, so that a test can kill the bus alone; its data lives in
// -dir and outlives it.
//
//	natsbus -bus jetstream -addr 127.0.0.1:4222 -dir .data/nats-js/nats-0 \
//	        -name nats-0 -cluster-addr 127.0.0.1:6222 -routes nats-route://127.0.0.1:6223,...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"ticketing.dev/common/busserver"
	"ticketing.dev/common/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "natsbus:", err)
		os.Exit(1)
	}
}

// flags is what natsbus is told.
type flags struct {
	bus, addr, dir    string
	name, clusterAddr string
	routes            string
	clusterName       string
}

func parse(args []string, out io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("natsbus", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.bus, "bus", events.KindSTAN, "stan or jetstream")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:4222", "client address (host:port)")
	fs.StringVar(&f.dir, "dir", "", "data directory (required)")
	fs.StringVar(&f.name, "name", "nats-0", "server name (JetStream; unique in a cluster)")
	fs.StringVar(&f.clusterName, "cluster", "ticketing", "cluster name (JetStream cluster)")
	fs.StringVar(&f.clusterAddr, "cluster-addr", "", "route address (host:port) of a JetStream cluster's server")
	fs.StringVar(&f.routes, "routes", "", "the other servers' routes, comma-separated (nats-route://host:port)")
	if err := fs.Parse(args); err != nil {
		return flags{}, err
	}
	switch {
	case f.dir == "":
		return flags{}, errors.New("-dir is required")
	case f.bus != events.KindSTAN && f.bus != events.KindJetStream:
		return flags{}, fmt.Errorf("-bus %q: stan or jetstream", f.bus)
	case f.bus == events.KindSTAN && (f.clusterAddr != "" || f.routes != ""):
		return flags{}, errors.New("a cluster (-cluster-addr, -routes) needs -bus jetstream")
	case (f.clusterAddr == "") != (f.routes == ""):
		return flags{}, errors.New("a cluster's server needs both -cluster-addr and -routes")
	}
	return f, nil
}

func hostPort(name, addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", name, addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", name, addr)
	}
	if p == 0 {
		p = -1 // NATS reads 0 as its default port; -1 is "any free port"
	}
	return host, p, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	f, err := parse(args, out)
	if err != nil {
		return err
	}
	host, port, err := hostPort("-addr", f.addr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if f.bus == events.KindSTAN {
		s, err := busserver.StartSTAN(busserver.STANOptions{Host: host, Port: port, Dir: f.dir})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "NATS Streaming (cluster %s) on %s, data in %s\n", busserver.ClusterID, s.ClientURL(), f.dir)
		<-ctx.Done()
		s.Shutdown()
		return nil
	}
	o := busserver.JetStreamOptions{Name: f.name, Host: host, Port: port, Dir: f.dir, Logger: errorLog{out}}
	if f.clusterAddr != "" {
		ch, cp, err := hostPort("-cluster-addr", f.clusterAddr)
		if err != nil {
			return err
		}
		o.Cluster = busserver.Cluster{Name: f.clusterName, Host: ch, Port: cp, Routes: strings.Split(f.routes, ",")}
	}
	s, err := busserver.StartJetStream(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "nats-server %s with JetStream on %s, data in %s\n", f.name, s.ClientURL(), f.dir)
	<-ctx.Done()
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// errorLog passes on nats-server's errors, not its notices, nor the
// failed first route of a cluster's server started before its peers.
type errorLog struct{ w io.Writer }

func (l errorLog) Noticef(string, ...any) {}
func (l errorLog) Warnf(string, ...any)   {}
func (l errorLog) Debugf(string, ...any)  {}
func (l errorLog) Tracef(string, ...any)  {}
func (l errorLog) Errorf(format string, v ...any) {
	if strings.HasPrefix(format, "Error trying to connect to route") && len(v) > 0 && v[0] == 1 {
		return // the first try while the peers start; later reports still show
	}
	fmt.Fprintf(l.w, "error: "+format+"\n", v...)
}
func (l errorLog) Fatalf(format string, v ...any) {
	fmt.Fprintf(l.w, "fatal: "+format+"\n", v...)
}
