package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/busserver"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// inspect opens a plain JetStream client on b, to look at what the bus
// left on the server.
func inspect(t *testing.T, b *testkit.Broker) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(b.URL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// settled waits until the group's durable consumer of subject has nothing
// left to deliver and nothing awaiting an ack, and returns its state: from
// then on the server delivers nothing more, so the counts it reports
// (Delivered.Consumer counts redeliveries too) are final.
func settled(t *testing.T, b *testkit.Broker, group string, subject events.Subject) *jetstream.ConsumerInfo {
	t.Helper()
	js := inspect(t, b)
	info := func() (*jetstream.ConsumerInfo, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, events.StreamName, events.ConsumerName(group, subject))
		if err != nil {
			return nil, err
		}
		return c.Info(ctx)
	}
	require.Eventually(t, func() bool {
		i, err := info()
		return err == nil && i.NumPending == 0 && i.NumAckPending == 0
	}, 10*time.Second, 20*time.Millisecond, "consumer %s still has messages to deliver or awaiting an ack", events.ConsumerName(group, subject))
	i, err := info()
	require.NoError(t, err)
	return i
}

func streamInfo(t *testing.T, js jetstream.JetStream) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.StreamName)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	return info
}

func TestJetStreamKeepsEveryContractSubjectInOneFileStreamWithADuplicateWindow(t *testing.T) {
	t.Parallel()
	b := testkit.NewJetStream(t)
	b.Connect(t)
	cfg := streamInfo(t, inspect(t, b)).Config
	want := []string{"ticket:created", "ticket:updated", "order:created", "order:cancelled", "order:complete",
		"expiration:complete", "payment:created", "payment:refunded", "session:revoked"}
	assert.ElementsMatch(t, want, cfg.Subjects)
	assert.Equal(t, jetstream.FileStorage, cfg.Storage)
	assert.Equal(t, 1, cfg.Replicas)
	assert.GreaterOrEqual(t, cfg.Duplicates, 2*time.Minute)
}

func TestJetStreamStoresAnEventPublishedTwiceOnceByItsMsgID(t *testing.T) {
	t.Parallel()
	b := testkit.NewJetStream(t)
	conn := b.Connect(t)
	js := inspect(t, b)
	e := events.TicketUpdated{ID: "t1", Version: 3, Title: "gig", Price: 5, UserID: "u"}
	testkit.Publish(t, conn, e) // a relay's first try
	testkit.Publish(t, conn, e) // its retry after a lost ack: a success, not an error
	assert.Equal(t, uint64(1), streamInfo(t, js).State.Msgs, "the copy is dropped")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.StreamName)
	require.NoError(t, err)
	m, err := s.GetLastMsgForSubject(ctx, string(events.SubjectTicketUpdated))
	require.NoError(t, err)
	assert.Equal(t, "ticket:updated/t1/v3", m.Header.Get(jetstream.MsgIDHeader), "Nats-Msg-Id is the event's id")

	e.Version = 4
	testkit.Publish(t, conn, e)
	assert.Equal(t, uint64(2), streamInfo(t, js).State.Msgs, "the next version is another event")
}

func TestIDOfAStoredPayloadIsTheEventsID(t *testing.T) {
	t.Parallel()
	for _, e := range []events.Event{
		events.TicketCreated{ID: "t", Version: 0}, events.TicketUpdated{ID: "t", Version: 2},
		events.OrderCreated{ID: "o", Version: 0}, events.OrderCancelled{ID: "o", Version: 1},
		events.OrderComplete{ID: "o", Version: 2}, events.ExpirationComplete{OrderID: "o"},
		events.PaymentCreated{ID: "p", OrderID: "o"}, events.PaymentRefunded{ID: "p", OrderID: "o"},
		events.SessionRevoked{UserID: "u", IssuedAt: 1, TokenID: "j"},
	} {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		id, err := events.IDOf(e.Subject(), data)
		require.NoError(t, err)
		assert.Equal(t, events.ID(e), id)
	}
	_, err := events.IDOf("nope", []byte(`{}`))
	assert.Error(t, err)
}

// A retried delivery is nakked with a delay: it comes back after that
// delay, long before the ack wait would bring it, and not at once (a
// plain Nak would, and an event waiting for its predecessor would spin).
func TestJetStreamRetryNaksWithDelayNeitherAtOnceNorAfterTheAckWait(t *testing.T) {
	t.Parallel()
	b := testkit.NewJetStream(t)
	conn := b.Connect(t)
	type seen struct {
		at         time.Time
		deliveries int
	}
	got := make(chan seen, 10)
	const delay = 700 * time.Millisecond
	sub, err := conn.Listen(events.SubjectTicketCreated, events.QueueOptions{Group: "g", AckWait: 30 * time.Second, MaxInflight: 4},
		func(m events.Msg) {
			got <- seen{time.Now(), m.Deliveries}
			if m.Deliveries == 1 {
				assert.NoError(t, m.Retry(delay))
				return
			}
			assert.NoError(t, m.Ack())
		})
	require.NoError(t, err)
	defer sub.Close()
	testkit.Publish(t, conn, ticket("t1"))
	first := <-got
	var second seen
	select {
	case second = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("not redelivered well within the 30 s ack wait")
	}
	assert.Equal(t, 1, first.deliveries)
	assert.Equal(t, 2, second.deliveries)
	assert.GreaterOrEqual(t, second.at.Sub(first.at), delay-50*time.Millisecond, "not redelivered at once")
	assert.Equal(t, uint64(2), settled(t, b, "g", events.SubjectTicketCreated).Delivered.Consumer, "delivered twice, no more")
}

// The replica rule on JetStream: an update that arrives before its
// predecessor fails, is nakked with the ack wait as its delay, and is
// applied on its next delivery, after the predecessor; it is tried twice,
// not spun on.
func TestJetStreamAVersionNotDueYetWaitsForItsPredecessor(t *testing.T) {
	t.Parallel()
	b := testkit.NewJetStream(t)
	conn := b.Connect(t)
	var mu sync.Mutex
	stored := int64(0)
	tries := map[int64][]time.Time{}
	applied := make(chan int64, 10)
	obs := &outcomes{ch: make(chan events.Handled, 10)}
	_, err := events.Listen(context.Background(), conn, events.ListenerOptions{QueueGroup: "orders-service", AckWait: ackWait, Observer: obs},
		func(_ context.Context, e events.TicketUpdated) error {
			mu.Lock()
			defer mu.Unlock()
			tries[e.Version] = append(tries[e.Version], time.Now())
			if e.Version != stored+1 {
				return fmt.Errorf("ticket %s at %d, got %d: %w", e.ID, stored, e.Version, errors.New("not yet"))
			}
			stored = e.Version
			applied <- e.Version
			return nil
		})
	require.NoError(t, err)
	testkit.Publish(t, conn, events.TicketUpdated{ID: "t1", Version: 2, Title: "a", Price: 1, UserID: "u"})
	select { // v2 is tried, and handed back, first
	case h := <-obs.ch:
		require.Equal(t, events.OutcomeRetried, h.Outcome)
	case <-time.After(5 * time.Second):
		t.Fatal("version 2 not tried")
	}
	testkit.Publish(t, conn, events.TicketUpdated{ID: "t1", Version: 1, Title: "a", Price: 1, UserID: "u"})
	for _, want := range []int64{1, 2} {
		select {
		case v := <-applied:
			assert.Equal(t, want, v)
		case <-time.After(5 * time.Second):
			t.Fatalf("version %d not applied", want)
		}
	}
	info := settled(t, b, "orders-service", events.SubjectTicketUpdated)
	assert.Equal(t, uint64(3), info.Delivered.Consumer, "v2 delivered twice, v1 once, none again")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, tries[2], 2, "tried once too early, once when due")
	assert.GreaterOrEqual(t, tries[2][1].Sub(tries[2][0]), ackWait-100*time.Millisecond, "retried after the ack wait")
	assert.Len(t, tries[1], 1)
}

// Two processes of a service share one durable pull consumer per
// subject: each event is handled by one of them, once.
func TestJetStreamTwoProcessesShareOneDurableConsumerAndHandleEachEventOnce(t *testing.T) {
	t.Parallel()
	b := testkit.NewJetStream(t)
	pub := b.Connect(t)
	var mu sync.Mutex
	handled := map[string][]string{} // ticket id → processes that handled it
	done := make(chan struct{}, 100)
	for _, name := range []string{"a", "b"} {
		_, err := events.Listen(context.Background(), b.Connect(t), events.ListenerOptions{QueueGroup: "tickets-service", AckWait: ackWait},
			func(_ context.Context, e events.TicketCreated) error {
				mu.Lock()
				handled[e.ID] = append(handled[e.ID], name)
				mu.Unlock()
				done <- struct{}{}
				return nil
			})
		require.NoError(t, err)
	}
	const n = 60
	for i := range n {
		testkit.Publish(t, pub, ticket(fmt.Sprintf("t%02d", i)))
	}
	for i := range n {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d handled", i, n)
		}
	}
	info := settled(t, b, "tickets-service", events.SubjectTicketCreated)
	assert.Equal(t, uint64(n), info.Delivered.Consumer, "no event delivered twice")
	mu.Lock()
	byProcess := map[string]int{}
	for id, by := range handled {
		assert.Len(t, by, 1, "%s handled by %v", id, by)
		byProcess[by[0]]++
	}
	mu.Unlock()
	assert.Len(t, handled, n)
	assert.NotZero(t, byProcess["a"], "process a got none")
	assert.NotZero(t, byProcess["b"], "process b got none")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js := inspect(t, b)
	stream, err := js.Stream(ctx, events.StreamName)
	require.NoError(t, err)
	var names []string
	for name := range stream.ConsumerNames(ctx).Name() {
		names = append(names, name)
	}
	assert.Equal(t, []string{events.ConsumerName("tickets-service", events.SubjectTicketCreated)}, names, "one durable consumer for the group")
	assert.Equal(t, uint64(n), info.Delivered.Stream)
}

// A durable consumer deleted on the server (its stream reset) cannot come
// back on its own: the bus says it is lost, so the service restarts and
// recreates it.
func TestJetStreamReportsTheBusLostWhenItsDurableConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	b := testkit.NewJetStream(t)
	lost := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := events.Connect(ctx, b.Config("lost-test"), func(err error) {
		select {
		case lost <- err:
		default:
		}
	})
	require.NoError(t, err)
	defer conn.Close()
	_, err = events.Listen(ctx, conn, events.ListenerOptions{QueueGroup: "g", AckWait: ackWait}, newReceived().handler(nil))
	require.NoError(t, err)

	// Deleted once the listener's pull request waits on it, so the server
	// answers that request with the deletion (deleted before, the client
	// would only learn of it from a missed heartbeat, many seconds on).
	js, name := inspect(t, b), events.ConsumerName("g", events.SubjectTicketCreated)
	require.Eventually(t, func() bool {
		c, err := js.Consumer(ctx, events.StreamName, name)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumWaiting > 0
	}, 5*time.Second, 10*time.Millisecond, "the listener never pulled")
	require.NoError(t, js.DeleteConsumer(ctx, events.StreamName, name))
	select {
	case err := <-lost:
		assert.ErrorIs(t, err, jetstream.ErrConsumerDeleted)
	case <-time.After(5 * time.Second):
		t.Fatal("the loss of the consumer went unnoticed")
	}
}

// Closing the bus on purpose is no loss.
func TestJetStreamCloseIsNotALoss(t *testing.T) {
	t.Parallel()
	b := testkit.NewJetStream(t)
	lost := make(chan error, 1)
	conn, err := events.Connect(context.Background(), b.Config("close-test"), func(err error) { lost <- err })
	require.NoError(t, err)
	_, err = events.Watch(conn, func(events.TicketCreated) {})
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	select {
	case err := <-lost:
		t.Fatalf("closing reported a loss: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
}

// A pull request the server drops (here: JetStream restarted under a
// connected client, which answers the waiting pull "server shutdown"; in
// a cluster: a pull that reaches no consumer leader during an election)
// is pulled again within seconds, not after nats.go's default 30 s.
func TestJetStreamQueueGroupPullsAgainWithinSecondsWhenItsPullIsLost(t *testing.T) {
	dir := t.TempDir()
	srv, err := busserver.StartJetStream(busserver.JetStreamOptions{Name: "test", Host: "127.0.0.1", Port: -1, Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connect := func(id string) events.Bus {
		b, err := events.Connect(ctx, events.BusConfig{Kind: events.KindJetStream, URL: srv.ClientURL(), ClientID: id}, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	listener, publisher := connect("listener"), connect("publisher")
	got := make(chan string, 2)
	_, err = events.Listen(ctx, listener, events.ListenerOptions{QueueGroup: "g", AckWait: ackWait}, func(_ context.Context, e events.TicketCreated) error {
		got <- e.ID
		return nil
	})
	require.NoError(t, err)
	pub := events.NewPublisher[events.TicketCreated](publisher)
	require.NoError(t, pub.Publish(ctx, events.TicketCreated{ID: "before"}))
	select {
	case id := <-got:
		require.Equal(t, "before", id)
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was not delivered")
	}

	require.NoError(t, srv.DisableJetStream())
	require.NoError(t, srv.EnableJetStream(&server.JetStreamConfig{StoreDir: dir}))
	back := time.Now()
	require.NoError(t, pub.Publish(ctx, events.TicketCreated{ID: "after"}))
	select {
	case id := <-got:
		assert.Equal(t, "after", id)
		t.Logf("delivered %s after JetStream came back", time.Since(back).Round(time.Millisecond))
	case <-time.After(6 * time.Second):
		t.Fatal("the queue group's lost pull was not renewed within 6 s")
	}
}
