package testkit

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"ticketing.dev/common/busserver"
	"ticketing.dev/common/events"
)

// ClusterID is the cluster id of the contract.
const ClusterID = busserver.ClusterID

// Broker is an embedded bus server for one test: NATS Streaming (NewSTAN)
// or nats-server with JetStream (NewJetStream).
type Broker struct {
	// Kind is events.KindSTAN or events.KindJetStream.
	Kind string
	URL  string
	// Shutdown stops the server (also done when the test ends).
	Shutdown func()
	seq      atomic.Int64
}

// NewBus starts one kind of broker for a test.
type NewBus func(t testing.TB) *Broker

// EachBus runs test as a subtest on each bus of docs/CONTRACT.md §3a
// ("stan", then "jetstream"), handing it the way to start that bus.
func EachBus(t *testing.T, test func(t *testing.T, newBus NewBus)) {
	t.Helper()
	t.Run(events.KindSTAN, func(t *testing.T) { test(t, NewSTAN) })
	t.Run(events.KindJetStream, func(t *testing.T) { test(t, NewJetStream) })
}

// NewSTAN starts a NATS Streaming server (memory store) on a free loopback
// port, stopped when t ends. Each test gets its own, so durable positions
// never leak between tests (it starts in ~30 ms).
func NewSTAN(t testing.TB) *Broker {
	t.Helper()
	s, err := StartSTAN()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// StartSTAN starts a NATS Streaming server (memory store) on a free
// loopback port; the caller shuts it down.
func StartSTAN() (*Broker, error) {
	srv, err := busserver.StartSTAN(busserver.STANOptions{Host: "127.0.0.1", Port: -1})
	if err != nil {
		return nil, err
	}
	return &Broker{Kind: events.KindSTAN, URL: srv.ClientURL(), Shutdown: srv.Shutdown}, nil
}

// NewJetStream starts a nats-server with JetStream (file storage in a
// temporary folder) on a free loopback port, stopped when t ends. Each
// test gets its own, as with NewSTAN.
func NewJetStream(t testing.TB) *Broker {
	t.Helper()
	srv, err := busserver.StartJetStream(busserver.JetStreamOptions{Name: "test", Host: "127.0.0.1", Port: -1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{Kind: events.KindJetStream, URL: srv.ClientURL(), Shutdown: func() { srv.Shutdown(); srv.WaitForShutdown() }}
	t.Cleanup(b.Shutdown)
	return b
}

// Config is how a process reaches this broker, as its environment would
// say it, with client id id.
func (b *Broker) Config(id string) events.BusConfig {
	return events.BusConfig{Kind: b.Kind, URL: b.URL, ClusterID: ClusterID, ClientID: id}
}

// Env is this broker as a service's environment names it: BUS, NATS_URL,
// NATS_CLUSTER_ID.
func (b *Broker) Env() map[string]string {
	return map[string]string{"BUS": b.Kind, "NATS_URL": b.URL, "NATS_CLUSTER_ID": ClusterID}
}

// Connect opens a client connection with a unique client id, closed when t
// ends.
func (b *Broker) Connect(t testing.TB) events.Bus {
	t.Helper()
	id := fmt.Sprintf("test-%d-%d", time.Now().UnixNano(), b.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bus, err := events.Connect(ctx, b.Config(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	return bus
}

// Publish publishes e on bus, failing the test on error: the way a test
// delivers an event to the listener under test.
func Publish[E events.Event](t testing.TB, bus events.Bus, e E) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := events.NewPublisher[E](bus).Publish(ctx, e); err != nil {
		t.Fatal(err)
	}
}
