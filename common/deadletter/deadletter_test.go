package deadletter_test

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

// settling is a bus whose Listen deliveries are counted as the listener
// settles them: acked, or handed back to come again.
type settling struct {
	events.Bus
	acked, retried atomic.Int32
}

func (s *settling) Listen(subject events.Subject, opts events.QueueOptions, deliver func(events.Msg)) (events.Subscription, error) {
	return s.Bus.Listen(subject, opts, func(m events.Msg) {
		m.Acker = countingAcker{m.Acker, s}
		deliver(m)
	})
}

type countingAcker struct {
	events.Acker
	s *settling
}

func (a countingAcker) Ack() error {
	a.s.acked.Add(1)
	return a.Acker.Ack()
}

func (a countingAcker) Retry(after time.Duration) error {
	a.s.retried.Add(1)
	return a.Acker.Retry(after)
}

func TestAnEventThatKeepsFailingIsParkedAfterMaxDeliveriesAckedAndReplayedOnDemand(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		db := kit.Mongo(t)
		s := newBus(t)
		conn := &settling{Bus: s.Connect(t)}
		store := deadletter.New(db.Database)

		var attempts atomic.Int32
		var broken atomic.Bool
		broken.Store(true)
		handled := make(chan events.TicketCreated, 10)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := events.Listen(ctx, conn, events.ListenerOptions{
			QueueGroup: "dl-test", AckWait: time.Second, MaxDeliveries: 3, Park: store,
		}, func(_ context.Context, e events.TicketCreated) error {
			attempts.Add(1)
			if broken.Load() {
				return errors.New("cannot apply ticket " + e.ID)
			}
			handled <- e
			return nil
		})
		require.NoError(t, err)

		poison := events.TicketCreated{ID: "aaaaaaaaaaaaaaaaaaaaaaaa", Title: "concert", Price: 20, UserID: "u1"}
		testkit.Publish(t, conn, poison)

		var parked []events.DeadLetter
		require.Eventually(t, func() bool {
			parked, err = store.List(context.Background())
			return err == nil && len(parked) == 1
		}, 15*time.Second, 100*time.Millisecond, "parked after 3 deliveries")
		d := parked[0]
		assert.Equal(t, events.Subject("ticket:created"), d.Subject)
		assert.Equal(t, "dl-test", d.QueueGroup)
		assert.Equal(t, 3, d.Attempts)
		assert.Equal(t, "cannot apply ticket "+poison.ID, d.LastError)
		assert.JSONEq(t, `{"id":"aaaaaaaaaaaaaaaaaaaaaaaa","version":0,"title":"concert","price":20,"userId":"u1"}`, d.Data)
		assert.False(t, d.FirstSeen.IsZero())
		assert.False(t, d.LastSeen.Before(d.FirstSeen))

		// Acked once parked: the bus has no reason to deliver it a fourth time.
		require.Eventually(t, func() bool { return conn.acked.Load() == 1 }, 5*time.Second, 5*time.Millisecond,
			"the parked event was not acked")
		assert.Equal(t, int32(2), conn.retried.Load(), "handed back after the first two failures, not after the third")
		assert.Equal(t, int32(3), attempts.Load(), "a parked event is not redelivered")

		// The cause fixed, a replay delivers it again and empties the store.
		broken.Store(false)
		require.NoError(t, store.Replay(context.Background(), conn, d.ID()))
		select {
		case e := <-handled:
			assert.Equal(t, poison, e)
		case <-time.After(10 * time.Second):
			t.Fatal("replayed event not delivered")
		}
		left, err := store.List(context.Background())
		require.NoError(t, err)
		assert.Empty(t, left)
		assert.ErrorIs(t, store.Replay(context.Background(), conn, d.ID()), deadletter.ErrNotFound)
	})
}

func TestParkingTheSameMessageTwiceKeepsOneRecord(t *testing.T) {
	t.Parallel()
	store := deadletter.New(kit.Mongo(t).Database)
	d := events.DeadLetter{Subject: "order:created", QueueGroup: "g", Sequence: 7, Data: "{}", LastError: "x", Attempts: 50}
	require.NoError(t, store.Park(context.Background(), d))
	require.NoError(t, store.Park(context.Background(), d), "a second replica parking it is fine")
	all, err := store.List(context.Background())
	require.NoError(t, err)
	assert.Len(t, all, 1)
}

func TestRedisStoreParksOnceListsAndReplaysOnItsSubject(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		r := testkit.NewRedis(t)
		c := redis.NewClient(&redis.Options{Addr: r.Addr()})
		defer c.Close()
		store := deadletter.NewRedis(c)
		s := newBus(t)
		conn := s.Connect(t)
		got := testkit.Capture[events.OrderCreated](t, conn)

		d := events.DeadLetter{Subject: "order:created", QueueGroup: "expiration-service", Sequence: 3,
			Data:      `{"id":"bbbbbbbbbbbbbbbbbbbbbbbb","version":0,"status":"created","userId":"u","expiresAt":"2026-01-01T00:00:00Z","ticket":{"id":"cccccccccccccccccccccccc","price":5}}`,
			LastError: "redis down", Attempts: 50, LastSeen: time.Now().UTC()}
		require.NoError(t, store.Park(context.Background(), d))
		require.NoError(t, store.Park(context.Background(), d))
		all, err := store.List(context.Background())
		require.NoError(t, err)
		require.Len(t, all, 1)
		assert.Equal(t, "redis down", all[0].LastError)

		require.NoError(t, store.Replay(context.Background(), conn, d.ID()))
		evs := got.Wait(t, 1, 10*time.Second)
		assert.Equal(t, "bbbbbbbbbbbbbbbbbbbbbbbb", evs[0].ID)
		all, err = store.List(context.Background())
		require.NoError(t, err)
		assert.Empty(t, all)
		assert.ErrorIs(t, store.Replay(context.Background(), conn, d.ID()), deadletter.ErrNotFound)
	})
}
