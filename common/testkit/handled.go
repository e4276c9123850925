package testkit

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ticketing.dev/common/events"
)

// Metrics is a registry of the test's own for one process of a service
// under test, from which a test learns what its listeners did with the
// events they got (events_handled_total of package metrics).
type Metrics struct{ reg *prometheus.Registry }

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics { return &Metrics{reg: prometheus.NewRegistry()} }

// Registerer is what to wire the service with (backend.Wire's reg): nil,
// the service unmeasured, on a nil *Metrics.
func (m *Metrics) Registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handled counts the deliveries of subject that the service's listeners
// ended with outcome; -1 if the registry cannot be gathered.
func (m *Metrics) Handled(subject events.Subject, outcome events.Outcome) int {
	families, err := m.reg.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != "events_handled_total" {
			continue
		}
		for _, c := range f.GetMetric() {
			var s, o bool
			for _, l := range c.GetLabel() {
				s = s || l.GetName() == "subject" && l.GetValue() == string(subject)
				o = o || l.GetName() == "outcome" && l.GetValue() == string(outcome)
			}
			if s && o {
				return int(c.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// WaitHandled waits until the service's listeners have ended at least n
// deliveries of subject with outcome, failing the test after timeout. It
// is how a test learns that the service has dealt with an event (acked
// it, or failed it for a redelivery) before asserting what that did or
// did not change, instead of sleeping for a while.
func (m *Metrics) WaitHandled(t testing.TB, subject events.Subject, outcome events.Outcome, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got := m.Handled(subject, outcome)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %d %s deliveries to end %s, got %d", timeout, n, subject, outcome, got)
		}
		<-tick.C
	}
}
