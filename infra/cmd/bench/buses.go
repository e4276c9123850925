package main

import (
	"context"
	"os"
	"strings"

	"ticketing.dev/common/events"
	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/stack"
)

// busStack starts a stack like cfg's on a bus of its own choosing, with
// its own data, the binaries already built in binDir, and no profiling;
// stop stops it and removes its data.
func busStack(ctx context.Context, cfg stack.Config, binDir, bus string, servers, replicas int) (*stack.Stack, func(), error) {
	data, err := os.MkdirTemp("", "bench-data-")
	if err != nil {
		return nil, nil, err
	}
	cfg.DataDir, cfg.BinDir = data, binDir
	cfg.Bus, cfg.NATSServers, cfg.Replicas = bus, servers, replicas
	cfg.ServiceEnv = map[string][]string{"orders": {"MAX_OPEN_ORDERS=0"}}
	st, err := stack.Start(ctx, cfg)
	if err != nil {
		os.RemoveAll(data)
		return nil, nil, err
	}
	return st, func() { st.Stop(); os.RemoveAll(data) }, nil
}

// anyMatches reports whether -only (only) lets any of names run.
func anyMatches(only string, names ...string) bool {
	for _, n := range names {
		if strings.Contains(n, only) {
			return true
		}
	}
	return false
}

// runJetStream runs the event pipelines (propagation, the purchase flow)
// on a stack with BUS=jetstream shaped as the first (one nats-server, one
// process per service), seeded as it was: their rows are read against the
// first stack's, on NATS Streaming.
func runJetStream(ctx context.Context, cfg stack.Config, binDir string, opt bench.Options, report *bench.Report) error {
	if !anyMatches(opt.Only, "event propagation"+bench.SuffixJetStream, "purchase flow"+bench.SuffixJetStream) {
		return nil
	}
	opt.Log("starting a stack with BUS=jetstream")
	st, stop, err := busStack(ctx, cfg, binDir, events.KindJetStream, 1, cfg.Replicas)
	if err != nil {
		return err
	}
	defer stop()
	opt.Around = nil
	suite, err := bench.NewSuite(ctx, st, opt)
	if err != nil {
		return err
	}
	suite.BusScenarios(ctx, report, bench.SuffixJetStream)
	return nil
}

// runFaults kills the bus under a purchase load (bench.Suite.Fault): on
// JetStream with three servers, the stream's leader, then a follower, then
// restarts the leader as a rolling update would; on
// NATS Streaming, its server; each stack with two processes of every
// service, as production runs them.
func runFaults(ctx context.Context, cfg stack.Config, binDir string, opt bench.Options, o bench.FaultOptions, report *bench.Report) error {
	runs := []struct {
		bus     string
		servers int
		faults  []bench.Fault
	}{
		{events.KindJetStream, 3, []bench.Fault{bench.KillStreamLeader, bench.KillStreamFollower, bench.RestartStreamLeader}},
		{events.KindSTAN, 1, []bench.Fault{bench.KillSTAN}},
	}
	for _, run := range runs {
		var faults []bench.Fault
		for _, f := range run.faults {
			if strings.Contains(f.Name, opt.Only) {
				faults = append(faults, f)
			}
		}
		if len(faults) == 0 {
			continue
		}
		opt.Log("starting a stack with BUS=%s, %d bus server(s) and REPLICAS=2 for the faults", run.bus, run.servers)
		st, stop, err := busStack(ctx, cfg, binDir, run.bus, run.servers, 2)
		if err != nil {
			return err
		}
		fopt := opt
		fopt.Around, fopt.Tickets, fopt.Users = nil, 0, o.Clients+1 // one buyer per client
		suite, err := bench.NewSuite(ctx, st, fopt)
		if err != nil {
			stop()
			return err
		}
		for _, f := range faults {
			opt.Log("fault: %s, %d clients for %s, the kill %s in", f.Name, o.Clients, o.Load, o.At)
			res, err := suite.Fault(ctx, f, o)
			if err != nil {
				stop()
				return err
			}
			report.Faults = append(report.Faults, res)
		}
		stop()
	}
	return nil
}
