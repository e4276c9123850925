package bench

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"ticketing.dev/infra/stack"
)

// Cost is what listed-and-bought tickets cost the stack, per ticket: each
// service's database commands by name (from its own
// mongodb_command_duration_seconds, every replica summed, the idle rate
// subtracted, readiness pings left out) and the CPU time of every process
// of the stack.
type Cost struct {
	Purchases int
	// Commands: service → command name → commands per purchase.
	Commands map[string]map[string]float64
	// CPU: process group → CPU milliseconds per purchase (see cpuGroup).
	CPU map[string]float64
}

// CommandsOf is a service's commands per purchase, all names together.
func (c Cost) CommandsOf(svc string) float64 {
	var n float64
	for _, v := range c.Commands[svc] {
		n += v
	}
	return n
}

// TotalCommands is every service's commands per purchase.
func (c Cost) TotalCommands() float64 {
	var n float64
	for svc := range c.Commands {
		n += c.CommandsOf(svc)
	}
	return n
}

// TotalCPU is the CPU milliseconds per purchase of every process.
func (c Cost) TotalCPU() float64 {
	var n float64
	for _, v := range c.CPU {
		n += v
	}
	return n
}

// byCommand is a service's commands per purchase, by name ("insert 4.0,
// update 2.0"), with its total first.
func (c Cost) byCommand(svc string) string {
	var parts []string
	for _, cmd := range slices.Sorted(maps.Keys(c.Commands[svc])) {
		if v := c.Commands[svc][cmd]; v >= 0.05 || v <= -0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", cmd, v))
		}
	}
	return fmt.Sprintf("%.1f (%s)", c.CommandsOf(svc), strings.Join(parts, ", "))
}

// String is the breakdown, one line per service, commands by name.
func (c Cost) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database commands per operation (%d, idle subtracted): %.1f\n", c.Purchases, c.TotalCommands())
	for _, svc := range slices.Sorted(maps.Keys(c.Commands)) {
		var parts []string
		for _, cmd := range slices.Sorted(maps.Keys(c.Commands[svc])) {
			if v := c.Commands[svc][cmd]; v >= 0.05 || v <= -0.05 {
				parts = append(parts, fmt.Sprintf("%s %.1f", cmd, v))
			}
		}
		fmt.Fprintf(&b, "  %-9s %5.1f: %s\n", svc, c.CommandsOf(svc), strings.Join(parts, ", "))
	}
	if len(c.CPU) > 0 {
		var parts []string
		for _, g := range slices.Sorted(maps.Keys(c.CPU)) {
			parts = append(parts, fmt.Sprintf("%s %.1f", g, c.CPU[g]))
		}
		fmt.Fprintf(&b, "CPU ms per operation: %.1f (%s)\n", c.TotalCPU(), strings.Join(parts, ", "))
	}
	return b.String()
}

// counters is one scrape of every replica of every service: series name →
// labels → value, summed over replicas.
type counters map[string]map[string]float64

// scrapeCounters reads each service's database commands (by command name)
// and events handled (by subject and outcome).
func scrapeCounters(ctx context.Context, st *stack.Stack) (map[string]counters, error) {
	out := map[string]counters{}
	for _, svc := range st.Services() {
		c := counters{"command": {}, "event": {}}
		for i := range st.Replicas(svc) {
			fams, err := ScrapeMetrics(ctx, st.MetricsURL(svc, i))
			if err != nil {
				return nil, fmt.Errorf("%s replica %d: %w", svc, i, err)
			}
			if mf := fams["mongodb_command_duration_seconds"]; mf != nil {
				for _, m := range mf.GetMetric() {
					// Readiness probes ping every 250 ms, whatever the
					// load: idle by definition, and only noise once the
					// idle rate is subtracted.
					if cmd := label(m, "command"); cmd != "ping" {
						c["command"][cmd] += float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
			if mf := fams["events_handled_total"]; mf != nil {
				for _, m := range mf.GetMetric() {
					c["event"][label(m, "subject")+" "+label(m, "outcome")] += m.GetCounter().GetValue()
				}
			}
		}
		out[svc] = c
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// ScrapeMetrics reads a /metrics page.
func ScrapeMetrics(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	return fams, nil
}

// handled is how many events svc acked on subject, every replica summed.
func handled(c map[string]counters, svc, subject string) float64 {
	return c[svc]["event"][subject+" acked"]
}

// purchaseEvents are the events one listed-and-bought ticket makes each
// service handle (acked) before its purchase is over everywhere.
var purchaseEvents = []struct {
	svc, subject string
	n            float64
}{
	{"orders", "ticket:created", 1},
	{"orders", "ticket:updated", 2}, // reserved, sold
	{"orders", "payment:created", 1},
	{"tickets", "order:created", 1},
	{"tickets", "order:complete", 1},
	{"payments", "order:created", 1},
	{"payments", "order:complete", 1},
	{"expiration", "order:created", 1},
}

// settleAfter is how long the measurement waits once every event of the
// purchases was handled, for what follows them (events marked published,
// sweeps of records younger than the relay's sweep age).
const settleAfter = 3 * time.Second

// Idle is the stack's own rate of database commands and CPU with nothing
// to do (relay sweeps, readiness probes), to subtract from a measure.
type Idle struct {
	commands map[string]map[string]float64 // per second
	cpu      map[string]float64            // ms per second
}

// MeasureIdle measures the idle rates over d; the stack must be quiet.
func MeasureIdle(ctx context.Context, st *stack.Stack, d time.Duration) (Idle, error) {
	m, err := startMeter(ctx, st)
	if err != nil {
		return Idle{}, err
	}
	select {
	case <-ctx.Done():
		return Idle{}, ctx.Err()
	case <-time.After(d):
	}
	used, err := m.stop(ctx, Idle{})
	if err != nil {
		return Idle{}, err
	}
	secs := m.took.Seconds()
	idle := Idle{commands: map[string]map[string]float64{}, cpu: map[string]float64{}}
	for svc, cmds := range used.Commands {
		idle.commands[svc] = map[string]float64{}
		for cmd, v := range cmds {
			idle.commands[svc][cmd] = v / secs
		}
	}
	for g, v := range used.CPU {
		idle.cpu[g] = v / secs
	}
	return idle, nil
}

// meter measures what happens between its start and stop.
type meter struct {
	st    *stack.Stack
	from  map[string]counters
	cpu   cpuTimes
	start time.Time
	took  time.Duration
}

func startMeter(ctx context.Context, st *stack.Stack) (*meter, error) {
	from, err := scrapeCounters(ctx, st)
	if err != nil {
		return nil, err
	}
	return &meter{st: st, from: from, cpu: stackCPU(), start: time.Now()}, nil
}

// stop returns the commands and CPU used since start, less idle's rates
// over the time: totals, not yet per purchase.
func (m *meter) stop(ctx context.Context, idle Idle) (Cost, error) {
	to, err := scrapeCounters(ctx, m.st)
	if err != nil {
		return Cost{}, err
	}
	cpu := stackCPU()
	m.took = time.Since(m.start)
	secs := m.took.Seconds()
	out := Cost{Commands: map[string]map[string]float64{}, CPU: map[string]float64{}}
	for svc := range to {
		for cmd, v := range to[svc]["command"] {
			used := v - m.from[svc]["command"][cmd] - idle.commands[svc][cmd]*secs
			if used == 0 {
				continue
			}
			if out.Commands[svc] == nil {
				out.Commands[svc] = map[string]float64{}
			}
			out.Commands[svc][cmd] = used
		}
	}
	for g, v := range cpu.sub(m.cpu) {
		out.CPU[g] = v - idle.cpu[g]*secs
	}
	return out, nil
}

// per divides a measure's totals by n purchases.
func (c Cost) per(n int) Cost {
	out := Cost{Purchases: n, Commands: map[string]map[string]float64{}, CPU: map[string]float64{}}
	for svc, cmds := range c.Commands {
		out.Commands[svc] = map[string]float64{}
		for cmd, v := range cmds {
			out.Commands[svc][cmd] = v / float64(n)
		}
	}
	for g, v := range c.CPU {
		out.CPU[g] = v / float64(n)
	}
	return out
}

// MeasurePurchaseCost lists and buys n tickets one after the other through
// the ingress (two sign-ups first, outside the measure) and returns what
// each cost, idle subtracted. Each request waits for the event it needs by
// watching the services' metrics instead of retrying on a 404, since a
// retry costs a lookup of its own; those scrapes cost CPU in every
// service, so this measure's CPU is an upper bound (the purchase
// scenario's is the one to read).
func MeasurePurchaseCost(ctx context.Context, st *stack.Stack, n int, idle Idle) (Cost, error) {
	c := newClient(st.URL(), 2)
	run := time.Now().UnixNano()
	seller, err := c.signup(ctx, fmt.Sprintf("cost-seller-%d@bench.test", run))
	if err != nil {
		return Cost{}, err
	}
	buyer, err := c.signup(ctx, fmt.Sprintf("cost-buyer-%d@bench.test", run))
	if err != nil {
		return Cost{}, err
	}
	m, err := startMeter(ctx, st)
	if err != nil {
		return Cost{}, err
	}
	wait := func(svc, subject string, want float64) error {
		return poll(ctx, 20*time.Second, 10*time.Millisecond, func() (bool, error) {
			now, err := scrapeCounters(ctx, st)
			if err != nil {
				return false, err
			}
			return handled(now, svc, subject)-handled(m.from, svc, subject) >= want, nil
		})
	}
	for i := range n {
		var t, o idBody
		if err := c.call(ctx, http.MethodPost, "/api/tickets", seller, map[string]any{"title": "Costed ticket", "price": 20}, http.StatusCreated, &t); err != nil {
			return Cost{}, err
		}
		if err := wait("orders", "ticket:created", float64(i+1)); err != nil {
			return Cost{}, fmt.Errorf("orders learning ticket %d: %w", i, err)
		}
		if err := c.call(ctx, http.MethodPost, "/api/orders", buyer, map[string]string{"ticketId": t.ID}, http.StatusCreated, &o); err != nil {
			return Cost{}, err
		}
		if err := wait("payments", "order:created", float64(i+1)); err != nil {
			return Cost{}, fmt.Errorf("payments learning order %d: %w", i, err)
		}
		// The payment answers once orders has completed the order.
		if err := c.call(ctx, http.MethodPost, "/api/payments", buyer, map[string]string{"token": "tok_visa", "orderId": o.ID}, http.StatusCreated, nil); err != nil {
			return Cost{}, err
		}
	}
	for _, e := range purchaseEvents {
		if err := wait(e.svc, e.subject, e.n*float64(n)); err != nil {
			return Cost{}, fmt.Errorf("%s handling %s: %w", e.svc, e.subject, err)
		}
	}
	time.Sleep(settleAfter)
	used, err := m.stop(ctx, idle)
	if err != nil {
		return Cost{}, err
	}
	return used.per(n), nil
}

// cpuTimes is each process's CPU time, by pid.
type cpuTimes map[int]procCPU

type procCPU struct {
	group string
	ms    float64 // utime+stime, and that of its children it has waited for
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux this runs on.
const clockTicks = 100

// stackCPU reads the CPU time of this process (which hosts the stack's
// ingress, balancers and NATS Streaming, and the load) and of every process
// descending from it: the services, their FerretDB processes, PostgreSQL
// and its backends, Redis, stripe-mock.
func stackCPU() cpuTimes {
	type stat struct {
		ppid  int
		comm  string
		ticks float64
	}
	all := map[int]stat{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 15 { // state ppid … utime(11) stime(12) cutime(13) cstime(14)
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var ticks float64
		for _, i := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseFloat(f[i], 64)
			ticks += v
		}
		all[pid] = stat{ppid: ppid, comm: s[open+1 : closing], ticks: ticks}
	}
	self := os.Getpid()
	out := cpuTimes{}
	for pid, s := range all {
		// Walk up to this process, or to the top (not ours).
		for p, hops := pid, 0; p > 1 && hops < 64; p, hops = all[p].ppid, hops+1 {
			if p == self {
				out[pid] = procCPU{group: cpuGroup(pid == self, s.comm), ms: s.ticks * 1000 / clockTicks}
				break
			}
			if _, ok := all[p]; !ok {
				break
			}
		}
	}
	return out
}

// cpuGroup names a process's group in the breakdown.
func cpuGroup(self bool, comm string) string {
	switch {
	case self:
		return "stack+load"
	case comm == "ferretdb":
		return "ferretdb"
	case comm == "postgres" || strings.HasPrefix(comm, "postgres"):
		return "postgres"
	}
	return comm
}

// sub is the CPU each group used from before to t: processes that exist in
// both count their difference, new ones all of theirs.
func (t cpuTimes) sub(before cpuTimes) map[string]float64 {
	out := map[string]float64{}
	for pid, p := range t {
		used := p.ms
		if b, ok := before[pid]; ok && b.group == p.group {
			used -= b.ms
		}
		out[p.group] += used
	}
	return out
}
