package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentilesAreNearestRank(t *testing.T) {
	r := Result{}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, r.Percentile(50))
	assert.Equal(t, 99*time.Millisecond, r.Percentile(99))
	assert.Equal(t, 100*time.Millisecond, r.Percentile(100))
	assert.Equal(t, time.Millisecond, r.Percentile(0.1))
	assert.Zero(t, Result{}.Percentile(50))
}

func TestRunKeepsWorkersBusyForTheDurationAndCountsErrors(t *testing.T) {
	var calls atomic.Int64
	r := Run(context.Background(), "x", 4, 300*time.Millisecond, func(ctx context.Context, w int) error {
		n := calls.Add(1)
		time.Sleep(10 * time.Millisecond)
		if n%5 == 0 {
			return errors.New("every fifth fails")
		}
		return nil
	})
	assert.InDelta(t, 300*time.Millisecond, r.Duration, float64(100*time.Millisecond))
	assert.Equal(t, len(r.Latencies), r.Ops)
	assert.Greater(t, r.Ops, 40, "4 workers × ~30 calls of 10 ms")
	assert.InDelta(t, r.Ops/5, r.Errors, 4)
	assert.Equal(t, "every fifth fails", r.FirstError)
	assert.InDelta(t, float64(r.Ops)/r.Duration.Seconds(), r.Rate(), 0.01)
	assert.GreaterOrEqual(t, r.Percentile(50), 10*time.Millisecond)
}

func TestRewriteKeepsWhatIsOutsideTheMarkers(t *testing.T) {
	doc := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\n## Findings\nkept\n"
	out := Rewrite(doc, "new table\n")
	assert.Contains(t, out, "intro")
	assert.Contains(t, out, "new table\n"+endMarker)
	assert.NotContains(t, out, "old table")
	assert.Contains(t, out, "## Findings\nkept\n")
	assert.Contains(t, Rewrite("", "t\n"), beginMarker+"\nt\n"+endMarker)
}

func TestTheReportShowsEachServicesCommandsPerPurchaseAgainstTheTargetAndTheCPUUnderLoad(t *testing.T) {
	r := NewReport(Options{})
	r.Costs[CostName] = Cost{Purchases: 20, Commands: map[string]map[string]float64{
		"tickets": {"insert": 4, "update": 2}, "orders": {"find": 1, "insert": 6, "update": 3}, "payments": {"find": 1, "insert": 4, "update": 2},
	}}
	r.Costs["purchase flow (order → pay → complete)"] = Cost{Purchases: 300, Commands: map[string]map[string]float64{"orders": {"find": 30}},
		CPU: map[string]float64{"ferretdb": 20, "postgres": 10}}
	out := r.Markdown()
	assert.Contains(t, out, "| "+CostName+" | 23.0 | 6.0 (insert 4.0, update 2.0) | 10.0 (find 1.0, insert 6.0, update 3.0) | 7.0 (find 1.0, insert 4.0, update 2.0) | 0.0 | ≤ 25 | met |")
	assert.Contains(t, out, "| purchase flow (order → pay → complete) | 30.0 | ferretdb 20.0, postgres 10.0 |")
}
