// Command bench is `make bench`: it starts the local stack on free ports,
// seeds it, drives each scenario through the ingress at fixed concurrency
// for a fixed time, measures the ceilings that bound them in the same run,
// prints a table and rewrites the figures in docs/BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// primary is the service each scenario mostly exercises, for profiles
// (by the scenario's name without its seed-size suffix).
var primary = map[string]string{
	"GET /api/tickets/:id":                        "tickets",
	"GET /api/tickets (all)":                      "tickets",
	"GET /api/users/currentuser":                  "auth",
	"POST /api/tickets":                           "tickets",
	"purchase flow (order → pay → complete)":      "payments",
	"purchase flow, 1 client":                     "payments",
	"event propagation (order → ticket reserved)": "tickets",
	"event propagation, 1 client":                 "tickets",
	"POST /api/users/signup (bcrypt)":             "auth",
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	conc := fs.Int("c", 32, "concurrent clients")
	dur := fs.Duration("d", 15*time.Second, "duration of each scenario")
	doc := fs.String("doc", "docs/BENCHMARKS.md", "file whose figures to rewrite (empty: none)")
	profiles := fs.String("cpuprofile", "", "folder for a CPU profile of each scenario's main service")
	only := fs.String("only", "", "run only the scenarios whose name contains this")
	big := fs.Int("big", 10000, "second seed size every scenario is run at again (0: skip)")
	replicas := fs.Bool("replicas", true, "run the write, purchase and mixed scenarios on a REPLICAS=2 stack too")
	mixed := fs.Int("mixed", 64, "clients of the mixed scenario on the REPLICAS=2 stack (0: skip)")
	catalogue := fs.String("catalogue", "100,10000,100000", "catalogue sizes of the catalogue scenarios, ascending, on a stack of their own (empty: skip)")
	catalogueD := fs.Duration("catalogue-d", 5*time.Second, "duration of each catalogue scenario at full concurrency (one client: 3/5 of it)")
	jetstream := fs.Bool("jetstream", true, "run propagation and the purchase flow on a BUS=jetstream stack too")
	faults := fs.Bool("faults", true, "kill the bus under a purchase load: JetStream's stream leader and a follower (3 servers), and restart the leader (SIGTERM), NATS Streaming's server")
	faultC := fs.Int("fault-c", 32, "clients of the fault scenarios")
	faultD := fs.Duration("fault-d", 20*time.Second, "how long each fault scenario's load runs")
	faultAt := fs.Duration("fault-at", 5*time.Second, "when the bus is killed, from the start of the load")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	data, err := os.MkdirTemp("", "bench-data-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)

	logf := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	cfg, err := stack.ConfigFromEnv(func(k string) string {
		switch k {
		case "DATA_DIR":
			return data
		case "INGRESS_ADDR", "NATS_ADDR":
			return "127.0.0.1:0"
		case "EXPIRATION_WINDOW":
			return "30s" // unpaid orders of the propagation scenario expire during the run
		case "LOG_LEVEL":
			return "warn"
		}
		return ""
	}, root, stackLog())
	if err != nil {
		return err
	}
	pprofAddrs := map[string]string{}
	// Load users hold many unpaid orders at once; the per-buyer cap
	// (MAX_OPEN_ORDERS) would turn them into 400s.
	cfg.ServiceEnv = map[string][]string{"orders": {"MAX_OPEN_ORDERS=0"}}
	if *profiles != "" {
		if err := os.MkdirAll(*profiles, 0o755); err != nil {
			return err
		}
		for i, svc := range []string{"auth", "tickets", "orders", "payments"} {
			pprofAddrs[svc] = fmt.Sprintf("127.0.0.1:%d", 16060+i)
			cfg.ServiceEnv[svc] = append(cfg.ServiceEnv[svc], "PPROF_ADDR="+pprofAddrs[svc])
			// and the service's FerretDB
			pprofAddrs[svc+"-db"] = fmt.Sprintf("127.0.0.1:%d", 16070+i)
			cfg.ServiceEnv[svc+"-db"] = []string{"PPROF_ADDR=" + pprofAddrs[svc+"-db"]}
		}
	}

	logf("starting the local stack")
	st, err := stack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Stop()

	opt := bench.Options{Concurrency: *conc, Duration: *dur, Users: 10, Tickets: 100, BigTickets: *big, MixedClients: *mixed, Log: logf, Only: *only}
	if *profiles != "" {
		opt.Around = func(scenario string) func() {
			svc := primary[strings.TrimSuffix(scenario, bench.SuffixBig)]
			file := filepath.Join(*profiles, strings.NewReplacer(" ", "_", "/", "_", ":", "", "(", "", ")", "", "→", "to").Replace(scenario)+"."+svc+".pprof")
			// The stack's own process hosts the ingress and the balancers:
			// profile it too.
			self, err := os.Create(strings.TrimSuffix(file, "."+svc+".pprof") + ".stack.pprof")
			if err == nil {
				if err := pprof.StartCPUProfile(self); err != nil {
					self.Close()
					self = nil
				}
			}
			var wg sync.WaitGroup
			secs := max(int(opt.Duration.Seconds())-1, 1)
			for _, p := range []string{svc, svc + "-db"} {
				wg.Go(func() {
					out := strings.TrimSuffix(file, "."+svc+".pprof") + "." + p + ".pprof"
					if err := fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddrs[p], secs), out); err != nil {
						logf("profile of %s: %v", p, err)
					}
				})
			}
			return func() {
				wg.Wait()
				if self != nil {
					pprof.StopCPUProfile()
					self.Close()
				}
			}
		}
	}
	logf("seeding %d users and %d tickets", opt.Users, opt.Tickets)
	suite, err := bench.NewSuite(ctx, st, opt)
	if err != nil {
		return err
	}
	report := bench.NewReport(opt)
	if err := suite.Ceilings(ctx, report); err != nil {
		return err
	}
	suite.Scenarios(ctx, report, "")
	if *big > 0 {
		logf("seeding up to %d tickets", *big)
		if err := suite.Seed(ctx, *big); err != nil {
			return err
		}
		if err := suite.Settle(ctx, 5*time.Minute); err != nil {
			return fmt.Errorf("waiting for the replicas to catch up after seeding: %w", err)
		}
		suite.Scenarios(ctx, report, bench.SuffixBig)
	}
	if err := suite.Footprint(ctx, report); err != nil {
		return err
	}
	st.Stop()

	if sizes, err := parseSizes(*catalogue); err != nil {
		return err
	} else if len(sizes) > 0 && (*only == "" || strings.HasPrefix(*only, "catalogue")) {
		if err := runCatalogue(ctx, cfg, filepath.Join(data, "bin"), opt, report, sizes, *catalogueD); err != nil {
			return err
		}
	}

	if *replicas {
		logf("starting a second stack with REPLICAS=2")
		data2, err := os.MkdirTemp("", "bench-data-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(data2)
		cfg2 := cfg
		cfg2.DataDir, cfg2.BinDir, cfg2.Replicas = data2, filepath.Join(data, "bin"), 2
		cfg2.ServiceEnv = map[string][]string{"orders": {"MAX_OPEN_ORDERS=0"}}
		st2, err := stack.Start(ctx, cfg2)
		if err != nil {
			return err
		}
		defer st2.Stop()
		opt2 := opt
		opt2.Around = nil
		suite2, err := bench.NewSuite(ctx, st2, opt2)
		if err != nil {
			return err
		}
		suite2.WriteScenarios(ctx, report, bench.SuffixReplicas)
		if *mixed > 0 {
			if err := suite2.Mixed(ctx, report, *mixed, bench.SuffixReplicas); err != nil {
				return err
			}
		}
		st2.Stop()
	}
	if *jetstream {
		if err := runJetStream(ctx, cfg, filepath.Join(data, "bin"), opt, report); err != nil {
			return err
		}
	}
	if *faults {
		o := bench.FaultOptions{Clients: *faultC, Load: *faultD, At: *faultAt}
		if err := runFaults(ctx, cfg, filepath.Join(data, "bin"), opt, o, report); err != nil {
			return err
		}
	}
	table := report.Markdown()
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, table)
	if *doc == "" {
		return nil
	}
	old, err := os.ReadFile(*doc)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(*doc, []byte(bench.Rewrite(string(old), table)), 0o644)
}

// runCatalogue runs the catalogue scenarios on a stack of their own, so
// their sizes are what they say.
func runCatalogue(ctx context.Context, cfg stack.Config, binDir string, opt bench.Options, report *bench.Report, sizes []int, d time.Duration) error {
	data, err := os.MkdirTemp("", "bench-data-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	cfg.DataDir, cfg.BinDir = data, binDir
	opt.Log("starting a stack for the catalogue scenarios")
	st, err := stack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Stop()
	opt.Around, opt.Tickets = nil, 0
	suite, err := bench.NewSuite(ctx, st, opt)
	if err != nil {
		return err
	}
	unpagedAt := 0
	for _, n := range sizes {
		if n == 10000 {
			unpagedAt = n
		}
	}
	return suite.Catalogue(ctx, report, sizes, d*3/5, d, unpagedAt)
}

// parseSizes reads a comma list of catalogue sizes.
func parseSizes(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("-catalogue: %q is not an ascending list of sizes", list)
		}
		out = append(out, n)
	}
	return out, nil
}

func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// stackLog is where the stack's own output goes: BENCH_STACK_LOG names a
// file for it (to see what the services said under load), else nowhere.
func stackLog() io.Writer {
	if name := os.Getenv("BENCH_STACK_LOG"); name != "" {
		if f, err := os.Create(name); err == nil {
			return f
		}
	}
	return io.Discard
}
