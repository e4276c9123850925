package stack

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"ticketing.dev/common/events"
)

// busWait bounds a bus server's start; a JetStream server recovering a
// large store takes longest.
const busWait = time.Minute

// startBus runs the bus as supervised processes of their own
// (infra/cmd/natsbus): one NATS Streaming server, or NATSServers
// nats-servers with JetStream, clustered on loopback when more than one.
// A killed server is restarted on the same ports and data.
func (s *Stack) startBus(ctx context.Context) error {
	cfg := s.cfg
	n := max(cfg.NATSServers, 1)
	host, port, _ := net.SplitHostPort(cfg.NATSAddr)
	// Fixed ports, chosen once: a restarted server must come back where
	// the services and the other servers look for it.
	addrs := make([]string, n)
	for i := range addrs {
		if i == 0 && port != "0" {
			addrs[i] = cfg.NATSAddr
			continue
		}
		p, err := freePort()
		if err != nil {
			return err
		}
		addrs[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	var routes []string
	if n > 1 {
		for range n {
			p, err := freePort()
			if err != nil {
				return err
			}
			routes = append(routes, net.JoinHostPort(host, strconv.Itoa(p)))
		}
	}

	busCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.busCancel = cancel
	s.stops = append(s.stops, s.stopBus)
	for i := range n {
		name, dir := "nats", filepath.Join(cfg.DataDir, "nats")
		if cfg.Bus == events.KindJetStream {
			name = "nats-" + strconv.Itoa(i)
			dir = filepath.Join(cfg.DataDir, "nats-js", name)
		}
		args := []string{"-bus", cfg.Bus, "-addr", addrs[i], "-dir", dir, "-name", name}
		if n > 1 {
			var others []string
			for j, r := range routes {
				if j != i {
					others = append(others, "nats-route://"+r)
				}
			}
			args = append(args, "-cluster-addr", routes[i], "-routes", strings.Join(others, ","))
		}
		p := &process{
			name: name,
			bin:  filepath.Join(cfg.BinDir, "natsbus"),
			args: args,
			con:  s.con,
			done: make(chan struct{}),
			env:  os.Environ,
		}
		s.bus = append(s.bus, p)
		s.busURLs = append(s.busURLs, "nats://"+addrs[i])
		go p.supervise(busCtx)
	}
	for i, p := range s.bus {
		if err := waitListening(ctx, p.name, addrs[i], busWait, nil); err != nil {
			return fmt.Errorf("the bus: %w", err)
		}
	}
	if n > 1 {
		s.con.printf("the bus is a cluster of %d nats-servers with JetStream; the stream keeps %d copies", n, n)
	}
	// Listening is not serving yet (NATS Streaming subscribes to its own
	// subjects after, a cluster elects leaders): services started now
	// would fail their first connect and be restarted.
	wctx, cancel := context.WithTimeout(ctx, busWait)
	defer cancel()
	return s.WaitForBus(wctx)
}

// WaitForBus waits until a client can connect to the bus (on JetStream:
// and find its stream), as after a bus server was killed and restarted.
func (s *Stack) WaitForBus(ctx context.Context) error {
	cfg := s.Bus()
	cfg.ClientID = "stack-" + randomSuffix()
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, err := events.Connect(tctx, cfg, nil)
		cancel()
		if err == nil {
			return b.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bus is not serving: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopBus stops the bus servers, after the services (see Stop).
func (s *Stack) stopBus() {
	if s.busCancel == nil {
		return
	}
	s.busCancel()
	var wg sync.WaitGroup
	for _, p := range s.bus {
		wg.Go(p.stop)
	}
	wg.Wait()
	s.busCancel = nil
}

// Bus is how a process reaches the stack's bus (ClientID left to the
// caller): what the services are told by BUS, NATS_URL, NATS_CLUSTER_ID
// and JETSTREAM_REPLICAS.
func (s *Stack) Bus() events.BusConfig {
	c := events.BusConfig{Kind: s.cfg.Bus, URL: strings.Join(s.busURLs, ","), ClusterID: "ticketing"}
	if s.cfg.Bus == events.KindJetStream {
		c.Replicas = len(s.bus)
	}
	return c
}

// BusServers is how many processes run the bus.
func (s *Stack) BusServers() int { return len(s.bus) }

// KillBus kills bus server i without warning, as a crash would; its
// supervisor restarts it on the same ports and data.
func (s *Stack) KillBus(i int) error {
	if i < 0 || i >= len(s.bus) {
		return fmt.Errorf("the bus has no server %d (it has %d)", i, len(s.bus))
	}
	return s.bus[i].signal(syscall.SIGKILL)
}

// RestartBus stops bus server i as a planned restart (a rolling update)
// would: SIGTERM, on which a nats-server steps down from the leaderships
// it holds before it stops; its supervisor starts it again on the same
// ports and data.
func (s *Stack) RestartBus(i int) error {
	if i < 0 || i >= len(s.bus) {
		return fmt.Errorf("the bus has no server %d (it has %d)", i, len(s.bus))
	}
	return s.bus[i].signal(syscall.SIGTERM)
}

// BusPID is the process id of bus server i, 0 if none is running.
func (s *Stack) BusPID(i int) int {
	if i < 0 || i >= len(s.bus) {
		return 0
	}
	_, pid := s.bus[i].started()
	return pid
}
