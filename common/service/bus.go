package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/stan.go"

	"ticketing.dev/common/events"
)

// NATS is how a service reaches NATS Streaming.
type NATS struct {
	URL       string
	ClusterID string
	ClientID  string
	AckWait   time.Duration
	// MaxDeliveries: tries of one message before it is parked.
	MaxDeliveries int
}

// Listener is the listener options of docs/CONTRACT.md §3 for queue group group,
// parking what fails MaxDeliveries times in park.
func (n NATS) Listener(group string, log *slog.Logger, park events.Parker) events.ListenerOptions {
	return events.ListenerOptions{QueueGroup: group, AckWait: n.AckWait, Logger: log, MaxDeliveries: n.MaxDeliveries, Park: park}
}

// NATS reads NATS_URL, NATS_CLUSTER_ID, NATS_CLIENT_ID (all required) and
// ACK_WAIT (default events.DefaultAckWait) and MAX_DELIVERIES (default
// events.DefaultMaxDeliveries).
func (e *Env) NATS() NATS {
	return NATS{
		URL:           e.Required("NATS_URL"),
		ClusterID:     e.Required("NATS_CLUSTER_ID"),
		ClientID:      e.Required("NATS_CLIENT_ID"),
		AckWait:       e.Duration("ACK_WAIT", events.DefaultAckWait),
		MaxDeliveries: e.Int("MAX_DELIVERIES", events.DefaultMaxDeliveries, 1),
	}
}

// Bus is a service's connection to NATS Streaming and the lifetime it
// gives the service.
type Bus struct {
	Conn stan.Conn
	// Context is done when the parent context is, or, with the reason as
	// its cause, when the connection is lost for good: the service then
	// stops and ExitError makes it exit non-zero, so that its supervisor
	// restarts it with a fresh connection. (A field, as it is the
	// connection's lifetime, not one call's.)
	Context context.Context
	cancel  context.CancelCauseFunc
}

// ConnectBus connects to NATS Streaming; see Bus.
func ConnectBus(ctx context.Context, n NATS) (*Bus, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	conn, err := events.Connect(ctx, n.URL, n.ClusterID, n.ClientID, func(err error) {
		cancel(fmt.Errorf("NATS Streaming connection lost: %w", err))
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
func BusCheck(conn stan.Conn) Check {
	return Check{Name: "nats", Check: events.ReadyCheck(conn)}
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
