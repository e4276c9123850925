package testkit

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/events"
)

// Captured collects every event published on E's subject.
type Captured[E events.Event] struct {
	bus    events.Bus
	mu     sync.Mutex
	events []E
	raw    []json.RawMessage
	seen   uint64 // the highest sequence received
	added  chan struct{}
}

// Capture subscribes to E's subject from the first message the server holds,
// so events published before the call are captured too.
func Capture[E events.Event](t testing.TB, bus events.Bus) *Captured[E] {
	t.Helper()
	c := &Captured[E]{bus: bus, added: make(chan struct{}, 1)}
	sub, err := bus.Replay(events.SubjectOf[E](), time.Time{}, func(m events.Msg) {
		var e E
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Errorf("captured %s is not a valid payload: %v (%s)", events.SubjectOf[E](), err, m.Data)
			return
		}
		c.mu.Lock()
		c.seen = max(c.seen, m.Sequence)
		c.events = append(c.events, e)
		c.raw = append(c.raw, append(json.RawMessage(nil), m.Data...))
		c.mu.Unlock()
		select {
		case c.added <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return c
}

// Wait returns the first n events, failing the test if they do not arrive
// within timeout.
func (c *Captured[E]) Wait(t testing.TB, n int, timeout time.Duration) []E {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		if len(c.events) >= n {
			out := append([]E(nil), c.events[:n]...)
			c.mu.Unlock()
			return out
		}
		got := len(c.events)
		c.mu.Unlock()
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("waited %s for %d %s event(s), got %d", timeout, n, events.SubjectOf[E](), got)
		}
	}
}

// All returns what has been captured so far.
func (c *Captured[E]) All() []E {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]E(nil), c.events...)
}

// Raw returns the n-th captured payload as it was sent, for checking keys.
func (c *Captured[E]) Raw(t testing.TB, n int) map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if n >= len(c.raw) {
		t.Fatalf("no %s event #%d captured (have %d)", events.SubjectOf[E](), n, len(c.raw))
	}
	var m map[string]any
	if err := json.Unmarshal(c.raw[n], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Exactly fails the test unless exactly n events are captured once every
// event the server holds on E's subject now (its last, Bus.Last) has
// arrived: an event published before the call, though not delivered yet,
// is counted. It is how a test asserts that nothing more was published
// once it has learnt that the service is done (Metrics.WaitHandled),
// instead of sleeping for a while. An empty subject costs STAN's Bus.Last
// its wait for a last message that does not come (200 ms).
func (c *Captured[E]) Exactly(t testing.TB, n int) []E {
	t.Helper()
	subject := events.SubjectOf[E]()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last, found, err := c.bus.Last(ctx, subject)
	if err != nil {
		t.Fatalf("finding the last %s: %v", subject, err)
	}
	for {
		c.mu.Lock()
		seen, got := c.seen, append([]E(nil), c.events...)
		c.mu.Unlock()
		if !found || seen >= last.Sequence {
			if len(got) != n {
				t.Fatalf("expected exactly %d %s event(s), got %d", n, subject, len(got))
			}
			return got
		}
		select {
		case <-c.added:
		case <-ctx.Done():
			t.Fatalf("the last %s (#%d) never reached the capture (it has #%d)", subject, last.Sequence, seen)
		}
	}
}
