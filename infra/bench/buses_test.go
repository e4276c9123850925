package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// result is a scenario that did ops in d with latencies lat.
func result(name string, ops int, d time.Duration, lat ...time.Duration) Result {
	return Result{Name: name, Ops: ops, Duration: d, Latencies: lat}
}

func TestJetStreamRowsAreReadAgainstTheSameScenarioOnNATSStreaming(t *testing.T) {
	const prop, buy = "event propagation (order → ticket reserved)", "purchase flow (order → pay → complete)"
	r := &Report{Ceilings: map[string]Result{}, Results: []Result{
		result(prop, 100, time.Second, 100*time.Millisecond),
		result(buy, 100, time.Second, time.Millisecond),
		result(prop+SuffixJetStream, 100, time.Second, 119*time.Millisecond),
		result(buy+SuffixJetStream, 89, time.Second, time.Millisecond),
		result("purchase flow, 1 client"+SuffixJetStream, 10, time.Second, time.Millisecond),
	}}
	target, ok := r.target(r.Results[2])
	assert.Equal(t, "p99 ≤ 1.2× NATS Streaming's (1.19×)", target)
	assert.Equal(t, "met", ok)
	target, ok = r.target(r.Results[3])
	assert.Equal(t, "rate ≥ 0.9× NATS Streaming's (0.89×)", target)
	assert.Equal(t, "**missed**", ok)
	target, _ = r.target(r.Results[4])
	assert.Equal(t, "vs NATS Streaming: not measured in this run", target)
	target, _ = r.target(r.Results[0])
	assert.Equal(t, "p99 < 250 ms, 0 timeouts", target, "NATS Streaming's rows keep their own targets")
}

func TestTheFaultTableHoldsJetStreamToNo5xxAndRecoveryUnder5s(t *testing.T) {
	o := FaultOptions{Clients: 32, Load: 20 * time.Second, At: 5 * time.Second}
	ok := FaultResult{Name: KillStreamFollower.Name, Hit: "nats-1", Options: o, Baseline: 20, Recovery: 2 * time.Second, Consistency: &Consistency{}}
	slow := ok
	slow.Name, slow.Recovery = KillStreamLeader.Name, 8*time.Second
	stan := ok
	stan.Name, stan.FiveXX, stan.FirstFiveXX, stan.LastFiveXX, stan.FirstError = KillSTAN.Name, 3, time.Second, 2*time.Second, "POST /api/orders: 502"
	lost := ok
	lost.Lost, lost.LostExample = 1, "order x is created v0 in orders, cancelled v1 in payments"
	table := FaultsMarkdown([]FaultResult{ok, slow, stan, lost})
	assert.Contains(t, table, "| "+KillStreamFollower.Name+" | nats-1 | 20.0 | 0 | 2.0 s |")
	assert.Contains(t, table, "| 8.0 s |")
	assert.Contains(t, table, "| 3 (+1.0 s to +2.0 s) |")
	assert.Contains(t, table, "First 5xx in "+KillSTAN.Name+": `POST /api/orders: 502`")
	assert.Contains(t, table, "Lost in "+KillStreamFollower.Name+", for example: order x")
	marks := []string{}
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| ") {
			cells := splitCells(line)
			marks = append(marks, cells[len(cells)-1])
		}
	}
	assert.Equal(t, []string{"", "met", "**missed**", "met", "**missed**"}, marks,
		"header; JetStream within targets; recovery 8 s; NATS Streaming's 5xx have no target; a lost order")
}

func splitCells(line string) []string {
	var out []string
	for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
		out = append(out, strings.TrimSpace(c))
	}
	return out
}
