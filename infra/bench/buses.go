package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SuffixJetStream names the scenarios run on a stack with BUS=jetstream,
// to be read against the same scenarios on NATS Streaming (no suffix).
const SuffixJetStream = " [JetStream]"

// The bus issue's targets: JetStream against NATS Streaming, same run.
const (
	targetJetStreamPropagationP99 = 1.2 // at most this times STAN's p99
	targetJetStreamPurchaseRate   = 0.9 // at least this times STAN's rate
)

// BusScenarios are the event pipelines of WriteScenarios, propagation and
// the purchase flow at one client and at full concurrency, each name
// ending in suffix: what tells one bus from another.
func (s *Suite) BusScenarios(ctx context.Context, r *Report, suffix string) {
	conc := s.opt.Concurrency
	if err := s.Settle(ctx, 2*time.Minute); err != nil {
		s.opt.Log("the orders replica did not catch up with the tickets: %v", err)
	}
	s.scenario(ctx, r, "event propagation, 1 client"+suffix, 1, s.propagation)
	s.scenario(ctx, r, "purchase flow, 1 client"+suffix, 1, s.purchase)
	s.scenario(ctx, r, "purchase flow (order → pay → complete)"+suffix, conc, s.purchase)
	s.scenario(ctx, r, "event propagation (order → ticket reserved)"+suffix, conc, s.propagation)
}

// busTarget is the target of a JetStream scenario, read against the same
// scenario on NATS Streaming: propagation's p99 at most 1.2 times, the
// purchase flow's rate at least 0.9 times. found is false for the others.
func (r *Report) busTarget(res Result) (t string, ok, found bool) {
	name, on := strings.CutSuffix(res.Name, SuffixJetStream)
	if !on {
		return "", false, false
	}
	stan, measured := r.result(name)
	ok = res.Errors == 0
	switch {
	case !measured:
		return "vs NATS Streaming: not measured in this run", ok, true
	case strings.HasPrefix(name, "event propagation"):
		ratio := float64(res.Percentile(99)) / float64(max(stan.Percentile(99), 1))
		return fmt.Sprintf("p99 ≤ 1.2× NATS Streaming's (%.2f×)", ratio), ok && ratio <= targetJetStreamPropagationP99, true
	case strings.HasPrefix(name, "purchase flow"):
		ratio := res.Rate() / max(stan.Rate(), 1e-9)
		return fmt.Sprintf("rate ≥ 0.9× NATS Streaming's (%.2f×)", ratio), ok && ratio >= targetJetStreamPurchaseRate, true
	}
	return "0 errors", ok, true
}

// busesMarkdown says what the JetStream rows are and renders the fault
// table, if the run measured them.
func (r *Report) busesMarkdown(b *strings.Builder) {
	for _, res := range r.Results {
		if strings.HasSuffix(res.Name, SuffixJetStream) {
			fmt.Fprintf(b, "%s: a stack of its own with `BUS=jetstream` (one nats-server, file storage), seeded as the first, ran the event pipelines; each row is read against the same scenario on NATS Streaming (no suffix, the first stack).\n\n", strings.TrimSpace(SuffixJetStream))
			break
		}
	}
	if len(r.Faults) > 0 {
		b.WriteString(FaultsMarkdown(r.Faults))
		b.WriteString("\n")
	}
}
