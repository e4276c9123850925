package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the JetStream stream that holds every subject
// (docs/CONTRACT.md §3a).
const StreamName = "TICKETING"

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id: a second
// publish of an event within it (a relay retrying after a lost ack, two
// processes relaying one record) is stored once.
const DuplicateWindow = 2 * time.Minute

// fetchBatch is how many messages a queue group member pulls at a time.
// Few: a message pulled but still waiting in this process when its ack
// wait ends is handed to another member, and handled twice.
const fetchBatch = 8

// apiTimeout bounds one JetStream API call (consumer set-up).
const apiTimeout = 10 * time.Second

// streamWait bounds the wait for the stream at connect: a cluster that
// has just started elects its leaders first (a few seconds).
const streamWait = 30 * time.Second

// JetStreamConfig says how to reach JetStream and how to keep the stream.
type JetStreamConfig struct {
	// URLs are the servers (one, or a cluster's).
	URLs []string
	// Name names the connection (the service process) in the server's
	// monitoring.
	Name string
	// Replicas is how many servers keep a copy of the stream (default 1;
	// 3 in production, a RAFT group that takes writes with 2 of 3 up).
	Replicas int
}

// jetStreamBus is the Bus on NATS JetStream.
type jetStreamBus struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	onLost func(error)

	closing atomic.Bool
	mu      sync.Mutex
	running map[*jsSubscription]struct{}
}

// ConnectJetStream connects to NATS, creates or updates the stream
// StreamName and returns the bus. The client reconnects on its own (to
// any server of a cluster) and its consumers resume; onLost, when not nil,
// is called if the bus cannot go on (a durable consumer was deleted, the
// connection closed), so that the service stops and is restarted.
func ConnectJetStream(ctx context.Context, cfg JetStreamConfig, onLost func(error)) (Bus, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("connecting to JetStream: no server URL")
	}
	url := strings.Join(cfg.URLs, ",")
	b := &jetStreamBus{onLost: onLost, running: map[*jsSubscription]struct{}{}}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1), // the bus coming back is the usual end of an outage
		nats.ReconnectWait(500 * time.Millisecond),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.ClosedHandler(func(*nats.Conn) { b.lost(errors.New("NATS connection closed")) }),
	}
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(url, opts...)
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connecting to JetStream %s as %q: %w", url, cfg.Name, r.err)
		}
		b.nc = r.nc
	case <-ctx.Done():
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to JetStream %s: %w", url, ctx.Err())
	}
	js, err := jetstream.New(b.nc)
	if err != nil {
		b.closeConn()
		return nil, fmt.Errorf("connecting to JetStream %s: %w", url, err)
	}
	b.js = js
	if b.stream, err = ensureStream(ctx, js, max(cfg.Replicas, 1)); err != nil {
		b.closeConn()
		return nil, err
	}
	return b, nil
}

// ensureStream creates the stream, or brings an existing one to this
// configuration (every process of every service declares the same).
func ensureStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	subjects := Subjects()
	cfg := jetstream.StreamConfig{
		Name:       StreamName,
		Subjects:   make([]string, len(subjects)),
		Storage:    jetstream.FileStorage,
		Replicas:   replicas,
		Duplicates: DuplicateWindow,
	}
	for i, s := range subjects {
		cfg.Subjects[i] = string(s)
	}
	ctx, cancel := context.WithTimeout(ctx, streamWait)
	defer cancel()
	var last error
	for {
		// Retried, each try bounded: a cluster that is starting has no
		// meta leader yet (its requests go unanswered) or too few servers
		// for the replicas; two processes creating the stream at once
		// leave one of them to update it next time round.
		tctx, tcancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := js.CreateOrUpdateStream(tctx, cfg)
		tcancel()
		if err == nil {
			return s, nil
		}
		if last == nil || !errors.Is(err, context.DeadlineExceeded) {
			last = err // the server's reason rather than a try's deadline
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("creating stream %s (%d replicas): %w", StreamName, replicas, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (b *jetStreamBus) Publish(ctx context.Context, subject Subject, msgID string, data []byte) error {
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	for {
		// Each try is bounded and a failed one is tried again: a request
		// lost with a server (the client reconnects to another) or sent
		// during a leader election gets no answer. The Nats-Msg-Id makes
		// a retry of a publish that did land a duplicate, and a
		// duplicate (ack.Duplicate) is a success: stored once.
		tctx, cancel := context.WithTimeout(ctx, publishTry)
		_, err := b.js.Publish(tctx, string(subject), data, opts...)
		cancel()
		if err == nil || msgID == "" {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last try: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// publishTry bounds one try of a publish (see Publish); a stored message
// is acked in milliseconds.
const publishTry = 2 * time.Second

// ConsumerName is the durable consumer of a queue group on a subject:
// one per (group, subject), shared by every process of the service.
func ConsumerName(group string, subject Subject) string {
	return group + "_" + strings.NewReplacer(":", "_", ".", "_").Replace(string(subject))
}

func (b *jetStreamBus) Listen(subject Subject, opts QueueOptions, deliver func(Msg)) (Subscription, error) {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(opts.Group, subject),
		FilterSubject: string(subject),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1, // Listen parks after MaxDeliveries itself, as on STAN
	}
	var cons jetstream.Consumer
	var err error
	for range 3 {
		// Two processes creating it at once: as for the stream.
		if cons, err = b.js.CreateOrUpdateConsumer(ctx, StreamName, cfg); err == nil || !errors.Is(err, jetstream.ErrConsumerExists) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating consumer %s: %w", cfg.Durable, err)
	}
	return b.consume(cons, true, deliver)
}

func (b *jetStreamBus) Watch(subject Subject, deliver func(Msg)) (Subscription, error) {
	return b.ordered(subject, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{string(subject)},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}, deliver)
}

func (b *jetStreamBus) Replay(subject Subject, start time.Time, deliver func(Msg)) (Subscription, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{string(subject)}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if !start.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	return b.ordered(subject, cfg, deliver)
}

// ordered runs an ordered consumer: this process's own, in stream order,
// recreated by the client from where it was after a reconnect.
func (b *jetStreamBus) ordered(subject Subject, cfg jetstream.OrderedConsumerConfig, deliver func(Msg)) (Subscription, error) {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	cons, err := b.js.OrderedConsumer(ctx, StreamName, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating a consumer of %s: %w", subject, err)
	}
	return b.consume(cons, false, deliver)
}

func (b *jetStreamBus) consume(cons jetstream.Consumer, durable bool, deliver func(Msg)) (Subscription, error) {
	opts := []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(fetchBatch)}
	if durable {
		// The server lost the durable consumer (its stream was deleted
		// or reset): only a fresh start recreates it. (An ordered
		// consumer recreates itself.)
		opts = append(opts, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				b.lost(err)
			}
		}))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return // not a stream message
		}
		msg := Msg{
			Subject: Subject(m.Subject()), Data: m.Data(), Sequence: md.Sequence.Stream,
			Time: md.Timestamp, Deliveries: int(md.NumDelivered),
		}
		if durable {
			msg.Acker = jsAcker{m}
		} else {
			msg.Deliveries = 1
		}
		deliver(msg)
	}, opts...)
	if err != nil {
		return nil, err
	}
	s := &jsSubscription{bus: b, cc: cc}
	b.mu.Lock()
	b.running[s] = struct{}{}
	b.mu.Unlock()
	return s, nil
}

func (b *jetStreamBus) Last(ctx context.Context, subject Subject) (Msg, bool, error) {
	m, err := b.stream.GetLastMsgForSubject(ctx, string(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Msg{}, false, nil
	}
	if err != nil {
		return Msg{}, false, fmt.Errorf("finding the last %s: %w", subject, err)
	}
	return Msg{Subject: subject, Data: m.Data, Sequence: m.Sequence, Time: m.Time, Deliveries: 1}, true, nil
}

func (b *jetStreamBus) Ready(context.Context) error {
	if !b.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	return nil
}

// Close stops every consumer of this process (durable ones stay on the
// server) and closes the connection.
func (b *jetStreamBus) Close() error {
	b.closing.Store(true)
	b.mu.Lock()
	subs := make([]*jsSubscription, 0, len(b.running))
	for s := range b.running {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
	b.closeConn()
	return nil
}

func (b *jetStreamBus) closeConn() {
	b.closing.Store(true)
	b.nc.Close()
}

// lost tells onLost, unless the bus is being closed on purpose.
func (b *jetStreamBus) lost(err error) {
	if b.onLost != nil && !b.closing.Load() {
		b.onLost(err)
	}
}

// jsSubscription is one running consumer of this process.
type jsSubscription struct {
	bus  *jetStreamBus
	cc   jetstream.ConsumeContext
	once sync.Once
}

func (s *jsSubscription) Close() error {
	s.once.Do(func() {
		s.cc.Stop()
		s.bus.mu.Lock()
		delete(s.bus.running, s)
		s.bus.mu.Unlock()
	})
	return nil
}

// jsAcker settles a queue group delivery.
type jsAcker struct{ m jetstream.Msg }

func (a jsAcker) Ack() error { return a.m.Ack() }

// Retry naks with a delay: a plain Nak would bring the message back at
// once, and an event waiting for its predecessor would spin.
func (a jsAcker) Retry(after time.Duration) error {
	if after <= 0 {
		return a.m.Nak()
	}
	return a.m.NakWithDelay(after)
}
