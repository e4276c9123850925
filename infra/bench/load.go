// Package bench drives the running app with a fixed number of concurrent
// workers for a fixed time and reports throughput and latency percentiles.
// Every latency is kept (a run is at most a few hundred thousand samples),
// so percentiles are exact rather than bucketed.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Op is one unit of work: a request, or a whole flow. It returns an error
// for anything the scenario counts as a failure.
type Op func(ctx context.Context, worker int) error

// Result is what one scenario measured.
type Result struct {
	Name        string
	Concurrency int
	Duration    time.Duration
	Ops         int
	Errors      int
	FirstError  string
	Latencies   []time.Duration // sorted
	// ServerErrors counts answers that were 5xx or never came (mixed).
	ServerErrors int
}

// Rate is operations per second.
func (r Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Duration.Seconds()
}

// Percentile returns the p-th percentile (0 < p ≤ 100) latency, nearest rank.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	rank := int(float64(len(r.Latencies))*p/100+0.5) - 1
	rank = min(max(rank, 0), len(r.Latencies)-1)
	return r.Latencies[rank]
}

// Run calls op from concurrency workers, each in a loop, until d has
// passed, and measures every call.
func Run(ctx context.Context, name string, concurrency int, d time.Duration, op Op) Result {
	return RunTimed(ctx, name, concurrency, d, func(ctx context.Context, w int) (time.Duration, error) {
		t := time.Now()
		err := op(ctx, w)
		return time.Since(t), err
	})
}

// TimedOp is an op that measures itself, for flows whose latency is only
// part of the work (setup steps are not counted).
type TimedOp func(ctx context.Context, worker int) (time.Duration, error)

// RunTimed is Run for ops that report their own latency.
func RunTimed(ctx context.Context, name string, concurrency int, d time.Duration, op TimedOp) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	deadline, _ := ctx.Deadline()
	type workerResult struct {
		lat    []time.Duration
		errs   int
		first  error
		opsRun int
	}
	results := make([]workerResult, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			for ctx.Err() == nil {
				lat, err := op(ctx, w)
				if ctx.Err() != nil || !time.Now().Before(deadline) {
					return // cut off by the end of the run: not counted
				}
				res.opsRun++
				res.lat = append(res.lat, lat)
				if err != nil {
					res.errs++
					if res.first == nil {
						res.first = err
					}
				}
			}
		}()
	}
	wg.Wait()
	out := Result{Name: name, Concurrency: concurrency, Duration: time.Since(start)}
	for _, r := range results {
		out.Ops += r.opsRun
		out.Errors += r.errs
		out.Latencies = append(out.Latencies, r.lat...)
		if out.FirstError == "" && r.first != nil {
			out.FirstError = r.first.Error()
		}
	}
	slices.Sort(out.Latencies)
	return out
}

// Samples turns separately measured latencies (such as event propagation)
// into a Result.
func Samples(name string, lat []time.Duration, errs int, firstErr error, d time.Duration) Result {
	out := Result{Name: name, Duration: d, Ops: len(lat) + errs, Errors: errs, Latencies: slices.Sorted(slices.Values(lat))}
	if firstErr != nil {
		out.FirstError = firstErr.Error()
	}
	return out
}

// String is one line for logs.
func (r Result) String() string {
	return fmt.Sprintf("%s: %.0f/s p50 %s p95 %s p99 %s errors %d", r.Name, r.Rate(),
		r.Percentile(50), r.Percentile(95), r.Percentile(99), r.Errors)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
