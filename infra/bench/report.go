package bench

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The targets of the benchmark issue, for this 2-core machine.
const (
	targetFindOneShare     = 0.85
	targetTicketP99        = 35 * time.Millisecond
	targetCurrentUserShare = 0.60
	targetPostTickets      = 600.0
	targetIngressP50       = 500 * time.Microsecond
	targetPropagationP99   = 100 * time.Millisecond
	targetPurchaseP50      = 150 * time.Millisecond
	targetRSSKB            = 30 * 1024
	targetColdStart        = 300 * time.Millisecond
)

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// target is the target of a scenario and whether it was met.
func (r *Report) target(res Result) (string, string) {
	errs := res.Errors == 0
	switch {
	case strings.HasPrefix(res.Name, "GET /api/tickets/:id"):
		ceiling := r.Ceilings["findone"].Rate()
		share := res.Rate() / ceiling
		return fmt.Sprintf("≥ 85 %% of FindOne (%.0f %%), p99 ≤ 35 ms", share*100),
			mark(errs && share >= targetFindOneShare && res.Percentile(99) <= targetTicketP99)
	case strings.HasPrefix(res.Name, "GET /api/users/currentuser"):
		share := res.Rate() / r.Ceilings["bare-ingress"].Rate()
		return fmt.Sprintf("≥ 60 %% of bare handler via ingress (%.0f %%)", share*100), mark(errs && share >= targetCurrentUserShare)
	case strings.HasPrefix(res.Name, "POST /api/tickets"):
		return "≥ 600/s", mark(errs && res.Rate() >= targetPostTickets)
	case strings.HasPrefix(res.Name, "purchase flow"):
		return "p50 < 150 ms", mark(errs && res.Percentile(50) < targetPurchaseP50)
	case strings.HasPrefix(res.Name, "event propagation, 1 client"):
		return "p99 < 100 ms (unloaded)", mark(errs && res.Percentile(99) < targetPropagationP99)
	case strings.HasPrefix(res.Name, "event propagation"):
		return "p99 < 100 ms", mark(errs && res.Percentile(99) < targetPropagationP99)
	default:
		return "0 errors (no speed target)", mark(errs)
	}
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %d cores, %s memory, %s/%s, %s; %d concurrent clients, %s per scenario, %d users and %d tickets seeded. Every request goes through the local stack's ingress unless it says ceiling.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), memTotal(), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		r.Options.Concurrency, r.Options.Duration, r.Options.Users, r.Options.Tickets)
	b.WriteString("| scenario | ops/s | p50 ms | p95 ms | p99 ms | errors | target | |\n|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, key := range []string{"findone", "bare", "bare-ingress", "bare-1", "bare-ingress-1"} {
		c := r.Ceilings[key]
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %d | | |\n", c.Name, c.Rate(), ms(c.Percentile(50)), ms(c.Percentile(95)), ms(c.Percentile(99)), c.Errors)
	}
	for _, res := range r.Results {
		t, ok := r.target(res)
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %d | %s | %s |\n", res.Name, res.Rate(), ms(res.Percentile(50)), ms(res.Percentile(95)), ms(res.Percentile(99)), res.Errors, t, ok)
	}
	fmt.Fprintf(&b, "\nThe ingress adds %s ms at p50 (bare handler behind it vs direct, one client; target < 0.5 ms: %s).\n\n",
		ms(r.IngressP50), mark(r.IngressP50 < targetIngressP50))

	b.WriteString("| service | RSS after the run | cold start (process start → /readyz OK) |\n|---|---:|---:|\n")
	names := make([]string, 0, len(r.RSS))
	for n := range r.RSS {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "| %s | %.1f MB (%s) | %s ms (%s) |\n", n, float64(r.RSS[n])/1024, mark(r.RSS[n] < targetRSSKB),
			ms(r.ColdStart[n]), mark(r.ColdStart[n] < targetColdStart))
	}
	for _, res := range append(r.ceilingList(), r.Results...) {
		if res.FirstError != "" {
			fmt.Fprintf(&b, "\nFirst error in %s: `%s`\n", res.Name, res.FirstError)
		}
	}
	return b.String()
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return fmt.Sprintf("%.0f GiB", kb/1024/1024)
		}
	}
	return "unknown"
}

// Markers delimit the generated part of docs/BENCHMARKS.md; what is outside
// them (the findings) is kept when the figures are rewritten.
const (
	beginMarker = "<!-- bench:begin (written by make bench) -->"
	endMarker   = "<!-- bench:end -->"
)

// Rewrite replaces the generated part of doc with table.
func Rewrite(doc, table string) string {
	block := beginMarker + "\n" + table + endMarker
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i < 0 || j < i {
		return "# Benchmarks\n\n" + block + "\n\n" + doc
	}
	return doc[:i] + block + doc[j+len(endMarker):]
}

func (r *Report) ceilingList() []Result {
	var out []Result
	for _, k := range []string{"findone", "bare", "bare-ingress", "bare-1", "bare-ingress-1"} {
		out = append(out, r.Ceilings[k])
	}
	return out
}
