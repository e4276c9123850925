package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ticketing.dev/common/events"
)

// NATS is how a service reaches its bus (docs/CONTRACT.md §3a).
type NATS struct {
	// Bus is events.KindSTAN (the default) or events.KindJetStream.
	Bus string
	// URL is the server, or on JetStream a comma list of a cluster's.
	URL string
	// ClusterID is NATS Streaming's (STAN only).
	ClusterID string
	ClientID  string
	AckWait   time.Duration
	// MaxDeliveries: tries of one message before it is parked.
	MaxDeliveries int
	// Replicas: the JetStream stream's copies (JetStream only).
	Replicas int
}

// Config is the bus configuration n names.
func (n NATS) Config() events.BusConfig {
	return events.BusConfig{Kind: n.Bus, URL: n.URL, ClusterID: n.ClusterID, ClientID: n.ClientID, Replicas: n.Replicas}
}

// Listener is the listener options of docs/CONTRACT.md §3 for queue group group,
// parking what fails MaxDeliveries times in park.
func (n NATS) Listener(group string, log *slog.Logger, park events.Parker) events.ListenerOptions {
	return events.ListenerOptions{QueueGroup: group, AckWait: n.AckWait, Logger: log, MaxDeliveries: n.MaxDeliveries, Park: park}
}

// NATS reads BUS (stan or jetstream, default stan), NATS_URL and
// NATS_CLIENT_ID (required), NATS_CLUSTER_ID (required on stan),
// JETSTREAM_REPLICAS (default 1), ACK_WAIT (default events.DefaultAckWait)
// and MAX_DELIVERIES (default events.DefaultMaxDeliveries).
func (e *Env) NATS() NATS {
	n := NATS{Bus: e.OneOf("BUS", events.KindSTAN, events.KindSTAN, events.KindJetStream), URL: e.Required("NATS_URL")}
	if n.Bus == events.KindSTAN {
		n.ClusterID = e.Required("NATS_CLUSTER_ID")
	}
	n.ClientID = e.Required("NATS_CLIENT_ID")
	n.AckWait = e.Duration("ACK_WAIT", events.DefaultAckWait)
	n.MaxDeliveries = e.Int("MAX_DELIVERIES", events.DefaultMaxDeliveries, 1)
	if n.Bus == events.KindJetStream {
		n.Replicas = e.Int("JETSTREAM_REPLICAS", 1, 1)
	}
	return n
}

// Bus is a service's connection to its bus and the lifetime it gives the
// service.
type Bus struct {
	Conn events.Bus
	// Context is done when the parent context is, or, with the reason as
	// its cause, when the connection is lost for good: the service then
	// stops and ExitError makes it exit non-zero, so that its supervisor
	// restarts it with a fresh connection. (A field, as it is the
	// connection's lifetime, not one call's.)
	Context context.Context
	cancel  context.CancelCauseFunc
}

// ConnectBus connects to the bus n names; see Bus.
func ConnectBus(ctx context.Context, n NATS) (*Bus, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	conn, err := events.Connect(ctx, n.Config(), func(err error) {
		cancel(fmt.Errorf("bus connection lost: %w", err))
	})
	if err != nil {
		cancel(nil)
		return nil, err
	}
	return &Bus{Conn: conn, Context: ctx, cancel: cancel}, nil
}

// Close closes the connection, and with it its subscriptions (durable
// positions are kept), then ends Context.
func (b *Bus) Close() error {
	err := b.Conn.Close()
	b.cancel(nil)
	return err
}

// BusCheck is a readiness check of the bus connection.
func BusCheck(bus events.Bus) Check {
	return Check{Name: "nats", Check: events.ReadyCheck(bus)}
}

// ExitError is err, or the reason ctx was cancelled when that was not a
// plain stop (a lost bus), so that such a stop exits non-zero.
func ExitError(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}
