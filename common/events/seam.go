package events

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Bus is the one seam between the event contract and a broker
// (docs/CONTRACT.md §3a): NATS Streaming (ConnectSTAN) or NATS JetStream
// (ConnectJetStream). Everything typed (Publisher, Listen, Watch, Replay)
// is built on it, so services only ever hold a Bus.
type Bus interface {
	// Publish stores data on subject and returns once the server has it.
	// msgID names the event (see ID) so that JetStream drops a second
	// copy published within its duplicate window; STAN ignores it.
	Publish(ctx context.Context, subject Subject, msgID string, data []byte) error
	// Listen delivers subject's messages to deliver as a durable queue
	// group shared by every process of a service: each message to one
	// member, from the first message the bus holds, each to be acked or
	// retried; one not acked within opts.AckWait comes back. Closing the
	// subscription keeps the group's position.
	Listen(subject Subject, opts QueueOptions, deliver func(Msg)) (Subscription, error)
	// Watch delivers, to this process alone, subject's messages published
	// from now on; nothing is acked and nothing is kept once closed.
	Watch(subject Subject, deliver func(Msg)) (Subscription, error)
	// Replay is Watch from start (every message the bus holds when start
	// is zero) on, then each new one.
	Replay(subject Subject, start time.Time, deliver func(Msg)) (Subscription, error)
	// Last returns subject's latest message; found is false on an empty
	// subject.
	Last(ctx context.Context, subject Subject) (m Msg, found bool, err error)
	// Ready reports whether the bus is reachable (for /readyz).
	Ready(ctx context.Context) error
	// Close ends the connection and its subscriptions; durable queue
	// groups keep their positions.
	Close() error
}

// QueueOptions are the settings of one Listen.
type QueueOptions struct {
	// Group is the queue group and the durable name.
	Group string
	// AckWait is how long a delivered message may stay unacked before
	// the bus hands it out again.
	AckWait time.Duration
	// MaxInflight bounds the unacked messages this process holds where
	// the bus can (STAN); JetStream fetches a few at a time instead.
	MaxInflight int
}

// Subscription is a running Listen, Watch or Replay.
type Subscription interface {
	// Close stops deliveries; a durable queue group keeps its position.
	Close() error
}

// Msg is one message as a bus delivers it.
type Msg struct {
	Subject Subject
	Data    []byte
	// Sequence is the server's sequence number of the message (STAN's
	// per channel, JetStream's per stream): a redelivery has the same.
	Sequence uint64
	// Time is when the server stored the message.
	Time time.Time
	// Deliveries counts the deliveries of this message to its queue
	// group, this one included (1 for Watch and Replay).
	Deliveries int
	// Acker settles a Listen delivery; nil for Watch, Replay and Last.
	Acker Acker
}

// Acker settles one Listen delivery.
type Acker interface {
	// Ack tells the bus the message is handled.
	Ack() error
	// Retry hands the message back, to come again no sooner than after:
	// JetStream's NakWithDelay; on STAN a no-op, as an unacked message
	// returns after the ack wait anyway.
	Retry(after time.Duration) error
}

// Ack acks m if it came from Listen.
func (m Msg) Ack() error {
	if m.Acker == nil {
		return nil
	}
	return m.Acker.Ack()
}

// Retry hands m back (see Acker.Retry) if it came from Listen.
func (m Msg) Retry(after time.Duration) error {
	if m.Acker == nil {
		return nil
	}
	return m.Acker.Retry(after)
}

// Kinds of bus, as BUS names them.
const (
	KindSTAN      = "stan"
	KindJetStream = "jetstream"
)

// BusConfig names a bus and how to reach it.
type BusConfig struct {
	// Kind is KindSTAN (the default when empty) or KindJetStream.
	Kind string
	// URL is the server's URL; on JetStream a comma-separated list of a
	// cluster's servers.
	URL string
	// ClusterID is NATS Streaming's cluster id (STAN only).
	ClusterID string
	// ClientID names this connection: STAN's client id (unique per
	// process), JetStream's connection name.
	ClientID string
	// Replicas is how many copies of the stream JetStream keeps (default 1).
	Replicas int
}

// Connect opens the bus cfg names. onLost, when not nil, is called if the
// connection is lost for good: the service should then stop, so that its
// supervisor restarts it with a fresh connection.
func Connect(ctx context.Context, cfg BusConfig, onLost func(error)) (Bus, error) {
	switch cfg.Kind {
	case "", KindSTAN:
		return ConnectSTAN(ctx, cfg.URL, cfg.ClusterID, cfg.ClientID, onLost)
	case KindJetStream:
		return ConnectJetStream(ctx, JetStreamConfig{URLs: splitURLs(cfg.URL), Name: cfg.ClientID, Replicas: cfg.Replicas}, onLost)
	}
	return nil, fmt.Errorf("unknown bus %q (stan or jetstream)", cfg.Kind)
}

// splitURLs turns "a, b" into ["a", "b"].
func splitURLs(list string) []string {
	var out []string
	for u := range strings.SplitSeq(list, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Subjects lists every subject of the contract (docs/CONTRACT.md §3 and
// the additions): what the JetStream stream holds.
func Subjects() []Subject {
	return []Subject{
		SubjectTicketCreated, SubjectTicketUpdated,
		SubjectOrderCreated, SubjectOrderCancelled, SubjectOrderComplete,
		SubjectExpirationComplete, SubjectPaymentCreated, SubjectPaymentRefunded,
		SubjectSessionRevoked,
	}
}
