package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// ackWait is STAN's minimum, so redelivery tests stay short.
const ackWait = time.Second

func ticket(id string) events.TicketCreated {
	return events.TicketCreated{ID: id, Version: 0, Title: "concert", Price: 20, UserID: "u1"}
}

// received records what a handler saw.
type received struct {
	mu    sync.Mutex
	ids   []string
	redel []bool
	got   chan string
}

func newReceived() *received { return &received{got: make(chan string, 100)} }

func (r *received) handler(fail func(id string, attempt int) bool) events.Handler[events.TicketCreated] {
	attempts := map[string]int{}
	return func(ctx context.Context, e events.TicketCreated) error {
		d, _ := events.DeliveryFrom(ctx)
		r.mu.Lock()
		attempts[e.ID]++
		n := attempts[e.ID]
		r.ids = append(r.ids, e.ID)
		r.redel = append(r.redel, d.Redelivered)
		r.mu.Unlock()
		r.got <- e.ID
		if fail != nil && fail(e.ID, n) {
			return errors.New("not yet")
		}
		return nil
	}
}

func (r *received) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case id := <-r.got:
		return id
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
		return ""
	}
}

func (r *received) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case id := <-r.got:
		t.Fatalf("unexpected delivery of %s", id)
	case <-time.After(d):
	}
}

func listen[E events.Event](t *testing.T, conn events.Bus, group string, h events.Handler[E], log *slog.Logger) events.Subscription {
	t.Helper()
	sub, err := events.Listen(context.Background(), conn, events.ListenerOptions{QueueGroup: group, AckWait: ackWait, Logger: log}, h)
	require.NoError(t, err)
	return sub
}

func TestPublishedEventReachesListenerWithItsFields(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		s := newBus(t)
		conn := s.Connect(t)
		var got atomic.Pointer[events.TicketCreated]
		done := make(chan struct{})
		_, err := events.Listen(context.Background(), conn, events.ListenerOptions{QueueGroup: "g"},
			func(ctx context.Context, e events.TicketCreated) error {
				d, ok := events.DeliveryFrom(ctx)
				assert.True(t, ok)
				assert.Equal(t, events.SubjectTicketCreated, d.Subject)
				got.Store(&e)
				close(done)
				return nil
			})
		require.NoError(t, err)
		want := ticket("t1")
		testkit.Publish(t, conn, want)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("not delivered")
		}
		assert.Equal(t, want, *got.Load())
	})
}

func TestPayloadKeysMatchTheContract(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[events.Subject]struct {
		e    any
		want string
	}{
		events.SubjectTicketCreated: {events.TicketCreated{ID: "t", Version: 1, Title: "a", Price: 2.5, UserID: "u"}, `{"id":"t","version":1,"title":"a","price":2.5,"userId":"u"}`},
		events.SubjectTicketUpdated: {events.TicketUpdated{ID: "t", Version: 2, Title: "a", Price: 2.5, UserID: "u", OrderID: "o"}, `{"id":"t","version":2,"title":"a","price":2.5,"userId":"u","orderId":"o"}`},
		events.SubjectOrderCreated: {events.OrderCreated{ID: "o", Version: 0, Status: events.StatusCreated, UserID: "u", ExpiresAt: exp, Ticket: events.OrderTicket{ID: "t", Price: 3}},
			`{"id":"o","version":0,"status":"created","userId":"u","expiresAt":"2026-01-02T03:04:05Z","ticket":{"id":"t","price":3}}`},
		events.SubjectOrderCancelled:     {events.OrderCancelled{ID: "o", Version: 1, Ticket: events.OrderCancelledTicket{ID: "t"}}, `{"id":"o","version":1,"ticket":{"id":"t"}}`},
		events.SubjectOrderComplete:      {events.OrderComplete{ID: "o", Version: 2, Status: events.StatusComplete, Ticket: events.OrderTicket{ID: "t", Price: 3}}, `{"id":"o","version":2,"status":"complete","ticket":{"id":"t","price":3}}`},
		events.SubjectExpirationComplete: {events.ExpirationComplete{OrderID: "o"}, `{"orderId":"o"}`},
		events.SubjectPaymentCreated:     {events.PaymentCreated{ID: "p", OrderID: "o", StripeID: "ch_1"}, `{"id":"p","orderId":"o","stripeId":"ch_1"}`},
	}
	for subject, c := range cases {
		assert.Equal(t, subject, c.e.(events.Event).Subject())
		b, err := json.Marshal(c.e)
		require.NoError(t, err)
		assert.JSONEq(t, c.want, string(b), subject)
	}
	// A released ticket carries no orderId key at all, as in the original.
	b, _ := json.Marshal(events.TicketUpdated{ID: "t"})
	assert.NotContains(t, string(b), "orderId")
}

func TestSuccessfulHandlingIsAckedAndNotRedelivered(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		conn := newBus(t).Connect(t)
		r := newReceived()
		listen(t, conn, "g", r.handler(nil), nil)
		testkit.Publish(t, conn, ticket("t1"))
		assert.Equal(t, "t1", r.next(t, 5*time.Second))
		r.none(t, 2*ackWait+500*time.Millisecond)
	})
}

func TestHandlerErrorLeavesEventUnackedSoItIsRedelivered(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		conn := newBus(t).Connect(t)
		r := newReceived()
		// Fail the first two attempts.
		listen(t, conn, "g", r.handler(func(_ string, n int) bool { return n <= 2 }), nil)
		start := time.Now()
		testkit.Publish(t, conn, ticket("t1"))
		for range 3 {
			assert.Equal(t, "t1", r.next(t, 5*time.Second))
		}
		assert.GreaterOrEqual(t, time.Since(start), 2*ackWait-200*time.Millisecond, "redelivery waits for the ack wait")
		r.none(t, 2*ackWait)
		r.mu.Lock()
		defer r.mu.Unlock()
		assert.Equal(t, []bool{false, true, true}, r.redel)
	})
}

func TestUndecodablePayloadIsLoggedAndAckedNotRedeliveredForever(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		conn := newBus(t).Connect(t)
		var logs bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
		r := newReceived()
		listen(t, conn, "g", r.handler(nil), log)
		require.NoError(t, conn.Publish(context.Background(), events.SubjectTicketCreated, "bad", []byte(`{"id":42,`)))
		testkit.Publish(t, conn, ticket("after"))
		assert.Equal(t, "after", r.next(t, 5*time.Second), "the bad message must not block the good one")
		r.none(t, 2*ackWait+500*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		assert.Contains(t, logs.String(), "dropping undecodable event")
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestDurableQueueGroupResumesWhereItLeftOffAfterReconnect(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		s := newBus(t)
		pub := s.Connect(t)

		first := s.Connect(t)
		r := newReceived()
		listen(t, first, "tickets-service", r.handler(nil), nil)
		testkit.Publish(t, pub, ticket("before"))
		assert.Equal(t, "before", r.next(t, 5*time.Second))
		require.NoError(t, first.Close(), "a service shutting down closes its connection")

		testkit.Publish(t, pub, ticket("while-down-1"))
		testkit.Publish(t, pub, ticket("while-down-2"))

		second := s.Connect(t)
		r2 := newReceived()
		listen(t, second, "tickets-service", r2.handler(nil), nil)
		// Different keys: handled concurrently, in either order.
		assert.ElementsMatch(t, []string{"while-down-1", "while-down-2"}, []string{r2.next(t, 5*time.Second), r2.next(t, 5*time.Second)})
		r2.none(t, 500*time.Millisecond) // "before" is not replayed
	})
}

func TestEventsOfOneKeyAreHandledInOrderWhileOtherKeysGoOnConcurrently(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		s := newBus(t)
		pub := s.Connect(t)
		release := make(chan struct{})
		var mu sync.Mutex
		var order []string
		_ = listen(t, s.Connect(t), "g", func(_ context.Context, e events.TicketUpdated) error {
			if e.ID == "slow" && e.Version == 1 {
				<-release // the first event of "slow" takes its time
			}
			mu.Lock()
			order = append(order, fmt.Sprintf("%s/%d", e.ID, e.Version))
			mu.Unlock()
			return nil
		}, nil)
		for v := int64(1); v <= 3; v++ {
			testkit.Publish(t, pub, events.TicketUpdated{ID: "slow", Version: v, Title: "t", Price: 1, UserID: "u"})
		}
		for v := int64(1); v <= 3; v++ {
			testkit.Publish(t, pub, events.TicketUpdated{ID: "fast", Version: v, Title: "t", Price: 1, UserID: "u"})
		}
		seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), order...) }
		require.Eventually(t, func() bool { return len(seen()) == 3 }, 5*time.Second, 10*time.Millisecond,
			"the other key's events are not held up by the slow one")
		assert.Equal(t, []string{"fast/1", "fast/2", "fast/3"}, seen())
		close(release)
		require.Eventually(t, func() bool { return len(seen()) == 6 }, 5*time.Second, 10*time.Millisecond)
		assert.Equal(t, []string{"slow/1", "slow/2", "slow/3"}, seen()[3:], "one key's events in order")
	})
}

func TestTwoListenersInOneGroupShareTheEvents(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		s := newBus(t)
		pub := s.Connect(t)
		a, b := newReceived(), newReceived()
		listen(t, s.Connect(t), "g", a.handler(nil), nil)
		listen(t, s.Connect(t), "g", b.handler(nil), nil)
		const n = 40
		for i := range n {
			testkit.Publish(t, pub, ticket(string(rune('A'+i%26))+time.Now().Format("150405.000000")))
		}
		seen := 0
		deadline := time.After(10 * time.Second)
		for seen < n {
			select {
			case <-a.got:
			case <-b.got:
			case <-deadline:
				t.Fatalf("only %d of %d events delivered", seen, n)
			}
			seen++
		}
		a.mu.Lock()
		b.mu.Lock()
		defer a.mu.Unlock()
		defer b.mu.Unlock()
		assert.Equal(t, n, len(a.ids)+len(b.ids), "each event goes to exactly one member")
		assert.NotEmpty(t, a.ids, "first member got none")
		assert.NotEmpty(t, b.ids, "second member got none")
	})
}

func TestListenRequiresAQueueGroup(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		conn := newBus(t).Connect(t)
		_, err := events.Listen(context.Background(), conn, events.ListenerOptions{}, newReceived().handler(nil))
		assert.Error(t, err)
	})
}

func TestConnectFailsFastOnWrongClusterOrURL(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		b := newBus(t)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		start := time.Now()
		if b.Kind == events.KindSTAN {
			_, err := events.Connect(ctx, events.BusConfig{URL: b.URL, ClusterID: "wrong-cluster", ClientID: "c1"}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "wrong-cluster")
		}
		cfg := b.Config("c2")
		cfg.URL = "nats://127.0.0.1:1"
		_, err := events.Connect(ctx, cfg, nil)
		require.Error(t, err)
		assert.Less(t, time.Since(start), 12*time.Second)
	})
}

func TestConnectRefusesAnUnknownBus(t *testing.T) {
	t.Parallel()
	_, err := events.Connect(context.Background(), events.BusConfig{Kind: "kafka", URL: "nats://127.0.0.1:1"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"kafka"`)
}

func TestRunningWaitsForTheHandlerUnderWayOnceTheContextIsDone(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		conn := newBus(t).Connect(t)
		ctx, cancel := context.WithCancel(context.Background())
		var running sync.WaitGroup
		started := make(chan struct{})
		var finished atomic.Bool
		_, err := events.Listen(ctx, conn, events.ListenerOptions{QueueGroup: "g", AckWait: ackWait, Running: &running},
			func(ctx context.Context, _ events.TicketCreated) error {
				close(started)
				<-ctx.Done()
				time.Sleep(100 * time.Millisecond) // finishing up after the stop
				finished.Store(true)
				return ctx.Err()
			})
		require.NoError(t, err)
		testkit.Publish(t, conn, ticket("t1"))
		<-started
		cancel()
		running.Wait()
		assert.True(t, finished.Load(), "Wait returned before the handler did")
	})
}
