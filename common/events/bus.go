package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"
)

// DefaultAckWait is how long the bus waits for an ack before redelivering.
const DefaultAckWait = 5 * time.Second

// Publisher publishes events of type E on E's subject.
type Publisher[E Event] struct {
	bus Bus
}

// NewPublisher returns a publisher for E on bus.
func NewPublisher[E Event](bus Bus) *Publisher[E] {
	return &Publisher[E]{bus: bus}
}

// Publish sends e and waits until the server has stored it.
func (p *Publisher[E]) Publish(ctx context.Context, e E) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", e.Subject(), err)
	}
	return PublishData(ctx, p.bus, e.Subject(), ID(e), data)
}

// PublishData sends an already encoded payload, named msgID (see
// Bus.Publish), and waits until the server has stored it; for relays of
// stored events (packages outbox, deadletter). Prefer Publisher, which
// cannot pair a payload with the wrong subject.
func PublishData(ctx context.Context, bus Bus, subject Subject, msgID string, data []byte) error {
	if err := bus.Publish(ctx, subject, msgID, data); err != nil {
		return fmt.Errorf("publishing %s: %w", subject, err)
	}
	return nil
}

// ReadyCheck reports whether the bus is reachable, for /readyz.
func ReadyCheck(bus Bus) func(context.Context) error { return bus.Ready }

// Delivery describes the message being handled; see DeliveryFrom.
type Delivery struct {
	Subject     Subject
	Sequence    uint64
	Redelivered bool
	Data        []byte
}

type deliveryKey struct{}

// DeliveryFrom returns the delivery a handler's context belongs to.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

// Handler handles one event. Returning an error leaves the message un-acked,
// so the bus redelivers it after the ack wait.
type Handler[E Event] func(ctx context.Context, e E) error

// ListenerOptions are the subscription settings of docs/CONTRACT.md §3.
type ListenerOptions struct {
	// QueueGroup is the queue group and the durable name.
	QueueGroup string
	// AckWait defaults to DefaultAckWait; STAN's minimum is one second.
	AckWait time.Duration
	// Logger receives handler failures; nil discards them.
	Logger *slog.Logger
	// Workers is how many events are handled at once (default
	// DefaultWorkers); events with the same Key go to the same worker, so
	// each ticket's or order's events are still handled in order.
	Workers int
	// MaxDeliveries bounds how often one message is tried (default
	// DefaultMaxDeliveries): a message that failed that many times is
	// handed to Park and acked, so a poison event stops coming back.
	MaxDeliveries int
	// Park keeps a message given up on (a service's dead-letter store).
	// Without one, failing messages are redelivered for ever.
	Park Parker
	// Observer, when set, learns how each delivery ended (metrics).
	Observer Observer
	// Running, when set, counts the listener's workers: once ctx is done,
	// Wait returns when the handlers under way have returned.
	Running *sync.WaitGroup
}

// DefaultMaxDeliveries outlasts ordinary reordering: an event waiting for
// its predecessor version is retried every ack wait (5 s) for about four
// minutes before it is parked.
const DefaultMaxDeliveries = 50

// DeadLetter is a message a listener gave up on, with why.
type DeadLetter struct {
	Subject    Subject   `bson:"subject" json:"subject"`
	QueueGroup string    `bson:"queueGroup" json:"queueGroup"`
	Sequence   uint64    `bson:"sequence" json:"sequence"`
	Data       string    `bson:"data" json:"data"` // the payload as published
	LastError  string    `bson:"lastError" json:"lastError"`
	Attempts   int       `bson:"attempts" json:"attempts"`
	FirstSeen  time.Time `bson:"firstSeen" json:"firstSeen"` // when the bus took it
	LastSeen   time.Time `bson:"lastSeen" json:"lastSeen"`   // the last failed attempt
}

// ID names the message across replicas: a queue group gets each message
// of a subject under one sequence number.
func (d DeadLetter) ID() string {
	return fmt.Sprintf("%s/%s/%d", d.QueueGroup, d.Subject, d.Sequence)
}

// Parker stores dead letters. Parking the same message twice (two replicas
// giving up on it) must not be an error.
type Parker interface {
	Park(ctx context.Context, d DeadLetter) error
}

// DefaultWorkers lets a listener keep up with dozens of clients while each
// aggregate's events stay in order.
const DefaultWorkers = 16

// Listen subscribes handle to E's subject as a durable queue group with
// manual acks, starting from all available messages. A payload that
// cannot be decoded can never succeed, so it is logged and acked rather than
// redelivered forever. Handlers run on opts.Workers goroutines, events of
// one key on one of them; they stop when ctx is done, and ctx is passed to
// each handler call. A handler error hands the event back to the bus, to
// come again after the ack wait.
//
// Closing the returned subscription (or the bus) keeps the durable
// group's position.
func Listen[E Event](ctx context.Context, bus Bus, opts ListenerOptions, handle Handler[E]) (Subscription, error) {
	if opts.QueueGroup == "" {
		return nil, errors.New("listener needs a queue group")
	}
	if opts.AckWait == 0 {
		opts.AckWait = DefaultAckWait
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	subject := SubjectOf[E]()
	log = log.With("subject", subject, "queueGroup", opts.QueueGroup)

	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	if opts.MaxDeliveries <= 0 {
		opts.MaxDeliveries = DefaultMaxDeliveries
	}
	type delivery struct {
		m Msg
		e E
	}
	queues := make([]chan delivery, workers)
	running := opts.Running
	if running == nil {
		running = &sync.WaitGroup{}
	}
	for i := range queues {
		queues[i] = make(chan delivery, inflightPerWorker)
		running.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return // unacked: redelivered to the group
				case d := <-queues[i]:
					handleOne(ctx, log, opts, subject, d.m, d.e, handle)
				}
			}
		})
	}
	onMsg := func(m Msg) {
		var e E
		if err := json.Unmarshal(m.Data, &e); err != nil {
			log.Error("dropping undecodable event", "sequence", m.Sequence, "err", err)
			ack(log, m)
			observe(opts, subject, m, OutcomeDropped, 0)
			return
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(e.Key()))
		select {
		case queues[h.Sum32()%uint32(workers)] <- delivery{m, e}:
		case <-ctx.Done():
		}
	}
	sub, err := bus.Listen(subject, QueueOptions{
		Group: opts.QueueGroup, AckWait: opts.AckWait, MaxInflight: workers * inflightPerWorker,
	}, onMsg)
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s as %s: %w", subject, opts.QueueGroup, err)
	}
	return sub, nil
}

// inflightPerWorker bounds the unacked messages a listener holds, so that
// what it holds can be handled well within the ack wait.
const inflightPerWorker = 4

func handleOne[E Event](ctx context.Context, log *slog.Logger, opts ListenerOptions, subject Subject, m Msg, e E, handle Handler[E]) {
	redelivered := m.Deliveries > 1
	log = log.With("event", ID(e), "sequence", m.Sequence, "redelivered", redelivered)
	hctx := context.WithValue(ctx, deliveryKey{}, Delivery{
		Subject: subject, Sequence: m.Sequence, Redelivered: redelivered, Data: m.Data,
	})
	start := time.Now()
	err := handle(hctx, e)
	took := time.Since(start)
	if err == nil {
		ack(log, m)
		log.Debug("event handled", "took", took)
		observe(opts, subject, m, OutcomeAcked, took)
		return
	}
	attempts := max(m.Deliveries, 1)
	if opts.Park == nil || attempts < opts.MaxDeliveries || ctx.Err() != nil {
		log.Warn("event not handled; it will be redelivered", "attempts", attempts, "err", err)
		retry(ctx, log, m, opts.AckWait)
		observe(opts, subject, m, OutcomeRetried, took)
		return
	}
	d := DeadLetter{
		Subject: subject, QueueGroup: opts.QueueGroup, Sequence: m.Sequence, Data: string(m.Data),
		LastError: err.Error(), Attempts: attempts, FirstSeen: m.Time.UTC(), LastSeen: time.Now().UTC(),
	}
	if perr := opts.Park.Park(ctx, d); perr != nil {
		log.Warn("event not handled and could not be parked; it will be redelivered", "attempts", attempts, "err", err, "parkErr", perr)
		retry(ctx, log, m, opts.AckWait)
		observe(opts, subject, m, OutcomeRetried, took)
		return
	}
	log.Error("event parked as a dead letter after repeated failures", "id", d.ID(), "attempts", attempts, "err", err)
	ack(log, m)
	observe(opts, subject, m, OutcomeParked, took)
}

// observe tells opts.Observer, if any, how m's delivery ended.
func observe(opts ListenerOptions, subject Subject, m Msg, outcome Outcome, took time.Duration) {
	if opts.Observer == nil {
		return
	}
	opts.Observer.EventHandled(Handled{
		Subject: subject, QueueGroup: opts.QueueGroup, Outcome: outcome, Took: took,
		Lag: time.Since(m.Time), Redelivered: m.Deliveries > 1,
	})
}

func ack(log *slog.Logger, m Msg) {
	if err := m.Ack(); err != nil {
		log.Warn("ack failed; the event will be redelivered", "err", err)
	}
}

// retry hands m back to come again after the ack wait, as an unacked
// message would; or at once to another process when this one is stopping.
func retry(ctx context.Context, log *slog.Logger, m Msg, ackWait time.Duration) {
	after := ackWait
	if ctx.Err() != nil {
		after = 0
	}
	if err := m.Retry(after); err != nil {
		log.Warn("handing the event back failed; it returns after the ack wait", "err", err)
	}
}

// Subscriptions starts several listeners (each a call of Listen or
// Watch); if one fails, those already started are closed and its error is
// returned. The subscriptions are not handed back: closing the bus
// closes them, and a durable group's position outlives that.
func Subscriptions(listens ...func() (Subscription, error)) error {
	subs := make([]Subscription, 0, len(listens))
	for _, listen := range listens {
		sub, err := listen()
		if err != nil {
			for _, s := range subs {
				_ = s.Close()
			}
			return err
		}
		subs = append(subs, sub)
	}
	return nil
}

// Watch subscribes handle to E's subject for this process alone: not
// durable, no queue group (every process sees every event), new events
// only, nothing to ack. For in-process notifications (wake a request
// waiting for an outcome) and caches that tolerate a gap, never for state
// changes: a watcher that is down misses events.
func Watch[E Event](bus Bus, handle func(E)) (Subscription, error) {
	subject := SubjectOf[E]()
	sub, err := bus.Watch(subject, func(m Msg) {
		var e E
		if json.Unmarshal(m.Data, &e) == nil {
			handle(e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", subject, err)
	}
	return sub, nil
}
