package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/stan.go"
)

// stanBus is the Bus on NATS Streaming: the original's broker, so a
// service on it is wire-compatible with the original's services.
type stanBus struct {
	conn stan.Conn
}

// ConnectSTAN opens a NATS Streaming connection. onLost is called if the
// connection is lost for good (STAN clients do not resume): the service
// should then stop so that its supervisor restarts it.
func ConnectSTAN(ctx context.Context, url, clusterID, clientID string, onLost func(error)) (Bus, error) {
	opts := []stan.Option{
		stan.NatsURL(url),
		stan.ConnectWait(5 * time.Second),
		stan.Pings(5, 3), // declare the link lost after ~15 s without answers
	}
	if onLost != nil {
		opts = append(opts, stan.SetConnectionLostHandler(func(_ stan.Conn, err error) { onLost(err) }))
	}
	type result struct {
		sc  stan.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		sc, err := stan.Connect(clusterID, clientID, opts...)
		done <- result{sc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connecting to NATS Streaming %s (cluster %q) as %q: %w", url, clusterID, clientID, r.err)
		}
		return &stanBus{conn: r.sc}, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.sc != nil {
				r.sc.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to NATS Streaming %s: %w", url, ctx.Err())
	}
}

func (b *stanBus) Publish(ctx context.Context, subject Subject, _ string, data []byte) error {
	// stan.Conn.Publish blocks until the server's ack or its own timeout;
	// PublishAsync lets the caller's context bound the wait instead.
	acked := make(chan error, 1)
	if _, err := b.conn.PublishAsync(string(subject), data, func(_ string, err error) { acked <- err }); err != nil {
		return err
	}
	select {
	case err := <-acked:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *stanBus) Listen(subject Subject, opts QueueOptions, deliver func(Msg)) (Subscription, error) {
	return b.conn.QueueSubscribe(string(subject), opts.Group, func(m *stan.Msg) {
		deliver(stanMsg(m, stanAcker{m}))
	},
		stan.DurableName(opts.Group),
		stan.SetManualAckMode(),
		stan.DeliverAllAvailable(),
		stan.AckWait(opts.AckWait),
		stan.MaxInflight(max(opts.MaxInflight, 1)),
	)
}

func (b *stanBus) Watch(subject Subject, deliver func(Msg)) (Subscription, error) {
	return b.conn.Subscribe(string(subject), func(m *stan.Msg) { deliver(stanMsg(m, nil)) })
}

func (b *stanBus) Replay(subject Subject, start time.Time, deliver func(Msg)) (Subscription, error) {
	from := stan.DeliverAllAvailable()
	if !start.IsZero() {
		from = stan.StartAtTime(start)
	}
	return b.conn.Subscribe(string(subject), func(m *stan.Msg) { deliver(stanMsg(m, nil)) }, from)
}

// lastWait is how long Last waits for the channel's last message before
// taking the channel to be empty. The server sends it right after
// confirming the subscription, so this is only ever waited out in full on
// an empty channel.
const lastWait = 200 * time.Millisecond

func (b *stanBus) Last(ctx context.Context, subject Subject) (Msg, bool, error) {
	last := make(chan Msg, 1)
	sub, err := b.conn.Subscribe(string(subject), func(m *stan.Msg) {
		select {
		case last <- stanMsg(m, nil):
		default:
		}
	}, stan.StartWithLastReceived())
	if err != nil {
		return Msg{}, false, fmt.Errorf("finding the last %s: %w", subject, err)
	}
	defer sub.Close()
	t := time.NewTimer(lastWait)
	defer t.Stop()
	select {
	case m := <-last:
		return m, true, nil
	case <-t.C:
		return Msg{}, false, nil
	case <-ctx.Done():
		return Msg{}, false, ctx.Err()
	}
}

func (b *stanBus) Ready(context.Context) error {
	if nc := b.conn.NatsConn(); nc == nil || !nc.IsConnected() {
		return errors.New("not connected to NATS Streaming")
	}
	return nil
}

func (b *stanBus) Close() error { return b.conn.Close() }

func stanMsg(m *stan.Msg, acker Acker) Msg {
	deliveries := int(m.RedeliveryCount) + 1
	if m.Redelivered {
		deliveries = max(deliveries, 2)
	}
	return Msg{
		Subject: Subject(m.Subject), Data: m.Data, Sequence: m.Sequence,
		Time: time.Unix(0, m.Timestamp), Deliveries: deliveries, Acker: acker,
	}
}

// stanAcker acks a STAN delivery; Retry leaves it unacked, so STAN hands
// it out again after the ack wait.
type stanAcker struct{ m *stan.Msg }

func (a stanAcker) Ack() error                { return a.m.Ack() }
func (a stanAcker) Retry(time.Duration) error { return nil }
